import { asyncScheduler, type SchedulerLike, type Subscription } from "rxjs";
import type { ClusterMembership, MembershipEvent, NodeId } from "./cluster.js";
import { type Coordinator, EmbeddedView } from "./internal/embedded/embeddedView.js";
import {
  type Mastership,
  MastershipError,
  NO_REPLICA_INFO,
  type ReplicaInfo,
} from "./mastership.js";

/** Options of {@link createEmbeddedCoordinator}. */
export interface EmbeddedCoordinatorOptions {
  /**
   * Liveness of the nodes. A node it reports `INACTIVE` loses its masterships at once; a
   * node that comes back gets its share again after `rebalanceDelay`. Without it every
   * node with an open view counts as alive.
   */
  readonly membership?: ClusterMembership;
  /** Time source of the delays; default RxJS's `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /**
   * How long a node must stay active again before mastership is rebalanced onto it, in ms;
   * default 2000. A node that flaps within this window causes no mastership churn.
   */
  readonly rebalanceDelay?: number;
  /**
   * At most this many masterships moved by balancing per `moveInterval`, over the whole
   * coordinator; default unlimited. Failover is never delayed by it.
   */
  readonly maxMoves?: number;
  /** The window of `maxMoves`, in ms; default 1000. */
  readonly moveInterval?: number;
  /**
   * Delay of the automatic balance pass after candidates join or leave, in ms; default 0
   * (the next turn of the scheduler, so a burst of requests is balanced once).
   */
  readonly balanceDelay?: number;
  /**
   * Every key's terms start above this (default 0): the highest term any node saw before a
   * full restart (persisted with `--data-dir`), so terms stay monotonic across it and no
   * replica's stored copy looks newer than the new masters' writes.
   */
  readonly termFloor?: number;
}

/** Options of one node's view of an embedded coordinator. */
export interface EmbeddedViewOptions {
  /** How many backups the view's replica infos list; default all standbys. */
  readonly backupCount?: number;
}

/**
 * One in-process mastership coordinator shared by every node of the process, and the
 * source of each node's {@link Mastership} view.
 */
export interface EmbeddedCoordinator<K extends string> {
  /** The view of `node` (one per node; asking again for an open view returns it). */
  forNode(node: NodeId, options?: EmbeddedViewOptions): Mastership<K>;
  /** The full replica info of `key` (every standby, in order). */
  mastership(key: K): ReplicaInfo;
  /** Closes every view and releases the membership subscription and timers. */
  close(): void;
}

interface KeyState {
  /** Every candidate in preference order; inactive ones are skipped when assigning. */
  candidates: NodeId[];
  /** The full replica info (every active standby). */
  info: ReplicaInfo;
  activeTerm: number | undefined;
}

/**
 * Creates the embedded coordinator: masters spread evenly over the live candidates
 * (masters per node differ by at most one when every node is a candidate for every key),
 * backups ordered so each master's devices fail over to different nodes, the term bumped
 * on every change of master.
 *
 * @remarks Model: each key has an ordered candidate list; the master is the first live
 * candidate and the backups are the other live candidates in order — the same model as the
 * etcd backend's revision order. Balancing moves a candidate to the front (new master) or
 * right behind the master (new first backup). A node reported inactive moves to the back
 * of every list, so it returns as the last backup and gets masterships back only from the
 * delayed balance pass.
 */
