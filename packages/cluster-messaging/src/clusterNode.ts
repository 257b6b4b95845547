import { asyncScheduler, type SchedulerLike } from "rxjs";
import type { ClusterConfig } from "./clusterConfig.js";
import { HeartbeatMembership } from "./heartbeatMembership.js";
import type { Transport } from "./link.js";
import { consoleLogger, type Logger } from "./logger.js";
import type { ClusterMembership } from "./membership.js";
import type { ClusterMessaging } from "./messaging.js";
import { MessagingError } from "./messagingError.js";
import { Messenger } from "./messenger.js";
import type { NodeId } from "./node.js";
import {
  DEFAULT_FAILURE_DETECTOR,
  type FailureDetectorOptions,
} from "./phiAccrualFailureDetector.js";

/** Default timeout of `sendAndReceive`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** One running cluster node: its messaging, its membership view, and how to stop it. */
export interface ClusterNode {
  readonly id: NodeId;
  readonly config: ClusterConfig;
  readonly messaging: ClusterMessaging;
  readonly membership: ClusterMembership;
  /** The current φ of `node` as this node's failure detector sees it. */
  phi(node: NodeId): number;
  /**
   * Stops the node: pending requests reject with `CLOSED`, subscriptions and `events$`
   * complete, and every socket, timer and subscription it holds is released.
   */
  close(): Promise<void>;
}

/** Settings common to every transport. */
export interface ClusterNodeOptions {
  readonly config: ClusterConfig;
  /** Which of `config.nodes` this process is. */
  readonly local: NodeId;
  /** Where timers run (default `asyncScheduler`; tests pass a virtual-time scheduler). */
  readonly scheduler?: SchedulerLike;
  /** Where lines go (default: console, warnings and errors only). */
  readonly logger?: Logger;
  /** Heartbeat and failure-detector settings (defaults: {@link DEFAULT_FAILURE_DETECTOR}). */
  readonly failureDetector?: Partial<FailureDetectorOptions>;
  /** Default timeout of a request (5 s). */
  readonly requestTimeoutMs?: number;
}

/**
 * Builds a node over `transport` and starts it.
 *
 * @remarks Both public factories ({@link createTcpCluster}, {@link createMemoryNetwork}) end
 * here, so the messaging and membership rules are one implementation whatever the transport.
 */
export async function startClusterNode(
  transport: Transport,
  options: ClusterNodeOptions,
): Promise<ClusterNode> {
  const { config, local } = options;
  const localNode = config.nodes.find((node) => node.id === local);
  if (localNode === undefined)
    throw new MessagingError("INVALID_ARGUMENT", `node ${local} is not in cluster ${config.name}`);
  const scheduler = options.scheduler ?? asyncScheduler;
  const logger = options.logger ?? consoleLogger("warn", local);
  const failureDetector = { ...DEFAULT_FAILURE_DETECTOR, ...options.failureDetector };
  const links = (peer: NodeId) => transport.link(peer);
  const membership = new HeartbeatMembership({
    localNode,
    nodes: config.nodes,
    links,
    scheduler,
    logger,
    failureDetector,
  });
  const messaging = new Messenger({
    localNode: local,
    members: new Set(config.nodes.map((node) => node.id)),
    links,
    scheduler,
    logger,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    onHeartbeat: (from) => membership.heartbeat(from),
    onRefused: (peer) => membership.refused(peer),
  });
  await transport.start(messaging);
  membership.start();
  let closing: Promise<void> | undefined;
  return {
    id: local,
    config,
    messaging,
    membership,
    phi: (node) => membership.phi(node),
    close: () => {
      closing ??= (async () => {
        membership.close();
        messaging.close();
        await transport.close();
      })();
      return closing;
    },
  };
}
