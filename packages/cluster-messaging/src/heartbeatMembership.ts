import { interval, type Observable, type SchedulerLike, Subject, type Subscription } from "rxjs";
import type { Link } from "./link.js";
import type { Logger } from "./logger.js";
import type { ClusterMembership, MembershipEvent, NodeState } from "./membership.js";
import type { ControllerNode, NodeId } from "./node.js";
import {
  type FailureDetectorOptions,
  PhiAccrualFailureDetector,
} from "./phiAccrualFailureDetector.js";

/** A local tick this many intervals late means the local event loop stalled. */
const STALL_FACTOR = 2;

/** What a {@link HeartbeatMembership} needs around it. */
export interface HeartbeatMembershipOptions {
  readonly localNode: ControllerNode;
  readonly nodes: readonly ControllerNode[];
  readonly links: (peer: NodeId) => Link | undefined;
  readonly scheduler: SchedulerLike;
  readonly logger: Logger;
  readonly failureDetector: FailureDetectorOptions;
}

/**
 * Membership from heartbeats: every interval the node sends a heartbeat to each peer it has
 * a link to and asks each peer's phi-accrual detector whether that peer is still alive.
 *
 * @remarks Peers start INACTIVE and turn ACTIVE at their first heartbeat. A peer turns
 * INACTIVE when its φ reaches the threshold; its history is then forgotten, so its next
 * heartbeat starts a new life. When the local tick itself comes late (the local event loop
 * stalled, so peers' heartbeats are still queued unread), that tick convicts nobody.
 *
 * A peer whose connection closed and whose address then refuses a new one is convicted at
 * once ({@link HeartbeatMembership.refused}): a refused connection is proof that no process
 * listens there any more (killed, crashed, stopped), which φ can only guess at after a
 * while. A peer that merely goes silent (stopped, partitioned, paused) refuses nothing and
 * is still judged by φ.
 */
export class HeartbeatMembership implements ClusterMembership {
  readonly localNode: ControllerNode;
  readonly events$: Observable<MembershipEvent>;
  readonly #options: HeartbeatMembershipOptions;
  readonly #events = new Subject<MembershipEvent>();
  readonly #peers = new Map<NodeId, { state: NodeState; detector: PhiAccrualFailureDetector }>();
  #ticks: Subscription | undefined;
  #lastTick = 0;

  constructor(options: HeartbeatMembershipOptions) {
    this.#options = options;
    this.localNode = options.localNode;
    this.events$ = this.#events.asObservable();
    for (const node of options.nodes) {
      if (node.id === options.localNode.id) continue;
      this.#peers.set(node.id, {
        state: "INACTIVE",
        detector: new PhiAccrualFailureDetector(options.failureDetector),
      });
    }
  }

  nodes(): readonly ControllerNode[] {
    return this.#options.nodes;
  }

  state(node: NodeId): NodeState {
    if (node === this.localNode.id) return "ACTIVE";
    return this.#peers.get(node)?.state ?? "INACTIVE";
  }

  /** The current suspicion level of `node` (0 for the local node or an unknown one). */
  phi(node: NodeId): number {
    return this.#peers.get(node)?.detector.phi(this.#options.scheduler.now()) ?? 0;
  }

  /** Starts sending heartbeats and checking peers. */
  start(): void {
    if (this.#ticks !== undefined || this.#events.closed) return;
    const { scheduler, failureDetector } = this.#options;
    this.#lastTick = scheduler.now();
    this.#sendHeartbeats();
    this.#ticks = interval(failureDetector.heartbeatIntervalMs, scheduler).subscribe(() =>
      this.#tick(),
    );
  }

  /** Records a heartbeat from `node`. */
  heartbeat(node: NodeId): void {
    const peer = this.#peers.get(node);
    if (peer === undefined || this.#events.closed) return;
    peer.detector.heartbeat(this.#options.scheduler.now());
    if (peer.state === "INACTIVE") {
      peer.state = "ACTIVE";
      this.#options.logger.info("node active", { node });
      this.#events.next({ type: "NODE_ACTIVE", node });
    }
  }

  /**
   * A connection to `node` was refused. If `node` counts as active but no link to it is
   * open any more (its connection closed), it is convicted now. While a link is still open
   * (the refusal raced a reconnect) nothing happens.
   */
  refused(node: NodeId): void {
    const peer = this.#peers.get(node);
    if (peer === undefined || peer.state !== "ACTIVE" || this.#events.closed) return;
    if (this.#options.links(node) !== undefined) return;
    peer.state = "INACTIVE";
    peer.detector.reset();
    this.#options.logger.warn("node inactive", { node, reason: "connection refused" });
    this.#events.next({ type: "NODE_INACTIVE", node });
  }

  /** Stops the heartbeats and completes `events$`. */
  close(): void {
    this.#ticks?.unsubscribe();
    this.#ticks = undefined;
    this.#events.complete();
  }

  #tick(): void {
    const { scheduler, failureDetector, logger } = this.#options;
    const now = scheduler.now();
    const gap = now - this.#lastTick;
    const stalled = gap > STALL_FACTOR * failureDetector.heartbeatIntervalMs;
    this.#lastTick = now;
    this.#sendHeartbeats();
    if (stalled) {
      logger.info("local event loop stalled; no node convicted this tick", {
        sinceLastTickMs: gap,
      });
      return;
    }
    for (const [node, peer] of this.#peers) {
      if (peer.state !== "ACTIVE") continue;
      const phi = peer.detector.phi(now);
      if (phi < failureDetector.phiThreshold) continue;
      peer.state = "INACTIVE";
      peer.detector.reset();
      logger.warn("node inactive", { node, phi: Math.round(phi * 10) / 10 });
      this.#events.next({ type: "NODE_INACTIVE", node });
    }
  }

  #sendHeartbeats(): void {
    for (const node of this.#peers.keys()) this.#options.links(node)?.heartbeat();
  }
}
