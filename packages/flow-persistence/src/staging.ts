import type { DeviceId, FlowEntry, FlowId, LogicalTimestamp, Term } from "@flowstore/flow-bucket";

/** A bucket's new stamp and its changes, as given to `FlowPersistence.stageBucket`. */
export interface BucketChange {
  /** The bucket's index. */
  readonly bucket: number;
  /** The bucket's term after the change. */
  readonly term: Term;
  /** The bucket's logical timestamp after the change. */
  readonly timestamp: LogicalTimestamp;
  /** Entries stored or replaced (as they are now). */
  readonly upserts: readonly FlowEntry[];
  /** Flow ids removed from the bucket. */
  readonly removed: readonly FlowId[];
  /**
   * How many flows the bucket holds after the change (the caller's table knows; for a whole
   * change, `upserts.length`). Its head keeps the count, for `stats()` and for `load` to
   * give a bucket's size before its entries are decoded.
   */
  readonly flows: number;
  /**
   * Whether `upserts` is the bucket's entire content: whatever else is stored for the bucket
   * is dropped. Default false. A whole change with no entries at term 0 and timestamp 0 (the
   * stamp of a bucket that never changed) clears the bucket: nothing of it stays on disk.
   */
  readonly whole?: boolean;
}

/** Whether `change` clears its bucket (see {@link BucketChange.whole}). */
export function clears(change: BucketChange): boolean {
  return (
    change.whole === true &&
    change.upserts.length === 0 &&
    change.term === 0 &&
    change.timestamp === 0
  );
}

/** What is staged for one bucket: its latest stamp and the net effect of its changes. */
export interface StagedBucket {
  term: Term;
  timestamp: LogicalTimestamp;
  /** Whether `upserts` is the bucket's entire content (then `removed` is empty). */
  whole: boolean;
  /** Whether the bucket is cleared: no entries and no stamp stay on disk. */
  cleared: boolean;
  /** How many flows the bucket holds after the latest change staged. */
  flows: number;
  readonly upserts: Map<FlowId, FlowEntry>;
  readonly removed: Set<FlowId>;
}

/** What is staged for one device. */
export interface StagedDevice {
  /**
   * Whether every bucket of the device stored before is dropped. Buckets staged after the
   * drop are in `buckets`, all `whole` (they start from nothing).
   */
  dropped: boolean;
  readonly buckets: Map<number, StagedBucket>;
  /** The highest term noted since the last commit, if any. */
  term: Term | undefined;
}

/**
 * Changes waiting for the next commit, coalesced: several changes of one bucket make one
 * staged bucket, whose effect on disk is that of applying them in order.
 *
 * @remarks Pure bookkeeping with no I/O, so its coalescing rules are tested on their own.
 * A removal and an upsert of one flow id in the same change: the upsert wins (it is the entry
 * as it is now).
 */
export class Staging {
  readonly devices = new Map<DeviceId, StagedDevice>();
  /** Meta values to write; `undefined` deletes the key. */
  readonly meta = new Map<string, unknown>();

  /** Whether nothing is staged. */
  get isEmpty(): boolean {
    return this.devices.size === 0 && this.meta.size === 0;
  }

  /** How many entries and removals are staged (a measure of the next commit's size). */
  get size(): number {
    let size = this.meta.size;
    for (const device of this.devices.values()) {
      for (const bucket of device.buckets.values()) {
        size += 1 + bucket.upserts.size + bucket.removed.size;
      }
    }
    return size;
  }

  /** Stages a bucket's new stamp and changes, on top of what is staged for it. */
  stageBucket(device: DeviceId, change: BucketChange): void {
    const staged = this.#device(device);
    const whole = change.whole === true || (staged.dropped && !staged.buckets.has(change.bucket));
    let bucket = staged.buckets.get(change.bucket);
    if (bucket === undefined || whole) {
      bucket = {
        term: change.term,
        timestamp: change.timestamp,
        whole,
        cleared: false,
        flows: change.flows,
        upserts: new Map(),
        removed: new Set(),
      };
      staged.buckets.set(change.bucket, bucket);
    }
    bucket.term = change.term;
    bucket.timestamp = change.timestamp;
    bucket.flows = change.flows;
    bucket.cleared = clears(change);
    for (const id of change.removed) {
      bucket.upserts.delete(id);
      if (!bucket.whole) bucket.removed.add(id);
    }
    for (const entry of change.upserts) {
      bucket.upserts.set(entry.rule.id, entry);
      bucket.removed.delete(entry.rule.id);
    }
  }

  /** Stages dropping every bucket of `device`; what was staged for its buckets is dropped too. */
  dropDevice(device: DeviceId): void {
    const staged = this.#device(device);
    staged.dropped = true;
    staged.buckets.clear();
  }

  /** Stages `term` as the highest seen for `device` (the higher of it and what is staged). */
  noteTerm(device: DeviceId, term: Term): void {
    const staged = this.#device(device);
    if (staged.term === undefined || term > staged.term) staged.term = term;
  }

  /** Stages a meta value (`undefined` deletes the key). */
  setMeta(key: string, value: unknown): void {
    this.meta.set(key, value);
  }

  /**
   * Applies `newer` on top of this staging, as if its changes had been staged here after
   * this one's: how a failed commit's changes are put back in front of those staged since.
   */
  absorb(newer: Staging): void {
    for (const [device, changes] of newer.devices) {
      if (changes.dropped) this.dropDevice(device);
      for (const [index, bucket] of changes.buckets) {
        this.stageBucket(device, {
          bucket: index,
          term: bucket.term,
          timestamp: bucket.timestamp,
          upserts: [...bucket.upserts.values()],
          removed: [...bucket.removed],
          flows: bucket.flows,
          whole: bucket.whole,
        });
      }
      if (changes.term !== undefined) this.noteTerm(device, changes.term);
    }
    for (const [key, value] of newer.meta) this.meta.set(key, value);
  }

  #device(device: DeviceId): StagedDevice {
    let staged = this.devices.get(device);
    if (staged === undefined) {
      staged = { dropped: false, buckets: new Map(), term: undefined };
      this.devices.set(device, staged);
    }
    return staged;
  }
}
