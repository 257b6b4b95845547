import { MessagingError, type NodeId } from "@flowstore/cluster-messaging";
import {
  type ApplicationId,
  createFlowEntry,
  type DeviceId,
  emptyStateCounts,
  type FlowBucketTable,
  type FlowEntry,
  type FlowEntryState,
  type FlowId,
  type FlowRule,
  type FlowStateCounts,
  type Term,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import type { Mastership } from "@flowstore/mastership";
import { asyncScheduler, type Observable, type SchedulerLike, Subject, Subscription } from "rxjs";
import { type StoreConfig, type StoreConfigInput, StoreSettings } from "./config.js";
import { DeviceFlowTable } from "./deviceFlowTable.js";
import { applyDeviceReport, type FlowStatsOutcome, type FlowStatsReport } from "./deviceReports.js";
import { FlowStoreError } from "./flowStoreError.js";
import type { FlowStoreEvent, RuleEvent } from "./flowStoreEvent.js";
import { assertNever } from "./internal/assertNever.js";
import type { BackedUp } from "./internal/backupWaiters.js";
import { type ApplyResult, BatchForwarder, refusalCode } from "./internal/batchForwarder.js";
import { Persister } from "./internal/persister.js";
import { deviceLifecycle$ } from "./lifecycle.js";
import { type Logger, silentLogger } from "./logger.js";
import type {
  BatchCompletion,
  FlowRuleBatch,
  FlowRuleOperation,
  TableStatistics,
} from "./messages.js";
import type { PersistedDevice, StorePersistenceOptions } from "./persistence.js";
import { type ReplicationStats, Replicator } from "./replicator.js";
import { type MessageOf, StoreChannel, type StoreMessaging, SUBJECTS } from "./storeMessaging.js";
import type { FlowTableView } from "./tableView.js";

/** What {@link createFlowRuleStore} needs. */
export interface FlowRuleStoreOptions {
  readonly messaging: StoreMessaging;
  readonly mastership: Mastership<DeviceId>;
  /** How many nodes the cluster has (copies are dropped only when it is larger than 1 + backupCount). */
  readonly clusterSize: () => number;
  readonly config?: StoreConfigInput;
  /**
   * Whether a device is connected to the cluster. A read of a device with no master answers
   * from the local copy only when this says it is not; default: every device is available.
   */
  readonly isDeviceAvailable?: (device: DeviceId) => boolean;
  /** Whether a node is alive (the failure detector's view); a live previous master is retried on failover. */
  readonly isNodeAlive?: (node: NodeId) => boolean;
  /** Time for timers and entry timestamps; default RxJS's `asyncScheduler` (wall clock). */
  readonly scheduler?: SchedulerLike;
  readonly log?: Logger;
  /**
   * Keep this node's tables on disk (`--data-dir`): what was loaded at start is a replica's
   * old copy, which synchronization and anti-entropy weigh like any other.
   */
  readonly persistence?: StorePersistenceOptions;
}

/** How {@link EcFlowRuleStore.storeBatchWithReceipt} acknowledged a batch. */
export interface BatchReceipt {
  readonly batchId: string;
  /** The store's replication mode when the batch was acknowledged. */
  readonly replication: "async" | "sync";
  /** `sync`: the backups holding the batch when it was acknowledged. */
  readonly backedUpBy?: number;
  /** `sync`: fewer than `minSyncBackups` backups held it (too few alive, or too slow). */
  readonly degraded: boolean;
}

/** A batch as a caller gives it: the store assigns the id. */
export interface FlowRuleBatchInput {
  readonly deviceId: DeviceId;
  readonly operations: readonly FlowRuleOperation[];
}

/** Rules per state, as `getFlowRuleCount` can break them down. */
export type FlowRuleCountFilter = { readonly deviceId?: DeviceId; readonly state?: FlowEntryState };

const PAGE_ENTRIES = 10_000;
/** A master's answers that mean "not stored": the only ones a forwarded batch is retried after. */
const RETRIED_REFUSALS: ReadonlySet<string> = new Set(["NOT_MASTER", "STALE_TERM", "CLOSED"]);

/** How many times `storeBatch` tries the (current) master before failing the batch. */
const FORWARD_ATTEMPTS = 3;
/** The pause before the n-th retry is n times this, in ms. */
const RETRY_DELAY_MS = 100;

/**
 * The replicated flow rule store: ONOS's `FlowRuleStore` API over per-device tables whose
 * master replicates changed buckets to ordered backups.
 *
 * @remarks Every operation on a device runs on its master: locally when this node is the
 * master, forwarded otherwise. A write on a master whose term is not yet active waits until
 * the master has synchronized from the previous replicas. See the package README for the
 * protocol.
 */
export class EcFlowRuleStore {
  readonly localNode: NodeId;
  readonly settings: StoreSettings;
  readonly replicator: Replicator;
  readonly #options: FlowRuleStoreOptions;
  readonly #channel: StoreChannel;
  readonly #scheduler: SchedulerLike;
  readonly #log: Logger;
  readonly #tables = new Map<DeviceId, DeviceFlowTable>();
  readonly #events = new Subject<FlowStoreEvent>();
  /** Batches applied here as master, by id: the node to tell when the device completes them. */
  readonly #origins = new Map<string, NodeId>();
  readonly #tableStats = new Map<DeviceId, readonly TableStatistics[]>();
  readonly #subscription = new Subscription();
  /** Batches forwarded to masters and completions reported back, coalesced per turn. */
  readonly #forwarder: BatchForwarder;
  #batches = 0;
  /** Keeps the tables on disk, with the `persistence` option. */
  readonly #persister: Persister | undefined;
  /** What was on disk at start, per device, until its table is created. */
  readonly #loaded = new Map<DeviceId, PersistedDevice>();
  /** Synchronous replication's figures (`replication: "sync"`), for metrics. */
  readonly #syncStats = { syncBatches: 0, underReplicatedBatches: 0 };
  /** Operations of `storeBatch` calls not yet stored by their master. */
  #pendingOperations = 0;
  #closed = false;

  constructor(options: FlowRuleStoreOptions) {
    this.#options = options;
    this.localNode = options.messaging.localNode;
    this.settings = new StoreSettings(options.config);
    this.#channel = new StoreChannel(options.messaging);
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.#log = options.log ?? silentLogger;
    this.#forwarder = new BatchForwarder({
      channel: this.#channel,
      scheduler: this.#scheduler,
      log: this.#log,
      requestTimeout: () => this.config.requestTimeout,
    });
    this.replicator = new Replicator({
      channel: this.#channel,
      tables: () => this.#tables.values(),
      table: (device) => this.#table(device),
      config$: this.settings.config$,
      config: () => this.settings.current,
      scheduler: this.#scheduler,
      log: this.#log,
    });
    for (const served of [
      this.#channel.serve(SUBJECTS.syncDigests, (r) => this.#onSyncDigests(r)),
      this.#channel.serve(SUBJECTS.syncBuckets, (r) => this.#onSyncBuckets(r)),
      this.#channel.serve(SUBJECTS.applyBatches, (r) => this.#onApplyBatches(r)),
      this.#channel.serve(SUBJECTS.batchesCompleted, (r) => this.#onBatchesCompleted(r)),
      this.#channel.serve(SUBJECTS.read, (r) => this.#onRead(r)),
      this.#channel.serve(SUBJECTS.change, (r) => this.#onChange(r)),
    ])
      this.#subscription.add(served);
    if (options.persistence !== undefined) {
      this.#persister = new Persister(options.persistence, this.#scheduler, this.#log, () =>
        this.#tables.values(),
      );
      for (const device of options.persistence.loaded ?? [])
        this.#loaded.set(device.deviceId, device);
    }
    // Every device the coordinator knows gets a table, so lifecycles (and syncs) start at once;
    // so does every device found on disk (a copy other nodes may need).
    for (const device of options.mastership.keys()) this.#table(device);
    for (const device of [...this.#loaded.keys()]) this.#table(device);
    this.#subscription.add(options.mastership.events$.subscribe((event) => this.#table(event.key)));
  }

  /** What ONOS calls the store delegate: batches to apply, batches completed, rules changed. */
  get events$(): Observable<FlowStoreEvent> {
    return this.#events.asObservable();
  }

  /** The current configuration. */
  get config(): StoreConfig {
    return this.settings.current;
  }

  /** Changes the configuration at run time; a bad value throws `INVALID_CONFIG` and changes nothing. */
  configure(changes: Partial<StoreConfigInput>): StoreConfig {
    return this.settings.update(changes);
  }

  /** The devices this node has a table for. */
  devices(): DeviceId[] {
    return [...this.#tables.keys()];
  }

  /** This node's own copy of a device's table (for inspection; never for writes). */
  localTable(device: DeviceId): FlowTableView | undefined {
    return this.#tables.get(device)?.table;
  }

  /**
   * Replication figures: messages and buckets sent, failures, anti-entropy rounds, bytes sent
   * per subject, and the backup lag (buckets of mastered devices some backup has not
   * acknowledged).
   */
  stats(): {
    replication: Readonly<ReplicationStats>;
    sent: ReadonlyMap<string, { messages: number; bytes: number }>;
    unackedBuckets: number;
    masteredDevices: number;
    /** Batches this node acknowledged as master with `replication: "sync"`, and of those how many under-replicated. */
    sync: { readonly syncBatches: number; readonly underReplicatedBatches: number };
    /** With `persistence`: commits made, buckets and entries written, and how far the disk is behind. */
    persistence: (Persister["stats"] & { readonly lagMs: number }) | undefined;
  } {
    let unackedBuckets = 0;
    let masteredDevices = 0;
    for (const table of this.#tables.values()) {
      if (!table.isActiveMaster) continue;
      masteredDevices++;
      unackedBuckets += table.unackedBuckets();
    }
    return {
      replication: this.replicator.stats,
      sent: this.#channel.sent,
      unackedBuckets,
      masteredDevices,
      sync: { ...this.#syncStats },
      persistence:
        this.#persister === undefined
          ? undefined
          : { ...this.#persister.stats, lagMs: this.#persister.lagMs() },
    };
  }

  /** The current term of `device` as this node knows it (0 if none). */
  term(device: DeviceId): Term {
    return this.#tables.get(device)?.info?.term ?? 0;
  }

  /** Whether this node is the master of `device` in an active term. */
  isActiveMaster(device: DeviceId): boolean {
    return this.#tables.get(device)?.isActiveMaster ?? false;
  }

  // ---- batches --------------------------------------------------------------------------

  /**
   * Stores a batch of operations on one device's rules and asks its master to apply them:
   * ADD stores a new entry in `PENDING_ADD`, MODIFY replaces an entry unless the stored one is
   * newer, REMOVE marks an entry `PENDING_REMOVE`. The master emits `BATCH_REQUESTED`; the
   * outcome comes back here as `BATCH_COMPLETED`. Resolves with the batch id once the master
   * has stored the operations; if it could not (no master, a failed forward) the batch is
   * completed as failed with every rule listed — and the promise rejects with the reason. With
   * `maxPendingOperations` already on their way, it rejects at once with `OVERLOADED` and
   * stores nothing.
   */
  async storeBatch(input: FlowRuleBatchInput): Promise<string> {
    return (await this.storeBatchWithReceipt(input)).batchId;
  }

  /**
   * {@link storeBatch}, saying how the batch was acknowledged: with `replication: "sync"`,
   * by how many backups, and whether that was fewer than `minSyncBackups` (`degraded`).
   */
  async storeBatchWithReceipt(input: FlowRuleBatchInput): Promise<BatchReceipt> {
    this.#checkOpen();
    for (const op of input.operations) {
      if (op.rule.deviceId !== input.deviceId) {
        throw new FlowStoreError(
          "INVALID_ARGUMENT",
          `rule ${op.rule.id} is for ${op.rule.deviceId}, not ${input.deviceId}`,
        );
      }
    }
    const size = input.operations.length;
    if (
      this.#pendingOperations > 0 &&
      this.#pendingOperations + size > this.config.maxPendingOperations
    ) {
      throw new FlowStoreError(
        "OVERLOADED",
        `${this.#pendingOperations} operations are on their way to masters already (maxPendingOperations ${this.config.maxPendingOperations}); try again shortly`,
      );
    }
    this.#pendingOperations += size;
    try {
      return await this.#storeBatch(input);
    } finally {
      this.#pendingOperations -= size;
    }
  }

  async #storeBatch(input: FlowRuleBatchInput): Promise<BatchReceipt> {
    const batch: FlowRuleBatch = {
      id: `${this.localNode}:${++this.#batches}`,
      deviceId: input.deviceId,
      operations: [...input.operations],
    };
    const receipt = (backedUp: BackedUp | undefined): BatchReceipt => ({
      batchId: batch.id,
      replication: this.config.replication,
      ...(backedUp === undefined ? { degraded: false } : backedUp),
    });
    if (batch.operations.length === 0) {
      this.#completed({ batchId: batch.id, deviceId: batch.deviceId, success: true, failed: [] });
      return receipt(undefined);
    }
    const info = this.#options.mastership.mastership(batch.deviceId);
    const fail = (error: unknown): never => {
      this.#log.warn("batch failed", {
        batch: batch.id,
        device: batch.deviceId,
        error: String(error),
      });
      this.#completed({
        batchId: batch.id,
        deviceId: batch.deviceId,
        success: false,
        failed: batch.operations.map((op) => op.rule),
      });
      throw error instanceof FlowStoreError
        ? error
        : new FlowStoreError(
            MessagingError.is(error, "TIMEOUT") ? "TIMEOUT" : "UNAVAILABLE",
            `the master of ${batch.deviceId} did not take batch ${batch.id}: ${(error as Error).message}`,
            { cause: error },
          );
    };
    // Mastership moves (a rebalance, a failover) can make a forward meet a node that just
    // stopped being master and refuses it: look again and retry a few times.
    for (let attempt = 1; ; attempt++) {
      const current = attempt === 1 ? info : this.#options.mastership.mastership(batch.deviceId);
      if (current.master === undefined)
        fail(new FlowStoreError("NO_MASTER", `no master for ${batch.deviceId}`));
      let result: ApplyResult;
      try {
        if (current.master === this.localNode) {
          return receipt(await this.#applyBatch(batch, this.localNode));
        }
        result = await this.#forwarder.forward(current.master!, current.term, batch);
      } catch (error) {
        // After a timeout or a lost connection the master may have stored the batch, and a
        // late second copy could bring back a flow removed in between: no retry. A master
        // with no handler at all (its store is closing) did not take it.
        const refused = MessagingError.is(error, "NO_HANDLER");
        if (!refused || attempt >= FORWARD_ATTEMPTS || this.#closed) fail(error);
        this.#log.debug("batch not taken; retrying", {
          batch: batch.id,
          attempt,
          error: String(error),
        });
        await this.#wait(RETRY_DELAY_MS * attempt);
        continue;
      }
      if (result.ok) {
        const { backedUpBy, degraded } = result;
        return receipt(
          backedUpBy === undefined ? undefined : { backedUpBy, degraded: degraded === true },
        );
      }
      // The master answered that it did not store the batch (it is not, or no longer, the
      // master): that, and only that, is safe to retry. Any other answer (a sync batch its
      // backups did not acknowledge, say) may have stored it.
      if (!RETRIED_REFUSALS.has(result.code) || attempt >= FORWARD_ATTEMPTS || this.#closed) {
        fail(new FlowStoreError(refusalCode(result.code), result.message));
      }
      this.#log.debug("batch refused; retrying", { batch: batch.id, attempt, code: result.code });
      await this.#wait(RETRY_DELAY_MS * attempt);
    }
  }

  /**
   * Reports the device's outcome of a batch (on the master, which emitted `BATCH_REQUESTED`);
   * the node that stored the batch receives `BATCH_COMPLETED`.
   */
  async batchOperationComplete(completion: BatchCompletion): Promise<void> {
    const origin = this.#origins.get(completion.batchId) ?? this.localNode;
    this.#origins.delete(completion.batchId);
    if (origin === this.localNode) {
      this.#completed(completion);
      return;
    }
    // Every completion for one node within a scheduler turn goes in one message.
    await this.#forwarder.complete(origin, completion);
  }

  /**
   * Applies `batch` on this master and asks the device for it. With `replication: "sync"`,
   * resolves only once enough backups hold it (see {@link DeviceFlowTable.backedUp}).
   */
  async #applyBatch(batch: FlowRuleBatch, origin: NodeId): Promise<BackedUp | undefined> {
    const table = this.#table(batch.deviceId);
    const { replication, minSyncBackups, underReplicated, requestTimeout } = this.config;
    const sync = replication === "sync";
    const diskLag = this.#persister?.lagMs() ?? 0;
    if (diskLag > this.config.maxDiskLag) {
      throw new FlowStoreError(
        "OVERLOADED",
        `the disk of ${this.localNode} is ${Math.round(diskLag)} ms behind (maxDiskLag ${this.config.maxDiskLag}): batch ${batch.id} was not stored; try again shortly`,
      );
    }
    if (
      sync &&
      underReplicated === "refuse" &&
      table.isMaster &&
      table.backups.length < minSyncBackups
    ) {
      throw new FlowStoreError(
        "UNDER_REPLICATED",
        `${batch.deviceId} has ${table.backups.length} live backups, minSyncBackups is ${minSyncBackups}: batch ${batch.id} was not stored`,
      );
    }
    const now = this.#scheduler.now();
    const byBucket = new Map<number, FlowRuleOperation[]>();
    for (const op of batch.operations) {
      const index = table.table.bucketIndexOf(op.rule.id);
      const list = byBucket.get(index);
      if (list === undefined) byBucket.set(index, [op]);
      else list.push(op);
    }
    const applied = await Promise.all(
      [...byBucket].map(([index, ops]) =>
        table.write(index, (t, term) => ops.filter((op) => applyOperation(t, term, op, now))),
      ),
    );
    const operations = applied.flat();
    if (operations.length === 0) {
      await this.batchOperationComplete({
        batchId: batch.id,
        deviceId: batch.deviceId,
        success: true,
        failed: [],
      });
      return undefined;
    }
    this.#origins.set(batch.id, origin);
    this.#events.next({ type: "BATCH_REQUESTED", batch: { ...batch, operations }, origin });
    if (!sync) return undefined;
    const changed = [...byBucket.keys()].filter((_, i) => (applied[i]?.length ?? 0) > 0);
    const backedUp = await table.backedUp(
      changed,
      { minimum: minSyncBackups, mode: underReplicated },
      requestTimeout,
    );
    this.#syncStats.syncBatches++;
    if (backedUp.degraded) {
      this.#syncStats.underReplicatedBatches++;
      this.#log.warn("batch acknowledged under-replicated", {
        batch: batch.id,
        device: batch.deviceId,
        backedUpBy: backedUp.backedUpBy,
        minSyncBackups,
      });
    }
    return backedUp;
  }

  /**
   * Applies every batch of a coalesced forward, in order; each gets its own result, so one
   * refused batch (a device this node no longer masters) does not fail the others.
   */
  async #onApplyBatches(
    request: MessageOf<"ApplyBatchesRequest">,
  ): Promise<MessageOf<"ApplyBatchesReply">> {
    // Started in order, so batches of one device apply in the order they were forwarded.
    const results = await Promise.all(
      request.batches.map(async ({ term, batch }): Promise<ApplyResult> => {
        try {
          this.#checkTerm(batch.deviceId, term);
          const backedUp = await this.#applyBatch(batch, request.origin);
          return backedUp === undefined ? { ok: true } : { ok: true, ...backedUp };
        } catch (error) {
          return {
            ok: false,
            code: error instanceof FlowStoreError ? error.code : "UNAVAILABLE",
            message: error instanceof Error ? error.message : String(error),
          };
        }
      }),
    );
    return { results };
  }

  #onBatchesCompleted(request: MessageOf<"BatchesCompleted">): MessageOf<"Ack"> {
    for (const completion of request.completions) this.#completed(completion);
    return { ok: true };
  }

  #completed(completion: BatchCompletion): void {
    this.#events.next({ type: "BATCH_COMPLETED", ...completion, failed: [...completion.failed] });
  }

  // ---- reads ----------------------------------------------------------------------------

  /** The stored entry of `rule` (read on the master), or `undefined`. */
  async getFlowEntry(rule: FlowRule): Promise<FlowEntry | undefined> {
    const reply = await this.#read({ kind: "ENTRY", deviceId: rule.deviceId, rule });
    return reply.kind === "ENTRY" ? (reply.entry ?? undefined) : unexpected(reply.kind);
  }

  /** The stored entry with flow id `id` on `device` (read on the master), or `undefined`. */
  async getFlowEntryById(device: DeviceId, id: FlowId): Promise<FlowEntry | undefined> {
    const reply = await this.#read({ kind: "ENTRY_BY_ID", deviceId: device, flowId: id });
    return reply.kind === "ENTRY" ? (reply.entry ?? undefined) : unexpected(reply.kind);
  }

  /** Every entry of `device`, read on the master, a page of buckets at a time for large tables. */
  async getFlowEntries(device: DeviceId): Promise<FlowEntry[]> {
    const entries: FlowEntry[] = [];
    for await (const page of this.flowEntryPages(device))
      for (const entry of page) entries.push(entry);
    return entries;
  }

  /**
   * Every entry of `device`, read on the master a page at a time: for a caller that streams
   * a large table (a million flows) without holding it all or stalling the node.
   */
  async *flowEntryPages(device: DeviceId): AsyncGenerator<readonly FlowEntry[]> {
    let from: number | null = 0;
    while (from !== null) {
      const reply = await this.#read({
        kind: "ENTRIES",
        deviceId: device,
        fromBucket: from,
        maxEntries: PAGE_ENTRIES,
      });
      if (reply.kind !== "ENTRIES") return unexpected(reply.kind);
      yield reply.entries;
      from = reply.nextBucket;
    }
  }

  /**
   * Entries per state in this node's copy: of `device`, or summed over the devices this node
   * masters in an active term. Counts are maintained as entries change, so this costs a few
   * additions per bucket and never a walk over the entries (for `/metrics`).
   */
  flowStateCounts(device?: DeviceId): FlowStateCounts {
    if (device !== undefined)
      return this.#tables.get(device)?.table.stateCounts() ?? emptyStateCounts();
    const counts = emptyStateCounts();
    for (const table of this.#tables.values()) {
      if (!table.isActiveMaster) continue;
      for (const bucket of table.table.buckets()) bucket.addStateCounts(counts);
    }
    return counts;
  }

  /**
   * How many rules are stored: in the whole cluster (every device this node knows), on one
   * device, or on one device in one state.
   */
  async getFlowRuleCount(filter: FlowRuleCountFilter = {}): Promise<number> {
    const devices = filter.deviceId === undefined ? this.#knownDevices() : [filter.deviceId];
    const counts = await Promise.all(
      devices.map(async (deviceId) => {
        const reply = await this.#read({
          kind: "COUNT",
          deviceId,
          ...(filter.state === undefined ? {} : { state: filter.state }),
        });
        return reply.kind === "COUNT" ? reply.count : unexpected(reply.kind);
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** The table statistics last reported for `device`. */
  async getTableStatistics(device: DeviceId): Promise<readonly TableStatistics[]> {
    const reply = await this.#read({ kind: "TABLE_STATS", deviceId: device });
    return reply.kind === "TABLE_STATS" ? reply.tables : unexpected(reply.kind);
  }

  /** The sum of active entries over `device`'s table statistics. */
  async getActiveFlowRuleCount(device: DeviceId): Promise<number> {
    const tables = await this.getTableStatistics(device);
    return tables.reduce((sum, table) => sum + table.activeFlowEntries, 0);
  }

  async #read(request: MessageOf<"ReadRequest">): Promise<MessageOf<"ReadReply">> {
    this.#checkOpen();
    const info = this.#options.mastership.mastership(request.deviceId);
    if (info.master === this.localNode) return this.#readOnMaster(request);
    if (info.master === undefined) {
      const available = this.#options.isDeviceAvailable?.(request.deviceId) ?? true;
      if (!available) return this.#readLocal(request);
      throw new FlowStoreError(
        "NO_MASTER",
        `no master for ${request.deviceId}; its flows cannot be read now`,
      );
    }
    return this.#forward(info.master, SUBJECTS.read, request);
  }

  #onRead(request: MessageOf<"ReadRequest">): Promise<MessageOf<"ReadReply">> {
    // A read carries no term: only "is this node the master" is checked.
    this.#checkTerm(request.deviceId, 0);
    return this.#readOnMaster(request);
  }

  /**
   * A read on the master, once its term is active: until then its copy may lack what the
   * previous master acknowledged (a delete answered from it would find nothing to delete).
   */
  #readOnMaster(request: MessageOf<"ReadRequest">): Promise<MessageOf<"ReadReply">> {
    return this.#table(request.deviceId).read(() => this.#readLocal(request));
  }

  #readLocal(request: MessageOf<"ReadRequest">): MessageOf<"ReadReply"> {
    const table = this.#tables.get(request.deviceId)?.table;
    switch (request.kind) {
      case "ENTRY":
        return { kind: "ENTRY", entry: table?.find(request.rule) ?? null };
      case "ENTRY_BY_ID":
        return { kind: "ENTRY", entry: table?.get(request.flowId) ?? null };
      case "ENTRIES": {
        const entries: FlowEntry[] = [];
        let nextBucket: number | null = null;
        for (const bucket of table?.buckets() ?? []) {
          if (bucket.index < request.fromBucket) continue;
          if (entries.length >= request.maxEntries) {
            nextBucket = bucket.index;
            break;
          }
          for (const entry of bucket.entries()) entries.push(entry);
        }
        return { kind: "ENTRIES", entries, nextBucket };
      }
      case "COUNT": {
        if (table === undefined) return { kind: "COUNT", count: 0 };
        if (request.state === undefined) return { kind: "COUNT", count: table.size };
        return { kind: "COUNT", count: table.countOf(request.state) };
      }
      case "TABLE_STATS":
        return { kind: "TABLE_STATS", tables: [...(this.#tableStats.get(request.deviceId) ?? [])] };
      default:
        return assertNever(request);
    }
  }

  // ---- single-rule changes ----------------------------------------------------------------

  /**
   * The device reported `entry`'s counters: on the master, updates the stored entry (and a
   * `PENDING_ADD` entry becomes `ADDED`, a `RULE_ADDED` event; otherwise `RULE_UPDATED`). A
   * counter-only update is soft state (not replicated) unless `replicateCounters` is set. For
   * a whole device report use {@link EcFlowRuleStore.updateFlowStatistics}: one call, not one
   * per flow.
   */
  addOrUpdateFlowRule(entry: FlowEntry): Promise<RuleEvent | undefined> {
    return this.#change(entry.rule.deviceId, { kind: "ADD_OR_UPDATE", entry }).then((r) => r.event);
  }

  /**
   * One device report, on the device's master (ONOS's `pushFlowMetrics`): every reported
   * flow's counters are recorded as soft state — no new bucket version, nothing sent to the
   * backups — and the state transitions the report implies are applied as replicated changes:
   * a `PENDING_ADD` entry the device holds becomes `ADDED` (`RULE_ADDED`), and entries being
   * removed (`PENDING_REMOVE`/`REMOVED`) leave the store (`RULE_REMOVED`). Flows the device
   * holds that the store does not are returned as extraneous, stored flows it lacks as missing:
   * the caller removes the one from the device and installs the other again.
   *
   * @remarks One pass over the report, in slices that yield to the event loop, so a report of
   * a million flows does not stall the node. With `complete: false` the report covers some
   * flows only (say, the ones just installed): nothing is concluded about the flows it does
   * not name, so `missing` stays empty and no entry is removed for being absent. With `replicateCounters` (a benchmark baseline)
   * counter updates are replicated changes, as in ONOS.
   * @throws {FlowStoreError} `NOT_MASTER` unless this node is the device's master in an active
   *   term (also when mastership moves during the pass; what was recorded stays).
   */
  async updateFlowStatistics(
    device: DeviceId,
    reports: readonly FlowStatsReport[],
    options: { readonly complete?: boolean } = {},
  ): Promise<FlowStatsOutcome> {
    return applyDeviceReport(device, this.#tables.get(device), reports, options, {
      now: () => this.#scheduler.now(),
      wait: (ms) => this.#wait(ms),
      checkOpen: () => this.#checkOpen(),
      replicateCounters: this.config.replicateCounters,
      emit: (event) => this.#events.next(event),
    });
  }

  /** Marks a stored entry `PENDING_ADD` again (to be reinstalled); `RULE_UPDATED` if it changed. */
  pendingFlowRule(entry: FlowEntry): Promise<RuleEvent | undefined> {
    return this.#change(entry.rule.deviceId, { kind: "PENDING", entry }).then((r) => r.event);
  }

  /** Removes a stored entry (unless the stored one is newer); `RULE_REMOVED` if it did. */
  removeFlowRule(entry: FlowEntry): Promise<RuleEvent | undefined> {
    return this.#change(entry.rule.deviceId, { kind: "REMOVE", entry }).then((r) => r.event);
  }

  /** Removes every rule of `device`. Resolves with how many were removed. */
  async purgeFlowRule(device: DeviceId): Promise<number> {
    return this.#purge(device, undefined);
  }

  /**
   * Removes every rule of application `appId` on `device`, or — called with no arguments —
   * every rule of every device. Resolves with how many were removed.
   */
  async purgeFlowRules(device?: DeviceId, appId?: ApplicationId): Promise<number> {
    if (device === undefined) {
      const removed = await Promise.all(this.#knownDevices().map((d) => this.purgeFlowRule(d)));
      return removed.reduce((a, b) => a + b, 0);
    }
    return this.#purge(device, appId);
  }

  /** Records the device's table statistics (on the master). */
  async updateTableStatistics(device: DeviceId, tables: readonly TableStatistics[]): Promise<void> {
    await this.#change(device, { kind: "TABLE_STATS", deviceId: device, tables: [...tables] });
  }

  /**
   * Purges on the master; a device with no master (it is gone) is purged from the local
   * copy. Resolves with how many entries were removed.
   */
  async #purge(device: DeviceId, appId: ApplicationId | undefined): Promise<number> {
    if (this.#options.mastership.mastership(device).master !== undefined) {
      const change: MessageOf<"RuleChangeRequest">["change"] =
        appId === undefined
          ? { kind: "PURGE", deviceId: device }
          : { kind: "PURGE_APP", deviceId: device, appId };
      return (await this.#change(device, change)).removed;
    }
    const table = this.#tables.get(device)?.table;
    if (table === undefined) return 0;
    const newest = Math.max(0, ...table.buckets().map((bucket) => bucket.term));
    return table.purge(newest, appId === undefined ? undefined : { appId }).length;
  }

  async #change(
    device: DeviceId,
    change: MessageOf<"RuleChangeRequest">["change"],
  ): Promise<{ event: RuleEvent | undefined; removed: number }> {
    this.#checkOpen();
    const info = this.#options.mastership.mastership(device);
    if (info.master === undefined) throw new FlowStoreError("NO_MASTER", `no master for ${device}`);
    const reply =
      info.master === this.localNode
        ? await this.#changeLocal(change)
        : await this.#forward(info.master, SUBJECTS.change, { term: info.term, change });
    return { event: reply.event ?? undefined, removed: reply.removed };
  }

  #onChange(request: MessageOf<"RuleChangeRequest">): Promise<MessageOf<"RuleChangeReply">> {
    const device =
      "entry" in request.change ? request.change.entry.rule.deviceId : request.change.deviceId;
    this.#checkTerm(device, request.term);
    return this.#changeLocal(request.change);
  }

  async #changeLocal(
    change: MessageOf<"RuleChangeRequest">["change"],
  ): Promise<MessageOf<"RuleChangeReply">> {
    const now = this.#scheduler.now();
    const emit = (event: RuleEvent | null, removed = 0) => {
      if (event !== null) this.#events.next(event);
      return { event, removed };
    };
    switch (change.kind) {
      case "ADD_OR_UPDATE":
      case "PENDING":
      case "REMOVE": {
        const entry = change.entry;
        const table = this.#table(entry.rule.deviceId);
        const index = table.table.bucketIndexOf(entry.rule.id);
        const event = await table.write(index, (t, term) =>
          changeEntry(t, term, change.kind, entry, now, this.config.replicateCounters),
        );
        return emit(event);
      }
      case "PURGE":
      case "PURGE_APP": {
        const table = this.#table(change.deviceId);
        const filter =
          change.kind === "PURGE_APP" ? { appId: change.appId as ApplicationId } : undefined;
        const removed = await table.write(0, (t, term) => t.purge(term, filter).length);
        return emit(null, removed);
      }
      case "TABLE_STATS":
        this.#tableStats.set(change.deviceId, change.tables);
        return emit(null);
      default:
        return assertNever(change);
    }
  }

  // ---- synchronization, replica side ----------------------------------------------------

  #onSyncDigests(request: MessageOf<"SyncDigestsRequest">): MessageOf<"SyncDigestsReply"> {
    const table = this.#fencedReplica(request.deviceId, request.term, request.clock);
    const activated = table.lastActivated;
    return {
      clock: table.table.clock.current,
      digests: table.digests(),
      activated:
        activated === undefined
          ? null
          : {
              term: activated.term,
              ...(activated.master === undefined ? {} : { master: activated.master }),
              backups: [...activated.backups],
            },
    };
  }

  #onSyncBuckets(request: MessageOf<"SyncBucketsRequest">): MessageOf<"SyncBucketsReply"> {
    const table = this.#fencedReplica(request.deviceId, request.term, request.clock);
    return { clock: table.table.clock.current, buckets: table.snapshots(request.buckets) };
  }

  /** A replica asked by the master of `term`: refuses an older master, and a newer one fences this node. */
  #fencedReplica(device: DeviceId, term: Term, clock: number): DeviceFlowTable {
    const table = this.#table(device);
    table.fence.admitSync(term);
    table.table.clock.observe(clock);
    return table;
  }

  // ---- plumbing ---------------------------------------------------------------------------

  #table(device: DeviceId): DeviceFlowTable {
    let table = this.#tables.get(device);
    if (table !== undefined) return table;
    const { mastership } = this.#options;
    table = new DeviceFlowTable({
      deviceId: device,
      localNode: this.localNode,
      bucketCount: this.config.bucketCount,
      log: this.#log,
      wait: (ms) => this.#wait(ms),
      retryDelay: Math.min(1000, this.config.requestTimeout),
      syncTimeout: this.config.syncTimeout,
      now: () => this.#scheduler.now(),
      activeTerm: () => mastership.activeTerm(device),
      leaseFresh: () => this.#scheduler.now() < mastership.leaseFreshUntil(),
      activate: (term) => mastership.activate(device, term),
      shouldDropCopies: () => this.#options.clusterSize() > 1 + this.config.backupCount,
      onWrite: () => this.replicator.changed(table!),
      ...(this.#persister === undefined
        ? {}
        : { onBucketChange: (bucket: number) => this.#persister?.changed(table!, bucket) }),
      ...(this.#options.isNodeAlive === undefined
        ? {}
        : { isNodeAlive: this.#options.isNodeAlive }),
      sync: {
        digests: async (node, deviceId, term) => {
          const reply = await this.#syncCall(table!, node, SUBJECTS.syncDigests, {
            deviceId,
            term,
          });
          const activated = reply.activated;
          return {
            digests: reply.digests,
            activated:
              activated === null
                ? null
                : { term: activated.term, master: activated.master, backups: activated.backups },
          };
        },
        buckets: async (node, deviceId, term, buckets) =>
          (
            await this.#syncCall(table!, node, SUBJECTS.syncBuckets, {
              deviceId,
              term,
              buckets: [...buckets],
            })
          ).buckets,
      },
    });
    this.#tables.set(device, table);
    const loaded = this.#loaded.get(device);
    if (loaded !== undefined) {
      // Before the lifecycle starts: the first sync already weighs this copy.
      this.#loaded.delete(device);
      for (const snapshot of loaded.buckets) table.table.merge(snapshot);
      table.observeTerm(loaded.highestTerm);
    }
    const owned = table;
    this.#subscription.add(
      deviceLifecycle$(mastership, device).subscribe((event) => owned.onLifecycle(event)),
    );
    return table;
  }

  /** A sync request stamped with the device's clock; the replica's clock in the reply moves it on. */
  async #syncCall<E extends typeof SUBJECTS.syncDigests | typeof SUBJECTS.syncBuckets>(
    table: DeviceFlowTable,
    node: NodeId,
    exchange: E,
    request: Omit<MessageOf<E["request"]>, "clock">,
  ): Promise<MessageOf<E["reply"]>> {
    const stamped = { ...request, clock: table.table.clock.current } as MessageOf<E["request"]>;
    const reply = await this.#channel.call(node, exchange, stamped, this.config.requestTimeout);
    table.table.clock.observe(reply.clock);
    return reply;
  }

  /** Resolves after `ms` on the store's scheduler (virtual time in tests). */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => this.#scheduler.schedule(() => resolve(), ms));
  }

  /** A request forwarded to this node as master: see {@link TermFence.admitForwarded}. */
  #checkTerm(device: DeviceId, senderTerm: Term): void {
    this.#table(device).fence.admitForwarded(
      senderTerm,
      this.#options.mastership.mastership(device),
    );
  }

  async #forward<E extends (typeof SUBJECTS)[keyof typeof SUBJECTS]>(
    master: NodeId,
    exchange: E,
    request: MessageOf<E["request"]>,
  ): Promise<MessageOf<E["reply"]>> {
    try {
      return await this.#channel.call(master, exchange, request, this.config.requestTimeout);
    } catch (error) {
      const code = MessagingError.is(error, "TIMEOUT") ? "TIMEOUT" : "UNAVAILABLE";
      throw new FlowStoreError(
        code,
        `master ${master} did not answer: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  #knownDevices(): DeviceId[] {
    return [...new Set([...this.#options.mastership.keys(), ...this.#tables.keys()])];
  }

  #checkOpen(): void {
    if (this.#closed) throw new FlowStoreError("CLOSED", "the store is closed");
  }

  /**
   * A planned hand-over, for a graceful stop: gives up mastership of every device this node
   * masters, and waits until each successor is active. A successor synchronizes from this
   * node (the master of the last activated term, still alive and answering), so every write
   * this node acknowledged moves with the device; writes that arrive meanwhile are refused
   * here and retried by their senders on the new master. Resolves with the devices that
   * moved and those that had not within `timeoutMs` (then {@link EcFlowRuleStore.close}).
   */
  async handOver(timeoutMs = 10_000): Promise<{ moved: DeviceId[]; remaining: DeviceId[] }> {
    this.#checkOpen();
    const { mastership } = this.#options;
    const mine = [...this.#tables.keys()].filter(
      (device) => mastership.mastership(device).master === this.localNode,
    );
    const terms = new Map(mine.map((device) => [device, mastership.mastership(device).term]));
    this.#log.info("handing over", { devices: mine.length });
    await Promise.all(
      mine.map((device) =>
        mastership
          .relinquish(device)
          .catch((error: unknown) =>
            this.#log.warn("could not give up mastership", { device, error: String(error) }),
          ),
      ),
    );
    const movedOn = (device: DeviceId) => {
      const info = mastership.mastership(device);
      return (
        info.master !== undefined &&
        info.master !== this.localNode &&
        (mastership.activeTerm(device) ?? 0) >= info.term &&
        info.term > (terms.get(device) ?? 0)
      );
    };
    const deadline = this.#scheduler.now() + timeoutMs;
    while (!mine.every(movedOn) && this.#scheduler.now() < deadline && !this.#closed) {
      await this.#wait(20);
    }
    const moved = mine.filter(movedOn);
    const remaining = mine.filter((device) => !movedOn(device));
    this.#log.info("handed over", { moved: moved.length, remaining });
    return { moved, remaining };
  }

  /** With `persistence`: commits every change made so far to disk now (a graceful stop does). */
  async flush(): Promise<void> {
    await this.#persister?.flush(this.#tables.values());
  }

  /** Stops replication, handlers and lifecycles; pending writes fail with `CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#persister?.stop();
    this.replicator.close();
    this.#subscription.unsubscribe();
    for (const table of this.#tables.values()) table.close();
    this.settings.close();
    this.#events.complete();
  }
}

/** Creates a node's flow rule store. */
export function createFlowRuleStore(options: FlowRuleStoreOptions): EcFlowRuleStore {
  return new EcFlowRuleStore(options);
}

/** Applies one batch operation in `term`; returns whether it changed anything. */
function applyOperation(
  table: FlowBucketTable,
  term: Term,
  op: FlowRuleOperation,
  now: number,
): boolean {
  switch (op.operator) {
    case "ADD":
      table.add(createFlowEntry(op.rule, { created: now }), term);
      return true;
    case "MODIFY":
      return table.update(createFlowEntry(op.rule, { created: now }), term);
    case "REMOVE":
      return (
        table.modify(
          op.rule,
          (stored) => withFlowEntry(stored, { state: "PENDING_REMOVE" }),
          term,
        ) !== undefined
      );
    default:
      return assertNever(op.operator);
  }
}

/** A single-entry change in `term`; the event it produces, if any. */
function changeEntry(
  table: FlowBucketTable,
  term: Term,
  kind: "ADD_OR_UPDATE" | "PENDING" | "REMOVE",
  entry: FlowEntry,
  now: number,
  replicateCounters: boolean,
): RuleEvent | null {
  switch (kind) {
    case "ADD_OR_UPDATE": {
      const stored = table.find(entry.rule);
      if (stored === undefined) {
        table.add(entry, term);
        return null;
      }
      const counters = {
        packets: entry.packets,
        bytes: entry.bytes,
        life: entry.life,
        liveType: entry.liveType,
        lastSeen: now,
      };
      if (stored.state !== "PENDING_ADD" && !replicateCounters) {
        // Counters alone are soft state: no new version, nothing owed to the backups.
        const refreshed = table.refresh(entry.rule, counters);
        return refreshed === undefined ? null : { type: "RULE_UPDATED", entry: refreshed };
      }
      const updated = withFlowEntry(stored, {
        ...counters,
        ...(stored.state === "PENDING_ADD" ? { state: "ADDED" as const } : {}),
      });
      table.modify(entry.rule, () => updated, term);
      return {
        type: stored.state === "PENDING_ADD" ? "RULE_ADDED" : "RULE_UPDATED",
        entry: updated,
      };
    }
    case "PENDING": {
      const updated = table.modify(
        entry.rule,
        (stored) =>
          stored.state === "PENDING_ADD"
            ? undefined
            : withFlowEntry(stored, { state: "PENDING_ADD" }),
        term,
      );
      return updated === undefined ? null : { type: "RULE_UPDATED", entry: updated };
    }
    case "REMOVE": {
      const removed = table.remove(entry, term);
      return removed === undefined ? null : { type: "RULE_REMOVED", entry: removed };
    }
    default:
      return assertNever(kind);
  }
}

/** A master answered a read with another kind of reply than asked for: a protocol error. */
function unexpected(kind: string): never {
  throw new FlowStoreError("UNAVAILABLE", `the master answered a read with a ${kind} reply`);
}
