import type {
  DeviceDigest,
  DeviceId,
  FlowBucketDigest,
  FlowEntry,
  FlowEntryState,
  FlowId,
  FlowRule,
  FlowStateCounts,
  LogicalTimestamp,
  Term,
} from "@flowstore/flow-bucket";

/** One bucket of a {@link FlowTableView}: what can be read of it, nothing that changes it. */
export interface FlowBucketView {
  readonly index: number;
  readonly size: number;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  countOf(state: FlowEntryState): number;
  entries(): IterableIterator<FlowEntry>;
}

/**
 * This node's copy of a device's table, read-only: what the console, metrics and benchmarks
 * read of the store's tables. Only the store's own protocol changes them.
 */
export interface FlowTableView {
  readonly deviceId: DeviceId;
  /** Flow entries held. */
  readonly size: number;
  /** Grows at every change of any bucket (a cheap "did anything change" check). */
  readonly version: number;
  find(rule: FlowRule): FlowEntry | undefined;
  get(id: FlowId): FlowEntry | undefined;
  entries(): IterableIterator<FlowEntry>;
  buckets(): readonly FlowBucketView[];
  summary(): DeviceDigest;
  digests(): FlowBucketDigest[];
  countOf(state: FlowEntryState): number;
  stateCounts(): FlowStateCounts;
}
