import type { NodeId } from "@flowstore/cluster-messaging";
import {
  emptyDigest,
  type FlowBucket,
  type FlowBucketDelta,
  type FlowBucketDigest,
  type FlowBucketSnapshot,
  type FlowBucketTable,
  isNewerThan,
  type LogicalTimestamp,
  type Term,
} from "@flowstore/flow-bucket";

/** A version of a bucket: what a backup acknowledged holding. */
export interface Version {
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
}

/**
 * One bucket on its way to a backup: the version sent, and either the whole bucket or a delta
 * from the version the backup acknowledged; `size` counts the entries and rules it carries.
 */
export type BackupPayload = Version & { readonly index: number; readonly size: number } & (
    | { readonly kind: "whole"; readonly snapshot: FlowBucketSnapshot }
    | { readonly kind: "delta"; readonly delta: FlowBucketDelta }
  );

/** The largest payload (entries and removals) kept for other backups owed the same. */
const MAX_SHARED_PAYLOAD = 1024;

/**
 * A master's account of its backups for one device in the current term: the version of each
 * bucket each backup acknowledged, the sends on their way, which backups anti-entropy has
 * compared digests with — and so what each backup is owed. It decides nothing about terms:
 * its {@link DeviceFlowTable} asks the fence first, and resets it when a term starts or ends.
 */
export class BackupLedger {
  readonly #table: FlowBucketTable;
  /** Per backup node: bucket → the version it acknowledged in the current term. */
  readonly #acked = new Map<NodeId, Map<number, Version>>();
  /** `node/bucket` of the backup sends in flight. */
  readonly #inFlight = new Set<string>();
  /**
   * Backups whose digests this master has compared with its own in the current term. Until
   * then only buckets changed in this term are sent (what changed since synchronization);
   * afterwards every bucket the backup lacks is, whatever its term.
   */
  readonly #compared = new Set<NodeId>();
  /**
   * Per backup node: the state (table version, term, acknowledgement epoch) in which it was
   * last found owed nothing. While that state holds, a backup round skips the device without
   * looking at its buckets: an idle device costs one comparison per round.
   */
  readonly #settled = new Map<NodeId, string>();
  /** Moves whenever acknowledgements are dropped or digests compared: what is owed may grow. */
  #ackEpoch = 0;
  /**
   * Per bucket, the last payload taken and the version it starts from (none: whole): backups
   * owed the same get the same payload object, so a round to several backups encodes it once
   * (see the replicator). One per bucket, of at most `MAX_SHARED_PAYLOAD` entries.
   */
  readonly #lastPayload = new Map<
    number,
    { readonly base: Version | undefined; readonly payload: BackupPayload }
  >();

  constructor(table: FlowBucketTable) {
    this.#table = table;
  }

  /** Forgets every acknowledgement and send (a term started or ended); `compared` too, at a start. */
  reset(options: { readonly compared: boolean }): void {
    this.#acked.clear();
    this.#inFlight.clear();
    this.#lastPayload.clear();
    if (options.compared) this.#compared.clear();
    this.#ackEpoch++;
  }

