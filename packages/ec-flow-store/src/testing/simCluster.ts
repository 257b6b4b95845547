import {
  type ClusterNode,
  createMemoryNetwork,
  type MemoryNetwork,
  type NodeId,
  nodeId,
  noopLogger,
} from "@flowstore/cluster-messaging";
import {
  applicationId,
  createFlowRule,
  type DeviceId,
  deviceId,
  type FlowRule,
} from "@flowstore/flow-bucket";
import { createEmbeddedCoordinator, type EmbeddedCoordinator } from "@flowstore/mastership";
import { Subject, VirtualTimeScheduler } from "rxjs";
import type { StoreConfigInput } from "../config.js";
import { EcFlowRuleStore } from "../ecFlowRuleStore.js";
import type { FlowStoreEvent } from "../flowStoreEvent.js";
import { fromClusterMessaging, type StoreMessaging } from "../storeMessaging.js";

/**
 * Several stores in one process on the cluster's in-memory network, an embedded
 * coordinator, and virtual time: what the unit and simulation tests run on.
 */
export interface SimCluster {
  readonly scheduler: VirtualTimeScheduler;
  readonly network: MemoryNetwork;
  readonly coordinator: EmbeddedCoordinator<DeviceId>;
  readonly nodes: readonly NodeId[];
  readonly stores: Map<NodeId, EcFlowRuleStore>;
  readonly events: Map<NodeId, FlowStoreEvent[]>;
  /** Nodes the coordinator takes for alive (crash/restart move them). */
  readonly alive: Set<NodeId>;
  store(node: NodeId): EcFlowRuleStore;
  /** `node`'s store messaging: to speak the store's protocol to other nodes directly. */
  messaging(node: NodeId): StoreMessaging;
  /** Advances virtual time by `ms`, letting promises settle every `step` ms. */
  advance(ms: number, step?: number): Promise<void>;
  /** Runs virtual time until `promise` settles (at most `limitMs`), and returns its result. */
  run<T>(promise: Promise<T>, limitMs?: number): Promise<T>;
  /** Kills `node`: its store and cluster node stop, the coordinator fails its devices over. */
  crash(node: NodeId): Promise<void>;
  /** Starts `node` again with an empty store, as a restarted process. */
  restart(node: NodeId): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startSimCluster}. */
export interface SimClusterOptions {
  readonly config?: StoreConfigInput;
  readonly seed?: number;
  /** How long a returning node waits before it gets masterships back (default 400 ms). */
  readonly rebalanceDelay?: number;
  /** Whether a device is connected (default: all are). */
  readonly isDeviceAvailable?: (device: DeviceId) => boolean;
  /** Called with each store as it starts (for logs in simulations). */
  readonly onStore?: (node: NodeId, store: EcFlowRuleStore) => void;
  readonly log?: (node: NodeId) => import("../logger.js").Logger;
  /** Each node's persistence, asked at every (re)start: a restarted node loads what it returns. */
  readonly persistence?: (node: NodeId) => import("../persistence.js").StorePersistenceOptions;
}

