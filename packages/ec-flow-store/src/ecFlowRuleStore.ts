import type { ClusterMembership, NodeId } from "@flowstore/cluster-messaging";
import type {
  ApplicationId,
  DeviceId,
  FlowEntry,
  FlowEntryState,
  FlowId,
  FlowRule,
  FlowStateCounts,
  Term,
} from "@flowstore/flow-bucket";
import { emptyStateCounts } from "@flowstore/flow-bucket";
import type { Mastership } from "@flowstore/mastership";
import { asyncScheduler, type Observable, type SchedulerLike, Subject, Subscription } from "rxjs";
import { type StoreConfig, type StoreConfigInput, StoreSettings } from "./config.js";
import {
  applyDeviceReport,
  type DeviceReportContext,
  type FlowStatsOutcome,
  type FlowStatsReport,
} from "./deviceReports.js";
import { FlowStoreError } from "./flowStoreError.js";
import type { FlowStoreEvent, RuleEvent } from "./flowStoreEvent.js";
import { BatchApplier } from "./internal/batchApplier.js";
import { BatchForwarder } from "./internal/batchForwarder.js";
import { BatchSender } from "./internal/batchSender.js";
import { DeviceTables } from "./internal/deviceTables.js";
import { Persister } from "./internal/persister.js";
import { Reads, unexpected } from "./internal/reads.js";
import { type ReplicationStats, Replicator } from "./internal/replicator.js";
import { RuleChanges } from "./internal/ruleChanges.js";
import type { StoreContext } from "./internal/storeContext.js";
import { serveSync } from "./internal/syncServer.js";
import { type Logger, silentLogger } from "./logger.js";
import type { BatchCompletion, FlowRuleOperation, TableStatistics } from "./messages.js";
import type { StorePersistenceOptions } from "./persistence.js";
import { StoreChannel, type StoreMessaging, SUBJECTS } from "./storeMessaging.js";
import type { FlowTableView } from "./tableView.js";

