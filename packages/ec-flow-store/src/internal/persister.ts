import type { DeviceId, LogicalTimestamp, Term } from "@flowstore/flow-bucket";
import { interval, type SchedulerLike, type Subscription } from "rxjs";
import type { Logger } from "../logger.js";
import type { FlowTablePersistence, StorePersistenceOptions } from "../persistence.js";
import type { DeviceFlowTable } from "./deviceFlowTable.js";

interface Stamp {
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
}

/**
 * Keeps a store's tables on disk: every bucket whose digest changed (a write, a backup, a
 * sync, a dropped copy) is handed to the sink each `commitInterval`, as what changed since the
 * version last handed over (the bucket's change log), or whole when the log no longer reaches
 * back that far; then the sink commits. Counters are soft state and change no digest, so a
 * device report writes nothing. The highest term each table has seen goes along, so the
 * coordinators can start above it after a full restart.
 */
export class Persister {
  readonly #sink: FlowTablePersistence;
  readonly #log: Logger;
  readonly #dirty = new Map<DeviceFlowTable, Set<number>>();
  /** Per device, per bucket: the stamp last handed to the sink. */
  readonly #stored = new Map<DeviceId, Map<number, Stamp>>();
  readonly #terms = new Map<DeviceId, Term>();
  readonly #timer: Subscription;
  #committing: Promise<void> | undefined;
  /** When the oldest change not yet committed was made (undefined: none waits). */
  #dirtySince: number | undefined;
  /** When the oldest change of the commit under way was made. */
  #committingSince: number | undefined;
  readonly #now: () => number;
  /** Commits made and buckets written, for metrics. */
  readonly stats = { commits: 0, buckets: 0, entries: 0, failures: 0 };

  constructor(options: StorePersistenceOptions, scheduler: SchedulerLike, log: Logger) {
    this.#sink = options.sink;
    this.#log = log;
    this.#now = () => scheduler.now();
    for (const device of options.loaded ?? []) {
      const stamps = new Map<number, Stamp>();
      for (const b of device.buckets)
        stamps.set(b.bucket, { term: b.term, timestamp: b.timestamp });
      this.#stored.set(device.deviceId, stamps);
      this.#terms.set(device.deviceId, device.highestTerm);
    }
    // An idle node commits nothing: a tick with no changed bucket does no work.
    this.#timer = interval(options.commitInterval ?? 100, scheduler).subscribe(() => {
      if (this.#dirty.size > 0) void this.commit();
    });
  }

  /** Bucket `bucket` of `table` changed: it goes to disk with the next commit. */
  changed(table: DeviceFlowTable, bucket: number): void {
    this.#dirtySince ??= this.#now();
    let indices = this.#dirty.get(table);
    if (indices === undefined) {
      indices = new Set();
      this.#dirty.set(table, indices);
    }
    indices.add(bucket);
  }

  /**
   * Hands every changed bucket (and its table's highest term, if newer) to the sink and
   * commits; one commit at a time.
   */
  commit(): Promise<void> {
    if (this.#committing !== undefined) return this.#committing;
    this.#committingSince = this.#dirtySince;
    this.#dirtySince = undefined;
    const run = async () => {
      const dirty = [...this.#dirty];
      this.#dirty.clear();
      for (const [table, indices] of dirty) {
        // The highest term a table has seen goes with its changes: what is on disk is never
        // newer than it, and the coordinators start above the highest after a full restart.
        const term = table.fence.knownTerm;
        if (term > (this.#terms.get(table.deviceId) ?? 0)) {
          this.#terms.set(table.deviceId, term);
          this.#sink.noteTerm(table.deviceId, term);
        }
        for (const index of indices) this.#stage(table, index);
      }
      await this.#sink.flush();
      this.stats.commits++;
    };
    this.#committing = run()
      .catch((error: unknown) => {
        // The sink keeps what it could not commit staged for the next one: still behind. (A
        // bucket it could not encode at all it leaves out, as it was on disk: see
        // `FlowPersistence.stageBucket`.)
        const since = this.#committingSince;
        if (since !== undefined) this.#dirtySince = Math.min(this.#dirtySince ?? since, since);
        this.stats.failures++;
        this.#log.error("could not write the flow tables to disk", { error: String(error) });
      })
      .finally(() => {
        this.#committing = undefined;
        this.#committingSince = undefined;
      });
    return this.#committing;
  }

  #stage(table: DeviceFlowTable, index: number): void {
    const device = table.deviceId;
    let stamps = this.#stored.get(device);
    if (stamps === undefined) {
      stamps = new Map();
      this.#stored.set(device, stamps);
    }
    const bucket = table.table.bucket(index);
    const base = stamps.get(index);
    if (bucket === undefined || (bucket.term === 0 && bucket.timestamp === 0)) {
      // Cleared (a copy this node no longer keeps): nothing of it stays on disk.
      if (base === undefined) return;
      stamps.delete(index);
      this.#sink.stageBucket(device, {
        bucket: index,
        term: 0,
        timestamp: 0,
        upserts: [],
        removed: [],
        flows: 0,
        whole: true,
      });
      this.stats.buckets++;
      return;
    }
    if (base !== undefined && base.term === bucket.term && base.timestamp === bucket.timestamp)
      return;
    const delta = base === undefined ? undefined : bucket.delta(base.term, base.timestamp);
    stamps.set(index, { term: bucket.term, timestamp: bucket.timestamp });
    this.stats.buckets++;
    if (delta !== undefined) {
      this.#sink.stageBucket(device, {
        bucket: index,
        term: bucket.term,
        timestamp: bucket.timestamp,
        upserts: delta.entries,
        removed: delta.removed.map((rule) => rule.id),
        flows: bucket.size,
      });
      this.stats.entries += delta.entries.length + delta.removed.length;
      return;
    }
    const entries = [...bucket.entries()];
    this.#sink.stageBucket(device, {
      bucket: index,
      term: bucket.term,
      timestamp: bucket.timestamp,
      upserts: entries,
      removed: [],
      flows: entries.length,
      whole: true,
    });
    this.stats.entries += entries.length;
  }

  /**
   * How far the disk is behind, in ms: the age of the oldest change not yet committed (0 when
   * everything is). A write acknowledged longer ago than this is on disk.
   */
  lagMs(): number {
    const oldest = this.#committingSince ?? this.#dirtySince;
    return oldest === undefined ? 0 : this.#now() - oldest;
  }

  /** Commits everything changed so far: after the commit under way, one more. */
  async flush(): Promise<void> {
    await this.#committing;
    await this.commit();
  }

  /** Stops the timer (what is not committed yet stays uncommitted: call `flush` first). */
  stop(): void {
    this.#timer.unsubscribe();
  }
}
