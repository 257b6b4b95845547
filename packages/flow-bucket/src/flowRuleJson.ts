import { z } from "zod";
import { isUint, OnosBooleanSchema, onosInt } from "./addresses.js";
import { CriterionSchema, selectorToJson } from "./criterion.js";
import {
  checkDuplicateCriteria,
  type FlowRule,
  MAX_PRIORITY,
  ruleFromDecoded,
  ruleFromNormalized,
} from "./flowRule.js";
import { FlowRuleError } from "./flowRuleError.js";
import {
  type ApplicationId,
  ApplicationIdSchema,
  DeviceIdSchema,
  deviceIdOrUndefined,
  MAX_APPLICATION_ID,
} from "./ids.js";
import { instructionToJson } from "./instruction.js";
import { decodeJsonSelector, decodeJsonTreatment, isRecord } from "./internal/fastDecode.js";
import { EMPTY_TREATMENT, TreatmentSchema } from "./treatment.js";

const seconds = onosInt(0, 0xffff);

/**
 * The table of a rule: a number 0…255, or a decimal string (`"2"`), as ONOS reads it. ONOS
 * reads any other text as a P4 table's name, which flowstore cannot keep: refused.
 */
const TableIdSchema = z.preprocess(
  (value) => (typeof value === "string" && /^-?[0-9]+$/.test(value) ? Number(value) : value),
  z
    .number({ error: "expected a table number 0…255 (P4 table names are not supported)" })
    .int()
    .min(0)
    .max(0xff),
);

/** An application: its 16-bit id, or its name (ONOS's `appId`, e.g. `org.onosproject.rest`). */
const AppIdSchema = z.union([
  ApplicationIdSchema,
  z.string().min(1, "expected an application name"),
]);

/**
 * Schema of a flow rule in the JSON shape of ONOS's REST API (`POST /flows/{deviceId}`):
 *
 * ```json
 * { "priority": 40000, "isPermanent": true, "timeout": 0, "tableId": 0,
 *   "deviceId": "of:0000000000000001",
 *   "selector": { "criteria": [{ "type": "ETH_TYPE", "ethType": "0x800" }] },
 *   "treatment": { "instructions": [{ "type": "OUTPUT", "port": "CONTROLLER" }] } }
 * ```
 *
 * @remarks `isPermanent` is required, and `timeout` is required when it is false, as in ONOS.
 * Numbers may be decimal strings and flags `"true"`/`"false"`, as ONOS reads them.
 * `deviceId` and `appId` may come from elsewhere (the URL, the caller); `appId` is an id or an
 * application's name; see {@link parseFlowRule}. Unknown fields (`id`, `state`, `tableName`,
 * counters of an exported flow) are ignored.
 */
export const FlowRuleJsonSchema = z
  .object({
    deviceId: DeviceIdSchema.optional(),
    appId: AppIdSchema.optional(),
    priority: onosInt(0, MAX_PRIORITY),
    tableId: TableIdSchema.default(0),
    isPermanent: OnosBooleanSchema,
    timeout: seconds.optional(),
    hardTimeout: seconds.default(0),
    selector: z
      .object({ criteria: z.array(CriterionSchema).default([]) })
      .default({ criteria: [] }),
    treatment: TreatmentSchema.default(EMPTY_TREATMENT),
  })
  .superRefine((json, ctx) => {
    checkDuplicateCriteria(json.selector.criteria, ctx, ["selector", "criteria"]);
    if (!json.isPermanent && json.timeout === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["timeout"],
        message: "a rule that is not permanent needs a timeout (seconds)",
      });
    }
  });

/** A flow rule as ONOS's REST API takes it (after defaults); see {@link FlowRuleJsonSchema}. */
export type FlowRuleJson = z.output<typeof FlowRuleJsonSchema>;

// Built once: zod compiles a schema on its first use, which costs more than a whole parse.
const DefaultsSchema = z.object({
  deviceId: DeviceIdSchema.optional(),
  appId: ApplicationIdSchema.optional(),
});

/** Where a parsed rule's device and application come from when the JSON does not say. */
export interface FlowRuleDefaults {
  /** The device of the URL (`/flows/{deviceId}`); the JSON's `deviceId`, if any, must agree. */
  readonly deviceId?: string;
  /** The application the caller acts for; the JSON's `appId`, if any, wins. */
  readonly appId?: number;
  /**
   * The id of the application named `name` (the JSON's `appId` as ONOS writes it,
   * `org.onosproject.rest`), or undefined if there is none: the caller registers names.
   * Without it, a named `appId` is refused.
   */
  readonly applicationId?: (name: string) => number | undefined;
}

/**
 * The application a flow's JSON names in `appId`, if it names one (rather than giving a
 * number): what a caller registers before {@link parseFlowRule}, which asks
 * {@link FlowRuleDefaults.applicationId} for its id.
 */
export function flowRuleApplicationName(json: unknown): string | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const appId: unknown = (json as { appId?: unknown }).appId;
  return typeof appId === "string" && appId !== "" ? appId : undefined;
}

/**
 * A {@link FlowRule} from ONOS REST flow JSON (already `JSON.parse`d).
 *
 * @throws {FlowRuleError} naming the field path of the first problem:
 *   `selector.criteria[0].ethType: expected a decimal or 0x number`.
 */
export function parseFlowRule(json: unknown, defaults: FlowRuleDefaults = {}): FlowRule {
  return parseFlowRuleFast(json, defaults) ?? parseFlowRuleReference(json, defaults);
}

const NO_CRITERIA: readonly never[] = Object.freeze([]);

