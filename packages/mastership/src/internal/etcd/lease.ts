import type { Etcd3, Lease } from "etcd3";
import type { SchedulerLike, Subscription } from "rxjs";

/** Options of {@link NodeLease}. */
export interface NodeLeaseOptions {
  readonly client: Etcd3;
  /** TTL of the lease, in whole seconds. */
  readonly ttl: number;
  /** Safety margin of {@link NodeLease.freshUntil}, in ms (below the TTL). */
  readonly margin: number;
  /** Time source of the watchdog. */
  readonly scheduler: SchedulerLike;
  /** The node's key, written under every new lease with the lease id as its value. */
  readonly nodeKey: string;
  /**
   * Called when the lease is gone or may be: etcd reported it lost, or no keep-alive was
   * confirmed within the TTL (the watchdog fired). The owner decides what to do.
   */
  readonly onLost: () => void;
}

/**
 * The local node's etcd lease and its keep-alive watchdog: how long the lease is known to
 * live, from the send times of the keep-alives etcd answered.
 *
 * @remarks The watchdog fires `onLost` when no keep-alive sent within the last TTL has been
 * answered — the lease may have expired in etcd without the client noticing (a partition, a
 * frozen etcd), so the node must stop acting on it before another takes over.
 */
export class NodeLease {
  readonly #options: NodeLeaseOptions;
  #lease: Lease | undefined;
  #leaseId: string | undefined;
  #leaseOk = false;
  /** When the last keep-alive (or grant) that etcd answered was sent, on the scheduler. */
  #leaseConfirmedAt = Number.NEGATIVE_INFINITY;
  #watchdog: Subscription | undefined;

  constructor(options: NodeLeaseOptions) {
    this.#options = options;
  }

  /** Whether the lease may be acted on: granted, and neither lost nor given up since. */
  get ok(): boolean {
    return this.#leaseOk;
  }

  /** The lease id while the lease may be acted on, else `undefined`. */
  usableId(): string | undefined {
    return this.#leaseOk ? this.#leaseId : undefined;
  }

  /** Grants a new lease, starts its keep-alives and watchdog, and writes the node key. */
  async acquire(): Promise<void> {
    const { client, ttl, scheduler } = this.#options;
    const lease = client.lease(ttl);
    this.#lease = lease;
    const askedAt = scheduler.now();
    const id = await lease.grant();
    if (this.#lease !== lease) return;
    this.#leaseId = id;
    this.#leaseOk = true;
    // Send times of the keep-alives not answered yet, oldest first. The answers of one
    // stream come in order, so an answer belongs to the oldest; a new stream starts afresh
    // (an entry left over would only make the bound earlier, never later).
    const fired: number[] = [];
    lease.on("keepaliveEstablished", () => {
      fired.length = 0;
    });
    lease.on("keepaliveFired", () => {
      fired.push(scheduler.now());
    });
    lease.on("keepaliveSucceeded", () => {
      if (this.#lease !== lease) return;
      const sentAt = fired.shift();
      if (sentAt === undefined) return;
      // etcd extended the lease no earlier than when we asked: it lives at least until then + TTL.
      this.#leaseConfirmedAt = Math.max(this.#leaseConfirmedAt, sentAt);
      this.#armWatchdog(this.#leaseConfirmedAt + ttl * 1000 - scheduler.now());
    });
    lease.on("lost", () => {
      if (this.#lease === lease) this.#options.onLost();
    });
    this.#leaseConfirmedAt = askedAt;
    this.#armWatchdog(askedAt + ttl * 1000 - scheduler.now());
    await lease.put(this.#options.nodeKey).value(id);
  }

  /**
   * Until when (scheduler time) the lease is surely alive in etcd, less the margin; −∞ when
   * it may not be acted on.
   */
  freshUntil(): number {
    if (!this.#leaseOk) return Number.NEGATIVE_INFINITY;
    return this.#leaseConfirmedAt + this.#options.ttl * 1000 - this.#options.margin;
  }

  /**
   * Stops acting on the lease at once: no longer ok, the watchdog and keep-alives stopped.
   * Returns the old lease, for the caller to revoke.
   */
  drop(): Lease | undefined {
    this.#leaseOk = false;
    this.#leaseConfirmedAt = Number.NEGATIVE_INFINITY;
    this.#watchdog?.unsubscribe();
    const old = this.#lease;
    this.#lease = undefined;
    old?.release();
    return old;
  }

  /** A step of taking a new lease failed: the lease may not be acted on until one succeeds. */
  invalidate(): void {
    this.#leaseOk = false;
  }

  /**
   * Shutdown: revokes the lease (`revoke`), or only stops its keep-alives, as a dead process
   * would.
   */
  async end(revoke: boolean): Promise<void> {
    this.#watchdog?.unsubscribe();
    const lease = this.#lease;
    this.#lease = undefined;
    this.#leaseOk = false;
    if (revoke) await lease?.revoke().catch(() => undefined);
    else lease?.release();
  }

  #armWatchdog(delay: number): void {
    this.#watchdog?.unsubscribe();
    this.#watchdog = this.#options.scheduler.schedule(
      () => this.#options.onLost(),
      Math.max(0, delay),
    );
  }
}
