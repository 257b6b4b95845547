import {
  Etcd3,
  type IKeyValue,
  type IOptions,
  type IWatchResponse,
  type Lease,
  type Watcher,
} from "etcd3";
import {
  asyncScheduler,
  type Observable,
  type SchedulerLike,
  Subject,
  type Subscription,
} from "rxjs";
import type { ClusterMembership, NodeId } from "./cluster.js";
import { planHandoffs } from "./internal/etcd/balance.js";
import { CandidacyWriter } from "./internal/etcd/candidacyWriter.js";
import { createEtcdKeyLayout, type EtcdKeyLayout } from "./internal/etcd/keyLayout.js";
import { NodeLease } from "./internal/etcd/lease.js";
import { RevisionWaiters } from "./internal/etcd/revisionWaiters.js";
import { activeTermStreams, infoStreams } from "./internal/keyedStreams.js";
import { changeType, roleOf, truncateBackups } from "./internal/replicaInfo.js";
import {
  type Mastership,
  MastershipError,
  type MastershipEvent,
  type MastershipRole,
  NO_REPLICA_INFO,
  type ReplicaInfo,
  type TermActivation,
} from "./mastership.js";

/** Options of {@link createEtcdMastership}. */
export interface EtcdMastershipOptions {
  /** etcd client URLs, e.g. `["http://127.0.0.1:2379"]`. */
  readonly endpoints: readonly string[];
  /** The local node. */
  readonly node: NodeId;
  /**
   * TTL of the node's lease, in whole seconds (etcd's minimum is 2 with default settings);
   * default 5. A killed node's devices fail over within about this long.
   */
  readonly leaseTtl?: number;
  /** Key prefix of all mastership data; default `/flowstore/mastership/`. */
  readonly prefix?: string;
  /**
   * The highest term this node saw before it restarted (persisted with `--data-dir`); default
   * 0. Terms are etcd create revisions, which only grow — unless etcd's data was wiped (or
   * this is another etcd): then new terms would be below stored ones, and a stored copy would
   * beat every new write. `start` refuses with `TERM_REGRESSION` when etcd's revision is
   * below it.
   */
  readonly termFloor?: number;
  /** How many backups replica infos list; default all standbys. */
  readonly backupCount?: number;
  /**
   * The failure detector's view. When it reports another node `INACTIVE`, this node
   * revokes that node's lease, so its devices fail over at once instead of after the TTL.
   */
  readonly membership?: ClusterMembership;
  /** Time source of the balance delay and the lease watchdog; default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /**
   * Safety margin of {@link Mastership.leaseFreshUntil}, in ms: the lease counts as fresh
   * until the last answered keep-alive was sent + TTL − this; default 500. It covers clock
   * rate differences and the time between checking freshness and acting on it.
   */
  readonly leaseMargin?: number;
  /**
   * How long a node must have been up (its node key present, as this view saw it appear)
   * before balancing hands it masterships, in ms; default 2000. A node that flaps within
   * this window causes no mastership churn. Nodes already up when this view starts count
   * as up.
   */
  readonly rebalanceDelay?: number;
  /**
   * At most this many balancing hand-offs by this node per `moveInterval`; default
   * unlimited. Failover is never delayed by it.
   */
  readonly maxMoves?: number;
  /** The window of `maxMoves`, in ms; default 1000. */
  readonly moveInterval?: number;
  /** Delay of the balance pass after a change, in ms; default 150. */
  readonly balanceDelay?: number;
  /** Candidate writes per etcd transaction; default 128 (etcd's default limit). */
  readonly writeBatchSize?: number;
  /** Transactions in flight at once; default 4. */
  readonly writeConcurrency?: number;
  /** Extra options for the `etcd3` client (hosts are taken from `endpoints`). */
  readonly clientOptions?: Omit<IOptions, "hosts">;
}

/** A {@link Mastership} backed by etcd. */
export interface EtcdMastership<K extends string> extends Mastership<K> {
  /**
   * Stops without revoking the lease, as if the process had died: the node's candidacies
   * disappear only when etcd expires its lease (or another node revokes it).
   */
  abandon(): Promise<void>;
}

