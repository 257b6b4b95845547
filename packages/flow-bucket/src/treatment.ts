import { z } from "zod";
import { type Instruction, InstructionSchema } from "./instruction.js";
import { Interner, recordKey } from "./intern.js";

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

/** Schema of a {@link Treatment} (ONOS's JSON shape; every field optional). */
export const TreatmentSchema = z
  .object({
    instructions: z.array(InstructionSchema).default([]),
    deferred: z.array(InstructionSchema).default([]),
    clearDeferred: z.boolean().default(false),
  })
  .transform((t): Treatment => createTreatment(t.instructions, t.deferred, t.clearDeferred));

const EMPTY: readonly never[] = Object.freeze([]);
const shared = new Interner<Treatment>(1 << 16);

/** The shared treatment with these (normalized) instructions. */
export function createTreatment(
  instructions: readonly Instruction[],
  deferred: readonly Instruction[] = EMPTY,
  clearDeferred = false,
): Treatment {
  const key = treatmentKey(
    instructions.map(recordKey).join(";"),
    deferred.map(recordKey).join(";"),
    clearDeferred,
  );
  return internTreatment(key, instructions, deferred, clearDeferred);
}

/**
 * @internal The intern key of a treatment, from its instructions' keys (each a `recordKey`,
 * joined by `;`).
 */
export function treatmentKey(
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
