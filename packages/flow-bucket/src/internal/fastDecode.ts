import { z } from "zod";
import { type CanonicalCheck, canonicalCheckOf, holdsFreeText } from "../addresses.js";
import {
  type Criterion,
  CriterionSchema,
  internCriterion,
  isSharedCriterionType,
  sharedCriterion,
} from "../criterion.js";
import { IdentityHasher } from "../flowId.js";
import type { DeviceId } from "../ids.js";
import { type Instruction, InstructionSchema } from "../instruction.js";
import {
  internTreatment,
  isPlainKey,
  plainTreatmentKey,
  sharedTreatment,
  type Treatment,
  tailRank,
  treatmentKey,
} from "../treatment.js";
import { flat } from "./intern.js";

/*
 * The fast path of decoding: what a node puts on the wire is always normalized (criteria and
 * instructions in the canonical form the schemas output, criteria sorted by type), so a
 * decoder can check that form field by field, with no zod and no normalization, and build the
 * shared objects directly. Anything else — a lenient spelling, a missing field, a bad value —
 * makes the fast path answer "not sure" (undefined), and the caller runs the full schema,
 * which normalizes or explains the failure with its path. The fast path therefore accepts
 * only values the schema would accept, and gives exactly what the schema would give.
 */

/** A plain object (what zod's `z.object` accepts), read field by field. */
export type RawRecord = Readonly<Record<string, unknown>>;

/** Whether `value` is an object that is not an array (what `z.object` accepts). */
export function isRecord(value: unknown): value is RawRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether `value` is a non-negative safe integer (a bucket index, a term, a timestamp). */
export const isSafeNat = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * Turns a fast decoder (undefined: "not sure") into a parser for `z.withParser`: `z.INVALID`
 * sends the value to the full schema. A decoder that throws on strange input (it should not)
 * also defers to the schema, which then decides.
 */
export function fastParser<T>(
  decode: (raw: unknown) => T | undefined,
): (raw: unknown) => T | z.INVALID {
  return (raw) => {
    try {
      return decode(raw) ?? z.INVALID;
    } catch {
      return z.INVALID;
    }
  };
}

/** One field of a criterion or instruction (not `type`). */
interface FieldSpec {
  readonly name: string;
  readonly check: CanonicalCheck;
  /** The field's schema: what turns a lenient spelling (`"0x800"`) into the canonical value. */
  readonly schema: z.ZodType | undefined;
  /** Canonical values of lenient spellings seen before (`"0x800"` → 2048), at most `CACHE_LIMIT`. */
  readonly lenient: Map<unknown, unknown>;
  /** Whether the field is a literal (an instruction's `subtype`). */
  readonly literal: boolean;
}

/** A field as its record key writes it: `port=` for the first, `,port=` after. */
interface KeyedField extends FieldSpec {
  readonly label: string;
}

/** How many values each cache of shared objects below holds at most. */
const CACHE_LIMIT = 4096;

/** How to check, key, hash and build one kind of criterion or instruction. */
interface RecordSpec {
  readonly type: string;
  /** The fields after `type`, in the schema's order (the order of the built object's keys). */
  readonly fields: readonly FieldSpec[];
  /** The same fields sorted by name: the order `recordKey` writes them in. */
  readonly keyed: readonly KeyedField[];
  /** `TYPE{`: how the record key starts. */
  readonly open: string;
  /** How the key starts in a rule's identity key: `"TYPE{` first, `,"TYPE{` after. */
  readonly quoted: readonly [string, string];
  /** Whether criteria of this type are shared between rules. */
  readonly shared: boolean;
  /** The one field that is not a literal, if there is exactly one: what the caches are keyed by. */
  readonly single: FieldSpec | undefined;
  /** Criteria of a shared type, by their single value (a view of the intern table). */
  readonly criteria: Map<unknown, Criterion>;
  /** Treatments made of this one instruction, by its single value. */
  readonly treatments: Map<unknown, Treatment>;
  /** Criteria only: the order of this type's record keys among all types' (see `rankOf`). */
  rank: number;
  /** Instructions only: where a treatment keeps this type (see `tailRank`). */
  readonly tailRank: number;
  /** Whether a field may hold text of the writer's choosing, so its key may hold `;` or `|`. */
  readonly freeText: boolean;
}

interface ZodLike {
  readonly def: { readonly type: string; readonly values?: readonly unknown[] };
  readonly shape?: Readonly<Record<string, ZodLike>>;
  readonly options?: readonly ZodLike[];
}

