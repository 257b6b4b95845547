import { z } from "zod";
import { type Instruction, InstructionSchema } from "./instruction.js";
import { Interner, recordKey } from "./internal/intern.js";

/**
 * What a flow rule does with a matched packet: ONOS's traffic treatment.
 *
 * @remarks Immutable and shared: rules with equal treatments hold the same object (most
 * rules of a device output to one of a few ports), which keeps a stored flow small.
 */
export interface Treatment {
  /** The instructions applied immediately, in order. */
  readonly instructions: readonly Instruction[];
  /** The instructions written to the action set (usually none). */
  readonly deferred: readonly Instruction[];
  /** Whether the action set is cleared. */
  readonly clearDeferred: boolean;
}

/**
 * Schema of a {@link Treatment} (ONOS's JSON shape; every field optional). Instructions are
 * kept where ONOS's treatment keeps them; see {@link createTreatment}.
 */
export const TreatmentSchema = z
  .object({
    instructions: z.array(InstructionSchema).default([]),
    deferred: z.array(InstructionSchema).default([]),
    clearDeferred: z.boolean().default(false),
  })
  .transform((t): Treatment => createTreatment(t.instructions, t.deferred, t.clearDeferred));

/**
 * Instruction types ONOS's treatment keeps apart from the instruction lists, from either list:
 * the meters, the table to go to and the statistics trigger. ONOS prints them after the
 * immediate instructions, in this order.
 */
const TAIL_RANKS: Readonly<Record<string, number>> = { METER: 1, TABLE: 2, STAT_TRIGGER: 3 };

/** @internal Where ONOS prints an instruction of `type`: 0 in its list, else after the others. */
export function tailRank(type: unknown): number {
  return typeof type === "string" ? (TAIL_RANKS[type] ?? 0) : 0;
}

/**
 * The instruction lists as ONOS's treatment prints them: the immediate instructions in order,
 * then the meters, the TABLE and the STAT_TRIGGER — taken from either list, each kind in the
 * order given — and the deferred instructions in order.
 *
 * @remarks ONOS keeps one TABLE and one STAT_TRIGGER (the last) and a set of meters; flowstore
 * keeps every one given, so nothing is lost, where ONOS would print one.
 */
function normalize(
  instructions: readonly Instruction[],
  deferred: readonly Instruction[],
): [readonly Instruction[], readonly Instruction[]] {
  if (isNormalized(instructions, deferred)) return [instructions, deferred];
  const ranked = [...instructions, ...deferred.filter((item) => tailRank(item.type) !== 0)];
  // A stable sort: each kind keeps its order.
  ranked.sort((a, b) => tailRank(a.type) - tailRank(b.type));
  return [ranked, deferred.filter((item) => tailRank(item.type) === 0)];
}

/**
 * @internal Whether instruction lists are in the form {@link createTreatment} keeps: no meter,
 * table or trigger deferred; in the immediate list, none before an ordinary instruction, and
 * meters before tables before triggers.
 */
export function isNormalized(
  instructions: readonly object[],
  deferred: readonly object[],
): boolean {
  for (let i = 0; i < deferred.length; i++) {
    if (tailRank((deferred[i] as { type?: unknown }).type) !== 0) return false;
  }
  let rank = 0;
  for (let i = 0; i < instructions.length; i++) {
    const next = tailRank((instructions[i] as { type?: unknown }).type);
    if (next < rank) return false;
    rank = next;
  }
  return true;
}

const EMPTY: readonly never[] = Object.freeze([]);
const shared = new Interner<Treatment>(1 << 16);

/**
 * The shared treatment with these (normalized) instructions, kept where ONOS's treatment keeps
 * them: meters, the TABLE and the STAT_TRIGGER after the immediate instructions, from either
 * list.
 */
export function createTreatment(
  instructions: readonly Instruction[],
  deferred: readonly Instruction[] = EMPTY,
  clearDeferred = false,
): Treatment {
  const [immediate, later] = normalize(instructions, deferred);
  const key = treatmentKey(immediate.map(recordKey), later.map(recordKey), clearDeferred);
  return internTreatment(key, immediate, later, clearDeferred);
}

/**
 * @internal The intern key of a treatment, from its instructions' keys (each a `recordKey`):
 * the keys joined by `;`, the lists and the flag by `|`. An instruction holding text of its own
 * (a port's name) could hold those too; then the key is the JSON of the lists (it starts with
 * `[`, which no plain key does), so two treatments never share a key.
 */
export function treatmentKey(
  instructionKeys: readonly string[],
  deferredKeys: readonly string[],
  clearDeferred: boolean,
): string {
  if (instructionKeys.every(isPlainKey) && deferredKeys.every(isPlainKey)) {
    return plainTreatmentKey(instructionKeys.join(";"), deferredKeys.join(";"), clearDeferred);
  }
  return JSON.stringify([instructionKeys, deferredKeys, clearDeferred]);
}

/** @internal Whether an instruction's key can be joined by `;` and `|` unambiguously. */
export function isPlainKey(key: string): boolean {
  return !key.includes(";") && !key.includes("|");
}

/**
 * @internal {@link treatmentKey} from the `;`-joined keys of each list, every key plain (see
 * {@link isPlainKey}).
 */
export function plainTreatmentKey(
  instructionKeys: string,
  deferredKeys: string,
  clearDeferred: boolean,
): string {
  return [instructionKeys, deferredKeys, clearDeferred].join("|");
}

/** @internal The shared treatment with intern key `key`, if there is one. */
export function sharedTreatment(key: string): Treatment | undefined {
  return shared.get(key);
}

/** @internal The shared treatment for `key` (see {@link treatmentKey}), made if needed. */
export function internTreatment(
  key: string,
  instructions: readonly Instruction[],
  deferred: readonly Instruction[],
  clearDeferred: boolean,
): Treatment {
  return (
    shared.get(key) ??
    shared.intern(key, {
      instructions: instructions.length === 0 ? EMPTY : Object.freeze([...instructions]),
      deferred: deferred.length === 0 ? EMPTY : Object.freeze([...deferred]),
      clearDeferred,
    })
  );
}

/** The treatment that does nothing (a rule that drops what it matches). */
export const EMPTY_TREATMENT: Treatment = createTreatment(EMPTY);