/**
 * Connects the local node to mastership in etcd.
 *
 * @remarks Layout under `prefix` (owned by `internal/etcd/keyLayout.ts`): `n/<node>` (the
 * node, under its lease, value = lease id), `c/<key>/<node>` (a candidacy, under the lease),
 * `a/<key>` (the newest activated term).
 * Master = the candidacy with the lowest create revision, backups = the others in revision
 * order, term = the master candidacy's create revision. Every node watches the whole prefix
 * and computes the same answer. Balance: a node that masters at least two keys more than
 * the next candidate of some of its keys re-campaigns for them (delete + put moves it to the
 * back), handing each to that next candidate; when only a node further back in a key's order
 * is that much less busy, the key goes to a next candidate no busier than the giver, which
 * passes it on. Repeated passes converge to counts within one.
 * A node whose lease is lost — or that cannot confirm a keepalive within the TTL — drops its
 * candidacies from its own view at once (so it stops acting as master), then revokes the old
 * lease, takes a new one and campaigns again at the back.
 */
export async function createEtcdMastership<K extends string>(
  options: EtcdMastershipOptions,
): Promise<EtcdMastership<K>> {
  const view = new EtcdView<K>(options);
  try {
    await view.start();
  } catch (error) {
    await view.abandon();
    if (error instanceof MastershipError && error.code === "TERM_REGRESSION") throw error;
    throw new MastershipError(
      "UNAVAILABLE",
      `cannot start mastership in etcd at ${options.endpoints.join(", ")}`,
      {
        cause: error,
      },
    );
  }
  return view;
}

class EtcdView<K extends string> implements EtcdMastership<K> {
  readonly localNode: NodeId;
  readonly backupCount: number;
  readonly #termFloor: number;
  /** `info$` of every key, from one subscription to `events$`. */
  readonly #infos$ = infoStreams<K>(this);
  /** `activeTerm$` of every key, from one subscription to `activations$`. */
  readonly #activeTerms$ = activeTermStreams<K>(this);
  readonly #keys: EtcdKeyLayout<K>;
  readonly #scheduler: SchedulerLike;
  readonly #balanceDelay: number;
  readonly #batchSize: number;
  readonly #client: Etcd3;
  readonly #writer: CandidacyWriter;
  readonly #membership: ClusterMembership | undefined;

  readonly #events = new Subject<MastershipEvent<K>>();
  readonly #activations = new Subject<TermActivation<K>>();
  readonly events$: Observable<MastershipEvent<K>> = this.#events.asObservable();
  readonly activations$: Observable<TermActivation<K>> = this.#activations.asObservable();

  /** key → node → create revision of its candidacy. */
  readonly #candidates = new Map<K, Map<NodeId, number>>();
  /** Full replica info per key (every standby). */
  readonly #infos = new Map<K, ReplicaInfo>();
  readonly #mastered = new Map<NodeId, Set<K>>();
  readonly #activeTerms = new Map<K, number>();
  /** Live nodes → their lease id. */
  readonly #nodes = new Map<NodeId, string>();
  /** Nodes that came up after this view started → when it saw them come up. */
  readonly #upSince = new Map<NodeId, number>();
  /** Balance passes due when a returning node's `rebalanceDelay` is over. */
  readonly #upTimers = new Map<NodeId, Subscription>();
  /** When this node's recent balancing hand-offs happened (within `moveInterval`). */
  #moveTimes: number[] = [];
  #started = false;
  readonly #rebalanceDelay: number;
  readonly #maxMoves: number;
  readonly #moveInterval: number;
  /** Keys the local node wants to be a candidate for. */
  readonly #requested = new Set<K>();

  readonly #lease: NodeLease;
  #watcher: Watcher | undefined;
  #membershipSubscription: Subscription | undefined;
  #pendingBalance: Subscription | undefined;
  #delayedBalance: Subscription | undefined;
  #balancing = false;
  #rebalanceAgain = false;
  #recovering = false;
  #closed = false;

  readonly #revisions = new RevisionWaiters();