const byName = (a: FieldSpec, b: FieldSpec) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The spec of one `z.object({ type: z.literal(…), … })` option, with its literal tags; undefined
 * for an option the fast path leaves to the schema (one that transforms the whole object, or
 * has a field with no canonical check: nested or optional fields of the rarer types).
 */
function specOf(option: ZodLike): { tags: Record<string, unknown>; spec: RecordSpec } | undefined {
  const shape = option.shape;
  if (shape === undefined) return undefined;
  const tags: Record<string, unknown> = {};
  const fields: FieldSpec[] = [];
  let free = false;
  for (const [name, schema] of Object.entries(shape)) {
    if (schema.def.type === "literal") {
      const value = schema.def.values?.[0];
      tags[name] = value;
      if (name !== "type") {
        fields.push({
          name,
          check: (v) => v === value,
          schema: undefined,
          lenient: new Map(),
          literal: true,
        });
      }
    } else {
      const check = canonicalCheckOrUndefined(schema as unknown as z.ZodType);
      if (check === undefined) return undefined;
      if (holdsFreeText(schema as unknown as z.ZodType)) free = true;
      fields.push({
        name,
        check,
        schema: schema as unknown as z.ZodType,
        lenient: new Map(),
        literal: false,
      });
    }
  }
  const type = String(tags.type);
  const keyed = [...fields]
    .sort(byName)
    .map((field, i) => ({ ...field, label: `${i === 0 ? "" : ","}${field.name}=` }));
  const values = fields.filter((field) => !field.literal);
  const spec: RecordSpec = {
    type,
    fields,
    keyed,
    open: `${type}{`,
    quoted: [`"${type}{`, `,"${type}{`],
    shared: isSharedCriterionType(type),
    single: values.length === 1 ? values[0] : undefined,
    criteria: new Map(),
    treatments: new Map(),
    rank: 0,
    tailRank: tailRank(type),
    freeText: free,
  };
  return { tags, spec };
}

function canonicalCheckOrUndefined(schema: z.ZodType): CanonicalCheck | undefined {
  try {
    return canonicalCheckOf(schema);
  } catch {
    return undefined;
  }
}

/** The specs of a type whose options are told apart by `subtype`. */
interface Nested {
  readonly bySubtype: Map<string, RecordSpec>;
}

/** Specs by `type` and, for a union nested under one type, by `subtype`. */
type SpecTable = ReadonlyMap<string, RecordSpec | Nested>;

function specTable(union: ZodLike): SpecTable {
  const table = new Map<string, RecordSpec | Nested>();
  for (const option of union.options ?? []) {
    if (option.options !== undefined) {
      for (const sub of option.options) {
        const found = specOf(sub);
        if (found === undefined) continue;
        const { tags, spec } = found;
        const nested = table.get(spec.type) ?? { bySubtype: new Map<string, RecordSpec>() };
        if (!("bySubtype" in nested)) throw new TypeError(`${spec.type} is plain and nested`);
        nested.bySubtype.set(String(tags.subtype), spec);
        table.set(spec.type, nested);
      }
    } else {
      const found = specOf(option);
      if (found !== undefined) table.set(found.spec.type, found.spec);
    }
  }
  return table;
}

// Derived from the schemas themselves, so the fast path covers exactly the types they know
// with flat fields; the rest (optical ids, PROTOCOL_INDEPENDENT, QUEUE, STAT_TRIGGER…) are
// left to the schemas.
const CRITERIA = specTable(CriterionSchema as unknown as ZodLike);
const INSTRUCTIONS = specTable(InstructionSchema as unknown as ZodLike);

// A rule's identity key lists its criteria's keys sorted as strings. No type contains `{`, so
// two keys compare as their `TYPE{` beginnings do: the order is one of types, fixed here.
[...CRITERIA.values()]
  .flatMap((spec) => ("bySubtype" in spec ? [...spec.bySubtype.values()] : [spec]))
  .sort((a, b) => (a.open < b.open ? -1 : a.open > b.open ? 1 : 0))
  .forEach((spec, rank) => {
    spec.rank = rank;
  });

function specFor(table: SpecTable, raw: RawRecord, type: string): RecordSpec | undefined {
  const found = table.get(type);
  if (found === undefined || !("bySubtype" in found)) return found;
  const subtype = raw.subtype;
  return typeof subtype === "string" ? found.bySubtype.get(subtype) : undefined;
}

