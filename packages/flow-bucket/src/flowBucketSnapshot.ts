import { z } from "zod";
import { type Term, TermSchema } from "./flowBucketDigest.js";
import { decodeEntries, type FlowEntry, FlowEntryReferenceSchema } from "./flowEntry.js";
import { fastParser, isRecord, isSafeNat } from "./internal/fastDecode.js";
import { type LogicalTimestamp, LogicalTimestampSchema } from "./logicalClock.js";

/** A bucket as plain data: what is sent to a backup or written to disk. */
export interface FlowBucketSnapshot {
  readonly bucket: number;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  readonly entries: readonly FlowEntry[];
}

/**
 * A bucket whose entries are still encoded: its stamp and size are known, its entries are
 * decoded only when something needs them (a bucket loaded from disk that this node only
 * backs up may never need them before the master replaces it).
 */
export interface DeferredFlowBucket {
  readonly bucket: number;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  /** How many entries {@link DeferredFlowBucket.decode} gives. */
  readonly size: number;
  /**
   * Decodes the entries (each call anew); throws when they cannot be (the bucket then stays
   * deferred, and the error reaches whoever needed the entries).
   */
  decode(): readonly FlowEntry[];
}

/** Whether `bucket` is a {@link DeferredFlowBucket} rather than a snapshot with its entries. */
export function isDeferred(
  bucket: FlowBucketSnapshot | DeferredFlowBucket,
): bucket is DeferredFlowBucket {
  return typeof (bucket as Partial<DeferredFlowBucket>).decode === "function";
}

/**
 * @internal A snapshot decoded from its canonical wire form without zod (see `decodeEntry`);
 * undefined when unsure, and then the full {@link FlowBucketSnapshotSchema} decides.
 */
export function decodeSnapshot(raw: unknown): FlowBucketSnapshot | undefined {
  if (!isRecord(raw)) return undefined;
  const { bucket, term, timestamp, entries } = raw;
  if (!isSafeNat(bucket) || !isSafeNat(term) || !isSafeNat(timestamp) || !Array.isArray(entries)) {
    return undefined;
  }
  const decoded = decodeEntries(entries);
  if (decoded === undefined) return undefined;
  return { bucket, term, timestamp, entries: Object.freeze(decoded) };
}

/** @internal {@link FlowBucketSnapshotSchema} without its fast path (see `FlowRuleReferenceSchema`). */
export const FlowBucketSnapshotReferenceSchema = z.object({
  bucket: z.number().int().min(0),
  term: TermSchema,
  timestamp: LogicalTimestampSchema,
  entries: z.array(FlowEntryReferenceSchema).readonly(),
});

/**
 * Schema of a {@link FlowBucketSnapshot}.
 *
 * @remarks A snapshot in this package's own form is decoded without zod, entry by entry (see
 * `FlowEntrySchema`); the full schema decides anything else, naming the failing field
 * (`entries[3].rule.criteria[0].ip`).
 */
export const FlowBucketSnapshotSchema = z.withParser(
  FlowBucketSnapshotReferenceSchema,
  fastParser(decodeSnapshot),
);