  constructor(options: EtcdMastershipOptions) {
    this.localNode = options.node;
    this.backupCount = options.backupCount ?? Number.POSITIVE_INFINITY;
    const ttl = options.leaseTtl ?? 5;
    this.#termFloor = options.termFloor ?? 0;
    this.#keys = createEtcdKeyLayout<K>(options.prefix ?? "/flowstore/mastership/");
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.#balanceDelay = options.balanceDelay ?? 150;
    const leaseMargin = options.leaseMargin ?? 500;
    this.#rebalanceDelay = options.rebalanceDelay ?? 2000;
    this.#maxMoves = options.maxMoves ?? Number.POSITIVE_INFINITY;
    this.#moveInterval = options.moveInterval ?? 1000;
    if (!(this.#rebalanceDelay >= 0 && this.#maxMoves >= 1 && this.#moveInterval > 0)) {
      throw new MastershipError(
        "INVALID_ARGUMENT",
        "rebalanceDelay must be ≥ 0, maxMoves ≥ 1 and moveInterval > 0",
      );
    }
    this.#batchSize = options.writeBatchSize ?? 128;
    this.#membership = options.membership;
    if (!(this.backupCount >= 0))
      throw new MastershipError("INVALID_ARGUMENT", "backupCount must be ≥ 0");
    if (!(leaseMargin >= 0 && leaseMargin < ttl * 1000)) {
      throw new MastershipError(
        "INVALID_ARGUMENT",
        `leaseMargin must be ≥ 0 and below the lease TTL, not ${leaseMargin}`,
      );
    }
    if (!Number.isInteger(ttl) || ttl < 1) {
      throw new MastershipError(
        "INVALID_ARGUMENT",
        `leaseTtl must be a whole number of seconds ≥ 1, not ${ttl}`,
      );
    }
    this.#client = new Etcd3({
      // Unary calls give up after 5 s, so a frozen etcd cannot hang recovery or shutdown.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 5000 }),
      ...options.clientOptions,
      hosts: [...options.endpoints],
    });
    this.#lease = new NodeLease({
      client: this.#client,
      ttl,
      margin: leaseMargin,
      scheduler: this.#scheduler,
      nodeKey: this.#keys.node(this.localNode),
      onLost: () => this.#onLeaseLost(),
    });
    this.#writer = new CandidacyWriter({
      client: this.#client,
      node: this.localNode,
      lease: () => this.#lease.usableId(),
      batchSize: this.#batchSize,
      concurrency: options.writeConcurrency ?? 4,
    });
  }

  // ---- start-up ---------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.#termFloor > 0) {
      const probe = await this.#client.kv.range({
        key: Buffer.from(this.#keys.prefix),
        count_only: true,
      });
      const revision = Number(probe.header.revision);
      if (revision < this.#termFloor) {
        throw new MastershipError(
          "TERM_REGRESSION",
          `etcd is at revision ${revision}, below term ${this.#termFloor} that this node saw before it restarted: etcd's data was wiped, or this is another etcd. New terms would be older than stored copies. Restore etcd's data, or start this node with an empty data directory (its flows come back from the other nodes).`,
        );
      }
    }
    await this.#lease.acquire();
    const snapshot = await this.#client.kv.range(this.#keys.range());
    const touched = new Set<K>();
    for (const kv of snapshot.kvs) this.#apply("Put", kv, touched);
    this.#revisions.observe(Number(snapshot.header.revision));
    for (const key of touched) this.#recompute(key);
    this.#started = true;
    const watcher = await this.#client
      .watch()
      .prefix(this.#keys.prefix)
      .startRevision(String(this.#revisions.applied + 1))
      .create();
    this.#watcher = watcher;
    watcher.on("data", (response: IWatchResponse) => this.#onWatch(response));
    this.#membershipSubscription = this.#membership?.events$.subscribe((event) => {
      if (event.type === "NODE_INACTIVE" && event.node !== this.localNode)
        void this.#revokeNode(event.node);
    });
    this.#scheduleBalance();
  }

  leaseFreshUntil(): number {
    if (this.#closed) return Number.NEGATIVE_INFINITY;
    return this.#lease.freshUntil();
  }

  // ---- the watched state ------------------------------------------------------------------

  #onWatch(response: IWatchResponse): void {
    if (this.#closed) return;
    const touched = new Set<K>();
    for (const event of response.events) {
      this.#apply(event.type, event.kv, touched);
      this.#revisions.observe(Number(event.kv.mod_revision));
    }
    this.#revisions.observe(Number(response.header.revision));
    for (const key of touched) this.#recompute(key);
    this.#revisions.release();
    if (touched.size > 0) this.#scheduleBalance();
  }

  #apply(type: string, kv: IKeyValue, touched: Set<K>): void {
    const path = this.#keys.parse(kv.key.toString());
    if (path === undefined) return;
    const put = type === "Put";
    if (path.kind === "candidate") {
      const { key, node } = path;
      const candidates = this.#candidates.get(key) ?? new Map<NodeId, number>();
      if (put) {
        this.#candidates.set(key, candidates);
        candidates.set(node, Number(kv.create_revision));
      } else {
        candidates.delete(node);
      }
      touched.add(key);
    } else if (path.kind === "node") {
      const { node } = path;
      if (put) {
        const lease = kv.value.toString();
        if (this.#nodes.get(node) !== lease && this.#started) this.#cameUp(node);
        this.#nodes.set(node, lease);
      } else {
        this.#nodes.delete(node);
        this.#upSince.delete(node);
        this.#upTimers.get(node)?.unsubscribe();
        this.#upTimers.delete(node);
      }
    } else if (path.kind === "activation" && put) {
      const { key } = path;
      const term = Number(kv.value.toString());
      if (!Number.isSafeInteger(term)) return;
      this.#activeTerms.set(key, term);
      this.#activations.next({ key, term });
    }
  }

  /** `node` (re)appeared: it gets masterships from balancing only after `rebalanceDelay`. */
  #cameUp(node: NodeId): void {
    if (node === this.localNode || this.#rebalanceDelay === 0) return;
    this.#upSince.set(node, this.#scheduler.now());
    this.#upTimers.get(node)?.unsubscribe();
    this.#upTimers.set(
      node,
      this.#scheduler.schedule(() => {
        this.#upTimers.delete(node);
        this.#scheduleBalance();
      }, this.#rebalanceDelay),
    );
  }

  /** Whether balancing may hand `node` masterships: it has been up for `rebalanceDelay`. */
  #settled(node: NodeId): boolean {
    const since = this.#upSince.get(node);
    return since === undefined || this.#scheduler.now() - since >= this.#rebalanceDelay;
  }

  #recompute(key: K): void {
    const candidates = [...(this.#candidates.get(key) ?? new Map<NodeId, number>())].sort(
      (a, b) => a[1] - b[1],
    );
    const before = this.#infos.get(key) ?? NO_REPLICA_INFO;
    const first = candidates[0];
    const after: ReplicaInfo =
      first === undefined
        ? { term: before.term, master: undefined, backups: [] }
        : {
            term: Math.max(first[1], before.term),
            master: first[0],
            backups: candidates.slice(1).map(([n]) => n),
          };
    this.#infos.set(key, after);
    if (before.master !== after.master) {
      if (before.master !== undefined) this.#mastered.get(before.master)?.delete(key);
      if (after.master !== undefined) {
        const set = this.#mastered.get(after.master) ?? new Set<K>();
        this.#mastered.set(after.master, set);
        set.add(key);
      }
    }
    const shown = truncateBackups(after, this.backupCount);
    const type = changeType(truncateBackups(before, this.backupCount), shown);
    if (type !== undefined && !this.#closed) this.#events.next({ type, key, info: shown });
  }

  // ---- candidacies ------------------------------------------------------------------------

  #candidateKey(key: K): string {
    return this.#keys.candidate(key, this.localNode);
  }

  /** Queues a candidacy write; writes go out in batched transactions. */
  #write(key: K): Promise<number> {
    return this.#writer.write(this.#candidateKey(key));
  }

  async requestRoleFor(key: K): Promise<ReplicaInfo> {
    this.#assertOpen();
    this.#validateKey(key);
    this.#requested.add(key);
    if (!this.#candidates.get(key)?.has(this.localNode)) {
      try {
        await this.#revisions.wait(await this.#write(key));
      } catch (error) {
        throw new MastershipError("UNAVAILABLE", `cannot campaign for ${key}`, { cause: error });
      }
    }
    return this.mastership(key);
  }

  async relinquish(key: K): Promise<void> {
    this.#assertOpen();
    this.#requested.delete(key);
    try {
      const response = await this.#client.kv.deleteRange({
        key: Buffer.from(this.#candidateKey(key)),
      });
      await this.#revisions.wait(Number(response.header.revision));
    } catch (error) {
      throw new MastershipError("UNAVAILABLE", `cannot relinquish ${key}`, { cause: error });
    }
  }

  #validateKey(key: K): void {
    if (key.length === 0 || key.includes("\0")) {
      throw new MastershipError("INVALID_ARGUMENT", `invalid key ${JSON.stringify(key)}`);
    }
  }

  // ---- balance ----------------------------------------------------------------------------

  #scheduleBalance(): void {
    if (this.#closed || this.#pendingBalance !== undefined) return;
    this.#pendingBalance = this.#scheduler.schedule(() => {
      this.#pendingBalance = undefined;
      void this.balance().catch(() => this.#scheduleBalance());
    }, this.#balanceDelay);
  }

  async balance(): Promise<void> {
    this.#assertOpen();
    if (this.#balancing) {
      this.#rebalanceAgain = true;
      return;
    }
    if (!this.#lease.ok) return;
    this.#balancing = true;
    try {
      const now = this.#scheduler.now();
      this.#moveTimes = this.#moveTimes.filter((at) => at > now - this.#moveInterval);
      const budget = this.#maxMoves - this.#moveTimes.length;
      const planned = planHandoffs<K>({
        me: this.localNode,
        candidates: this.#candidates,
        infos: this.#infos,
        mastered: this.#mastered,
        settled: (node) => this.#settled(node),
        active: (key) => this.#activeTerms.get(key) === this.#infos.get(key)?.term,
      });
      const handoffs = planned.slice(0, Math.max(0, budget));
      if (handoffs.length < planned.length) {
        // The rest waits for the window to make room; the pass after it plans afresh.
        const oldest = this.#moveTimes[0] ?? now;
        this.#delayedBalance?.unsubscribe();
        this.#delayedBalance = this.#scheduler.schedule(
          () => {
            this.#delayedBalance = undefined;
            this.#scheduleBalance();
          },
          Math.max(0, oldest + this.#moveInterval - now),
        );
      }
      this.#moveTimes.push(...handoffs.map(() => now));
      for (let i = 0; i < handoffs.length; i += this.#batchSize) {
        const batch = handoffs.slice(i, i + this.#batchSize);
        // Delete then put again (etcd refuses both on one key in one transaction): the new
        // candidacy has a higher create revision, so it goes to the back of the order.
        await this.#client.kv.txn({
          success: batch.map((key) => ({
            request_delete_range: { key: Buffer.from(this.#candidateKey(key)) },
          })),
        });
        const revisions = await Promise.all(
          batch.filter((key) => this.#requested.has(key)).map((key) => this.#write(key)),
        );
        await this.#revisions.wait(Math.max(0, ...revisions));
      }
    } finally {
      this.#balancing = false;
    }
    if (this.#rebalanceAgain) {
      this.#rebalanceAgain = false;
      this.#scheduleBalance();
    }
  }

  // ---- leases and failures ----------------------------------------------------------------

  /** The lease is gone or may be: stop acting on it at once, then campaign again. */
  #onLeaseLost(): void {
    if (this.#closed || !this.#lease.ok) return;
    const old = this.#lease.drop();
    // Drop our own candidacies from our view now; etcd confirms (or we re-campaign) later.
    for (const [key, candidates] of this.#candidates) {
      if (candidates.delete(this.localNode)) this.#recompute(key);
    }
    void this.#recover(old);
  }

  async #recover(old: Lease | undefined): Promise<void> {
    if (this.#recovering) return;
    this.#recovering = true;
    try {
      for (let attempt = 0; !this.#closed; attempt++) {
        try {
          // Revoke first so the old candidacies are gone before the new ones are written:
          // a re-campaign must never resurrect an old term.
          await old?.revoke().catch(() => undefined);
          if (this.#closed) return;
          await this.#lease.acquire();
          await Promise.all([...this.#requested].map((key) => this.#write(key)));
          this.#scheduleBalance();
          return;
        } catch {
          this.#lease.invalidate();
          await new Promise<void>((resolve) =>
            this.#scheduler.schedule(() => resolve(), Math.min(2000, 100 * 2 ** attempt)),
          );
        }
      }
    } finally {
      this.#recovering = false;
    }
  }

  async #revokeNode(node: NodeId): Promise<void> {
    const lease = this.#nodes.get(node);
    if (lease === undefined || this.#closed) return;
    try {
      await this.#client.leaseClient.leaseRevoke({ ID: lease });
    } catch {
      // Already gone, or etcd is unreachable: its TTL will expire it anyway.
    }
  }

  // ---- activations ------------------------------------------------------------------------

  async activate(key: K, term: number): Promise<boolean> {
    this.#assertOpen();
    const info = this.#infos.get(key);
    const mine = this.#candidates.get(key)?.get(this.localNode);
    if (
      !this.#lease.ok ||
      info === undefined ||
      info.master !== this.localNode ||
      info.term !== term ||
      mine !== term
    ) {
      return false;
    }
    if (this.#activeTerms.get(key) === term) return true;
    try {
      // Our candidacy still having create revision `term` proves we are still its master:
      // candidacies are only ever added after it, so only its deletion ends the term.
      const response = await this.#client.kv.txn({
        compare: [
          {
            key: Buffer.from(this.#candidateKey(key)),
            target: "Create",
            result: "Equal",
            create_revision: term,
          },
        ],
        success: [
          {
            request_put: {
              key: Buffer.from(this.#keys.activation(key)),
              value: Buffer.from(String(term)),
            },
          },
        ],
      });
      if (!response.succeeded) return false;
      await this.#revisions.wait(Number(response.header.revision));
      return true;
    } catch (error) {
      throw new MastershipError("UNAVAILABLE", `cannot activate term ${term} of ${key}`, {
        cause: error,
      });
    }
  }

  activeTerm(key: K): number | undefined {
    return this.#activeTerms.get(key);
  }

  // ---- queries ----------------------------------------------------------------------------

  mastership(key: K): ReplicaInfo {
    return truncateBackups(this.#infos.get(key) ?? NO_REPLICA_INFO, this.backupCount);
  }

  role(key: K): MastershipRole {
    return roleOf(this.#infos.get(key) ?? NO_REPLICA_INFO, this.localNode);
  }

  keys(): readonly K[] {
    return [...this.#candidates]
      .filter(([, candidates]) => candidates.size > 0)
      .map(([key]) => key);
  }

  mastersOf(node: NodeId): readonly K[] {
    return [...(this.#mastered.get(node) ?? [])];
  }

  info$(key: K): Observable<ReplicaInfo> {
    return this.#infos$(key);
  }

  activeTerm$(key: K): Observable<number> {
    return this.#activeTerms$(key);
  }

  // ---- shutdown ---------------------------------------------------------------------------

  async close(): Promise<void> {
    await this.#shutdown(true);
  }

  async abandon(): Promise<void> {
    await this.#shutdown(false);
  }

  async #shutdown(revoke: boolean): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pendingBalance?.unsubscribe();
    this.#delayedBalance?.unsubscribe();
    for (const timer of this.#upTimers.values()) timer.unsubscribe();
    this.#upTimers.clear();
    this.#membershipSubscription?.unsubscribe();
    await this.#lease.end(revoke);
    await this.#watcher?.cancel().catch(() => undefined);
    this.#writer.close();
    this.#revisions.releaseAll();
    this.#client.close();
    this.#events.complete();
    this.#activations.complete();
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new MastershipError("CLOSED", `the mastership of ${this.localNode} is closed`);
  }
}
