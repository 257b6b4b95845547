import { z } from "zod";
import { type LogicalTimestamp, LogicalTimestampSchema } from "./logicalClock.js";

/**
 * A term: a number that grows each time a device's mastership changes (with etcd, the master
 * key's create revision). A non-negative safe integer; 0 means "never changed".
 */
export type Term = number;

/** Schema of a {@link Term}. */
export const TermSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * What a bucket's replicas compare to decide which copy is newer: the bucket's index and the
 * term and logical time of its last change.
 */
export interface FlowBucketDigest {
  readonly bucket: number;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
}

/** Schema of a {@link FlowBucketDigest}. */
export const FlowBucketDigestSchema = z.object({
  bucket: z.number().int().min(0),
  term: TermSchema,
  timestamp: LogicalTimestampSchema,
});

/**
 * Orders digests by `(term, timestamp)`, term first: negative if `a` is older than `b`, 0 if
 * they record the same change, positive if `a` is newer. The bucket index does not count.
 *
 * @remarks This is a total order on `(term, timestamp)` pairs. The reference compared the two
 * fields independently ("higher term *or* higher timestamp"), under which a bucket of a
 * deposed master (lower term, but a clock that ran further) and the new master's bucket are
 * each newer than the other.
 */
export function compareDigests(a: FlowBucketDigest, b: FlowBucketDigest): number {
  if (a.term !== b.term) return a.term < b.term ? -1 : 1;
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return 0;
}

/** Whether `a` records a later change than `b` (always, when there is no `b`). */
export function isNewerThan(a: FlowBucketDigest, b: FlowBucketDigest | undefined): boolean {
  return b === undefined || compareDigests(a, b) > 0;
}

/** The digest of a bucket that never changed. */
export function emptyDigest(bucket: number): FlowBucketDigest {
  return { bucket, term: 0, timestamp: 0 };
}
