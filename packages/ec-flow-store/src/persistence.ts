import type {
  DeferredFlowBucket,
  DeviceId,
  FlowBucketSnapshot,
  FlowEntry,
  FlowId,
  LogicalTimestamp,
  Term,
} from "@flowstore/flow-bucket";

/** One bucket's change as the store hands it to disk: its new stamp and what changed. */
export interface PersistedBucketChange {
  readonly bucket: number;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  /** Entries stored or replaced since the last change handed over (all of them when `whole`). */
  readonly upserts: readonly FlowEntry[];
  /** Flows removed since the last change handed over. */
  readonly removed: readonly FlowId[];
  /** How many flows the bucket holds now. */
  readonly flows: number;
  /** `upserts` is the bucket's whole content: whatever else is on disk for it goes. */
  readonly whole?: boolean;
}

/** A device's tables as they were on disk when the node started. */
export interface PersistedDevice {
  readonly deviceId: DeviceId;
  /** The highest term this node had seen for the device. */
  readonly highestTerm: Term;
  /** Its buckets: with their entries, or with them still encoded (decoded when needed). */
  readonly buckets: readonly (FlowBucketSnapshot | DeferredFlowBucket)[];
}

/**
 * Where a store keeps its tables across restarts (`@flowstore/flow-persistence` with LMDB):
 * changes are staged, then made durable together by `flush`.
 */
export interface FlowTablePersistence {
  stageBucket(device: DeviceId, change: PersistedBucketChange): void;
  /** Keeps `term` as the device's highest term seen, if it is higher. */
  noteTerm(device: DeviceId, term: Term): void;
  /** Makes everything staged durable. */
  flush(): Promise<void>;
}

/** The store's `persistence` option. */
export interface StorePersistenceOptions {
  readonly sink: FlowTablePersistence;
  /** What was on disk at start: loaded into the tables before any synchronization. */
  readonly loaded?: readonly PersistedDevice[];
  /** How often changed buckets go to disk, in ms (default 100). */
  readonly commitInterval?: number;
}