/** What {@link createFlowRuleStore} needs. */
export interface FlowRuleStoreOptions {
  readonly messaging: StoreMessaging;
  readonly mastership: Mastership<DeviceId>;
  /**
   * The cluster's nodes and which of them are alive (the failure detector's view): a copy is
   * dropped only when `nodes()` number more than 1 + backupCount, and a previous master whose
   * `state` is `ACTIVE` is retried on failover.
   */
  readonly membership: ClusterMembership;
  readonly config?: StoreConfigInput;
  /**
   * Whether a device is connected to the cluster. A read of a device with no master answers
   * from the local copy only when this says it is not; default: every device is available.
   */
  readonly isDeviceAvailable?: (device: DeviceId) => boolean;
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
  readonly #replicator: Replicator;
  readonly #mastership: Mastership<DeviceId>;
  readonly #channel: StoreChannel;
  readonly #scheduler: SchedulerLike;
  readonly #log: Logger;
  /** This node's table per device. */
  readonly #tables: DeviceTables;
  readonly #events = new Subject<FlowStoreEvent>();
  /** What a device report needs from the store: made once (a report comes every turn). */
  readonly #reports: DeviceReportContext = {
    now: () => this.#scheduler.now(),
    wait: (ms) => this.#wait(ms),
    checkOpen: () => this.#checkOpen(),
    replicateCounters: () => this.config.replicateCounters,
    emit: (event) => this.#events.next(event),
  };
  readonly #subscription = new Subscription();
  /** Batches forwarded to masters and completions reported back, coalesced per turn. */
  readonly #forwarder: BatchForwarder;
  /** Keeps the tables on disk, with the `persistence` option. */
  readonly #persister: Persister | undefined;
  /** The asking side of batches: to the master, retried after a refusal. */
  readonly #sender: BatchSender;
  /** The master's side of batches: applying them, and their completions. */
  readonly #batchApplier: BatchApplier;
  /** Reads, answered by masters. */
  readonly #reads: Reads;
  /** Single-rule changes, purges and table statistics, made by masters. */
  readonly #changes: RuleChanges;
  /** Operations of `storeBatch` calls not yet stored by their master. */
  #pendingOperations = 0;
  #closed = false;

  constructor(options: FlowRuleStoreOptions) {
    // Not `options` itself: what was loaded goes to the tables only, so that a loaded bucket's
    // bytes go as soon as its table has decoded or replaced it.
    this.#mastership = options.mastership;
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
    this.#tables = new DeviceTables({
      localNode: this.localNode,
      mastership: options.mastership,
      membership: options.membership,
      channel: this.#channel,
      scheduler: this.#scheduler,
      log: this.#log,
      config: () => this.config,
      wait: (ms) => this.#wait(ms),
      onWrite: (table) => this.#replicator.changed(table),
      onActive: (table) => this.#replicator.activated(table),
      persister: () => this.#persister,
      loaded: options.persistence?.loaded ?? [],
      subscription: this.#subscription,
    });
    const context: StoreContext = {
      localNode: this.localNode,
      mastership: options.mastership,
      channel: this.#channel,
      scheduler: this.#scheduler,
      log: this.#log,
      tables: this.#tables,
      events: this.#events,
      tableStats: new Map(),
      config: () => this.config,
      wait: (ms) => this.#wait(ms),
      checkOpen: () => this.#checkOpen(),
      isClosed: () => this.#closed,
    };
    this.#batchApplier = new BatchApplier(
      context,
      this.#forwarder,
      () => this.#persister?.lagMs() ?? 0,
    );
    this.#reads = new Reads(context, options.isDeviceAvailable);
    this.#changes = new RuleChanges(context);
    this.#sender = new BatchSender(context, this.#batchApplier, this.#forwarder);
    this.#replicator = new Replicator({
      channel: this.#channel,
      tables: () => this.#tables.values(),
      table: (device) => this.#tables.table(device),
      config$: this.settings.config$,
      config: () => this.settings.current,
      scheduler: this.#scheduler,
      log: this.#log,
    });
    for (const served of [
      ...serveSync(this.#channel, this.#tables),
      this.#channel.serve(SUBJECTS.applyBatches, (r) => this.#batchApplier.onApplyBatches(r)),
      this.#channel.serve(SUBJECTS.batchesCompleted, (r) =>
        this.#batchApplier.onBatchesCompleted(r),
      ),
      this.#channel.serve(SUBJECTS.read, (r) => this.#reads.onRead(r)),
      this.#channel.serve(SUBJECTS.change, (r) => this.#changes.onChange(r)),
    ])
      this.#subscription.add(served);
    this.#persister =
      options.persistence === undefined
        ? undefined
        : new Persister(options.persistence, this.#scheduler, this.#log);
    // Every device the coordinator knows gets a table, so lifecycles (and syncs) start at once;
    // so does every device found on disk (a copy other nodes may need).
    for (const device of options.mastership.keys()) this.#tables.table(device);
    for (const device of this.#tables.loadedDevices()) this.#tables.table(device);
    void this.#tables.decodeLoaded(() => this.#closed);
    this.#subscription.add(
      options.mastership.events$.subscribe((event) => this.#tables.table(event.key)),
    );
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
   * acknowledged, and the age of the oldest batch no backup holds).
   */
  stats(): {
    replication: Readonly<ReplicationStats>;
    sent: ReadonlyMap<string, { messages: number; bytes: number }>;
    unackedBuckets: number;
    /** The largest backup lag in time of a mastered device, in ms (see `maxBackupLag`). */
    backupLagMs: number;
    masteredDevices: number;
    /** Batches this node acknowledged as master with `replication: "sync"`, and of those how many under-replicated. */
    sync: { readonly syncBatches: number; readonly underReplicatedBatches: number };
    /** With `persistence`: commits made, buckets and entries written, and how far the disk is behind. */
    persistence: (Persister["stats"] & { readonly lagMs: number }) | undefined;
  } {
    let unackedBuckets = 0;
    let backupLagMs = 0;
    let masteredDevices = 0;
    const now = this.#scheduler.now();
    for (const table of this.#tables.values()) {
      if (!table.isActiveMaster) continue;
      masteredDevices++;
      unackedBuckets += table.unackedBuckets();
      backupLagMs = Math.max(backupLagMs, table.backupLag(now));
    }
    return {
      replication: this.#replicator.stats,
      sent: this.#channel.sent,
      unackedBuckets,
      backupLagMs,
      masteredDevices,
      sync: { ...this.#batchApplier.syncStats },
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
      return await this.#sender.send(input);
    } finally {
      this.#pendingOperations -= size;
    }
  }

  /**
   * Reports the device's outcome of a batch (on the master, which emitted `BATCH_REQUESTED`);
   * the node that stored the batch receives `BATCH_COMPLETED`.
   */
  async batchOperationComplete(completion: BatchCompletion): Promise<void> {
    await this.#batchApplier.complete(completion);
  }

  // ---- reads ----------------------------------------------------------------------------

  /** The stored entry of `rule` (read on the master), or `undefined`. */
  async getFlowEntry(rule: FlowRule): Promise<FlowEntry | undefined> {
    const reply = await this.#reads.read({ kind: "ENTRY", deviceId: rule.deviceId, rule });
    return reply.kind === "ENTRY" ? (reply.entry ?? undefined) : unexpected(reply.kind);
  }

  /** The stored entry with flow id `id` on `device` (read on the master), or `undefined`. */
  async getFlowEntryById(device: DeviceId, id: FlowId): Promise<FlowEntry | undefined> {
    const reply = await this.#reads.read({ kind: "ENTRY_BY_ID", deviceId: device, flowId: id });
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
  flowEntryPages(device: DeviceId): AsyncGenerator<readonly FlowEntry[]> {
    return this.#reads.pages(device);
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
        const reply = await this.#reads.read({
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
    const reply = await this.#reads.read({ kind: "TABLE_STATS", deviceId: device });
    return reply.kind === "TABLE_STATS" ? reply.tables : unexpected(reply.kind);
  }

  /** The sum of active entries over `device`'s table statistics. */
  async getActiveFlowRuleCount(device: DeviceId): Promise<number> {
    const tables = await this.getTableStatistics(device);
    return tables.reduce((sum, table) => sum + table.activeFlowEntries, 0);
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
    return this.#changes
      .change(entry.rule.deviceId, { kind: "ADD_OR_UPDATE", entry })
      .then((r) => r.event);
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
    return applyDeviceReport(device, this.#tables.get(device), reports, options, this.#reports);
  }

  /** Marks a stored entry `PENDING_ADD` again (to be reinstalled); `RULE_UPDATED` if it changed. */
  pendingFlowRule(entry: FlowEntry): Promise<RuleEvent | undefined> {
    return this.#changes
      .change(entry.rule.deviceId, { kind: "PENDING", entry })
      .then((r) => r.event);
  }

  /** Removes a stored entry (unless the stored one is newer); `RULE_REMOVED` if it did. */
  removeFlowRule(entry: FlowEntry): Promise<RuleEvent | undefined> {
    return this.#changes
      .change(entry.rule.deviceId, { kind: "REMOVE", entry })
      .then((r) => r.event);
  }

  /** Removes every rule of `device`. Resolves with how many were removed. */
  async purgeFlowRule(device: DeviceId): Promise<number> {
    return this.#changes.purge(device, undefined);
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
    return this.#changes.purge(device, appId);
  }

  /** Records the device's table statistics (on the master). */
  async updateTableStatistics(device: DeviceId, tables: readonly TableStatistics[]): Promise<void> {
    await this.#changes.change(device, {
      kind: "TABLE_STATS",
      deviceId: device,
      tables: [...tables],
    });
  }

  /** Resolves after `ms` on the store's scheduler (virtual time in tests). */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => this.#scheduler.schedule(() => resolve(), ms));
  }

  #knownDevices(): DeviceId[] {
    return [...new Set([...this.#mastership.keys(), ...this.#tables.keys()])];
  }

  #checkOpen(): void {
    if (this.#closed) throw new FlowStoreError("CLOSED", "the store is closed");
  }

  /**
   * A planned hand-over, for a graceful stop: gives up this node's candidacy for every device
   * (master or backup), and waits until every device it was master of has a successor active
   * in a newer term. A successor synchronizes from this node (the master of the last activated
   * term, still alive and answering), so every write this node acknowledged moves with the
   * device; writes that arrive meanwhile are refused here and retried by their senders on the
   * new master. Resolves with the devices that moved and those that had not within
   * `timeoutMs` (then {@link EcFlowRuleStore.close}).
   *
   * @remarks Every candidacy goes, not only the masterships: a node still a backup can be
   * given a device while it leaves (a rebalance, or its master failing), and a device it
   * masters then must be handed over too, not stopped with the writes it took. One given to
   * it before its candidacy was gone is waited for like the others.
   */
  async handOver(timeoutMs = 10_000): Promise<{ moved: DeviceId[]; remaining: DeviceId[] }> {
    this.#checkOpen();
    const mastership = this.#mastership;
    const local = this.localNode;
    /** Whether `device` has no term this node mastered that a newer active term has not taken over. */
    const handedOver = (device: DeviceId): boolean => {
      const info = mastership.mastership(device);
      if (info.master === local) return false;
      const mine = this.#tables.get(device)?.fence.lastActivatedHere ?? 0;
      if (mine === 0) return true;
      return (
        info.master !== undefined &&
        info.term > mine &&
        (mastership.activeTerm(device) ?? 0) >= info.term
      );
    };
    const devices = this.#knownDevices();
    const leaving = new Set(devices.filter((device) => !handedOver(device)));
    this.#log.info("handing over", { devices: leaving.size });
    await Promise.all(
      devices.map((device) =>
        mastership
          .relinquish(device)
          .catch((error: unknown) =>
            this.#log.warn("could not give up the candidacy", { device, error: String(error) }),
          ),
      ),
    );
    const deadline = this.#scheduler.now() + timeoutMs;
    for (;;) {
      // A device given to this node before its candidacy was gone is handed over too.
      for (const device of this.#knownDevices()) if (!handedOver(device)) leaving.add(device);
      const done = [...leaving].every(handedOver);
      if (done || this.#scheduler.now() >= deadline || this.#closed) break;
      await this.#wait(20);
    }
    const moved = [...leaving].filter(handedOver);
    const remaining = [...leaving].filter((device) => !handedOver(device));
    this.#log.info("handed over", { moved: moved.length, remaining });
    return { moved, remaining };
  }

  /** With `persistence`: commits every change made so far to disk now (a graceful stop does). */
  async flush(): Promise<void> {
    await this.#persister?.flush();
  }

  /** Stops replication, handlers and lifecycles; pending writes fail with `CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#persister?.stop();
    this.#replicator.close();
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
