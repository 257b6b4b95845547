import {
  type ControllerNode,
  createTcpCluster,
  type NodeId,
  nodeId,
  type TcpCluster,
} from "@flowstore/cluster-messaging";
import {
  createFlowRuleStore,
  type EcFlowRuleStore,
  fromClusterMessaging,
  storeNamespace,
} from "@flowstore/ec-flow-store";
import type { DeviceId } from "@flowstore/flow-bucket";
import { FlowPersistence, type PersistedDevice } from "@flowstore/flow-persistence";
import {
  type ApplicationRegistry,
  createEmbeddedApplicationRegistry,
  createEmbeddedCoordinator,
  createEtcdApplicationRegistry,
  createEtcdMastership,
  type Mastership,
  MastershipError,
} from "@flowstore/mastership";
import { asyncScheduler } from "rxjs";
import { componentLogger } from "./clusterLogger.js";
import { ConfigError, type NodeConfig } from "./config.js";
import { DeviceFleet, simulatedDeviceIds } from "./deviceSimulator.js";
import { FlowManager } from "./flowManager.js";
import type { BasicAuth, ClusterMember, HttpContext, NodeAdmin, ZodApp } from "./http/context.js";
import { createHttpServer, listenHttp } from "./http/server.js";
import type { JsonLogger } from "./logger.js";
import { createNodeMetrics } from "./metrics.js";

/** A running node (or several in one process); `close()` shuts it down gracefully. */
export interface Running {
  close(): Promise<void>;
}

/** A started node: what tests and `--local` need to reach. */
export interface StartedNode extends Running {
  readonly id: NodeId;
  readonly store: EcFlowRuleStore;
  readonly rest: { host: string; port: number };
  readonly clusterAddress: { host: string; port: number };
  /** The node's fastify instance (listening). */
  readonly http: ZodApp;
}

/**
 * Starts one node of a multi-process cluster: TCP cluster messaging, mastership in etcd (or
 * on its own when it has no peers), the store, the simulated devices and their manager,
 * and the REST API.
 */
export async function startNode(config: NodeConfig, log: JsonLogger): Promise<StartedNode> {
  if (Object.keys(config.peers).length > 0 && config.etcd === undefined) {
    throw new ConfigError(
      "etcd: a node with --peers needs --etcd for mastership (or run --local N in one process)",
    );
  }
  const id = nodeId(config.id);
  const nodeLog = log.child({ node: id });
  const nodes = [
    { id, host: config.listen.host, port: config.listen.port },
    ...Object.entries(config.peers).map(([peer, address]) => ({ id: nodeId(peer), ...address })),
  ];
  const disk =
    config.dataDir === undefined
      ? undefined
      : await openDisk(config.dataDir, config.clusterName, id, config.commitInterval, nodeLog);
  const cluster = await joinCluster(config, nodes, id, nodeLog).catch(async (error: unknown) => {
    await disk?.persistence.close();
    throw error;
  });
  const backupCount = config.store.backupCount ?? 2;
  let mastership: Mastership<DeviceId>;
  let closeMastership: () => Promise<void>;
  let applications: ApplicationRegistry;
  if (config.etcd !== undefined) {
    applications = await createEtcdApplicationRegistry({ endpoints: config.etcd });
    try {
      mastership = await createEtcdMastership<DeviceId>({
        endpoints: config.etcd,
        node: id,
        leaseTtl: config.leaseTtl,
        backupCount,
        rebalanceDelay: config.rebalanceDelay,
        maxMoves: config.maxMoves,
        moveInterval: config.moveInterval,
        membership: cluster.membership,
        termFloor: disk?.persistence.highestTerm() ?? 0,
      });
    } catch (error) {
      await applications.close();
      await cluster.close();
      await disk?.persistence.close();
      if (error instanceof MastershipError && error.code === "TERM_REGRESSION")
        throw new ConfigError(`data-dir ${config.dataDir}: ${error.message}`);
      throw error;
    }
    closeMastership = () => mastership.close();
  } else {
    applications = createEmbeddedApplicationRegistry();
    const coordinator = createEmbeddedCoordinator<DeviceId>({
      membership: cluster.membership,
      termFloor: disk?.persistence.highestTerm() ?? 0,
      rebalanceDelay: config.rebalanceDelay,
      maxMoves: config.maxMoves,
      moveInterval: config.moveInterval,
    });
    mastership = coordinator.forNode(id, { backupCount });
    closeMastership = async () => {
      await mastership.close();
      coordinator.close();
    };
  }
  const fleet = new DeviceFleet(simulatedDeviceIds(config.devices));
  const started = await startServices({
    id,
    log: nodeLog,
    cluster,
    mastership,
    fleet,
    storeConfig: config.store,
    statsPeriod: config.statsPeriod,
    rest: config.rest,
    applications,
    auth: config.auth,
    ...(disk === undefined ? {} : { disk }),
  });
  await campaign(mastership, fleet.ids(), nodeLog);
  nodeLog.info("node started", {
    cluster: cluster.address(),
    rest: started.rest,
    etcd: config.etcd ?? null,
    devices: config.devices,
  });
  return {
    ...started,
    close: async () => {
      await handOverBeforeStop(
        started.store,
        nodes.some((n) => n.id !== id && cluster.membership.state(n.id) === "ACTIVE"),
        nodeLog,
      );
      await started.close();
      await closeMastership();
      await applications.close();
      await cluster.close();
    },
  };
}

