import type { NodeId } from "@flowstore/cluster-messaging";
import {
  type DeviceDigest,
  type DeviceId,
  type FlowBucket,
  type FlowBucketDelta,
  type FlowBucketDigest,
  type FlowBucketSnapshot,
  FlowBucketTable,
  type LogicalTimestamp,
  type Term,
} from "@flowstore/flow-bucket";
import type { ReplicaInfo } from "@flowstore/mastership";
import { type Observable, Subject } from "rxjs";
import { FlowStoreError } from "../flowStoreError.js";
import type { Logger } from "../logger.js";
import { assertNever } from "./assertNever.js";
import { BackupLedger, type BackupPayload, type Version } from "./backupLedger.js";
import { type BackedUp, BackupWaiters, type UnderReplicated } from "./backupWaiters.js";
import { type SyncTarget, synchronize } from "./failoverSync.js";
import type { LifecycleEvent } from "./lifecycle.js";
import { decodeLoadedBuckets } from "./loadedBuckets.js";
import { TermFence } from "./termFence.js";

/** What a replica answers a synchronizing master first: its digests, and what it knows. */
export interface SyncDigests {
  /** The digest of every changed bucket. */
  readonly digests: readonly FlowBucketDigest[];
  /** The newest term the replica saw become active, with its master and backups. */
  readonly activated: ReplicaInfo | null;
}

/** How a new master reads the previous replicas of its device while it synchronizes. */
export interface SyncSource {
  /** The digests of `device` on `node`, and the newest activated term `node` knows of. */
  digests(node: NodeId, device: DeviceId, term: Term): Promise<SyncDigests>;
  /** Buckets `indices` of `device` on `node`. */
  buckets(
    node: NodeId,
    device: DeviceId,
    term: Term,
    indices: readonly number[],
  ): Promise<readonly FlowBucketSnapshot[]>;
}

/** What a device table needs from its node. */
export interface DeviceFlowTableOptions {
  readonly deviceId: DeviceId;
  readonly localNode: NodeId;
  readonly bucketCount: number;
  readonly sync: SyncSource;
  /** Publishes "term T is synchronized"; `false` if T is no longer the current term. */
  readonly activate: (term: Term) => Promise<boolean>;
  /** Whether a node that is neither master nor backup should drop its copy. */
  readonly shouldDropCopies: () => boolean;
  readonly log: Logger;
  /** Whether `node` is believed alive (the failure detector); a live previous master is asked again. */
  readonly isNodeAlive?: (node: NodeId) => boolean;
  /**
   * How many times a live previous master is asked per round before its backups are, and —
   * without `isNodeAlive` — how many rounds before activating anyway (default 3).
   */
  readonly syncAttempts?: number;
  /** Waits `ms` (on the store's scheduler), between sync rounds. */
  readonly wait: (ms: number) => Promise<void>;
  /** Pause between sync rounds when no previous replica answered, in ms (default 200). */
  readonly retryDelay?: number;
  /** Buckets fetched per sync request. */
  readonly syncBatch?: number;
  /**
   * The newest activated term of the device as the coordinator records it: a node that
   * missed terms (paused, partitioned) learns from it that its own view is stale.
   */
  readonly activeTerm?: () => Term | undefined;
  /**
   * How long a new master waits for a live but silent holder of the newest writes (the
   * master of the last activated term) before it activates with what the other replicas
   * gave, in ms (default: no limit while the failure detector holds it alive).
   */
  readonly syncTimeout?: number;
  /** The time, for `syncTimeout` (the store's scheduler). */
  readonly now?: () => number;
  /**
   * Set when this node keeps its tables on disk: until this node activates a term of the
   * device or takes a backup of it from an active master (it just started), a term it
   * masters waits for every node of `peers` to answer its synchronization, at most this long
   * (ms). See `restartSyncTimeout`.
   */
  readonly restartSyncTimeout?: number;
  /** Every node of the cluster (this one included), for `restartSyncTimeout`. */
  readonly peers?: () => readonly NodeId[];
  /**
   * Whether this node's lease on its masterships is provably fresh now: a write is applied
   * (and so acknowledged) only while it is, so a process resumed after a stall cannot
   * acknowledge anything once another node may have taken its devices (default: always).
   */
  readonly leaseFresh?: () => boolean;
  /**
   * Publish every change of a bucket's digest on {@link DeviceFlowTable.bucketChanged$}, and
   * keep replica deltas logged so that what changed can be asked for (persistence keeps the
   * table on disk). Off by default: a replica's log costs memory.
   */
  readonly tracksBuckets?: boolean;
}