/** Whether every field of `raw` is canonical. */
function isCanonical(raw: RawRecord, spec: RecordSpec): boolean {
  for (const field of spec.fields) if (!field.check(raw[field.name])) return false;
  return true;
}

/** The `recordKey` of a canonical record: `IPV4_DST{ip=10.0.0.0/24}`. */
function keyOf(raw: RawRecord, spec: RecordSpec): string {
  let key = spec.open;
  for (const field of spec.keyed) key += `${field.label}${String(raw[field.name])}`;
  return `${key}}`;
}

/**
 * A fresh object with the schema's keys in the schema's order (what zod would output), its
 * strings copied flat (see {@link flat}).
 */
function build<T>(raw: RawRecord, spec: RecordSpec): T {
  // Started empty, as zod starts its output, so the object gets the same in-object room.
  const out: Record<string, unknown> = {};
  out.type = spec.type;
  for (const field of spec.fields) {
    const value = raw[field.name];
    out[field.name] = typeof value === "string" ? flat(value) : value;
  }
  return out as T;
}

/** The shared criterion for a canonical `raw` of a shared type, or a fresh one. */
function criterionOf(raw: RawRecord, spec: RecordSpec): Criterion {
  const single = spec.single;
  if (!spec.shared) return build<Criterion>(raw, spec);
  if (single === undefined) {
    const key = keyOf(raw, spec);
    return sharedCriterion(key) ?? internCriterion(build<Criterion>(raw, spec), key);
  }
  const value = raw[single.name];
  const cached = spec.criteria.get(value);
  if (cached !== undefined) return cached;
  const key = keyOf(raw, spec);
  const criterion = sharedCriterion(key) ?? internCriterion(build<Criterion>(raw, spec), key);
  if (sharedCriterion(key) === criterion && spec.criteria.size < CACHE_LIMIT) {
    spec.criteria.set(value, criterion);
  }
  return criterion;
}

const EMPTY: readonly never[] = Object.freeze([]);
const hasher = new IdentityHasher();
/** The most criteria a selector can have: one of each type. */
const MAX_CRITERIA = [...CRITERIA.values()].length;
const specs = new Array<RecordSpec | undefined>(MAX_CRITERIA).fill(undefined);
const order = new Array<number>(MAX_CRITERIA).fill(0);

/** What {@link decodeSelector} gives: valid until the next call. */
export interface DecodedSelector {
  /** The criteria, sorted by type, shared where they can be. */
  criteria: readonly Criterion[];
  /** The 48-bit hash of the rule's identity key (see `identityKey`). */
  hash: number;
}

const selector: DecodedSelector = { criteria: EMPTY, hash: 0 };

/**
 * The selector of a rule decoded from its canonical form (criteria canonical, sorted by type,
 * each type once), with the hash of the rule's identity computed from the parts, with no key
 * built. Small-valued criteria come from the intern table, as for a rule created locally.
 * The result is reused by the next call.
 */
export function decodeSelector(
  raw: unknown,
  deviceId: DeviceId,
  priority: number,
  tableId: number,
  hashed = true,
): DecodedSelector | undefined {
  if (!Array.isArray(raw) || raw.length > MAX_CRITERIA) return undefined;
  const count = raw.length;
  const criteria = count === 0 ? EMPTY : new Array<Criterion>(count);
  let previous = "";
  let sorted = true;
  for (let i = 0; i < count; i++) {
    const item: unknown = raw[i];
    if (!isRecord(item)) return undefined;
    const type = item.type;
    // Strictly ascending: sorted as the rule keeps them, and no type twice.
    if (typeof type !== "string" || !(type > previous)) return undefined;
    previous = type;
    const spec = specFor(CRITERIA, item, type);
    if (spec === undefined || !isCanonical(item, spec)) return undefined;
    if (i > 0 && spec.rank < (specs[i - 1] as RecordSpec).rank) sorted = false;
    specs[i] = spec;
    (criteria as Criterion[])[i] = criterionOf(item, spec);
  }
  if (!hashed) {
    // The caller takes the rule's id as stored (its bytes were checked): no hash to compare.
    selector.criteria = criteria;
    selector.hash = -1;
    return selector;
  }
  hasher.begin(deviceId);
  hasher.ascii(String(priority));
  hasher.ascii(",");
  hasher.ascii(String(tableId));
  hasher.ascii(",[");
  if (!sorted) {
    // Rare (ETH_DST with ETH_DST_MASKED…): a few elements, sorted by insertion.
    for (let i = 0; i < count; i++) {
      let j = i;
      const rank = (specs[i] as RecordSpec).rank;
      while (j > 0 && (specs[order[j - 1] as number] as RecordSpec).rank > rank) {
        order[j] = order[j - 1] as number;
        j--;
      }
      order[j] = i;
    }
  }
  for (let i = 0; i < count; i++) {
    const at = sorted ? i : (order[i] as number);
    const spec = specs[at] as RecordSpec;
    const values = criteria[at] as unknown as RawRecord;
    hasher.ascii(spec.quoted[i === 0 ? 0 : 1]);
    for (const field of spec.keyed) {
      hasher.ascii(field.label);
      hasher.ascii(String(values[field.name]));
    }
    hasher.ascii('}"');
  }
  hasher.ascii("]]");
  selector.criteria = criteria;
  selector.hash = hasher.low48();
  return selector;
}

