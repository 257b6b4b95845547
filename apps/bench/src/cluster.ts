import { performance } from "node:perf_hooks";
import {
  type ClusterMembership,
  type ControllerNode,
  createTcpCluster,
  freePorts,
  type MembershipEvent,
  type NodeId,
  nodeId,
  noopLogger,
  type TcpCluster,
} from "@flowstore/cluster-messaging";
import {
  createFlowRuleStore,
  type EcFlowRuleStore,
  type FlowRuleOperation,
  fromClusterMessaging,
  type StoreConfigInput,
  type StoreMessaging,
  storeNamespace,
} from "@flowstore/ec-flow-store";
import type { DeviceId, FlowRule } from "@flowstore/flow-bucket";
import {
  createEmbeddedCoordinator,
  type EmbeddedCoordinator,
  type Mastership,
} from "@flowstore/mastership";
import { Subject } from "rxjs";

/** ADD operations of `rules`. */
export const adds = (rules: readonly FlowRule[]): FlowRuleOperation[] =>
  rules.map((rule) => ({ operator: "ADD", rule }));

/** What every store on a bench cluster has. */
export interface ClusterStore {
  isActiveMaster(device: DeviceId): boolean;
  close(): void;
}

/** What a store factory gets to build one node's store. */
export interface NodeParts {
  readonly node: NodeId;
  readonly messaging: StoreMessaging;
  readonly mastership: Mastership<DeviceId>;
  /** Every node of the cluster; alive while not crashed. */
  readonly membership: ClusterMembership;
}

/** A cluster of N nodes in this process, over loopback TCP, each with a store `S`. */
export interface BenchCluster<S extends ClusterStore> {
  readonly nodes: readonly NodeId[];
  readonly coordinator: EmbeddedCoordinator<DeviceId>;
  /** The live nodes' stores. */
  readonly stores: Map<NodeId, S>;
  readonly clusters: Map<NodeId, TcpCluster>;
  readonly membership: Subject<MembershipEvent>;
  /** The device's master now; throws when it has none. */
  master(d: DeviceId): NodeId;
  /**
   * Stops `node`'s store and tells the coordinator at once (no failure-detector delay), before
   * returning; the promise resolves once its sockets are closed.
   */
  crash(node: NodeId): Promise<void>;
  close(): Promise<void>;
}

/** A flowstore cluster of N nodes in this process, over loopback TCP. */
export type StoreCluster = BenchCluster<EcFlowRuleStore>;

/** Options of {@link startStoreCluster}. */
export interface StoreClusterOptions {
  /** Nodes (default 3). */
  readonly size?: number;
  /** Backups per device (default min(2, size − 1)). */
  readonly backupCount?: number;
  readonly config?: StoreConfigInput;
}

/**
 * Starts `size` nodes in this process over loopback TCP with an embedded coordinator, makes
 * every node a candidate for every device, balances mastership and waits until every
 * device's master is active.
 */
export async function startStoreCluster(
  devices: readonly DeviceId[],
  options: StoreClusterOptions = {},
): Promise<StoreCluster> {
  return startCluster(devices, {
    ...options,
    store: (parts) =>
      createFlowRuleStore({
        messaging: parts.messaging,
        mastership: parts.mastership,
        membership: parts.membership,
        ...(options.config === undefined ? {} : { config: options.config }),
      }),
  });
}

/** {@link startStoreCluster} with any store: `store` builds each node's. */
export async function startCluster<S extends ClusterStore>(
  devices: readonly DeviceId[],
  options: Omit<StoreClusterOptions, "config"> & { readonly store: (parts: NodeParts) => S },
): Promise<BenchCluster<S>> {
  const size = options.size ?? 3;
  const backupCount = options.backupCount ?? Math.min(2, size - 1);
  const ids = Array.from({ length: size }, (_, i) => nodeId(`n${i + 1}`));
  const ports = await freePorts(ids.length);
  const nodes: ControllerNode[] = ids.map((id, i) => ({ id, host: "127.0.0.1", port: ports[i]! }));
  const membership = new Subject<MembershipEvent>();
  const alive = new Set(ids);
  /** The cluster as `local` sees it: every node, alive until it crashes. */
  const membershipOf = (local: ControllerNode): ClusterMembership => ({
    localNode: local,
    nodes: () => nodes,
    state: (n) => (alive.has(n) ? "ACTIVE" : "INACTIVE"),
    events$: membership.asObservable(),
  });
  const coordinator = createEmbeddedCoordinator<DeviceId>({ membership: membershipOf(nodes[0]!) });
  const clusters = new Map<NodeId, TcpCluster>();
  const stores = new Map<NodeId, S>();
  for (const [i, id] of ids.entries()) {
    const cluster = await createTcpCluster({
      config: { name: "bench", nodes },
      local: id,
      namespace: storeNamespace,
      logger: noopLogger,
    });
    clusters.set(id, cluster);
    stores.set(
      id,
      options.store({
        node: id,
        messaging: fromClusterMessaging(cluster.messaging),
        mastership: coordinator.forNode(id, { backupCount }),
        membership: membershipOf(nodes[i]!),
      }),
    );
  }
  await waitUntil(
    () => [...clusters.values()].every((c) => c.connectedPeers().length === ids.length - 1),
    30_000,
  );
  for (const d of devices) for (const id of ids) await coordinator.forNode(id).requestRoleFor(d);
  await coordinator.forNode(ids[0]!).balance();
  const master = (d: DeviceId) => {
    const m = coordinator.mastership(d).master;
    if (m === undefined) throw new Error(`no master for ${d}`);
    return m;
  };
  await waitUntil(() => devices.every((d) => stores.get(master(d))!.isActiveMaster(d)), 60_000);
  return {
    nodes: ids,
    coordinator,
    stores,
    clusters,
    membership,
    master,
    crash: async (node) => {
      // The node stops and the coordinator hears of it before this returns its promise;
      // closing its sockets (which can take a while) is what the promise waits for.
      stores.get(node)?.close();
      stores.delete(node);
      alive.delete(node);
      membership.next({ type: "NODE_INACTIVE", node });
      const cluster = clusters.get(node);
      clusters.delete(node);
      await cluster?.close();
    },
    close: async () => {
      for (const store of stores.values()) store.close();
      coordinator.close();
      await Promise.all([...clusters.values()].map((c) => c.close()));
    },
  };
}

/** Polls `condition` every `pollMs` until it holds; returns the ms it took. Throws after `limitMs`. */
export async function waitUntil(
  condition: () => boolean,
  limitMs: number,
  pollMs = 1,
): Promise<number> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > limitMs)
      throw new Error(`condition not met within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return performance.now() - start;
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
