import { z } from "zod";
import { isUint, uint } from "./addresses.js";
import {
  type Criterion,
  CriterionSchema,
  criterionEquals,
  criterionKey,
  internCriterion,
} from "./criterion.js";
import { flowIdFromKeys, flowIdMatches } from "./flowId.js";
import { FlowRuleError } from "./flowRuleError.js";
import {
  type ApplicationId,
  ApplicationIdSchema,
  type DeviceId,
  DeviceIdSchema,
  deviceIdOrUndefined,
  type FlowId,
  FlowIdSchema,
  internDeviceId,
  MAX_APPLICATION_ID,
} from "./ids.js";
import {
  type DecodedSelector,
  decodeSelector,
  decodeTreatment,
  fastParser,
  isRecord,
} from "./internal/fastDecode.js";
import { EMPTY_TREATMENT, type Treatment, TreatmentSchema } from "./treatment.js";

/** The lowest and highest priority of a flow rule. */
export const MIN_PRIORITY = 0;
/** The highest priority of a flow rule (OpenFlow's 16 bits). */
export const MAX_PRIORITY = 0xffff;

/**
 * A flow rule: what to match on one device, what to do with it, and who owns it.
 *
 * @remarks Immutable, and shared: every {@link FlowEntry} of a rule points to the same object,
 * and a replicated copy of a bucket shares its rules. To keep a stored flow small, the
 * selector is the bare criteria list, and criteria of small-valued types (ports, EtherTypes…)
 * and whole treatments are shared between rules; {@link flowEntryToJson} gives ONOS's nested
 * JSON shape.
 *
 * Identity (see {@link sameFlowRule}) is device + priority + selector + table; {@link FlowRule.id}
 * is derived from it and the application id.
 */
export interface FlowRule {
  /** Application id (top 16 bits) and identity hash (low 48 bits). */
  readonly id: FlowId;
  readonly deviceId: DeviceId;
  readonly appId: ApplicationId;
  /** 0…65535; higher wins. */
  readonly priority: number;
  /** The device table (0…255). */
  readonly tableId: number;
  /** The selector: at most one criterion per type, sorted by type. */
  readonly criteria: readonly Criterion[];
  /** What to do with matched packets (a shared object). */
  readonly treatment: Treatment;
  /** Idle timeout in seconds (0: none). */
  readonly timeout: number;
  /** Hard timeout in seconds (0: none). */
  readonly hardTimeout: number;
  /** Whether the rule stays until removed (no timeouts). */
  readonly permanent: boolean;
}

const EMPTY: readonly never[] = Object.freeze([]);

const seconds = uint(0xffff);

/** The fields of a flow rule other than its id, before normalization. */
const ruleFields = {
  deviceId: DeviceIdSchema,
  appId: ApplicationIdSchema,
  priority: uint(MAX_PRIORITY),
  tableId: uint(0xff).default(0),
  criteria: z.array(CriterionSchema).default([]),
  treatment: TreatmentSchema.optional(),
  timeout: seconds.default(0),
  hardTimeout: seconds.default(0),
  permanent: z.boolean().default(true),
};

/**
 * What {@link createFlowRule} takes: the rule without its id (a missing treatment drops the
 * packets). Criteria and instructions may be written as ONOS's JSON writes them
 * (`ethType: "0x800"`, `port: "CONTROLLER"`).
 */
export type FlowRuleSpec = z.input<z.ZodObject<typeof ruleFields>>;

type NormalizedFields = z.output<z.ZodObject<typeof ruleFields>>;

/** Adds an issue for each criterion whose type already appeared earlier in the selector. */
export function checkDuplicateCriteria(
  criteria: readonly Criterion[],
  ctx: z.RefinementCtx,
  path: readonly PropertyKey[],
): void {
  const seen = new Set<string>();
  criteria.forEach((criterion, index) => {
    if (seen.has(criterion.type)) {
      ctx.addIssue({
        code: "custom",
        path: [...path, index, "type"],
        message: `duplicate criterion ${criterion.type}: a selector matches each field once`,
      });
    }
    seen.add(criterion.type);
  });
}