/** Whether every key {@link instructionKeys} joined since it was last set is plain. */
let plainKeys = true;

/**
 * The `;`-joined keys of a canonical instruction list, or undefined; clears {@link plainKeys}
 * if a key holds `;` or `|` (a port's name). A list out of the order the schema keeps (meters,
 * the table and the trigger last, none deferred: see `createTreatment`) is undefined too.
 */
function instructionKeys(raw: unknown, deferred: boolean): string | undefined {
  if (!Array.isArray(raw)) return undefined;
  let keys = "";
  let rank = 0;
  for (let i = 0; i < raw.length; i++) {
    const item: unknown = raw[i];
    if (!isRecord(item) || typeof item.type !== "string") return undefined;
    const spec = specFor(INSTRUCTIONS, item, item.type);
    if (spec === undefined || !isCanonical(item, spec)) return undefined;
    const next = spec.tailRank;
    if (next < rank || (deferred && next !== 0)) return undefined;
    rank = next;
    const key = keyOf(item, spec);
    if (spec.freeText && !isPlainKey(key)) plainKeys = false;
    keys = i === 0 ? key : `${keys};${key}`;
  }
  return keys;
}

/** The keys of a list {@link instructionKeys} took, one by one. */
function keyList(raw: readonly RawRecord[]): string[] {
  return raw.map((item) =>
    keyOf(item, specFor(INSTRUCTIONS, item, String(item.type)) as RecordSpec),
  );
}

function buildInstructions(raw: readonly RawRecord[]): Instruction[] {
  return raw.map((item) => {
    const spec = specFor(INSTRUCTIONS, item, String(item.type));
    if (spec === undefined) throw new TypeError(`unknown instruction ${String(item.type)}`);
    return build<Instruction>(item, spec);
  });
}

/**
 * A treatment decoded from its canonical form (every field present). A treatment seen before
 * is found by its key, with no object built; one of a single instruction with a single value
 * (output to a port) by that value, with no key built either.
 */
export function decodeTreatment(raw: unknown): Treatment | undefined {
  if (!isRecord(raw)) return undefined;
  const { instructions, deferred, clearDeferred } = raw;
  if (
    clearDeferred === false &&
    Array.isArray(instructions) &&
    instructions.length === 1 &&
    Array.isArray(deferred) &&
    deferred.length === 0
  ) {
    const only: unknown = instructions[0];
    if (!isRecord(only) || typeof only.type !== "string") return undefined;
    const spec = specFor(INSTRUCTIONS, only, only.type);
    if (spec === undefined || !isCanonical(only, spec)) return undefined;
    const single = spec.single;
    const cached = single === undefined ? undefined : spec.treatments.get(only[single.name]);
    if (cached !== undefined) return cached;
    const treatment = treatmentOf(instructions, deferred, clearDeferred);
    if (
      single !== undefined &&
      treatment !== undefined &&
      spec.treatments.size < CACHE_LIMIT &&
      sharedTreatment(treatmentKey([keyOf(only, spec)], EMPTY, false)) === treatment
    ) {
      spec.treatments.set(only[single.name], treatment);
    }
    return treatment;
  }
  if (typeof clearDeferred !== "boolean") return undefined;
  return treatmentOf(instructions, deferred, clearDeferred);
}

function treatmentOf(
  instructions: unknown,
  deferred: unknown,
  clearDeferred: boolean,
): Treatment | undefined {
  plainKeys = true;
  const immediate = instructionKeys(instructions, false);
  if (immediate === undefined) return undefined;
  const later = instructionKeys(deferred, true);
  if (later === undefined) return undefined;
  const key = plainKeys
    ? plainTreatmentKey(immediate, later, clearDeferred)
    : treatmentKey(
        keyList(instructions as readonly RawRecord[]),
        keyList(deferred as readonly RawRecord[]),
        clearDeferred,
      );
  return (
    sharedTreatment(key) ??
    internTreatment(
      key,
      buildInstructions(instructions as readonly RawRecord[]),
      buildInstructions(deferred as readonly RawRecord[]),
      clearDeferred,
    )
  );
}

