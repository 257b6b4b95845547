import type { SchedulerLike, Subscription } from "rxjs";
import type { ClusterConfig } from "./clusterConfig.js";
import { type ClusterNode, type ClusterNodeOptions, startClusterNode } from "./clusterNode.js";
import type { ReplyStatus } from "./frame.js";
import type { Link, LinkHandler, Transport } from "./link.js";
import { MessagingError } from "./messagingError.js";
import { type ControllerNode, type NodeId, nodeId } from "./node.js";
import { createRandom, type Random } from "./random.js";

/** How a simulated link treats the messages on it. */
export interface LinkConditions {
  /** Fixed delay of every message. */
  readonly delayMs: number;
  /** Extra delay drawn uniformly from [0, jitterMs); order on a link is kept. */
  readonly jitterMs: number;
  /** Probability in [0, 1] that a message is lost. */
  readonly dropRate: number;
}

/** Options of {@link createMemoryNetwork}. */
export interface MemoryNetworkOptions
  extends Omit<ClusterNodeOptions, "config" | "local" | "scheduler"> {
  /** Cluster name (default `memory`). */
  readonly name?: string;
  /** The members' ids. */
  readonly nodes: readonly string[];
  /** Drives every delay and timer; a virtual-time scheduler makes runs deterministic. */
  readonly scheduler: SchedulerLike;
  /** Seed of the random source of drops and jitter (default 1). */
  readonly seed?: number;
  /** Conditions of every link not set otherwise (default 1 ms delay, no jitter, no loss). */
  readonly link?: Partial<LinkConditions>;
}

/**
 * A simulated network of cluster nodes in one process, with the same node API as TCP and
 * faults on demand: per-link delay, jitter and loss, partitions, crashes and restarts.
 *
 * @remarks Everything that happens is driven by the injected scheduler and the seeded random
 * source, so with a virtual-time scheduler a run of several nodes is deterministic and a
 * failing seed replays exactly. A crash looks like a reset connection to the survivors
 * (requests in flight to the crashed node fail `UNREACHABLE`); a partition is silent
 * (messages are lost, requests time out, the failure detector convicts).
 */
export interface MemoryNetwork {
  readonly config: ClusterConfig;
  /** Starts (or restarts after a crash) node `id`. */
  start(id: NodeId): Promise<ClusterNode>;
  /** The running node `id`, if any. */
  node(id: NodeId): ClusterNode | undefined;
  /** Kills node `id` at once: what it had in flight is lost. */
  crash(id: NodeId): Promise<void>;
  /** Sets the conditions of the link from `from` to `to` (one direction). */
  setLink(from: NodeId, to: NodeId, conditions: Partial<LinkConditions>): void;
  /** Splits the nodes into groups that cannot reach each other; unlisted nodes form one more group. */
  partition(...groups: readonly (readonly NodeId[])[]): void;
  /** Removes every partition. */
  heal(): void;
  /** Closes every running node. */
  close(): Promise<void>;
}

/** A {@link MemoryNetwork} over `options.nodes`. */
export function createMemoryNetwork(options: MemoryNetworkOptions): MemoryNetwork {
  return new SimulatedNetwork(options);
}

const DEFAULT_LINK: LinkConditions = { delayMs: 1, jitterMs: 0, dropRate: 0 };

class SimulatedNetwork implements MemoryNetwork {
  readonly config: ClusterConfig;
  readonly #options: MemoryNetworkOptions;
  readonly #scheduler: SchedulerLike;
  readonly #random: Random;
  readonly #defaultLink: LinkConditions;
  readonly #links = new Map<string, LinkConditions>();
  readonly #lastArrival = new Map<string, number>();
  readonly #transports = new Map<NodeId, MemoryTransport>();
  readonly #nodes = new Map<NodeId, ClusterNode>();
  #groups = new Map<NodeId, number>();

  constructor(options: MemoryNetworkOptions) {
    this.#options = options;
    this.#scheduler = options.scheduler;
    this.#random = createRandom(options.seed ?? 1);
    this.#defaultLink = { ...DEFAULT_LINK, ...options.link };
    const nodes: ControllerNode[] = options.nodes.map((id, index) => ({
      id: nodeId(id),
      host: "memory",
      port: index + 1,
    }));
    this.config = { name: options.name ?? "memory", nodes };
  }