const byType = (a: Criterion, b: Criterion) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0);

/**
 * Builds the rule from normalized, checked fields: sorts the criteria, shares what can be
 * shared, and derives the id.
 */
function buildRule(fields: NormalizedFields): FlowRule {
  let criteria: readonly Criterion[] = EMPTY;
  let keys: string[] = [];
  if (fields.criteria.length > 0) {
    const sorted = [...fields.criteria].sort(byType);
    keys = sorted.map(criterionKey);
    criteria = sorted.map((criterion, i) => internCriterion(criterion, keys[i] ?? ""));
  }
  const deviceId = internDeviceId(fields.deviceId);
  return makeRule(
    flowIdFromKeys(fields.appId, deviceId, fields.priority, fields.tableId, keys),
    deviceId,
    fields.appId,
    fields.priority,
    fields.tableId,
    criteria,
    fields.treatment ?? EMPTY_TREATMENT,
    fields.timeout,
    fields.hardTimeout,
    fields.permanent,
  );
}

// Every rule is built here, with the same fields in the same order, so all rules share one
// hidden class (created, parsed or decoded alike).
function makeRule(
  id: FlowId,
  deviceId: DeviceId,
  appId: ApplicationId,
  priority: number,
  tableId: number,
  criteria: readonly Criterion[],
  treatment: Treatment,
  timeout: number,
  hardTimeout: number,
  permanent: boolean,
): FlowRule {
  return {
    id,
    deviceId,
    appId,
    priority,
    tableId,
    criteria,
    treatment,
    timeout: permanent ? 0 : timeout,
    hardTimeout: permanent ? 0 : hardTimeout,
    permanent,
  };
}

const MAX_FLOW_ID = 2n ** 64n - 1n;

/**
 * @internal A rule decoded from its canonical wire form (every field present and normalized,
 * the id matching the identity), without zod; undefined when unsure, and then the full
 * {@link FlowRuleSchema} decides. Gives what the schema gives, shared objects included.
 */
export function decodeRule(raw: unknown, verifyId = true): FlowRule | undefined {
  if (!isRecord(raw)) return undefined;
  const { id, appId, priority, tableId, timeout, hardTimeout, permanent } = raw;
  if (typeof id !== "bigint" || id < 0n || id > MAX_FLOW_ID) return undefined;
  const deviceId = deviceIdOrUndefined(raw.deviceId);
  if (
    deviceId === undefined ||
    !isUint(appId, MAX_APPLICATION_ID) ||
    !isUint(priority, MAX_PRIORITY) ||
    !isUint(tableId, 0xff) ||
    !isUint(timeout, 0xffff) ||
    !isUint(hardTimeout, 0xffff) ||
    typeof permanent !== "boolean"
  ) {
    return undefined;
  }
  const selector = decodeSelector(raw.criteria, deviceId, priority, tableId, verifyId);
  // A mismatch of the id is left to the schema, which names the field.
  if (selector === undefined || (verifyId && !flowIdMatches(id, appId, selector.hash))) {
    return undefined;
  }
  const criteria = selector.criteria;
  const treatment = raw.treatment === undefined ? EMPTY_TREATMENT : decodeTreatment(raw.treatment);
  if (treatment === undefined) return undefined;
  return makeRule(
    id as FlowId,
    deviceId,
    appId as ApplicationId,
    priority,
    tableId,
    criteria,
    treatment,
    timeout,
    hardTimeout,
    permanent,
  );
}

/**
 * @internal A rule from parts the fast path decoded (see `decodeJsonSelector`), its id made
 * from the application and the selector's identity hash: what {@link buildRule} gives for the
 * same fields.
 */