  /** Forgets what it knew of nodes that are no longer backups. */
  forgetAllBut(backups: readonly NodeId[]): void {
    for (const node of this.#acked.keys()) if (!backups.includes(node)) this.#acked.delete(node);
    for (const node of this.#compared) if (!backups.includes(node)) this.#compared.delete(node);
    for (const node of this.#settled.keys())
      if (!backups.includes(node)) this.#settled.delete(node);
  }

  /** Whether `node` acknowledged bucket `index` at `timestamp` or later. */
  holds(node: NodeId, index: number, timestamp: LogicalTimestamp): boolean {
    return (this.#acked.get(node)?.get(index)?.timestamp ?? -1) >= timestamp;
  }

  /**
   * The buckets `node` should receive now, in `term`: changed in the term (or in any term,
   * once compared), newer than what it acknowledged, and not already on their way. They are
   * marked in flight. Each goes as a delta from the version `node` acknowledged when the
   * bucket can give one, else whole.
   */
  take(node: NodeId, term: Term): BackupPayload[] {
    const state = this.#state(term);
    if (this.#settled.get(node) === state) return [];
    const acked = this.#acked.get(node);
    const out: BackupPayload[] = [];
    let owed = 0;
    for (const bucket of this.#table.buckets()) {
      if (!this.#owes(node, bucket, term)) continue;
      owed++;
      const key = `${node}/${bucket.index}`;
      if (this.#inFlight.has(key)) continue;
      this.#inFlight.add(key);
      out.push(this.#payloadOf(bucket, acked?.get(bucket.index)));
    }
    if (owed === 0) this.#settled.set(node, state);
    return out;
  }

  /**
   * What a backup at `base` (none: it holds nothing known) is owed of `bucket`: what another
   * backup at `base` was given, if the bucket has not changed since.
   */
  #payloadOf(bucket: FlowBucket, base: Version | undefined): BackupPayload {
    const last = this.#lastPayload.get(bucket.index);
    if (
      last !== undefined &&
      last.payload.term === bucket.term &&
      last.payload.timestamp === bucket.timestamp &&
      last.base?.term === base?.term &&
      last.base?.timestamp === base?.timestamp
    ) {
      return last.payload;
    }
    const payload = payloadOf(bucket, base);
    // A large payload is not kept (it would hold a copy of the bucket's entry list until the
    // bucket next changes); one that large is sent as its own messages anyway.
    if (payload.size <= MAX_SHARED_PAYLOAD) this.#lastPayload.set(bucket.index, { base, payload });
    else this.#lastPayload.delete(bucket.index);
    return payload;
  }

  /** A send of `payloads` to `node` ended (answered or not): they are no longer on their way. */
  settleSend(node: NodeId, payloads: readonly { readonly index: number }[]): void {
    for (const payload of payloads) this.#inFlight.delete(`${node}/${payload.index}`);
  }

  /**
   * `node` accepted `payloads`, except the deltas of `missingBase` (its copy was not their
   * base: the next round sends those whole).
   */
  acknowledged(
    node: NodeId,
    payloads: readonly (Version & { readonly index: number })[],
    missingBase: readonly number[],
  ): void {
    const acked = this.#ackedOf(node);
    const missing = new Set(missingBase);
    for (const { index, term: sentTerm, timestamp } of payloads) {
      if (missing.has(index)) {
        // The backup's copy is not what it acknowledged: the next round sends it whole.
        acked.delete(index);
        this.#ackEpoch++;
      } else if ((acked.get(index)?.timestamp ?? -1) < timestamp) {
        acked.set(index, { term: sentTerm, timestamp });
      }
    }
  }

  /** Whether `node` is owed a bucket in `term` that is not already on its way. */
  owesUnsent(node: NodeId, term: Term): boolean {
    if (this.#isSettled(node, term)) return false;
    return this.#table
      .buckets()
      .some(
        (bucket) =>
          this.#owes(node, bucket, term) && !this.#inFlight.has(`${node}/${bucket.index}`),
      );
  }

  /** Buckets some of `backups` still lacks in `term` (sent or not): the backup lag. */
  owedCount(backups: readonly NodeId[], term: Term): number {
    let count = 0;
    for (const node of backups) {
      if (this.#isSettled(node, term)) continue;
      for (const bucket of this.#table.buckets()) if (this.#owes(node, bucket, term)) count++;
    }
    return count;
  }

  /**
   * Anti-entropy: given `node`'s digests of this device (only its changed buckets), marks
   * what it holds exactly as acknowledged and forgets the acknowledgement of every bucket
   * where it holds neither the current version nor the one it acknowledged (and none is on
   * its way), so the next backup round sends it whole. Returns the buckets `node` holds in a
   * version newer than the master's.
   */
  compare(node: NodeId, remote: readonly FlowBucketDigest[]): number[] {
    const theirs = new Map(remote.map((digest) => [digest.bucket, digest]));
    const acked = this.#ackedOf(node);
    this.#compared.add(node);
    this.#ackEpoch++;
    const newer: number[] = [];
    const indices = new Set([...this.#table.buckets().map((b) => b.index), ...theirs.keys()]);
    for (const index of indices) {
      const local = this.#table.digest(index);
      const other = theirs.get(index) ?? emptyDigest(index);
      if (local.term === other.term && local.timestamp === other.timestamp) {
        if (local.term !== 0 || local.timestamp !== 0)
          acked.set(index, { term: local.term, timestamp: local.timestamp });
        continue;
      }
      // A backup that holds the version it acknowledged is only behind, and a bucket still on
      // its way will be settled by its reply: either way the next send can be a delta. Any
      // other copy is not what the master thinks: forget the mark, so it goes whole.
      const mark = acked.get(index);
      const behind = mark?.term === other.term && mark.timestamp === other.timestamp;
      if (!behind && !this.#inFlight.has(`${node}/${index}`)) acked.delete(index);
      if (isNewerThan(other, local)) newer.push(index);
    }
    return newer;
  }

  /** `node`'s copy is the master's, as it is now, in `term`: every bucket is acknowledged. */
  inSync(node: NodeId, term: Term): void {
    // Acknowledging every bucket as it is leaves nothing owed, whatever its term.
    if (this.#compared.has(node) && this.#isSettled(node, term)) return;
    const acked = this.#ackedOf(node);
    this.#compared.add(node);
    for (const bucket of this.#table.buckets())
      acked.set(bucket.index, { term: bucket.term, timestamp: bucket.timestamp });
    this.#settled.set(node, this.#state(term));
  }

  /** Names the state that decides what a backup is owed, for {@link take}'s shortcut. */
  #state(term: Term): string {
    return `${this.#table.version}/${term}/${this.#ackEpoch}`;
  }

  /** Whether `node` was found owed nothing and nothing has changed since. */
  #isSettled(node: NodeId, term: Term): boolean {
    return this.#settled.get(node) === this.#state(term);
  }

  /**
   * Whether `node` lacks `bucket`'s current version: the bucket changed in this term — or in
   * any term, once anti-entropy has compared digests with `node` — after what `node`
   * acknowledged.
   */
  #owes(node: NodeId, bucket: FlowBucket, term: Term): boolean {
    if (bucket.term === 0 && bucket.timestamp === 0) return false;
    if (bucket.term !== term && !this.#compared.has(node)) return false;
    return (this.#acked.get(node)?.get(bucket.index)?.timestamp ?? -1) < bucket.timestamp;
  }

  #ackedOf(node: NodeId): Map<number, Version> {
    let acked = this.#acked.get(node);
    if (acked === undefined) {
      acked = new Map();
      this.#acked.set(node, acked);
    }
    return acked;
  }
}

/** `bucket` as a backup that acknowledged version `base` needs it: a delta if it can, else whole. */
function payloadOf(bucket: FlowBucket, base: Version | undefined): BackupPayload {
  const version = { index: bucket.index, term: bucket.term, timestamp: bucket.timestamp };
  const delta = base === undefined ? undefined : bucket.delta(base.term, base.timestamp);
  return delta === undefined
    ? { ...version, kind: "whole", snapshot: bucket.snapshot(), size: bucket.size }
    : { ...version, kind: "delta", delta, size: delta.entries.length + delta.removed.length };
}
