import { z } from "zod";
import { type Term, TermSchema } from "./flowBucketDigest.js";
import { decodeEntries, type FlowEntry, FlowEntryReferenceSchema } from "./flowEntry.js";
import { decodeRule, type FlowRule, FlowRuleReferenceSchema } from "./flowRule.js";
import { fastParser, isRecord, isSafeNat } from "./internal/fastDecode.js";
import { type LogicalTimestamp, LogicalTimestampSchema } from "./logicalClock.js";

/**
 * A bucket's changes since an earlier version of it: what a replica holding exactly that
 * version (`baseTerm`, `baseTimestamp`) needs to reach this one (`term`, `timestamp`).
 *
 * @remarks Built from the bucket's current state for every rule changed since the base, so
 * applying it is idempotent per rule: `entries` are stored as they are now, `removed` rules
 * are gone now. A replica whose copy is not exactly the base must not apply it.
 */
export interface FlowBucketDelta {
  readonly bucket: number;
  readonly baseTerm: Term;
  readonly baseTimestamp: LogicalTimestamp;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  /** Entries stored or replaced since the base, as they are now. */
  readonly entries: readonly FlowEntry[];
  /** Rules removed since the base (and not stored again). */
  readonly removed: readonly FlowRule[];
}

/** @internal A delta decoded from its canonical wire form without zod; undefined when unsure. */
export function decodeDelta(raw: unknown): FlowBucketDelta | undefined {
  if (!isRecord(raw)) return undefined;
  const { bucket, baseTerm, baseTimestamp, term, timestamp, entries, removed } = raw;
  if (
    !isSafeNat(bucket) ||
    !isSafeNat(baseTerm) ||
    !isSafeNat(baseTimestamp) ||
    !isSafeNat(term) ||
    !isSafeNat(timestamp) ||
    !Array.isArray(removed)
  ) {
    return undefined;
  }
  const decoded = decodeEntries(entries);
  if (decoded === undefined) return undefined;
  const rules = new Array<FlowRule>(removed.length);
  for (let i = 0; i < removed.length; i++) {
    const rule = decodeRule(removed[i]);
    if (rule === undefined) return undefined;
    rules[i] = rule;
  }
  return {
    bucket,
    baseTerm,
    baseTimestamp,
    term,
    timestamp,
    entries: Object.freeze(decoded),
    removed: Object.freeze(rules),
  };
}

/** @internal {@link FlowBucketDeltaSchema} without its fast path. */
export const FlowBucketDeltaReferenceSchema = z.object({
  bucket: z.number().int().min(0),
  baseTerm: TermSchema,
  baseTimestamp: LogicalTimestampSchema,
  term: TermSchema,
  timestamp: LogicalTimestampSchema,
  entries: z.array(FlowEntryReferenceSchema).readonly(),
  removed: z.array(FlowRuleReferenceSchema).readonly(),
});

/** Schema of a {@link FlowBucketDelta}; decoded like {@link FlowBucketSnapshotSchema}. */
export const FlowBucketDeltaSchema = z.withParser(
  FlowBucketDeltaReferenceSchema,
  fastParser(decodeDelta),
);
