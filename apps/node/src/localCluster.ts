import path from "node:path";
import {
  type ClusterMembership,
  type ControllerNode,
  freePorts,
  type MembershipEvent,
  type NodeId,
  type NodeState,
  nodeId,
  type TcpCluster,
} from "@flowstore/cluster-messaging";
import type { DeviceId } from "@flowstore/flow-bucket";
import {
  type ApplicationRegistry,
  createEmbeddedApplicationRegistry,
  createEmbeddedCoordinator,
  type EmbeddedCoordinator,
} from "@flowstore/mastership";
import { BehaviorSubject, map, merge, type Observable, of, Subject, switchMap } from "rxjs";
import type { LocalConfig } from "./config.js";
import { DeviceFleet, simulatedDeviceIds } from "./deviceSimulator.js";
import type { JsonLogger } from "./logger.js";
import {
  campaign,
  handOverBeforeStop,
  joinCluster,
  type NodeDisk,
  openDisk,
  type Running,
  type StartedNode,
  startServices,
} from "./node.js";

/**
 * Several nodes in this process; `stop` stops one gracefully (a planned hand-over), `crash`
 * kills one without a word, `start` restores one.
 */
export interface LocalCluster extends Running {
  readonly nodes: readonly ControllerNode[];
  readonly coordinator: EmbeddedCoordinator<DeviceId>;
  /** The application names ↔ ids every node of the process shares. */
  readonly applications: ApplicationRegistry;
  readonly fleet: DeviceFleet;
  /** The running node `id`. */
  node(id: string): StartedNode | undefined;
  /** REST address of node `id` (kept across restarts). */
  restAddress(id: string): { host: string; port: number } | undefined;
  stop(id: string): Promise<void>;
  /** Stops node `id` as a crash would: no hand-over, the others' detectors convict it. */
  crash(id: string): Promise<void>;
  start(id: string): Promise<void>;
}

/**
 * `--local N`: N nodes in this process over real loopback TCP, embedded mastership, one
 * fleet of simulated devices that every node controls (as real switches connect to every
 * controller), and a REST API per node.
 *
 * @remarks The embedded coordinator learns that a node is gone from the nodes' own failure
 * detectors: a node is active while some other running node's detector says so.
 */