/** The answer of a backup to one device's buckets. */
export type BackupVerdict =
  | {
      readonly accepted: true;
      readonly term: Term;
      /** Buckets whose delta did not apply: the backup's copy was not its base. */
      readonly missingBase: readonly number[];
    }
  | {
      readonly accepted: false;
      readonly reason: "STALE_TERM" | "UNKNOWN_TERM";
      readonly term: Term;
    };

/** The queue key of reads waiting for activation (bucket indices are never negative). */
const READS = -1;

/** Writes applied within this many ms of one another share one mark of the backup lag. */
const MARK_SPAN = 10;

interface QueuedWrite {
  readonly run: (term: Term) => void;
  readonly reject: (error: FlowStoreError) => void;
}

/**
 * One device's flow table on one node, and its part in the replication protocol: writes
 * only on the master in an active term, synchronization before activation, term-fenced
 * backups, and the digests anti-entropy compares.
 *
 * @remarks No timers and no sockets: the node's replication scheduler asks every table what
 * to send and tells it what was acknowledged; the {@link SyncSource} does the reading on
 * failover. Every accept / refuse decision on terms is the {@link TermFence}'s.
 */
export class DeviceFlowTable {
  readonly deviceId: DeviceId;
  readonly table: FlowBucketTable;
  readonly #options: DeviceFlowTableOptions;
  /** The device's terms as this node knows them, and every accept / refuse decision. */
  readonly fence: TermFence;
  /** What the failover sync (`failoverSync.ts`) reads and merges into. */
  readonly #syncTarget: SyncTarget;
  readonly #written = new Subject<void>();
  readonly #bucketChanged = new Subject<number>();
  /** A write ran on the master's table (replication sends it on the scheduler's next turn). */
  readonly written$: Observable<void> = this.#written.asObservable();
  readonly #activated = new Subject<void>();
  /** This node activated a term of the device as its master (it serves it now). */
  readonly activated$: Observable<void> = this.#activated.asObservable();
  /** A bucket's digest changed, by index (with `tracksBuckets`: persistence writes it). */
  readonly bucketChanged$: Observable<number> = this.#bucketChanged.asObservable();
  readonly #queued = new Map<number, QueuedWrite[]>();
  /** Synchronous writes of the current term waiting for their backups. */
  readonly #waiters = new BackupWaiters(
    () => this.backups,
    () => (node, index, timestamp) => this.#ledger.holds(node, index, timestamp),
  );
  /** What each backup acknowledged and what is on its way to it, in the current term. */
  readonly #ledger: BackupLedger;
  /**
   * Writes of batches this master applied in the current term that some bucket version of
   * is held by no backup yet, oldest first: when the first was applied, and the versions of
   * the buckets they made (writes within {@link MARK_SPAN} ms share one mark). The oldest
   * one's age is the backup lag in time (see {@link DeviceFlowTable.backupLag}).
   */
  readonly #unbacked: { readonly at: number; readonly versions: Map<number, LogicalTimestamp> }[] =
    [];
  #closed = false;

  /**
   * With persistence: since this node started, no term of the device activated here and no
   * active master sent it a backup (see `restartSyncTimeout`).
   */
  #restored: boolean;

  constructor(options: DeviceFlowTableOptions) {
    this.#options = options;
    this.#restored = options.restartSyncTimeout !== undefined;
    this.deviceId = options.deviceId;
    this.fence = new TermFence(options.deviceId, options.localNode);
    this.table = new FlowBucketTable({
      deviceId: options.deviceId,
      bucketCount: options.bucketCount,
      ...(options.tracksBuckets === true
        ? { onBucketChange: (bucket: FlowBucket) => this.#bucketChanged.next(bucket.index) }
        : {}),
    });
    this.#ledger = new BackupLedger(this.table);
    this.#syncTarget = {
      deviceId: this.deviceId,
      options,
      fence: this.fence,
      table: this.table,
      closed: () => this.#closed,
      restored: () => this.#restored,
    };
  }

  /** The replica info of the current term, if any. */
  get info(): ReplicaInfo | undefined {
    return this.fence.info;
  }

  /** The newest term this node saw become active. */
  get activeTerm(): Term {
    return this.fence.activeTerm;
  }

  /** The newest term this node saw become active, with its master and backups. */
  get lastActivated(): ReplicaInfo | undefined {
    return this.fence.lastActivated;
  }

  /** Whether this node is the master of an active term: the only state that takes writes directly. */
  get isActiveMaster(): boolean {
    return this.fence.isActiveMaster;
  }

  /** Whether this node is the master of the current term (active or still synchronizing). */
  get isMaster(): boolean {
    return this.fence.isMaster;
  }

  /** The backups of the current term. */
  get backups(): readonly NodeId[] {
    return this.fence.info?.backups ?? [];
  }

  // ---- writes -------------------------------------------------------------------------------

  /**
   * Runs `write` on the table in the current term, once the term is active: at once if it
   * is, or queued behind the bucket's other writes until synchronization finishes.
   * Rejects with `NOT_MASTER` on a node that is not the master.
   */
  write<T>(bucket: number, write: (table: FlowBucketTable, term: Term) => T): Promise<T> {
    return this.#whenActive(bucket, write, true);
  }

  /**
   * Runs `read` on the table once the term is active, like {@link write}: a master still
   * synchronizing has not yet pulled what the previous master acknowledged, so a read there
   * (say, the lookup before a delete) could miss a flow that exists. Reads wait behind the
   * writes queued before them. Rejects with `NOT_MASTER` on a node that is not the master.
   */
  read<T>(read: (table: FlowBucketTable) => T): Promise<T> {
    return this.#whenActive(READS, read, false);
  }

  /**
   * Resolves once `policy.minimum` of the term's backups acknowledged buckets `indices` as
   * they are now (a synchronous write just applied to them), or as {@link BackupWaiters.wait}
   * says when there are too few backups or `timeout` ms pass. Rejects with `UNAVAILABLE` if
   * the term ends first.
   */
  backedUp(
    indices: Iterable<number>,
    policy: { readonly minimum: number; readonly mode: UnderReplicated },
    timeout: number,
  ): Promise<BackedUp> {
    const stamps = this.#stamp(indices, new Map());
    return this.#waiters.wait(stamps, policy, (expire) => {
      void this.#options.wait(timeout).then(expire);
    });
  }

  #whenActive<T>(
    queueKey: number,
    run: (table: FlowBucketTable, term: Term) => T,
    isWrite: boolean,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new FlowStoreError("CLOSED", "the store is closed"));
    const done = isWrite ? () => this.#written.next() : () => undefined;
    const admission = this.fence.admitWrite(this.#leaseFresh());
    switch (admission.kind) {
      case "refuse":
        return Promise.reject(admission.error);
      case "run":
        try {
          return Promise.resolve(run(this.table, admission.term));
        } catch (error) {
          return Promise.reject(error);
        } finally {
          done();
        }
      case "queue":
        return new Promise<T>((resolve, reject) => {
          const queue = this.#queued.get(queueKey) ?? [];
          queue.push({
            run: (term) => {
              if (!this.#leaseFresh()) {
                reject(this.fence.staleLease());
                return;
              }
              try {
                resolve(run(this.table, term));
              } catch (error) {
                reject(error);
              } finally {
                done();
              }
            },
            reject,
          });
          this.#queued.set(queueKey, queue);
        });
      default:
        return assertNever(admission);
    }
  }

  #leaseFresh(): boolean {
    return this.#options.leaseFresh?.() ?? true;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Follows one step of the device's term lifecycle. */
  onLifecycle(event: LifecycleEvent): void {
    switch (event.type) {
      case "TERM_START":
        this.#startTerm(event.info, event.previous);
        return;
      case "TERM_UPDATE":
        this.fence.update(event.info);
        this.#ledger.forgetAllBut(event.info.backups);
        this.#waiters.check();
        return;
      case "TERM_ACTIVE":
        this.#activateTerm(event.info);
        return;
      case "TERM_END":
        this.#endTerm(event.info);
        return;
      default:
        assertNever(event);
    }
  }

  /** Notes that a message spoke of `term`: a newer one fences this node's writes. */
  observeTerm(term: Term): void {
    this.fence.observe(term);
  }

  #startTerm(info: ReplicaInfo, previous: ReplicaInfo | undefined): void {
    this.fence.start(info);
    this.#ledger.reset({ compared: true });
    this.#unbacked.length = 0;
    if (info.master !== this.#options.localNode) {
      this.#rejectQueued("NOT_MASTER", `mastership of ${this.deviceId} moved to ${info.master}`);
      return;
    }
    this.#options.log.info("synchronizing flows", { device: this.deviceId, term: info.term });
    synchronize(this.#syncTarget, info, previous).then(
      () => this.#activate(info),
      (error: unknown) => {
        this.#options.log.error("synchronization failed", {
          device: this.deviceId,
          error: String(error),
        });
        return this.#activate(info);
      },
    );
  }

  async #activate(info: ReplicaInfo): Promise<void> {
    const mine = () =>
      !this.#closed &&
      this.fence.info?.term === info.term &&
      info.master === this.#options.localNode;
    if (!mine()) return;
    await this.#decodeLoaded(mine);
    if (!mine()) return;
    let published = false;
    try {
      published = await this.#options.activate(info.term);
    } catch (error) {
      this.#options.log.error("could not publish the term", {
        device: this.deviceId,
        error: String(error),
      });
    }
    if (!published || this.fence.info?.term !== info.term) {
      this.#rejectQueued(
        "NOT_MASTER",
        `term ${info.term} of ${this.deviceId} ended before it was active`,
      );
      return;
    }
    this.fence.activated(info);
    this.#restored = false;
    const queued = [...this.#queued.values()];
    this.#queued.clear();
    for (const queue of queued) for (const write of queue) write.run(info.term);
    this.#options.log.info("term active", { device: this.deviceId, term: info.term });
    this.#activated.next();
  }

  /**
   * Decodes the buckets still as they were loaded from disk (see `DeferredFlowBucket`), one
   * per turn: a master serves its entries, so it decodes them before its term is active,
   * while the node's other work (heartbeats, other devices) goes on between buckets. A backup
   * decodes a bucket only when something needs its entries; so does a master whose term
   * ends meanwhile (`going` turns false). A bucket that does not decode is reported and left
   * as it is (its entries stay unreadable: every use fails).
   */
  async #decodeLoaded(going: () => boolean): Promise<void> {
    const started = performance.now();
    const decoded = await decodeLoadedBuckets(this.deviceId, this.table.buckets(), {
      pause: () => this.#options.wait(0),
      going,
      log: this.#options.log,
    });
    if (decoded !== undefined && decoded > 0) {
      this.#options.log.info("decoded the buckets loaded from disk", {
        device: this.deviceId,
        buckets: decoded,
        ms: Math.round(performance.now() - started),
      });
    }
  }

  #activateTerm(info: ReplicaInfo): void {
    if (!this.fence.activated(info)) return;
    const local = this.#options.localNode;
    if (
      info.master !== local &&
      !info.backups.includes(local) &&
      this.#options.shouldDropCopies()
    ) {
      this.table.clear();
    }
  }

  #endTerm(info: ReplicaInfo): void {
    if (info.master === this.#options.localNode) {
      this.#rejectQueued("NOT_MASTER", `term ${info.term} of ${this.deviceId} ended`);
      this.#waiters.rejectAll(
        new FlowStoreError(
          "UNAVAILABLE",
          `term ${info.term} of ${this.deviceId} ended before the backups acknowledged the write: it may or may not be kept`,
        ),
      );
    }
    this.fence.end(info);
    this.#ledger.reset({ compared: false });
    this.#unbacked.length = 0;
  }

  #rejectQueued(code: "NOT_MASTER" | "CLOSED", message: string): void {
    const queued = [...this.#queued.values()];
    this.#queued.clear();
    for (const queue of queued)
      for (const write of queue) write.reject(new FlowStoreError(code, message));
  }

  // ---- backups, master side ------------------------------------------------------------------

  /**
   * The buckets `node` should receive now (see {@link BackupLedger.take}); nothing unless this
   * node is the active master and `node` one of the term's backups.
   */
  takeBackups(node: NodeId): BackupPayload[] {
    const info = this.fence.info;
    if (info === undefined || !this.isActiveMaster || !info.backups.includes(node)) return [];
    return this.#ledger.take(node, info.term);
  }

  /** Records the outcome of a backup send of `payloads` to `node` (`undefined`: it failed). */
  backupDone(
    node: NodeId,
    term: Term,
    payloads: readonly (Version & { readonly index: number })[],
    verdict: BackupVerdict | undefined,
  ): void {
    this.#ledger.settleSend(node, payloads);
    if (verdict === undefined || this.fence.info?.term !== term) return;
    if (!verdict.accepted) {
      this.fence.backupRefused(verdict.reason, verdict.term);
      return;
    }
    this.#ledger.acknowledged(node, payloads, verdict.missingBase);
    if (this.#waiters.size > 0) this.#waiters.check();
  }

  /** Whether any bucket changed after what `node` has acknowledged (a reason to send again now). */
  hasUnackedChanges(node: NodeId): boolean {
    const info = this.fence.info;
    if (info === undefined || !this.isActiveMaster) return false;
    return this.#ledger.owesUnsent(node, info.term);
  }

  /**
   * Notes that a batch applied at `at` (scheduler time) changed `buckets`: its writes count
   * toward {@link DeviceFlowTable.backupLag} until a backup holds each bucket's version.
   */
  noteWrite(at: number, buckets: Iterable<number>): void {
    if (!this.isActiveMaster || this.backups.length === 0) return;
    let mark = this.#unbacked[this.#unbacked.length - 1];
    if (mark === undefined || at - mark.at >= MARK_SPAN) {
      mark = { at, versions: new Map() };
      this.#unbacked.push(mark);
    }
    this.#stamp(buckets, mark.versions);
  }

  /** Sets each of buckets `indices`' timestamp as it is now in `stamps`; returns `stamps`. */
  #stamp(
    indices: Iterable<number>,
    stamps: Map<number, LogicalTimestamp>,
  ): Map<number, LogicalTimestamp> {
    for (const index of indices) stamps.set(index, this.table.digest(index).timestamp);
    return stamps;
  }

  /**
   * How long ago (ms, scheduler time) this master applied the oldest batch of the current
   * term (noted by {@link DeviceFlowTable.noteWrite}) that no backup holds yet: what a master
   * that died now could lose of what it acknowledged with `replication: "async"` (the new
   * master pulls the newest copy of each bucket from the backups, so a version held by any
   * one of them is kept). 0 when every batch is held, or when the device has no backups.
   * Marks whose versions a backup now holds are dropped as it goes.
   */
  backupLag(now: number): number {
    const marks = this.#unbacked;
    const backups = this.backups;
    if (backups.length === 0 || !this.isActiveMaster) {
      marks.length = 0;
      return 0;
    }
    let held = 0;
    for (const mark of marks) {
      for (const [index, timestamp] of mark.versions) {
        if (backups.some((node) => this.#ledger.holds(node, index, timestamp))) {
          mark.versions.delete(index);
        }
      }
      if (mark.versions.size > 0) break;
      held++;
    }
    if (held > 0) marks.splice(0, held);
    const oldest = marks[0];
    return oldest === undefined ? 0 : Math.max(0, now - oldest.at);
  }

  /** Buckets some backup still lacks (sent or not): the backup lag. */
  unackedBuckets(): number {
    const info = this.fence.info;
    if (info === undefined || !this.isActiveMaster) return 0;
    return this.#ledger.owedCount(info.backups, info.term);
  }

  /**
   * Anti-entropy: given `node`'s digests of this device (see {@link BackupLedger.compare}).
   * Returns the buckets the backup holds in a version newer than the master's (the
   * synchronization could not reach that backup): the caller pulls those in with
   * {@link DeviceFlowTable.pull}.
   */
  reconcile(node: NodeId, remote: readonly FlowBucketDigest[]): number[] {
    if (this.fence.info === undefined || !this.isActiveMaster) return [];
    const newer = this.#ledger.compare(node, remote);
    if (this.#waiters.size > 0) this.#waiters.check();
    return newer;
  }

  /** Pulls buckets `indices` from `node` and keeps the newer copies (see {@link reconcile}). */
  async pull(node: NodeId, indices: readonly number[]): Promise<void> {
    const term = this.fence.info?.term ?? 0;
    const snapshots = await this.#options.sync.buckets(node, this.deviceId, term, indices);
    if (!this.isActiveMaster || this.fence.info?.term !== term) return;
    for (const snapshot of snapshots) this.table.merge(snapshot);
  }

  /**
   * Anti-entropy found `node`'s copy identical to the summary `checksum` sent: everything is
   * acknowledged — unless the table changed since the request left.
   */
  markInSync(node: NodeId, checksum: number): void {
    const term = this.fence.info?.term ?? 0;
    if (!this.isActiveMaster || this.table.summary().checksum !== checksum) return;
    this.#ledger.inSync(node, term);
    if (this.#waiters.size > 0) this.#waiters.check();
  }

  // ---- backups and sync, replica side --------------------------------------------------------

  /**
   * Takes a master's copies of some buckets, whole or as deltas. Refused unless `term` is this
   * node's current term for the device: a node that has not learned of the term yet, or a
   * deposed master's late send, must not overwrite anything. Keeps whichever copy is newer; a
   * delta applies only to the exact version it was made from, and the buckets where it did
   * not are named in the verdict, for the master to send whole.
   */
  receiveBackup(
    term: Term,
    snapshots: readonly FlowBucketSnapshot[],
    deltas: readonly FlowBucketDelta[] = [],
  ): BackupVerdict {
    const refusal = this.fence.admitBackup(term);
    if (refusal !== undefined) {
      return { accepted: false, reason: refusal, term: this.fence.info?.term ?? 0 };
    }
    // Only an active master sends backups: this copy is now fed by the live cluster.
    this.#restored = false;
    for (const snapshot of snapshots) this.table.merge(snapshot);
    const missingBase: number[] = [];
    for (const delta of deltas) if (!this.table.applyDelta(delta)) missingBase.push(delta.bucket);
    return { accepted: true, term, missingBase };
  }

  /**
   * The active master of `term` (this node's current term) found this copy equal to its own
   * (an anti-entropy summary with the same checksum): like a backup it sent, this copy is now
   * fed by the live cluster. Without it, a node restarted with its disk and not written to
   * since waited `restartSyncTimeout` for the dead master at a failover (10 s by default).
   */
  confirmedByMaster(term: Term): void {
    if (term === this.fence.info?.term) this.#restored = false;
  }

  /** The digests of every changed bucket, for a new master or an anti-entropy round. */
  digests(): FlowBucketDigest[] {
    return this.table.digests();
  }

  /** The summary anti-entropy compares first. */
  summary(): DeviceDigest {
    return this.table.summary();
  }

  /** Copies of buckets `indices` (empty ones included), for a synchronizing master. */
  snapshots(indices: readonly number[]): FlowBucketSnapshot[] {
    return indices.map((index) => this.#snapshot(index));
  }

  /**
   * The snapshots of the first of `indices` whose entries add up to at most `maxEntries`
   * (always the first one, however big): what fits in one message. The asker asks again
   * for the rest.
   */
  snapshotsWithin(indices: readonly number[], maxEntries: number): FlowBucketSnapshot[] {
    const out: FlowBucketSnapshot[] = [];
    let entries = 0;
    for (const index of indices) {
      const size = this.table.bucket(index)?.size ?? 0;
      if (out.length > 0 && entries + size > maxEntries) break;
      out.push(this.#snapshot(index));
      entries += size;
    }
    return out;
  }

  #snapshot(index: number): FlowBucketSnapshot {
    return (
      this.table.bucket(index)?.snapshot() ?? { bucket: index, term: 0, timestamp: 0, entries: [] }
    );
  }

  /** Rejects queued writes; the table is not used afterwards. */
  close(): void {
    this.#closed = true;
    this.#written.complete();
    this.#activated.complete();
    this.#bucketChanged.complete();
    this.#rejectQueued("CLOSED", "the store is closed");
    this.#waiters.rejectAll(
      new FlowStoreError(
        "UNAVAILABLE",
        "the store closed before the backups acknowledged the write: it may or may not be kept",
      ),
    );
  }
}