/**
 * Asks to be a candidate for every device. A coordinator that cannot take the write now (etcd
 * slow or briefly away while nodes restart) is asked again with a growing pause, for up to
 * `timeoutMs` in all, rather than the node dying half-started; the view campaigns for every
 * requested device again anyway when it renews its lease.
 */
export async function campaign(
  mastership: Mastership<DeviceId>,
  devices: readonly DeviceId[],
  log: JsonLogger,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const device of devices) {
    for (let attempt = 1; ; attempt++) {
      try {
        await mastership.requestRoleFor(device);
        break;
      } catch (error) {
        if (!MastershipError.is(error, "UNAVAILABLE") || Date.now() >= deadline) throw error;
        log.warn("could not campaign for a device; trying again", {
          device,
          attempt,
          error: String(error),
        });
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }
}

/**
 * A graceful stop's planned hand-over: when some other node is alive to take them, gives up
 * every device this node masters and waits (at most `timeoutMs`) until each successor —
 * synchronized from this node while it still answers — is active. Alone, there is nobody to
 * hand to: nothing happens.
 */
export async function handOverBeforeStop(
  store: EcFlowRuleStore,
  peersAlive: boolean,
  log: JsonLogger,
  timeoutMs = 10_000,
): Promise<void> {
  if (!peersAlive) return;
  try {
    const { moved, remaining } = await store.handOver(timeoutMs);
    log.info("devices handed over", { moved: moved.length, remaining: remaining.length });
  } catch (error) {
    log.warn("hand-over failed; stopping anyway", { error: String(error) });
  }
}

/** Starts node `id`'s TCP cluster messaging, speaking the store's namespace. */
export function joinCluster(
  config: { readonly clusterName: string; readonly secret?: string | undefined },
  nodes: readonly ControllerNode[],
  id: NodeId,
  log: JsonLogger,
): Promise<TcpCluster> {
  return createTcpCluster({
    config: { name: config.clusterName, nodes },
    local: id,
    namespace: storeNamespace,
    logger: componentLogger(log, "cluster"),
    ...(config.secret === undefined ? {} : { secret: config.secret }),
  });
}

/** What {@link startServices} composes on top of a cluster node and a mastership view. */
export interface ServicesOptions {
  readonly id: NodeId;
  readonly log: JsonLogger;
  readonly cluster: TcpCluster;
  readonly mastership: Mastership<DeviceId>;
  readonly fleet: DeviceFleet;
  readonly storeConfig: NodeConfig["store"];
  readonly statsPeriod: number;
  readonly rest: { host: string; port: number };
  /** Application names ↔ ids, shared by the cluster's nodes. */
  readonly applications: ApplicationRegistry;
  /** `--auth`: HTTP Basic credentials the REST API requires. */
  readonly auth?: BasicAuth | undefined;
  readonly admin?: NodeAdmin;
  readonly clusterView?: () => readonly ClusterMember[];
  /** `--data-dir`: the node's tables on disk, and what was there at start. */
  readonly disk?: NodeDisk;
}

/** A node's data directory, open, with what it held at start. */
export interface NodeDisk {
  readonly persistence: FlowPersistence;
  /**
   * What the directory held at start, given once (to the store, which then owns it): kept
   * nowhere else, a loaded bucket's bytes go as soon as its table has decoded or replaced it.
   */
  takeLoaded(): readonly PersistedDevice[];
  readonly commitInterval: number;
}

/**
 * Opens node `id`'s data directory and loads it. A directory of another cluster or node, of a
 * newer format, or damaged is refused with a {@link ConfigError} naming it; nothing in it is
 * touched.
 */
export async function openDisk(
  dir: string,
  cluster: string,
  id: NodeId,
  commitInterval: number,
  log: JsonLogger,
): Promise<NodeDisk> {
  let persistence: FlowPersistence;
  try {
    persistence = await FlowPersistence.open({
      dir,
      cluster,
      node: id,
      // The store's persister commits every `commitInterval` itself (flush), with what changed.
      commitInterval: Number.POSITIVE_INFINITY,
      log: {
        info: (message, fields) => log.info(message, fields as Record<string, unknown>),
        warn: (message, fields) => log.warn(message, fields as Record<string, unknown>),
      },
    });
  } catch (error) {
    throw new ConfigError(`data-dir: ${(error as Error).message}`);
  }
  const started = Date.now();
  let loaded: readonly PersistedDevice[] = await persistence.load();
  const flows = loaded.reduce((n, d) => n + d.buckets.reduce((m, b) => m + b.size, 0), 0);
  log.info("data directory loaded", {
    dir,
    devices: loaded.length,
    flows,
    highestTerm: persistence.highestTerm(),
    ms: Date.now() - started,
  });
  return {
    persistence,
    takeLoaded: () => {
      const taken = loaded;
      loaded = [];
      return taken;
    },
    commitInterval,
  };
}

/** The store, the flow manager and the REST API of one node. */
export async function startServices(options: ServicesOptions): Promise<StartedNode> {
  const { id, log, cluster, mastership, fleet } = options;
  const store = createFlowRuleStore({
    messaging: fromClusterMessaging(cluster.messaging),
    mastership,
    membership: cluster.membership,
    isDeviceAvailable: (device) => fleet.get(device)?.available ?? false,
    config: options.storeConfig,
    log: componentLogger(log, "store"),
    ...(options.disk === undefined
      ? {}
      : {
          persistence: {
            sink: options.disk.persistence,
            loaded: options.disk.takeLoaded(),
            commitInterval: options.disk.commitInterval,
          },
        }),
  });
  const manager = new FlowManager({
    store,
    fleet,
    log,
    statsPeriod: options.statsPeriod,
    scheduler: asyncScheduler,
  });
  const context: HttpContext = {
    nodeId: id,
    store,
    mastership,
    fleet,
    log,
    applications: options.applications,
    auth: options.auth,
    metrics: createNodeMetrics({ nodeId: id, store, fleet }),
    startedAt: Date.now(),
    cluster: {
      nodes:
        options.clusterView ??
        (() =>
          cluster.config.nodes.map((n) => ({
            id: n.id,
            host: n.host,
            port: n.port,
            status: cluster.membership.state(n.id),
          }))),
    },
    admin: options.admin,
  };
  const http = await createHttpServer(context);
  // A plugin that extends the REST server registers here, before listen, with the objects the
  // REST API serves: `await http.register(plugin, context);` (the web console is registered
  // in createHttpServer).
  const address = await listenHttp(http, options.rest.host, options.rest.port);
  log.info("rest listening", { host: address.address, port: address.port });
  return {
    id,
    store,
    rest: { host: address.address, port: address.port },
    clusterAddress: cluster.address(),
    http,
    close: async () => {
      http.server.closeAllConnections();
      await http.close();
      manager.close();
      await store.flush();
      store.close();
      await options.disk?.persistence.close();
    },
  };
}
