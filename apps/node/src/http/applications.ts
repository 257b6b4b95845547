import { MAX_APPLICATION_ID, REST_APPLICATION } from "@flowstore/mastership";
import type { HttpContext } from "./context.js";
import { HttpError } from "./errors.js";

/**
 * An `appId` as ONOS takes it — an application name (`org.onosproject.rest`), or a number
 * 0–65535, as a JSON number or a decimal string — to its 16-bit id. A new name is
 * registered cluster-wide, as ONOS's codec registers it; none given is ONOS's REST app.
 */
export async function resolveAppId(
  context: Pick<HttpContext, "applications">,
  value: unknown,
  path = "appId",
): Promise<number> {
  const known = appIdNow(context, value, path);
  if (known !== undefined) return known;
  return context.applications.register(value as string);
}

/**
 * The id of `value` if it needs no registration (a number, a decimal string, a name this
 * node knows), `undefined` for a name to register; throws for anything else.
 */
export function appIdNow(
  context: Pick<HttpContext, "applications">,
  value: unknown,
  path = "appId",
): number | undefined {
  if (value === undefined || value === null) return context.applications.idOf(REST_APPLICATION);
  if (typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value))) {
    const id = Number(value);
    if (Number.isInteger(id) && id >= 0 && id <= MAX_APPLICATION_ID) return id;
  } else if (typeof value === "string" && value.trim() !== "" && value.length <= 255) {
    return context.applications.idOf(value);
  }
  throw new HttpError(
    "INVALID_FIELD",
    `${path}: an application name or a number 0–${MAX_APPLICATION_ID}, got ${JSON.stringify(value)}`,
    { path },
  );
}

/**
 * Registers every application name `flows` use that this node does not know yet, so the
 * per-flow pass can resolve them synchronously (a 1,000-flow batch usually names one).
 */
export async function registerNames(
  context: Pick<HttpContext, "applications">,
  flows: readonly unknown[],
): Promise<void> {
  const names = new Set<string>();
  for (const flow of flows) {
    const value = isObject(flow) ? flow.appId : undefined;
    if (typeof value === "string" && !/^\d+$/.test(value) && value.trim() !== "") {
      if (context.applications.idOf(value) === undefined) names.add(value);
    }
  }
  for (const name of names) await context.applications.register(name);
}

/** How a rule's application is shown: its name when registered (as ONOS prints it), else the id. */
export function appIdText(context: Pick<HttpContext, "applications">, id: number): string | number {
  return context.applications.nameOf(id) ?? id;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