export function ruleFromDecoded(
  appId: ApplicationId,
  deviceId: DeviceId,
  priority: number,
  tableId: number,
  selector: DecodedSelector,
  treatment: Treatment,
  timeout: number,
  hardTimeout: number,
  permanent: boolean,
): FlowRule {
  return makeRule(
    ((BigInt(appId) << 48n) | BigInt(selector.hash)) as FlowId,
    deviceId,
    appId,
    priority,
    tableId,
    selector.criteria,
    treatment,
    timeout,
    hardTimeout,
    permanent,
  );
}

const FlowRuleSpecSchema = z
  .object(ruleFields)
  .superRefine((fields, ctx) => checkDuplicateCriteria(fields.criteria, ctx, ["criteria"]))
  .transform(buildRule);

/**
 * @internal {@link FlowRuleSchema} without its fast path: zod all the way, normalizing every
 * field. What the fast path must agree with, and what decides whatever the fast path does not
 * take.
 */
export const FlowRuleReferenceSchema = z
  .object({ id: FlowIdSchema, ...ruleFields })
  .superRefine((fields, ctx) => checkDuplicateCriteria(fields.criteria, ctx, ["criteria"]))
  .transform((fields, ctx): FlowRule => {
    const rule = buildRule(fields);
    if (rule.id !== fields.id) {
      ctx.addIssue({
        code: "custom",
        path: ["id"],
        message: `flow id ${fields.id} does not match the rule's identity (expected ${rule.id})`,
      });
      return z.NEVER;
    }
    return rule;
  });

/**
 * Schema of a stored or replicated {@link FlowRule}: every field, with the id checked
 * against the one the rule's identity gives.
 *
 * @remarks The check catches two nodes that disagree on how flow ids are computed, which the
 * namespace fingerprint alone cannot see.
 *
 * A rule in the form this package writes (every field present and normalized, criteria sorted)
 * is checked and rebuilt field by field without zod, its shared parts found by value; anything
 * else goes through the full schema, which normalizes lenient spellings (`"0x800"`) or refuses
 * the value naming the field. Both give the same rule. The schema's definition (and so the
 * namespace fingerprint) is the full schema's.
 */
export const FlowRuleSchema = z.withParser(FlowRuleReferenceSchema, fastParser(decodeRule));

/**
 * A flow rule from its fields, validated and normalized, with its id.
 *
 * @throws {FlowRuleError} naming the first wrong field (`criteria[1].ip: expected an IPv4 prefix…`).
 * @example
 * const rule = createFlowRule({
 *   deviceId: "of:0000000000000001",
 *   appId: 12,
 *   priority: 40000,
 *   criteria: [{ type: "ETH_TYPE", ethType: "0x800" }, { type: "IPV4_DST", ip: "10.0.0.1/32" }],
 *   treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
 * });
 */
export function createFlowRule(spec: FlowRuleSpec): FlowRule {
  const parsed = FlowRuleSpecSchema.safeParse(spec, { reportInput: true });
  if (!parsed.success) throw FlowRuleError.fromZod(parsed.error);
  return parsed.data;
}

/** @internal Builds a rule from fields already validated by one of this package's schemas. */
export function ruleFromNormalized(fields: NormalizedFields): FlowRule {
  return buildRule(fields);
}

/**
 * Whether two rules have the same identity: device, priority, table and selector (the
 * application id and the treatment do not count, as in ONOS).
 */
export function sameFlowRule(a: FlowRule, b: FlowRule): boolean {
  if (a === b) return true;
  if (
    a.deviceId !== b.deviceId ||
    a.priority !== b.priority ||
    a.tableId !== b.tableId ||
    a.criteria.length !== b.criteria.length
  ) {
    return false;
  }
  // Both selectors are sorted by type with one criterion per type.
  for (let i = 0; i < a.criteria.length; i++) {
    const left = a.criteria[i];
    const right = b.criteria[i];
    if (left === undefined || right === undefined || !criterionEquals(left, right)) return false;
  }
  return true;
}