  async start(id: NodeId): Promise<ClusterNode> {
    if (this.#nodes.has(id))
      throw new MessagingError("INVALID_ARGUMENT", `node ${id} is already running`);
    const transport = new MemoryTransport(this, id);
    const { name: _name, nodes: _nodes, seed: _seed, link: _link, ...nodeOptions } = this.#options;
    const node = await startClusterNode(transport, {
      ...nodeOptions,
      config: this.config,
      local: id,
    });
    this.#nodes.set(id, node);
    return node;
  }

  node(id: NodeId): ClusterNode | undefined {
    return this.#nodes.get(id);
  }

  async crash(id: NodeId): Promise<void> {
    const node = this.#nodes.get(id);
    if (node === undefined) return;
    this.#nodes.delete(id);
    await node.close();
  }

  setLink(from: NodeId, to: NodeId, conditions: Partial<LinkConditions>): void {
    const current = this.#links.get(linkKey(from, to)) ?? this.#defaultLink;
    this.#links.set(linkKey(from, to), { ...current, ...conditions });
  }

  partition(...groups: readonly (readonly NodeId[])[]): void {
    this.#groups = new Map();
    groups.forEach((group, index) => {
      for (const id of group) this.#groups.set(id, index + 1);
    });
  }

  heal(): void {
    this.#groups = new Map();
  }

  async close(): Promise<void> {
    const nodes = [...this.#nodes.values()];
    this.#nodes.clear();
    await Promise.all(nodes.map((node) => node.close()));
  }

  // ---- used by the transports ---------------------------------------------------------

  attach(transport: MemoryTransport): void {
    this.#transports.set(transport.local, transport);
  }

  detach(transport: MemoryTransport): void {
    if (this.#transports.get(transport.local) !== transport) return;
    this.#transports.delete(transport.local);
    // Survivors notice the reset connection.
    for (const other of this.#transports.values()) other.peerGone(transport.local);
  }

  running(id: NodeId): MemoryTransport | undefined {
    return this.#transports.get(id);
  }

  /** Carries `deliver` from `from` to `to` under the link's conditions. */
  send(from: MemoryTransport, to: NodeId, deliver: (target: MemoryTransport) => void): void {
    const target = this.#transports.get(to);
    if (target === undefined || this.#transports.get(from.local) !== from) return;
    if ((this.#groups.get(from.local) ?? 0) !== (this.#groups.get(to) ?? 0)) return;
    const key = linkKey(from.local, to);
    const conditions = this.#links.get(key) ?? this.#defaultLink;
    if (conditions.dropRate > 0 && this.#random() < conditions.dropRate) return;
    const jitter = conditions.jitterMs > 0 ? this.#random() * conditions.jitterMs : 0;
    const now = this.#scheduler.now();
    // Keep the order of a link, as TCP does.
    const arrival = Math.max(now + conditions.delayMs + jitter, this.#lastArrival.get(key) ?? 0);
    this.#lastArrival.set(key, arrival);
    const delivery = this.#scheduler.schedule(() => {
      target.inFlight.delete(delivery);
      if (this.#transports.get(to) === target) deliver(target);
    }, arrival - now);
    target.inFlight.add(delivery);
  }
}

/** One node's view of the simulated network. */
class MemoryTransport implements Transport {
  readonly local: NodeId;
  /** Deliveries scheduled to this node; cancelled when it stops. */
  readonly inFlight = new Set<Subscription>();
  readonly #network: SimulatedNetwork;
  readonly #links = new Map<NodeId, MemoryLink>();
  #handler: LinkHandler | undefined;

  constructor(network: SimulatedNetwork, local: NodeId) {
    this.#network = network;
    this.local = local;
  }

  get handler(): LinkHandler | undefined {
    return this.#handler;
  }

  async start(handler: LinkHandler): Promise<void> {
    this.#handler = handler;
    this.#network.attach(this);
  }

  link(peer: NodeId): Link | undefined {
    if (this.#handler === undefined || this.#network.running(peer) === undefined) return undefined;
    return this.linkTo(peer);
  }

  /** The link to `peer`, whether or not it is running. */
  linkTo(peer: NodeId): MemoryLink {
    let link = this.#links.get(peer);
    if (link === undefined) {
      link = new MemoryLink(this.#network, this, peer);
      this.#links.set(peer, link);
    }
    return link;
  }

  peerGone(peer: NodeId): void {
    const link = this.#links.get(peer);
    if (link === undefined) return;
    this.#links.delete(peer);
    this.#handler?.linkDown(link);
  }

  async close(): Promise<void> {
    this.#network.detach(this);
    this.#handler = undefined;
    this.#links.clear();
    for (const delivery of this.inFlight) delivery.unsubscribe();
    this.inFlight.clear();
  }
}

/** A direction of the simulated network, from one transport to a peer. */
class MemoryLink implements Link {
  constructor(
    private readonly network: SimulatedNetwork,
    private readonly from: MemoryTransport,
    readonly peer: NodeId,
  ) {}

  oneWay(subject: string, payload: Uint8Array): void {
    const copy = payload.slice();
    this.#send((target, back) => target.oneWay(back, subject, copy));
  }

  request(id: number, subject: string, payload: Uint8Array): void {
    const copy = payload.slice();
    this.#send((target, back) => target.request(back, id, subject, copy));
  }

  reply(id: number, status: ReplyStatus, payload: Uint8Array): void {
    const copy = payload.slice();
    this.#send((target, back) => target.reply(back, id, status, copy));
  }

  heartbeat(): void {
    this.#send((target, back) => target.heartbeat(back));
  }

  #send(deliver: (handler: LinkHandler, back: Link) => void): void {
    const from = this.from.local;
    this.network.send(this.from, this.peer, (target) => {
      const handler = target.handler;
      if (handler !== undefined) deliver(handler, target.linkTo(from));
    });
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}→${to}`;
}
