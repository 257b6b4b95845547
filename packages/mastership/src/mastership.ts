import { CodedError } from "@flowstore/serializers";
import { Observable, type Subscriber, type Subscription } from "rxjs";
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

/** `info` with at most `backupCount` backups. */
export function truncateBackups(info: ReplicaInfo, backupCount: number): ReplicaInfo {
  if (info.backups.length <= backupCount) return info;
  return { term: info.term, master: info.master, backups: info.backups.slice(0, backupCount) };
}

/** Whether two backup lists name the same nodes in the same order. */
export function sameBackups(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((node, i) => node === b[i]);
}

/**
 * The event a change from `before` to `after` produces, or `undefined` if nothing a
 * reader of the (truncated) info can see changed.
 */
export function changeType(
  before: ReplicaInfo,
  after: ReplicaInfo,
): MastershipEventType | undefined {
  if (before.master !== after.master || before.term !== after.term) return "MASTER_CHANGED";
  if (!sameBackups(before.backups, after.backups)) return "BACKUPS_CHANGED";
  return undefined;
}

/** The local node's role in `info`. */
export function roleOf(info: ReplicaInfo, node: NodeId): MastershipRole {
  if (info.master === node) return "MASTER";
  return info.backups.includes(node) ? "STANDBY" : "NONE";
}

/**
 * Per-key streams over one shared source: `stream(key)` emits `current(key)` (when it is
 * defined), then the value of each item of `source()` whose key is `key`. One subscription
 * to the source serves every key's subscribers, each item going only to its own key's: a
 * node following thousands of devices pays per item, not per device. The source is read
 * when the first subscriber comes, so a class can build this before its streams exist.
 */
function keyedStreams<K extends string, E extends { readonly key: K }, V>(
  source: () => Observable<E>,
  pick: (item: E) => V,
  current: (key: K) => V | undefined,
): (key: K) => Observable<V> {
  const subscribers = new Map<K, Set<Subscriber<V>>>();
  let subscription: Subscription | undefined;
  const everyone = () => [...subscribers.values()].flatMap((set) => [...set]);
  const stop = () => {
    subscribers.clear();
    subscription = undefined;
  };
  return (key) =>
    new Observable<V>((subscriber) => {
      const now = current(key);
      if (now !== undefined) subscriber.next(now);
      if (subscriber.closed) return;
      let set = subscribers.get(key);
      if (set === undefined) {
        set = new Set();
        subscribers.set(key, set);
      }
      set.add(subscriber);
      if (subscription === undefined) {
        subscription = source().subscribe({
          next: (item) => {
            const own = subscribers.get(item.key);
            if (own === undefined) return;
            const value = pick(item);
            for (const s of [...own]) s.next(value);
          },
          error: (error: unknown) => {
            const all = everyone();
            stop();
            for (const s of all) s.error(error);
          },
          complete: () => {
            const all = everyone();
            stop();
            for (const s of all) s.complete();
          },
        });
      }
      return () => {
        const own = subscribers.get(key);
        own?.delete(subscriber);
        if (own?.size === 0) subscribers.delete(key);
        if (subscribers.size === 0 && subscription !== undefined) {
          subscription.unsubscribe();
          subscription = undefined;
        }
      };
    });
}

/** Every backend's `info$`: `key`'s info now, then each change of it in `view.events$`. */
export function infoStreams<K extends string>(
  view: Pick<Mastership<K>, "mastership" | "events$">,
): (key: K) => Observable<ReplicaInfo> {
  return keyedStreams(
    () => view.events$,
    (event) => event.info,
    (key) => view.mastership(key),
  );
}

/** Every backend's `activeTerm$`: `key`'s active term now (if any), then each activation. */
export function activeTermStreams<K extends string>(
  view: Pick<Mastership<K>, "activeTerm" | "activations$">,
): (key: K) => Observable<number> {
  return keyedStreams(
    () => view.activations$,
    (activation) => activation.term,
    (key) => view.activeTerm(key),
  );
}
