import { nodeId as asNodeId } from "@flowstore/cluster-messaging";
import type { EcFlowRuleStore } from "@flowstore/ec-flow-store";
import type { DeviceId } from "@flowstore/flow-bucket";
import type { ApplicationRegistry, Mastership, ReplicaInfo } from "@flowstore/mastership";
import { interval, Subscription } from "rxjs";
import type { DeviceFleet } from "../deviceSimulator.js";
import { localNode, NodeSampler, registerLocalNode } from "./nodeFigures.js";
import type {
  ConsoleDevice,
  ConsoleEvent,
  ConsoleNode,
  ConsoleSnapshot,
  ConsoleTermState,
  MetricsSample,
  TermChange,
} from "./protocol.js";

/** A cluster member as the node's cluster view reports it. */
export interface ClusterMember {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly status: "ACTIVE" | "INACTIVE";
}

/** What the console reads from its node: the objects the REST API serves. */
export interface ConsoleContext {
  readonly nodeId: string;
  readonly store: EcFlowRuleStore;
  readonly mastership: Mastership<DeviceId>;
  readonly fleet: DeviceFleet;
  readonly cluster: { nodes(): readonly ClusterMember[] };
  /** Application names of the ids in flow rules, when the node keeps them. */
  readonly applications?: Pick<ApplicationRegistry, "idOf" | "nameOf"> | undefined;
  /** `--local` only: crash or restore a node of the process. */
  readonly admin?:
    | {
        stop(node: string): Promise<void>;
        start(node: string): Promise<void>;
        /** Stops a node as a crash would (no hand-over), when the node offers it. */
        crash?(node: string): Promise<void>;
      }
    | undefined;
}

/** Options of {@link ConsoleHub} (periods in ms). */
export interface ConsoleHubOptions {
  /** How often device rows are compared and changed ones pushed (default 250). */
  readonly devicePeriod?: number;
  /** How often figures are sampled and node rows pushed (default 1000). */
  readonly metricsPeriod?: number;
  /** Term changes kept (default 500). */
  readonly timelineSize?: number;
  /** Samples kept (default 600: ten minutes). */
  readonly historySize?: number;
  readonly now?: () => number;
}

type Listener = (event: ConsoleEvent) => void;

/**
 * The live state of one node's console: nodes, devices, the term timeline and a few minutes
 * of figures, kept from the node's streams and pushed to every page that listens.
 *
 * @remarks Mastership changes and term activations are pushed as they happen; device rows
 * (flow counts change with every write) are compared every `devicePeriod` and only changed
 * rows are sent; figures once a second. Nothing is polled per device by the page.
 */
export class ConsoleHub {
  readonly #context: ConsoleContext;
  readonly #listeners = new Set<Listener>();
  readonly #subscription = new Subscription();
  readonly #sampler: NodeSampler;
  readonly #unregister: () => void;
  readonly #now: () => number;
  readonly #timelineSize: number;
  readonly #historySize: number;
  readonly #timeline: TermChange[] = [];
  readonly #history: MetricsSample[] = [];
  /** The last master (and its term) of each device, to know where a master moved from. */
  readonly #masters = new Map<string, { master: string; term: number }>();
  readonly #failovers = new Map<string, number>();
  readonly #rows = new Map<string, string>();
  #nodes = "";
  #closed = false;