/*
 * The fast path of a rule as users write it (ONOS's REST JSON): criteria in any order and
 * values in the spellings ONOS takes (`"ethType": "0x800"`, `"port": "2"`). Each field that is
 * not canonical already goes through its own schema — the one the whole rule's schema would
 * use — and the record is then decoded as canonical. Anything the fast path does not know
 * (a type it leaves to the schemas, a bad value, a criterion twice) is "not sure", and the
 * caller runs the whole schema, which normalizes it or names what is wrong.
 */

/** `raw` with every field canonical (itself if it is already), or undefined. */
function canonicalRecord(table: SpecTable, raw: unknown): RawRecord | undefined {
  if (!isRecord(raw) || typeof raw.type !== "string") return undefined;
  const spec = specFor(table, raw, raw.type);
  if (spec === undefined) return undefined;
  let out: Record<string, unknown> | undefined;
  for (const field of spec.fields) {
    const value = raw[field.name];
    if (field.check(value)) continue;
    const canonical = lenientValue(field, value);
    if (canonical === undefined) return undefined;
    if (out === undefined) {
      out = { type: spec.type };
      for (const each of spec.fields) out[each.name] = raw[each.name];
    }
    out[field.name] = canonical;
  }
  return out ?? raw;
}

/** The canonical value of a field's lenient spelling, by its schema; undefined if refused. */
function lenientValue(field: FieldSpec, value: unknown): unknown {
  const cached = field.lenient.get(value);
  if (cached !== undefined) return cached;
  if (field.schema === undefined) return undefined;
  const parsed = field.schema.safeParse(value);
  if (!parsed.success || parsed.data === undefined || !field.check(parsed.data)) return undefined;
  // Only a primitive is the same value next time (an object could be changed by its owner).
  if (typeof value !== "object" && field.lenient.size < CACHE_LIMIT) {
    field.lenient.set(value, parsed.data);
  }
  return parsed.data;
}

const byCriterionType = (a: RawRecord, b: RawRecord) =>
  (a.type as string) < (b.type as string) ? -1 : (a.type as string) > (b.type as string) ? 1 : 0;

/**
 * The selector of a rule from its REST criteria (any order, lenient spellings): as
 * {@link decodeSelector} gives it, or undefined when unsure (a criterion twice included).
 */
export function decodeJsonSelector(
  raw: unknown,
  deviceId: DeviceId,
  priority: number,
  tableId: number,
): DecodedSelector | undefined {
  if (!Array.isArray(raw) || raw.length > MAX_CRITERIA) return undefined;
  const criteria = new Array<RawRecord>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const criterion = canonicalRecord(CRITERIA, raw[i]);
    if (criterion === undefined) return undefined;
    criteria[i] = criterion;
  }
  // decodeSelector takes them strictly ascending: a type twice stays unsure.
  if (criteria.length > 1) criteria.sort(byCriterionType);
  return decodeSelector(criteria, deviceId, priority, tableId);
}

/** Instructions with every one canonical, or undefined. */
function canonicalList(raw: unknown): readonly RawRecord[] | undefined {
  if (raw === undefined) return EMPTY;
  if (!Array.isArray(raw)) return undefined;
  const out = new Array<RawRecord>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const instruction = canonicalRecord(INSTRUCTIONS, raw[i]);
    if (instruction === undefined) return undefined;
    out[i] = instruction;
  }
  return out;
}

/**
 * A treatment from its REST form (`{"instructions": […]}`, the rest defaulted; lenient
 * spellings), as {@link decodeTreatment} gives it, or undefined when unsure.
 */
export function decodeJsonTreatment(raw: unknown): Treatment | undefined {
  if (!isRecord(raw)) return undefined;
  const clearDeferred = raw.clearDeferred === undefined ? false : raw.clearDeferred;
  if (typeof clearDeferred !== "boolean") return undefined;
  const instructions = canonicalList(raw.instructions);
  const deferred = canonicalList(raw.deferred);
  if (instructions === undefined || deferred === undefined) return undefined;
  return decodeTreatment({ instructions, deferred, clearDeferred });
}
