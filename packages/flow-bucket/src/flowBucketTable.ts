import { z } from "zod";
import {
  emptyStateCounts,
  FlowBucket,
  type FlowStateCounts,
  type PurgeFilter,
  slotKey,
} from "./flowBucket.js";
import type { FlowBucketDelta } from "./flowBucketDelta.js";
import {
  compareDigests,
  emptyDigest,
  type FlowBucketDigest,
  type Term,
  TermSchema,
} from "./flowBucketDigest.js";
import { FlowBucketError } from "./flowBucketError.js";
import {
  type DeferredFlowBucket,
  type FlowBucketSnapshot,
  isDeferred,
} from "./flowBucketSnapshot.js";
import type { FlowCounters, FlowEntry, FlowEntryState } from "./flowEntry.js";
import { bucketOf } from "./flowId.js";
import type { FlowRule } from "./flowRule.js";
import { type DeviceId, DeviceIdSchema, type FlowId } from "./ids.js";
import { LogicalClock, type LogicalTimestamp, LogicalTimestampSchema } from "./logicalClock.js";

/** The bucket count used when none is given (the reference's later choice). */
export const DEFAULT_BUCKET_COUNT = 128;

/** The largest bucket count a table accepts. */
export const MAX_BUCKET_COUNT = 1 << 16;

/**
 * A summary of a whole device table that two replicas compare before comparing buckets: if
 * the summaries are equal, so (with overwhelming probability) are all bucket digests, and an
 * idle device costs one small message.
 *
 * @remarks A function of the bucket digests only, so two nodes with the same digests have the
 * same summary. `term`/`timestamp` are those of the newest bucket; `checksum` is a 53-bit
 * order-independent hash of every non-empty bucket digest, so it changes whenever any bucket
 * changes — including a bucket that adopts an older copy or is cleared.
 */
export interface DeviceDigest {
  readonly deviceId: DeviceId;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  /** How many buckets have ever changed (have a non-zero stamp). */
  readonly buckets: number;
  readonly checksum: number;
}

