import type { DeviceId, FlowEntry, FlowId, Term } from "@flowstore/flow-bucket";
import type {
  FlowTablePersistence,
  PersistedBucketChange,
  PersistedDevice,
} from "../persistence.js";

interface StoredBucket {
  term: Term;
  timestamp: number;
  entries: Map<FlowId, FlowEntry>;
}

/**
 * A node's "disk" for tests: staged changes become visible to {@link load} only when
 * flushed, as an LMDB commit does; what was staged and not flushed dies with the node.
 */
export class MemoryDisk implements FlowTablePersistence {
  readonly #devices = new Map<DeviceId, { term: Term; buckets: Map<number, StoredBucket> }>();
  #staged: Array<() => void> = [];
  commits = 0;
  /** Buckets whose loaded entries a table decoded. */
  decodes = 0;

  stageBucket(device: DeviceId, change: PersistedBucketChange): void {
    this.#staged.push(() => {
      const stored = this.#device(device);
      if (change.whole && change.upserts.length === 0 && change.term === 0) {
        stored.buckets.delete(change.bucket);
        return;
      }
      let bucket = stored.buckets.get(change.bucket);
      if (bucket === undefined || change.whole) {
        bucket = { term: change.term, timestamp: change.timestamp, entries: new Map() };
        stored.buckets.set(change.bucket, bucket);
      }
      bucket.term = change.term;
      bucket.timestamp = change.timestamp;
      for (const id of change.removed) bucket.entries.delete(id);
      for (const entry of change.upserts) bucket.entries.set(entry.rule.id, entry);
      if (bucket.entries.size !== change.flows) {
        throw new Error(
          `bucket ${change.bucket} of ${device} holds ${bucket.entries.size} flows, the change says ${change.flows}`,
        );
      }
    });
  }

  noteTerm(device: DeviceId, term: Term): void {
    this.#staged.push(() => {
      const stored = this.#device(device);
      stored.term = Math.max(stored.term, term);
    });
  }

  async flush(): Promise<void> {
    const staged = this.#staged;
    this.#staged = [];
    for (const apply of staged) apply();
    this.commits++;
  }

  /** Forgets what was staged and not flushed: the process died. */
  crash(): void {
    this.#staged = [];
  }

  /**
   * What a restarted node finds: as the LMDB persistence gives it, each bucket's entries
   * still encoded, decoded (and counted in {@link decodes}) when a table needs them.
   */
  load(): PersistedDevice[] {
    return [...this.#devices].map(([deviceId, stored]) => ({
      deviceId,
      highestTerm: stored.term,
      buckets: [...stored.buckets].map(([bucket, b]) => {
        const entries = [...b.entries.values()];
        return {
          bucket,
          term: b.term,
          timestamp: b.timestamp,
          size: entries.length,
          decode: () => {
            this.decodes++;
            return entries;
          },
        };
      }),
    }));
  }

  /** Flow ids on disk for `device`. */
  flows(device: DeviceId): Set<FlowId> {
    const ids = new Set<FlowId>();
    for (const bucket of this.#devices.get(device)?.buckets.values() ?? [])
      for (const id of bucket.entries.keys()) ids.add(id);
    return ids;
  }

  #device(device: DeviceId) {
    let stored = this.#devices.get(device);
    if (stored === undefined) {
      stored = { term: 0, buckets: new Map() };
      this.#devices.set(device, stored);
    }
    return stored;
  }
}