  constructor(context: ConsoleContext, options: ConsoleHubOptions = {}) {
    this.#context = context;
    this.#now = options.now ?? Date.now;
    this.#timelineSize = options.timelineSize ?? 500;
    this.#historySize = options.historySize ?? 600;
    this.#sampler = new NodeSampler(context.store);
    this.#unregister = registerLocalNode(context.nodeId, this.#sampler);
    const { mastership } = context;
    for (const device of context.fleet.ids()) {
      const info = mastership.mastership(device);
      if (info.master !== undefined)
        this.#masters.set(device, { master: info.master, term: info.term });
    }
    this.#subscription.add(
      mastership.events$.subscribe((event) => {
        if (event.type === "MASTER_CHANGED") this.#onTermStart(event.key, event.info);
        this.#pushDevices([event.key]);
      }),
    );
    this.#subscription.add(
      mastership.activations$.subscribe((activation) => {
        this.#onActivation(activation.key, activation.term);
        this.#pushDevices([activation.key]);
      }),
    );
    this.#subscription.add(
      interval(options.devicePeriod ?? 250).subscribe(() => this.#pushDevices()),
    );
    this.#subscription.add(interval(options.metricsPeriod ?? 1000).subscribe(() => this.#tick()));
    this.#sampler.sample(this.#now());
  }

  /** Everything the page shows now. */
  snapshot(): ConsoleSnapshot {
    return {
      self: this.#context.nodeId,
      admin: this.#context.admin !== undefined,
      adminActions: adminActions(this.#context.admin),
      serverTime: this.#now(),
      nodes: this.nodes(),
      devices: this.devices(),
      timeline: [...this.#timeline],
      history: [...this.#history],
    };
  }

  /** Calls `listener` with every event from now on; the returned function stops it. */
  listen(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The cluster members with status, mastered devices and figures. */
  nodes(): ConsoleNode[] {
    const { cluster, mastership, nodeId } = this.#context;
    return cluster.nodes().map((member) => {
      const masters = mastership.mastersOf(asNodeId(member.id)).length;
      const status =
        member.status === "ACTIVE" ? "ACTIVE" : masters > 0 ? "SUSPECTED" : ("DOWN" as const);
      return {
        id: member.id,
        host: member.host,
        port: member.port,
        status,
        self: member.id === nodeId,
        masters,
        figures: localNode(member.id)?.latest ?? null,
      };
    });
  }

  /** Every device's row. */
  devices(): ConsoleDevice[] {
    return this.#context.fleet.ids().map((id) => this.device(id));
  }

  /** One device's row. */
  device(id: DeviceId): ConsoleDevice {
    const { mastership, store, fleet, nodeId } = this.#context;
    const info = mastership.mastership(id);
    const active = mastership.activeTerm(id);
    const table = store.localTable(id);
    const copy =
      table === undefined
        ? ("none" as const)
        : info.master === nodeId
          ? ("master" as const)
          : info.backups.some((backup) => backup === nodeId)
            ? ("backup" as const)
            : ("none" as const);
    return {
      id,
      available: fleet.get(id)?.available ?? false,
      master: info.master ?? null,
      backups: [...info.backups],
      term: info.term,
      activeTerm: active ?? null,
      termState: termState(info, active),
      counts: table === undefined ? null : store.flowStateCounts(id),
      copy,
      lastFailoverAt: this.#failovers.get(id) ?? null,
    };
  }

  /** Stops listening to the node and drops every page's listener. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscription.unsubscribe();
    this.#sampler.close();
    this.#unregister();
    this.#listeners.clear();
  }

  #emit(event: ConsoleEvent): void {
    for (const listener of [...this.#listeners]) listener(event);
  }

  #onTermStart(device: string, info: ReplicaInfo): void {
    // A device may be without a master for a moment between two masters: the move is from
    // the last node that had it.
    if (info.master === undefined) return;
    const before = this.#masters.get(device);
    this.#masters.set(device, { master: info.master, term: info.term });
    const previousMaster = before?.master ?? null;
    const moved = previousMaster !== null && previousMaster !== info.master;
    const now = this.#now();
    // A failover: the master moved off a node that is not running (any more). A node that
    // stops gracefully hands its devices over first, while it still runs.
    const previous = this.#context.cluster.nodes().find((n) => n.id === previousMaster);
    const failover = moved && previous?.status !== "ACTIVE";
    if (failover) this.#failovers.set(device, now);
    const active = this.#context.mastership.activeTerm(device as DeviceId);
    const change: TermChange = {
      device,
      term: info.term,
      master: info.master,
      previousMaster,
      previousTerm: before?.term ?? null,
      failover,
      startedAt: now,
      activatedAt: active === info.term ? now : null,
      supersededAt: null,
    };
    // The device's earlier terms that never became active never will.
    for (let i = this.#timeline.length - 1; i >= 0; i--) {
      const earlier = this.#timeline[i]!;
      if (
        earlier.device !== device ||
        earlier.activatedAt !== null ||
        earlier.supersededAt !== null
      )
        continue;
      const superseded = { ...earlier, supersededAt: now };
      this.#timeline[i] = superseded;
      this.#emit({ type: "term", change: superseded });
    }
    this.#timeline.push(change);
    if (this.#timeline.length > this.#timelineSize) this.#timeline.shift();
    this.#emit({ type: "term", change });
  }

  #onActivation(device: string, term: number): void {
    for (let i = this.#timeline.length - 1; i >= 0; i--) {
      const change = this.#timeline[i]!;
      if (change.device !== device || change.term !== term) continue;
      if (change.activatedAt !== null) return;
      const activated = { ...change, activatedAt: this.#now() };
      this.#timeline[i] = activated;
      this.#emit({ type: "term", change: activated });
      return;
    }
  }

  #pushDevices(only?: readonly string[]): void {
    // Nobody watching: nothing to compare (a new page starts from a snapshot).
    if (this.#closed || this.#listeners.size === 0) return;
    const ids = only ?? this.#context.fleet.ids();
    const changed: ConsoleDevice[] = [];
    for (const id of ids) {
      const row = this.device(id as DeviceId);
      const text = JSON.stringify(row);
      if (this.#rows.get(id) === text) continue;
      this.#rows.set(id, text);
      changed.push(row);
    }
    if (changed.length > 0) this.#emit({ type: "devices", devices: changed });
  }

  #tick(): void {
    if (this.#closed) return;
    const now = this.#now();
    this.#sampler.sample(now);
    const nodes = this.nodes();
    const figures: Record<string, (typeof nodes)[number]["figures"] & object> = {};
    for (const node of nodes) if (node.figures !== null) figures[node.id] = node.figures;
    const sample: MetricsSample = { t: now, nodes: figures };
    this.#history.push(sample);
    if (this.#history.length > this.#historySize) this.#history.shift();
    if (this.#listeners.size === 0) return;
    this.#emit({ type: "metrics", sample });
    const text = JSON.stringify(nodes);
    if (text !== this.#nodes) {
      this.#nodes = text;
      this.#emit({ type: "nodes", nodes });
    }
  }
}

/** Where the device's current term is, from its replica info and newest active term. */
export function termState(info: ReplicaInfo, activeTerm: number | undefined): ConsoleTermState {
  if (info.master === undefined) return "NONE";
  if (activeTerm === info.term) return "ACTIVE";
  return "SYNCHRONIZING";
}

/** What the page may do to nodes with `admin`. */
export function adminActions(admin: ConsoleContext["admin"]): ("stop" | "start" | "crash")[] {
  if (admin === undefined) return [];
  return typeof admin.crash === "function" ? ["stop", "start", "crash"] : ["stop", "start"];
}