export async function startLocalCluster(
  config: LocalConfig,
  log: JsonLogger,
): Promise<LocalCluster> {
  const size = config.local;
  const clusterPorts =
    config.clusterPort === 0 ? await freePorts(size, config.host) : range(config.clusterPort, size);
  const nodes: ControllerNode[] = clusterPorts.map((port, i) => ({
    id: nodeId(`n${i + 1}`),
    host: config.host,
    port,
  }));
  const fleet = new DeviceFleet(simulatedDeviceIds(config.devices));
  const running = new Map<NodeId, { cluster: TcpCluster; started: StartedNode }>();
  const runningNodes = new BehaviorSubject<ReadonlyMap<NodeId, TcpCluster>>(new Map());
  const membership = localMembership(nodes, runningNodes);
  // --data-dir: every node's directory is opened first, so the coordinator's terms start above
  // the highest any of them saw before this process started.
  const diskOf = (id: NodeId) =>
    config.dataDir === undefined
      ? Promise.resolve(undefined)
      : openDisk(
          path.join(config.dataDir, id),
          config.clusterName,
          id,
          config.commitInterval,
          log.child({ node: id }),
        );
  const opened = new Map<NodeId, NodeDisk>();
  try {
    for (const node of nodes) {
      const disk = await diskOf(node.id);
      if (disk !== undefined) opened.set(node.id, disk);
    }
  } catch (error) {
    for (const disk of opened.values()) await disk.persistence.close();
    throw error;
  }
  const termFloor = Math.max(0, ...[...opened.values()].map((d) => d.persistence.highestTerm()));
  const coordinator = createEmbeddedCoordinator<DeviceId>({
    membership,
    termFloor,
    rebalanceDelay: config.rebalanceDelay,
    maxMoves: config.maxMoves,
    moveInterval: config.moveInterval,
  });
  const applications = createEmbeddedApplicationRegistry();
  const restPorts = new Map<NodeId, number>(
    nodes.map((n, i) => [n.id, config.restPort === 0 ? 0 : config.restPort + i]),
  );
  const backupCount = config.store.backupCount ?? 2;

  const publish = () => runningNodes.next(new Map([...running].map(([id, r]) => [id, r.cluster])));

  const start = async (text: string): Promise<void> => {
    const id = nodeId(text);
    if (!nodes.some((n) => n.id === id)) throw new Error(`no node ${text} in this cluster`);
    if (running.has(id)) return;
    const nodeLog = log.child({ node: id });
    const disk = opened.get(id) ?? (await diskOf(id));
    opened.delete(id);
    const cluster = await joinCluster(config, nodes, id, nodeLog);
    const mastership = coordinator.forNode(id, { backupCount });
    const started = await startServices({
      id,
      log: nodeLog,
      cluster,
      mastership,
      fleet,
      storeConfig: config.store,
      statsPeriod: config.statsPeriod,
      rest: { host: config.host, port: restPorts.get(id)! },
      applications,
      auth: config.auth,
      ...(disk === undefined ? {} : { disk }),
      admin: { stop, start, crash },
      clusterView: () =>
        nodes.map((n) => ({
          id: n.id,
          host: n.host,
          port: n.port,
          status: running.has(n.id) ? membership.state(n.id) : "INACTIVE",
        })),
    });
    restPorts.set(id, started.rest.port);
    running.set(id, { cluster, started });
    publish();
    await campaign(mastership, fleet.ids(), nodeLog);
    nodeLog.info("node started", { cluster: cluster.address(), rest: started.rest });
  };

  const stop = async (text: string): Promise<void> => {
    const id = nodeId(text);
    const node = running.get(id);
    if (node === undefined) return;
    log.info("stopping node (planned hand-over)", { node: id });
    const peersAlive = [...running.keys()].some(
      (other) => other !== id && membership.state(other) === "ACTIVE",
    );
    await handOverBeforeStop(node.started.store, peersAlive, log.child({ node: id }));
    if (running.get(id) !== node) return;
    running.delete(id);
    publish();
    await node.started.close();
    await node.cluster.close();
  };

  const crash = async (text: string): Promise<void> => {
    const id = nodeId(text);
    const node = running.get(id);
    if (node === undefined) return;
    running.delete(id);
    publish();
    log.info("stopping node (crash: no hand-over)", { node: id });
    // Like a crash: its store and sockets vanish; mastership moves when the others' failure
    // detectors convict it. The embedded view stays (a candidacy, as a switch still sees it).
    await node.started.close();
    await node.cluster.close();
  };

  for (const node of nodes) await start(node.id);
  log.info("local cluster started", {
    nodes: nodes.map((n) => ({
      id: n.id,
      cluster: `${n.host}:${n.port}`,
      rest: `${config.host}:${restPorts.get(n.id)}`,
      console: `http://${config.host}:${restPorts.get(n.id)}/ui/`,
    })),
    devices: config.devices,
  });

  return {
    nodes,
    coordinator,
    applications,
    fleet,
    node: (id) => running.get(nodeId(id))?.started,
    restAddress: (id) => {
      const port = restPorts.get(nodeId(id));
      return port === undefined ? undefined : { host: config.host, port };
    },
    stop,
    crash,
    start,
    close: async () => {
      for (const id of [...running.keys()]) {
        const node = running.get(id)!;
        running.delete(id);
        await node.started.close();
        await node.cluster.close();
      }
      publish();
      coordinator.close();
      await applications.close();
      runningNodes.complete();
    },
  };
}

/**
 * The coordinator's view of a local cluster: a node is ACTIVE while some other running
 * node's failure detector says it is alive (or, alone, while it runs). A stopped node is
 * convicted by the detectors, as a crashed process would be, not by the process knowing it.
 */
function localMembership(
  nodes: readonly ControllerNode[],
  running: BehaviorSubject<ReadonlyMap<NodeId, TcpCluster>>,
): ClusterMembership {
  const state = (node: NodeId): NodeState => {
    const current = running.value;
    const others = [...current].filter(([id]) => id !== node);
    if (others.length === 0) return current.has(node) ? "ACTIVE" : "INACTIVE";
    return others.some(([, cluster]) => cluster.membership.state(node) === "ACTIVE")
      ? "ACTIVE"
      : "INACTIVE";
  };
  const last = new Map<NodeId, NodeState>(nodes.map((n) => [n.id, "ACTIVE"]));
  const changes = new Subject<MembershipEvent>();
  const recompute = () => {
    for (const n of nodes) {
      const now = state(n.id);
      if (now !== last.get(n.id)) {
        last.set(n.id, now);
        changes.next({ type: now === "ACTIVE" ? "NODE_ACTIVE" : "NODE_INACTIVE", node: n.id });
      }
    }
  };
  const signals: Observable<unknown> = running.pipe(
    switchMap((current) =>
      merge(of(null), ...[...current.values()].map((c) => c.membership.events$)),
    ),
    map(() => null),
  );
  // Subscribed for the life of the process-local cluster; completes with `running`.
  signals.subscribe({ next: recompute });
  return {
    localNode: nodes[0]!,
    nodes: () => nodes,
    state,
    events$: changes.asObservable(),
  };
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}