/** Starts `size` nodes `n1…` and makes every one a candidate for `devices`. */
export async function startSimCluster(
  size: number,
  devices: readonly DeviceId[],
  options: SimClusterOptions = {},
): Promise<SimCluster> {
  const scheduler = new VirtualTimeScheduler();
  const nodes = Array.from({ length: size }, (_, i) => nodeId(`n${i + 1}`));
  const network = createMemoryNetwork({
    nodes,
    scheduler,
    seed: options.seed ?? 1,
    logger: noopLogger,
    failureDetector: { heartbeatIntervalMs: 100, acceptablePauseMs: 300, minStdDeviationMs: 50 },
  });
  const alive = new Set<NodeId>(nodes);
  const membership = new Subject<{ type: "NODE_ACTIVE" | "NODE_INACTIVE"; node: NodeId }>();
  const coordinator = createEmbeddedCoordinator<DeviceId>({
    scheduler,
    rebalanceDelay: options.rebalanceDelay ?? 400,
    membership: {
      localNode: network.config.nodes[0]!,
      nodes: () => network.config.nodes,
      state: (node) => (alive.has(node) ? "ACTIVE" : "INACTIVE"),
      events$: membership.asObservable(),
    },
  });
  const backupCount = (options.config?.backupCount as number | undefined) ?? 2;
  const stores = new Map<NodeId, EcFlowRuleStore>();
  const events = new Map<NodeId, FlowStoreEvent[]>();
  const clusterNodes = new Map<NodeId, ClusterNode>();
  const messagings = new Map<NodeId, StoreMessaging>();

  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  const advance = async (ms: number, step = 10) => {
    const end = scheduler.now() + ms;
    while (scheduler.now() < end) {
      scheduler.maxFrames = Math.min(end, scheduler.now() + step);
      scheduler.flush();
      scheduler.frame = scheduler.maxFrames;
      await settle();
    }
  };
  const run = async <T>(promise: Promise<T>, limitMs = 30_000): Promise<T> => {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    watched.catch(() => {});
    for (let waited = 0; !settled && waited < limitMs; waited += 10) await advance(10);
    if (!settled) throw new Error(`still pending after ${limitMs} ms of virtual time`);
    return watched;
  };
  const startStore = async (node: NodeId) => {
    const cluster = await network.start(node);
    clusterNodes.set(node, cluster);
    const messaging = fromClusterMessaging(cluster.messaging);
    messagings.set(node, messaging);
    const store = new EcFlowRuleStore({
      messaging,
      mastership: coordinator.forNode(node, { backupCount }),
      membership: cluster.membership,
      config: options.config ?? {},
      scheduler,
      ...(options.isDeviceAvailable === undefined
        ? {}
        : { isDeviceAvailable: options.isDeviceAvailable }),
      ...(options.log === undefined ? {} : { log: options.log(node) }),
      ...(options.persistence === undefined ? {} : { persistence: options.persistence(node) }),
    });
    const log: FlowStoreEvent[] = [];
    store.events$.subscribe((event) => log.push(event));
    stores.set(node, store);
    events.set(node, log);
    options.onStore?.(node, store);
  };

  for (const node of nodes) await startStore(node);
  for (const device of devices) {
    for (const node of nodes) await coordinator.forNode(node).requestRoleFor(device);
  }
  await advance(100);

  return {
    scheduler,
    network,
    coordinator,
    nodes,
    stores,
    events,
    alive,
    store: (node) => {
      const store = stores.get(node);
      if (store === undefined) throw new Error(`node ${node} is not running`);
      return store;
    },
    messaging: (node) => {
      const messaging = messagings.get(node);
      if (messaging === undefined) throw new Error(`node ${node} never started`);
      return messaging;
    },
    advance,
    run,
    crash: async (node) => {
      stores.get(node)?.close();
      stores.delete(node);
      await network.crash(node);
      alive.delete(node);
      membership.next({ type: "NODE_INACTIVE", node });
    },
    restart: async (node) => {
      await startStore(node);
      alive.add(node);
      membership.next({ type: "NODE_ACTIVE", node });
    },
    close: async () => {
      for (const store of stores.values()) store.close();
      coordinator.close();
      await network.close();
    },
  };
}

/** Device `of:000…0n`. */
export function device(n: number): DeviceId {
  return deviceId(`of:${n.toString(16).padStart(16, "0")}`);
}

/** A distinct rule on `device` (by `n`) of application `app`. */
export function rule(on: DeviceId, n: number, app = 1): FlowRule {
  return createFlowRule({
    deviceId: on,
    appId: applicationId(app),
    priority: 40000,
    criteria: [
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/32` },
    ],
    treatment: { instructions: [{ type: "OUTPUT", port: String(1 + (n % 48)) }] },
  });
}
