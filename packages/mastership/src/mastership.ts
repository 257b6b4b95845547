import { CodedError } from "@flowstore/serializers";
import type { Observable } from "rxjs";
import type { NodeId } from "./cluster.js";

/**
 * Who holds one resource (a device) right now: the term, the master, and the ordered
 * backups — the most likely next master first.
 *
 * @remarks `term` grows every time the master changes and never goes back. With no master
 * (no live candidate) `master` is `undefined` and `term` is the last term there was (0 for
 * a key that never had a master). A change of backups alone does not change the term.
 */
export interface ReplicaInfo {
  readonly term: number;
  readonly master: NodeId | undefined;
  readonly backups: readonly NodeId[];
}

/** The replica info of a key nobody has asked for yet. */
export const NO_REPLICA_INFO: ReplicaInfo = Object.freeze({
  term: 0,
  master: undefined,
  backups: Object.freeze([]) as readonly NodeId[],
});

/** What changed: the master (and with it the term), or only the backups. */
export type MastershipEventType = "MASTER_CHANGED" | "BACKUPS_CHANGED";

/** A change of one key's replica info, as seen by one node. */
export interface MastershipEvent<K extends string> {
  readonly type: MastershipEventType;
  readonly key: K;
  /** The new replica info (backups cut to the view's `backupCount`). */
  readonly info: ReplicaInfo;
}

/** "Term `term` of `key` is synchronized": published by that term's master, seen by all. */
export interface TermActivation<K extends string> {
  readonly key: K;
  readonly term: number;
}

/** The local node's role for one key. */
export type MastershipRole = "MASTER" | "STANDBY" | "NONE";

/**
 * Mastership of resources (devices) across the nodes of a cluster, as seen by one node.
 *
 * A node becomes a candidate for a key with {@link Mastership.requestRoleFor} (a device
 * connected to it); among the live candidates the coordinator picks a master and orders the
 * others as backups, keeps masters balanced across nodes, and moves mastership when a node
 * dies. The term-activation store records "term T of this key is synchronized".
 *
 * @remarks Generic over the key: a device id is just a string here. Implementations:
 * `createEmbeddedCoordinator(...).forNode(node)` for nodes in one process, and
 * `createEtcdMastership(...)` for nodes in separate processes.
 */
export interface Mastership<K extends string> {
  /** The node this view belongs to. */
  readonly localNode: NodeId;
  /** How many backups {@link ReplicaInfo.backups} lists at most (the first N standbys). */
  readonly backupCount: number;

  /** The current replica info of `key` ({@link NO_REPLICA_INFO} if nobody asked for it). */
  mastership(key: K): ReplicaInfo;
  /** The local node's current role for `key`. */
  role(key: K): MastershipRole;
  /** Every key that has at least one candidate. */
  keys(): readonly K[];
  /** The keys whose master is `node`. */
  mastersOf(node: NodeId): readonly K[];

  /** Every change of any key's master or backups. */
  readonly events$: Observable<MastershipEvent<K>>;
  /** The replica info of `key` now, then each change of it. */
  info$(key: K): Observable<ReplicaInfo>;

  /** Makes the local node a candidate for `key`; resolves with the info once recorded. */
  requestRoleFor(key: K): Promise<ReplicaInfo>;
  /** Withdraws the local node's candidacy for `key` (it stops being master or backup). */
  relinquish(key: K): Promise<void>;
  /** Rebalances mastership now, without waiting for the automatic pass. */
  balance(): Promise<void>;

  /**
   * Records that `term` of `key` is active (synchronized). Resolves `true` if `term` is the
   * key's current term and the local node is its master, `false` otherwise (a stale or
   * unknown term, or not the master) — nothing is recorded then.
   */
  activate(key: K, term: number): Promise<boolean>;
  /** The newest activated term of `key`, if any. */
  activeTerm(key: K): number | undefined;
  /** Every term activation, by any node. */
  readonly activations$: Observable<TermActivation<K>>;
  /** The newest activated term of `key` now (if any), then each activation of `key`. */
  activeTerm$(key: K): Observable<number>;

  /**
   * Until when the local node's masterships are provably still its own: an instant in ms on
   * the clock of the backend's scheduler (`scheduler.now()`, `Date.now()` by default).
   * A master applies and acknowledges a write only while `now < leaseFreshUntil()`.
   *
   * @remarks etcd: when the last keep-alive that etcd answered was sent, plus the lease TTL,
   * minus a safety margin (`leaseMargin`) — etcd extended the lease no earlier than it was
   * asked, so no other node can have been given this node's devices before then. A process
   * resumed after a stall (SIGSTOP, a long GC pause) finds this in the past and must not
   * acknowledge anything until a new keep-alive is answered. `-Infinity` while the lease is
   * lost or the view is closed. Embedded: the coordinator is in the same process and takes
   * masterships away synchronously, so `+Infinity` while the view is open and its node is
   * not reported inactive, `-Infinity` otherwise.
   */
  leaseFreshUntil(): number;

  /** Leaves gracefully: gives up every candidacy, completes the streams. */
  close(): Promise<void>;
}

/** Why a mastership operation failed. */
export type MastershipErrorCode =
  /** The view (or its coordinator) is closed. */
  | "CLOSED"
  /** The coordinator (etcd) could not be reached or refused the operation. */
  | "UNAVAILABLE"
  /** The key or an option is not valid. */
  | "INVALID_ARGUMENT"
  /** The coordinator's terms are below one this node saw before it restarted (etcd's data was wiped). */
  | "TERM_REGRESSION";

/** An operation of a {@link Mastership} that could not be carried out. */
export class MastershipError extends CodedError<MastershipErrorCode> {
  override readonly name = "MastershipError";
}