export function createEmbeddedCoordinator<K extends string>(
  options: EmbeddedCoordinatorOptions = {},
): EmbeddedCoordinator<K> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const rebalanceDelay = options.rebalanceDelay ?? 2000;
  const balanceDelay = options.balanceDelay ?? 0;
  const maxMoves = options.maxMoves ?? Number.POSITIVE_INFINITY;
  const moveInterval = options.moveInterval ?? 1000;
  const termFloor = options.termFloor ?? 0;
  if (!(rebalanceDelay >= 0 && maxMoves >= 1 && moveInterval > 0)) {
    throw new MastershipError(
      "INVALID_ARGUMENT",
      "rebalanceDelay must be ≥ 0, maxMoves ≥ 1 and moveInterval > 0",
    );
  }
  if (!Number.isSafeInteger(termFloor) || termFloor < 0) {
    throw new MastershipError("INVALID_ARGUMENT", "termFloor must be a whole number ≥ 0");
  }
  /** When the recent balancing moves happened (within `moveInterval`). */
  let moveTimes: number[] = [];
  let delayedBalance: Subscription | undefined;
  const membership = options.membership;
  const keys = new Map<K, KeyState>();
  const mastered = new Map<NodeId, Set<K>>();
  const views = new Map<NodeId, EmbeddedView<K>>();
  const inactive = new Set<NodeId>();
  const rebalanceTimers = new Map<NodeId, Subscription>();
  let pendingBalance: Subscription | undefined;
  let closed = false;

  if (membership !== undefined) {
    for (const node of membership.nodes()) {
      if (membership.state(node.id) === "INACTIVE") inactive.add(node.id);
    }
  }
  const membershipSubscription = membership?.events$.subscribe((event) => onMembership(event));

  const isActive = (node: NodeId): boolean => !inactive.has(node) && views.has(node);

  function onMembership(event: MembershipEvent): void {
    switch (event.type) {
      case "NODE_INACTIVE": {
        inactive.add(event.node);
        rebalanceTimers.get(event.node)?.unsubscribe();
        rebalanceTimers.delete(event.node);
        for (const [key, state] of keys) {
          const at = state.candidates.indexOf(event.node);
          if (at < 0) continue;
          state.candidates.splice(at, 1);
          state.candidates.push(event.node);
          recompute(key, state);
        }
        scheduleBalance(balanceDelay);
        return;
      }
      case "NODE_ACTIVE": {
        inactive.delete(event.node);
        for (const [key, state] of keys) {
          if (state.candidates.includes(event.node)) recompute(key, state);
        }
        rebalanceTimers.get(event.node)?.unsubscribe();
        rebalanceTimers.set(
          event.node,
          scheduler.schedule(() => {
            rebalanceTimers.delete(event.node);
            balanceNow();
          }, rebalanceDelay),
        );
        return;
      }
      default: {
        const unexpected: never = event;
        throw new Error(`unexpected membership event ${JSON.stringify(unexpected)}`);
      }
    }
  }

  /** Recomputes `key`'s info from its candidates and tells every view what changed. */
  function recompute(key: K, state: KeyState): void {
    const live = state.candidates.filter(isActive);
    const before = state.info;
    const master = live[0];
    const term = master !== undefined && master !== before.master ? before.term + 1 : before.term;
    const after: ReplicaInfo = { term, master, backups: live.slice(1) };
    state.info = after;
    if (before.master !== after.master) {
      if (before.master !== undefined) mastered.get(before.master)?.delete(key);
      if (after.master !== undefined) {
        const set = mastered.get(after.master) ?? new Set<K>();
        mastered.set(after.master, set);
        set.add(key);
      }
    }
    for (const view of views.values()) view.notify(key, before, after);
  }

  function scheduleBalance(delay: number): void {
    if (closed || pendingBalance !== undefined) return;
    pendingBalance = scheduler.schedule(() => {
      pendingBalance = undefined;
      balanceNow();
    }, delay);
  }

  function moveTo(state: KeyState, node: NodeId, index: number): void {
    const at = state.candidates.indexOf(node);
    if (at < 0) throw new Error(`invariant: ${node} is not a candidate`);
    state.candidates.splice(at, 1);
    state.candidates.splice(index, 0, node);
  }

  /**
   * `owned` with the keys whose current term is active first: moving a key whose new master
   * is still synchronizing (decoding a table loaded from disk, pulling buckets) would throw
   * that work away and make the next master start it over.
   */
  function* movableFirst(owned: Iterable<K> | undefined): Generator<K> {
    // Lazily: the caller stops at the first key it can move (an active one, usually).
    const activating: K[] = [];
    for (const key of owned ?? []) {
      const state = keys.get(key);
      if (state !== undefined && state.activeTerm === state.info.term) yield key;
      else activating.push(key);
    }
    yield* activating;
  }

  /** Moves masters from the busiest to the idlest nodes, then spreads first backups. */
  function balanceNow(): void {
    if (closed) return;
    const group = new Set<NodeId>();
    // A node that came back is left out until its rebalance delay has passed.
    for (const state of keys.values()) {
      for (const node of state.candidates)
        if (isActive(node) && !rebalanceTimers.has(node)) group.add(node);
    }
    const count = (node: NodeId): number => mastered.get(node)?.size ?? 0;
    const now = scheduler.now();
    moveTimes = moveTimes.filter((at) => at > now - moveInterval);
    // Phase 1: masters. Each move lowers the sum of squared counts, so the loop ends.
    for (let moves = 0; moves <= keys.size; moves++) {
      if (moveTimes.length >= maxMoves) {
        // Out of moves for now: the pass after the window makes room plans afresh.
        delayedBalance?.unsubscribe();
        delayedBalance = scheduler.schedule(
          () => {
            delayedBalance = undefined;
            balanceNow();
          },
          Math.max(0, (moveTimes[0] ?? now) + moveInterval - now),
        );
        break;
      }
      const ordered = [...group].sort((a, b) => count(a) - count(b) || (a < b ? -1 : 1));
      let moved = false;
      search: for (const low of ordered) {
        for (const high of [...ordered].reverse()) {
          if (count(high) - count(low) < 2) break;
          for (const key of movableFirst(mastered.get(high))) {
            const state = keys.get(key);
            if (state === undefined || !state.candidates.includes(low)) continue;
            moveTo(state, low, 0);
            recompute(key, state);
            moveTimes.push(now);
            moved = true;
            break search;
          }
        }
      }
      if (!moved) break;
    }
    // Phase 2: for each master, spread the first backups of its keys over the other nodes,
    // so that its failure does not pile all its keys onto one node.
    for (const master of group) {
      const firsts = new Map<NodeId, K[]>();
      for (const node of group) if (node !== master) firsts.set(node, []);
      for (const key of mastered.get(master) ?? []) {
        const first = keys.get(key)?.info.backups[0];
        if (first !== undefined) firsts.get(first)?.push(key);
      }
      const size = (node: NodeId): number => firsts.get(node)?.length ?? 0;
      for (let moves = 0; moves <= keys.size; moves++) {
        const ordered = [...firsts.keys()].sort((a, b) => size(a) - size(b) || (a < b ? -1 : 1));
        let moved = false;
        search: for (const low of ordered) {
          for (const high of [...ordered].reverse()) {
            if (size(high) - size(low) < 2) break;
            const list = firsts.get(high) ?? [];
            for (let i = 0; i < list.length; i++) {
              const key = list[i] as K;
              const state = keys.get(key);
              if (state === undefined || !state.candidates.includes(low)) continue;
              moveTo(state, low, state.candidates.indexOf(master) + 1);
              recompute(key, state);
              list.splice(i, 1);
              firsts.get(low)?.push(key);
              moved = true;
              break search;
            }
          }
        }
        if (!moved) break;
      }
    }
  }

  const coordinator: Coordinator<K> = {
    info: (key) => keys.get(key)?.info ?? NO_REPLICA_INFO,
    keys: () => [...keys].filter(([, state]) => state.candidates.length > 0).map(([key]) => key),
    mastersOf: (node) => [...(mastered.get(node) ?? [])],
    request(node, key) {
      let state = keys.get(key);
      if (state === undefined) {
        state = {
          candidates: [],
          info: { ...NO_REPLICA_INFO, term: Math.max(NO_REPLICA_INFO.term, termFloor) },
          activeTerm: undefined,
        };
        keys.set(key, state);
      }
      if (!state.candidates.includes(node)) {
        // A new (live) candidate goes behind the live ones but ahead of inactive ones, so a
        // node that comes back later — with an empty memory — never jumps ahead of it.
        const firstInactive = state.candidates.findIndex((candidate) => !isActive(candidate));
        if (isActive(node) && firstInactive >= 0) state.candidates.splice(firstInactive, 0, node);
        else state.candidates.push(node);
        recompute(key, state);
        scheduleBalance(balanceDelay);
      }
      return state.info;
    },
    relinquish(node, key) {
      const state = keys.get(key);
      if (state === undefined) return;
      const at = state.candidates.indexOf(node);
      if (at < 0) return;
      state.candidates.splice(at, 1);
      recompute(key, state);
      scheduleBalance(balanceDelay);
    },
    balance: balanceNow,
    activate(node, key, term) {
      const state = keys.get(key);
      if (state === undefined || state.info.term !== term || state.info.master !== node)
        return false;
      if (state.activeTerm === term) return true;
      state.activeTerm = term;
      for (const view of views.values()) view.activated({ key, term });
      return true;
    },
    activeTerm: (key) => keys.get(key)?.activeTerm,
    isInactive: (node) => inactive.has(node),
    leave(node) {
      const view = views.get(node);
      if (view === undefined) return;
      views.delete(node);
      for (const [key, state] of keys) {
        const at = state.candidates.indexOf(node);
        if (at < 0) continue;
        state.candidates.splice(at, 1);
        recompute(key, state);
      }
      scheduleBalance(balanceDelay);
    },
  };

  return {
    forNode(node, viewOptions = {}) {
      if (closed) throw new MastershipError("CLOSED", "the embedded coordinator is closed");
      const existing = views.get(node);
      if (existing !== undefined) return existing;
      const backupCount = viewOptions.backupCount ?? Number.POSITIVE_INFINITY;
      if (!(backupCount >= 0))
        throw new MastershipError("INVALID_ARGUMENT", `backupCount ${backupCount} < 0`);
      const view = new EmbeddedView<K>(node, backupCount, coordinator);
      views.set(node, view);
      // A node that opens its view is a live candidate again wherever it still is one.
      for (const [key, state] of keys) if (state.candidates.includes(node)) recompute(key, state);
      return view;
    },
    mastership: (key) => keys.get(key)?.info ?? NO_REPLICA_INFO,
    close() {
      if (closed) return;
      for (const view of [...views.values()]) view.closeNow();
      closed = true;
      membershipSubscription?.unsubscribe();
      pendingBalance?.unsubscribe();
      delayedBalance?.unsubscribe();
      for (const timer of rebalanceTimers.values()) timer.unsubscribe();
      rebalanceTimers.clear();
    },
  };
}