/** Schema of a {@link DeviceDigest}. */
export const DeviceDigestSchema = z.object({
  deviceId: DeviceIdSchema,
  term: TermSchema,
  timestamp: LogicalTimestampSchema,
  buckets: z.number().int().min(0),
  checksum: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

/** Options of a {@link FlowBucketTable}. */
export interface FlowBucketTableOptions {
  readonly deviceId: DeviceId;
  /** A power of two, 1…65536 (default {@link DEFAULT_BUCKET_COUNT}); 128 and 1024 are usual. */
  readonly bucketCount?: number;
  /** The device's logical clock (default: a new one starting at 0). */
  readonly clock?: LogicalClock;
  /**
   * Called after every change of a bucket's digest (a write, a merge, a delta, a clear):
   * for a caller that keeps the table elsewhere too, such as on disk. With it, buckets log
   * the changes of the deltas they apply as well, so the caller can ask any bucket for what
   * changed since the version it last kept ({@link FlowBucket.delta}).
   */
  readonly onBucketChange?: (bucket: FlowBucket) => void;
}

/**
 * One device's flow table split into buckets by `flowId mod bucketCount`, with the device's
 * logical clock: every change takes the caller's term and the next tick.
 *
 * @remarks Buckets are allocated on first use, so a device with three flows holds at most
 * three buckets whatever the bucket count. An unallocated bucket's digest is `(i, 0, 0)`.
 *
 * @example
 * const table = new FlowBucketTable({ deviceId: deviceId("of:1"), bucketCount: 1024 });
 * table.add(createFlowEntry(rule, { created: now }), term);
 * table.summary(); // { deviceId: "of:1", term, timestamp: 1, buckets: 1, checksum: … }
 */
export class FlowBucketTable {
  readonly deviceId: DeviceId;
  readonly bucketCount: number;
  readonly clock: LogicalClock;
  readonly #buckets = new Map<number, FlowBucket>();
  /** The allocated buckets by ascending index, built when first asked for after a change. */
  #sorted: readonly FlowBucket[] | undefined;
  readonly #listener = this.#onBucketChange.bind(this);
  readonly #onChange: ((bucket: FlowBucket) => void) | undefined;
  /** `bucketCount − 1`: a flow's bucket is its {@link slotKey}'s low bits (a power-of-two count). */
  readonly #keyMask: number;
  #stamped = 0;
  #version = 0;
  #laneA = 0;
  #laneB = 0;
  #newest: FlowBucketDigest = emptyDigest(0);

  constructor(options: FlowBucketTableOptions) {
    const bucketCount = options.bucketCount ?? DEFAULT_BUCKET_COUNT;
    if (
      !Number.isInteger(bucketCount) ||
      bucketCount < 1 ||
      bucketCount > MAX_BUCKET_COUNT ||
      (bucketCount & (bucketCount - 1)) !== 0
    ) {
      throw new FlowBucketError(
        "INVALID_BUCKET",
        `bucketCount must be a power of two from 1 to ${MAX_BUCKET_COUNT}, got ${bucketCount}`,
      );
    }
    this.deviceId = DeviceIdSchema.parse(options.deviceId);
    this.bucketCount = bucketCount;
    this.#keyMask = bucketCount - 1;
    this.clock = options.clock ?? new LogicalClock();
    this.#onChange = options.onBucketChange;
  }

  /** The bucket a flow id belongs to. */
  bucketIndexOf(id: FlowId): number {
    return bucketOf(id, this.bucketCount);
  }

  /** Bucket `index` if it has been allocated. */
  bucket(index: number): FlowBucket | undefined {
    return this.#buckets.get(index);
  }

  /** Bucket `index`, allocating it if needed. */
  allocate(index: number): FlowBucket {
    let bucket = this.#buckets.get(index);
    if (bucket === undefined) {
      if (!Number.isInteger(index) || index < 0 || index >= this.bucketCount) {
        throw new FlowBucketError(
          "INVALID_BUCKET",
          `bucket ${index} is out of range for ${this.bucketCount} buckets`,
        );
      }
      bucket = new FlowBucket(index, this.#listener, { logDeltas: this.#onChange !== undefined });
      this.#buckets.set(index, bucket);
      this.#sorted = undefined;
    }
    return bucket;
  }

  /**
   * The allocated buckets, by ascending index.
   *
   * @remarks The same array until a bucket is allocated or the table cleared: the replication
   * rounds walk every table's buckets every period, and must not sort or allocate to do so.
   */
  buckets(): readonly FlowBucket[] {
    this.#sorted ??= [...this.#buckets.values()].sort((a, b) => a.index - b.index);
    return this.#sorted;
  }

  /**
   * A counter that moves whenever any bucket's stamp changes (or the table is cleared): equal
   * versions mean no bucket changed in between, so a caller can skip looking again.
   */
  get version(): number {
    return this.#version;
  }

  /** How many buckets are allocated. */
  get allocatedBuckets(): number {
    return this.#buckets.size;
  }

  /** The number of entries in the table. */
  get size(): number {
    let size = 0;
    for (const bucket of this.#buckets.values()) size += bucket.size;
    return size;
  }

  /** Entries per state, from counts the buckets maintain (no walk over the entries). */
  stateCounts(): FlowStateCounts {
    const counts = emptyStateCounts();
    for (const bucket of this.#buckets.values()) bucket.addStateCounts(counts);
    return counts;
  }

  /** How many entries are in `state` (maintained, not counted). */
  countOf(state: FlowEntryState): number {
    let count = 0;
    for (const bucket of this.#buckets.values()) count += bucket.countOf(state);
    return count;
  }

  /** The entry with flow id `id`. */
  get(id: FlowId): FlowEntry | undefined {
    return this.#buckets.get(slotKey(id) & this.#keyMask)?.get(id);
  }

  /** The entry of a rule with the same identity as `rule`. */
  find(rule: FlowRule): FlowEntry | undefined {
    const key = slotKey(rule.id);
    return this.#buckets.get(key & this.#keyMask)?.findKeyed(key, rule);
  }

  /** Every entry, bucket by bucket. */
  *entries(): IterableIterator<FlowEntry> {
    for (const bucket of this.#buckets.values()) yield* bucket.entries();
  }

  /** {@link FlowBucket.add} in the entry's bucket, stamped with `term` and the next tick. */
  add(entry: FlowEntry, term: Term): FlowEntry | undefined {
    return this.#bucketFor(entry.rule).add(entry, term, this.clock);
  }

  /**
   * {@link FlowBucket.refresh}: records a device's counters for the stored entry of `rule`
   * without changing any stamp (counters are soft state); the entry as stored now, if any.
   */
  refresh(rule: FlowRule, counters: FlowCounters): FlowEntry | undefined {
    if (rule.deviceId !== this.deviceId) return undefined;
    const key = slotKey(rule.id);
    return this.#buckets.get(key & this.#keyMask)?.refresh(rule, counters, key);
  }

  /** {@link FlowBucket.update}: replaces the stored entry unless it is newer. */
  update(entry: FlowEntry, term: Term): boolean {
    return this.#existingBucketFor(entry.rule)?.update(entry, term, this.clock) ?? false;
  }

  /** {@link FlowBucket.modify}: replaces the stored entry of `rule` by what `change` returns. */
  modify(
    rule: FlowRule,
    change: (stored: FlowEntry) => FlowEntry | undefined,
    term: Term,
  ): FlowEntry | undefined {
    return this.#existingBucketFor(rule)?.modify(rule, change, term, this.clock);
  }

  /** {@link FlowBucket.remove}: removes the entry unless the stored one is newer. */
  remove(target: FlowEntry | FlowRule, term: Term): FlowEntry | undefined {
    const rule = "rule" in target ? target.rule : target;
    return this.#existingBucketFor(rule)?.remove(target, term, this.clock);
  }

  /** {@link FlowBucket.purge} in every bucket; returns every removed entry. */
  purge(term: Term, filter?: PurgeFilter): FlowEntry[] {
    const removed: FlowEntry[] = [];
    for (const bucket of this.buckets()) removed.push(...bucket.purge(term, this.clock, filter));
    return removed;
  }

  /** Drops every bucket: the table is as if new (the clock keeps its time). */
  clear(): void {
    for (const bucket of this.#buckets.values()) bucket.clear();
    this.#buckets.clear();
    this.#sorted = undefined;
    this.#version++;
  }

  /** The digest of bucket `index` (`(index, 0, 0)` if it was never allocated). */
  digest(index: number): FlowBucketDigest {
    return this.#buckets.get(index)?.digest() ?? emptyDigest(index);
  }

  /** The digests of every bucket that has changed, by ascending index. */
  digests(): FlowBucketDigest[] {
    return this.buckets()
      .filter((bucket) => bucket.term !== 0 || bucket.timestamp !== 0)
      .map((bucket) => bucket.digest());
  }

  /** The table's {@link DeviceDigest}. */
  summary(): DeviceDigest {
    return {
      deviceId: this.deviceId,
      term: this.#newest.term,
      timestamp: this.#newest.timestamp,
      buckets: this.#stamped,
      checksum: (this.#laneA >>> 0) * 2 ** 21 + (this.#laneB >>> 11),
    };
  }

  /**
   * Keeps the newer of the local bucket and `remote` (a copy from another node), and moves
   * the clock past `remote`'s timestamp. Returns whether the local bucket took the remote copy.
   *
   * A {@link DeferredFlowBucket} (a copy loaded from disk) is taken with its entries still
   * encoded; they are checked as above when they are decoded, which then throws instead.
   *
   * @throws {FlowBucketError} `WRONG_DEVICE` or `INVALID_BUCKET` if an entry of `remote` does
   *   not belong in that bucket of this table (nothing is changed).
   */
  merge(remote: FlowBucket | FlowBucketSnapshot | DeferredFlowBucket): boolean {
    const index = remote instanceof FlowBucket ? remote.index : remote.bucket;
    let copy = remote;
    if (remote instanceof FlowBucket || !isDeferred(remote)) {
      const entries = remote instanceof FlowBucket ? remote.entries() : remote.entries;
      for (const entry of entries) this.#checkBelongs(entry.rule, index);
    } else {
      // Checked as they are decoded.
      copy = {
        bucket: index,
        term: remote.term,
        timestamp: remote.timestamp,
        size: remote.size,
        decode: () => {
          const entries = remote.decode();
          for (const entry of entries) this.#checkBelongs(entry.rule, index);
          return entries;
        },
      };
    }
    this.clock.observe(remote.timestamp);
    if (remote.term === 0 && remote.timestamp === 0) return false;
    return this.allocate(index).mergeFrom(copy);
  }

  /**
   * Applies `delta` (see {@link FlowBucket.delta}) if bucket `delta.bucket` is exactly its
   * base version, and moves the clock past it; returns whether it applied. A bucket at any
   * other version is left alone: the sender must send the whole bucket instead.
   *
   * @throws {FlowBucketError} `WRONG_DEVICE` or `INVALID_BUCKET` if an entry or rule of
   *   `delta` does not belong in that bucket of this table (nothing is changed).
   */
  applyDelta(delta: FlowBucketDelta): boolean {
    const index = delta.bucket;
    for (const entry of delta.entries) this.#checkBelongs(entry.rule, index);
    for (const rule of delta.removed) this.#checkBelongs(rule, index);
    if (!Number.isInteger(index) || index < 0 || index >= this.bucketCount) {
      throw new FlowBucketError(
        "INVALID_BUCKET",
        `bucket ${index} is out of range for ${this.bucketCount} buckets`,
      );
    }
    this.clock.observe(delta.timestamp);
    const bucket = this.#buckets.get(index);
    if (bucket === undefined && (delta.baseTerm !== 0 || delta.baseTimestamp !== 0)) return false;
    return (bucket ?? this.allocate(index)).applyDelta(delta);
  }

  /** An independent copy: same buckets, entries, stamps and clock time. */
  copy(): FlowBucketTable {
    const copy = new FlowBucketTable({
      deviceId: this.deviceId,
      bucketCount: this.bucketCount,
      clock: new LogicalClock(this.clock.current),
    });
    for (const bucket of this.#buckets.values()) copy.allocate(bucket.index).mergeFrom(bucket);
    return copy;
  }

  #bucketFor(rule: FlowRule): FlowBucket {
    this.#checkDevice(rule);
    return this.allocate(this.bucketIndexOf(rule.id));
  }

  #existingBucketFor(rule: FlowRule): FlowBucket | undefined {
    this.#checkDevice(rule);
    return this.#buckets.get(this.bucketIndexOf(rule.id));
  }

  /** Throws unless `rule` is of this device and belongs in bucket `index`. */
  #checkBelongs(rule: FlowRule, index: number): void {
    this.#checkDevice(rule);
    if (this.bucketIndexOf(rule.id) !== index) {
      throw new FlowBucketError(
        "INVALID_BUCKET",
        `flow ${rule.id} belongs in bucket ${this.bucketIndexOf(rule.id)}, not ${index}`,
      );
    }
  }

  #checkDevice(rule: FlowRule): void {
    if (rule.deviceId !== this.deviceId) {
      throw new FlowBucketError(
        "WRONG_DEVICE",
        `flow ${rule.id} is on device ${rule.deviceId}, not ${this.deviceId}`,
      );
    }
  }

  /** Keeps the summary in step with one bucket's change of digest. */
  #onBucketChange(bucket: FlowBucket, previousTerm: Term, previousTimestamp: number): void {
    this.#version++;
    if (previousTerm !== 0 || previousTimestamp !== 0) {
      this.#laneA ^= digestHash(bucket.index, previousTerm, previousTimestamp, SEED_A);
      this.#laneB ^= digestHash(bucket.index, previousTerm, previousTimestamp, SEED_B);
      this.#stamped--;
    }
    const now = bucket.digest();
    if (now.term !== 0 || now.timestamp !== 0) {
      this.#laneA ^= digestHash(now.bucket, now.term, now.timestamp, SEED_A);
      this.#laneB ^= digestHash(now.bucket, now.term, now.timestamp, SEED_B);
      this.#stamped++;
    }
    if (compareDigests(now, this.#newest) >= 0) {
      this.#newest = now;
    } else if (bucket.index === this.#newest.bucket) {
      // The newest bucket went back (cleared, or took an older copy): look again.
      let newest = emptyDigest(0);
      for (const other of this.#buckets.values()) {
        const digest = other.digest();
        if (compareDigests(digest, newest) > 0) newest = digest;
      }
      this.#newest = newest;
    }
    this.#onChange?.(bucket);
  }
}

const SEED_A = 0x9747b28c;
const SEED_B = 0x5bd1e995;
const TWO_32 = 2 ** 32;

/** A 32-bit hash of one bucket digest (murmur3's mixing on five 32-bit words). */
function digestHash(bucket: number, term: number, timestamp: number, seed: number): number {
  let h = seed;
  h = round(h, bucket);
  h = round(h, term >>> 0);
  h = round(h, Math.floor(term / TWO_32));
  h = round(h, timestamp >>> 0);
  h = round(h, Math.floor(timestamp / TWO_32));
  h ^= 20;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function round(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let next = h ^ k;
  next = (next << 13) | (next >>> 19);
  return (Math.imul(next, 5) + 0xe6546b64) | 0;
}
