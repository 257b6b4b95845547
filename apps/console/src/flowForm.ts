/** The fields of the add-flow form, as typed. */
export interface FlowFormValues {
  readonly appId: string;
  readonly priority: string;
  readonly tableId: string;
  readonly permanent: boolean;
  readonly timeout: string;
  /** ONOS JSON: an array of criteria. */
  readonly selector: string;
  /** ONOS JSON: an array of instructions. */
  readonly treatment: string;
}

/** A form field an error can be shown at. */
export type FlowFormField = keyof FlowFormValues | "form";

/** The form as it opens: the README's example flow. */
export const DEFAULT_FORM: FlowFormValues = {
  appId: "",
  priority: "40000",
  tableId: "0",
  permanent: true,
  timeout: "0",
  selector: '[{"type": "ETH_TYPE", "ethType": "0x800"}, {"type": "IPV4_DST", "ip": "10.0.0.1/32"}]',
  treatment: '[{"type": "OUTPUT", "port": "2"}]',
};

/** Field errors: at most one message per field. */
export type FieldErrors = Partial<Record<FlowFormField, string>>;

/**
 * A number when the text is one, else the text itself: the REST API's schema, not the page,
 * decides what is valid, and names the field when it is not.
 */
function numberOrText(text: string): number | string {
  const trimmed = text.trim();
  return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
}

/**
 * The request the form makes: the ONOS JSON body of `POST /onos/v1/flows/{deviceId}` and its
 * query string; or the fields whose text is not JSON at all.
 */
export function flowRequest(
  values: FlowFormValues,
): { body: Record<string, unknown>; query: string } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const json = (field: "selector" | "treatment"): unknown => {
    try {
      return JSON.parse(values[field]) as unknown;
    } catch (error) {
      errors[field] = `${field}: not valid JSON (${(error as Error).message})`;
      return undefined;
    }
  };
  const criteria = json("selector");
  const instructions = json("treatment");
  if (Object.keys(errors).length > 0) return { errors };
  const body: Record<string, unknown> = {
    priority: numberOrText(values.priority),
    tableId: numberOrText(values.tableId),
    isPermanent: values.permanent,
    selector: { criteria },
    treatment: { instructions },
  };
  if (!values.permanent) body.timeout = numberOrText(values.timeout);
  const appId = values.appId.trim();
  return { body, query: appId === "" ? "" : `?appId=${encodeURIComponent(appId)}` };
}

/** The form field a REST error's `path` points at (`selector.criteria[0].ethType` → selector). */
export function fieldOfPath(path: string | undefined): FlowFormField {
  if (path === undefined || path === "") return "form";
  const head = path.replace(/^flows\[\d+\]\./, "").split(/[.[]/)[0] ?? "";
  switch (head) {
    case "appId":
      return "appId";
    case "priority":
      return "priority";
    case "tableId":
      return "tableId";
    case "isPermanent":
      return "permanent";
    case "timeout":
    case "hardTimeout":
      return "timeout";
    case "selector":
    case "criteria":
      return "selector";
    case "treatment":
    case "instructions":
      return "treatment";
    default:
      return "form";
  }
}

/** A REST error body (`{code, message, path?}`) as field errors. */
export function errorsOfResponse(status: number, body: unknown): FieldErrors {
  const record = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const message =
    typeof record.message === "string" ? record.message : `the node answered ${status}`;
  const path = typeof record.path === "string" ? record.path : undefined;
  const field = fieldOfPath(path);
  return {
    [field]: path === undefined || message.includes(path) ? message : `${path}: ${message}`,
  };
}