/**
 * @internal The fast path of {@link parseFlowRule}: a rule whose fields are plain (numbers as numbers,
 * flags as booleans, no `appId`), with criteria and instructions of the types the fast decoder
 * knows, read without the whole schema; each criterion's or instruction's lenient field
 * (`"0x800"`) still goes through its own schema. Undefined when unsure: then the whole schema
 * decides, and names the problem if there is one. Gives what the schema gives.
 */
export function parseFlowRuleFast(json: unknown, defaults: FlowRuleDefaults): FlowRule | undefined {
  if (!isRecord(json) || json.appId !== undefined) return undefined;
  const { priority, isPermanent, timeout } = json;
  const tableId = json.tableId === undefined ? 0 : json.tableId;
  const hardTimeout = json.hardTimeout === undefined ? 0 : json.hardTimeout;
  if (
    !isUint(priority, MAX_PRIORITY) ||
    !isUint(tableId, 0xff) ||
    typeof isPermanent !== "boolean" ||
    !isUint(hardTimeout, 0xffff) ||
    (timeout === undefined ? !isPermanent : !isUint(timeout, 0xffff))
  ) {
    return undefined;
  }
  const appId = defaults.appId;
  if (!isUint(appId, MAX_APPLICATION_ID)) return undefined;
  const own = json.deviceId === undefined ? undefined : deviceIdOrUndefined(json.deviceId);
  const given =
    defaults.deviceId === undefined ? undefined : deviceIdOrUndefined(defaults.deviceId);
  if (
    (own === undefined && json.deviceId !== undefined) ||
    (given === undefined && defaults.deviceId !== undefined) ||
    (own !== undefined && given !== undefined && own !== given)
  ) {
    return undefined;
  }
  const deviceId = own ?? given;
  if (deviceId === undefined) return undefined;
  let criteria: unknown = NO_CRITERIA;
  if (json.selector !== undefined) {
    if (!isRecord(json.selector)) return undefined;
    if (json.selector.criteria !== undefined) criteria = json.selector.criteria;
  }
  const selector = decodeJsonSelector(criteria, deviceId, priority, tableId);
  if (selector === undefined) return undefined;
  const treatment =
    json.treatment === undefined ? EMPTY_TREATMENT : decodeJsonTreatment(json.treatment);
  if (treatment === undefined) return undefined;
  return ruleFromDecoded(
    appId as ApplicationId,
    deviceId,
    priority,
    tableId,
    selector,
    treatment,
    timeout === undefined ? 0 : (timeout as number),
    hardTimeout,
    isPermanent,
  );
}

/**
 * @internal {@link parseFlowRule} without its fast path: the whole schema for every rule.
 * What the fast path must agree with.
 */
export function parseFlowRuleReference(json: unknown, defaults: FlowRuleDefaults = {}): FlowRule {
  const parsed = FlowRuleJsonSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw FlowRuleError.fromZod(parsed.error);
  const rule = parsed.data;

  const fromDefaults = DefaultsSchema.safeParse(defaults);
  if (!fromDefaults.success) throw FlowRuleError.fromZod(fromDefaults.error);
  const fallback = fromDefaults.data;

  if (
    rule.deviceId !== undefined &&
    fallback.deviceId !== undefined &&
    rule.deviceId !== fallback.deviceId
  ) {
    throw new FlowRuleError("INVALID_FIELD", [
      {
        path: "deviceId",
        message: `${rule.deviceId} does not match the device ${fallback.deviceId} it is sent to`,
      },
    ]);
  }
  const deviceId = rule.deviceId ?? fallback.deviceId;
  if (deviceId === undefined) {
    throw new FlowRuleError("MISSING_FIELD", [{ path: "deviceId", message: "no device given" }]);
  }
  const appId = applicationOf(rule.appId, defaults) ?? fallback.appId;
  if (appId === undefined) {
    throw new FlowRuleError("MISSING_FIELD", [{ path: "appId", message: "no application given" }]);
  }
  return ruleFromNormalized({
    deviceId,
    appId,
    priority: rule.priority,
    tableId: rule.tableId,
    criteria: rule.selector.criteria,
    treatment: rule.treatment,
    timeout: rule.timeout ?? 0,
    hardTimeout: rule.hardTimeout,
    permanent: rule.isPermanent,
  });
}

/** The id of the JSON's `appId`: itself, or its name's id from the defaults. */
function applicationOf(
  appId: number | string | undefined,
  defaults: FlowRuleDefaults,
): ApplicationId | undefined {
  if (typeof appId !== "string") return appId as ApplicationId | undefined;
  const id = defaults.applicationId?.(appId);
  const parsed = ApplicationIdSchema.safeParse(id);
  if (id === undefined || !parsed.success) {
    throw new FlowRuleError("INVALID_FIELD", [
      { path: "appId", message: `no application id is known for the name ${appId}` },
    ]);
  }
  return parsed.data;
}

/**
 * A rule as ONOS REST JSON (`FlowRuleCodec`): what {@link parseFlowRule} reads back to the
 * same rule. `id` is the flow id as a decimal string, `tableName` the table's number as text
 * (as ONOS prints an index table); `appId` is the number, for the caller to show as a name.
 */
export function flowRuleToJson(rule: FlowRule): Record<string, unknown> {
  return {
    id: rule.id.toString(),
    tableId: rule.tableId,
    appId: rule.appId,
    priority: rule.priority,
    timeout: rule.timeout,
    hardTimeout: rule.hardTimeout,
    isPermanent: rule.permanent,
    deviceId: rule.deviceId,
    tableName: String(rule.tableId),
    treatment: {
      instructions: rule.treatment.instructions.map(instructionToJson),
      deferred: rule.treatment.deferred.map(instructionToJson),
      ...(rule.treatment.clearDeferred ? { clearDeferred: true } : {}),
    },
    selector: { criteria: selectorToJson(rule.criteria) },
  };
}
