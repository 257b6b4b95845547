import { z } from "zod";
import { uint } from "./addresses.js";
import { CriterionSchema, criterionToJson } from "./criterion.js";
import {
  checkDuplicateCriteria,
  type FlowRule,
  MAX_PRIORITY,
  ruleFromNormalized,
} from "./flowRule.js";
import { FlowRuleError } from "./flowRuleError.js";
import { ApplicationIdSchema, DeviceIdSchema } from "./ids.js";
import { instructionToJson } from "./instruction.js";
import { EMPTY_TREATMENT, TreatmentSchema } from "./treatment.js";

const seconds = uint(0xffff);

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
 * `deviceId` and `appId` may come from elsewhere (the URL, the caller); see {@link parseFlowRule}.
 * Unknown fields (`id`, `state`, counters of an exported flow) are ignored.
 */
export const FlowRuleJsonSchema = z
  .object({
    deviceId: DeviceIdSchema.optional(),
    appId: ApplicationIdSchema.optional(),
    priority: uint(MAX_PRIORITY),
    tableId: uint(0xff).default(0),
    isPermanent: z.boolean(),
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

/** Where a parsed rule's device and application come from when the JSON does not say. */
export interface FlowRuleDefaults {
  /** The device of the URL (`/flows/{deviceId}`); the JSON's `deviceId`, if any, must agree. */
  readonly deviceId?: string;
  /** The application the caller acts for; the JSON's `appId`, if any, wins. */
  readonly appId?: number;
}

/**
 * A {@link FlowRule} from ONOS REST flow JSON (already `JSON.parse`d).
 *
 * @throws {FlowRuleError} naming the field path of the first problem:
 *   `selector.criteria[0].ethType: expected a decimal or 0x number`.
 */
export function parseFlowRule(json: unknown, defaults: FlowRuleDefaults = {}): FlowRule {
  const parsed = FlowRuleJsonSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw FlowRuleError.fromZod(parsed.error);
  const rule = parsed.data;

  const fromDefaults = z
    .object({ deviceId: DeviceIdSchema.optional(), appId: ApplicationIdSchema.optional() })
    .safeParse(defaults);
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
  const appId = rule.appId ?? fallback.appId;
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

/**
 * A rule as ONOS REST JSON: what {@link parseFlowRule} reads back to the same rule.
 * `id` is the flow id as a decimal string.
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
    treatment: {
      instructions: rule.treatment.instructions.map(instructionToJson),
      deferred: rule.treatment.deferred.map(instructionToJson),
      ...(rule.treatment.clearDeferred ? { clearDeferred: true } : {}),
    },
    selector: { criteria: rule.criteria.map(criterionToJson) },
  };
}
