import { asyncScheduler } from "rxjs";
import { type ClusterNode, type ClusterNodeOptions, startClusterNode } from "./clusterNode.js";
import { DEFAULT_MAX_FRAME_BYTES } from "./frame.js";
import { clusterNameHash, PROTOCOL_VERSION } from "./handshake.js";
import { consoleLogger } from "./logger.js";
import { MessagingError } from "./messagingError.js";
import type { NodeId } from "./node.js";
import type { Random } from "./random.js";
import type { ReconnectOptions } from "./tcp/dialer.js";
import type { TlsSettings } from "./tcp/sockets.js";
import { TcpTransport } from "./tcp/transport.js";

/** Options of {@link createTcpCluster}. */
export interface TcpClusterOptions extends ClusterNodeOptions {
  /**
   * The serializer namespace the node's messages are encoded with (a `Namespace` from
   * `@flowstore/serializers`, or anything with its fingerprint): peers whose fingerprint
   * differs are refused in the handshake.
   */
  readonly namespace: { readonly fingerprint: string };
  /** A secret every node of the cluster shares; peers must prove they know it. */
  readonly secret?: string;
  /** TLS for every connection (mutual when `tls.mutual`). */
  readonly tls?: TlsSettings;
  /** Address to bind (default: the local node's host and port from the configuration). */
  readonly listen?: { readonly host?: string; readonly port?: number };
  /** Largest frame accepted (default 16 MiB); a bigger one drops the connection. */
  readonly maxFrameBytes?: number;
  /** Bytes queued for a peer that does not read before its connection is dropped (default 64 MiB). */
  readonly maxBufferedBytes?: number;
  /** Time allowed for a handshake (default 5 s). */
  readonly handshakeTimeoutMs?: number;
  /** Backoff of reconnection (default 100 ms doubling to 5 s, ±25 % jitter). */
  readonly reconnect?: Partial<ReconnectOptions>;
  /** Source of the backoff jitter (default `Math.random`). */
  readonly random?: Random;
}

/** A node of a TCP cluster. */
export interface TcpCluster extends ClusterNode {
  /** The address it listens on (the real port when configured with port 0). */
  address(): { host: string; port: number };
  /** Peers it has an open connection with, in either direction. */
  connectedPeers(): NodeId[];
}

/**
 * Starts the local node of a cluster over TCP: listens, dials every other configured node
 * (and keeps redialling with backoff), exchanges heartbeats, and serves messages.
 *
 * @example
 * const node = await createTcpCluster({
 *   config: { name: "lab", nodes: [{ id: nodeId("n1"), host: "127.0.0.1", port: 9876 }, …] },
 *   local: nodeId("n1"),
 *   namespace: storeNamespace,
 * });
 * node.messaging.serve("echo", (payload) => payload);
 * node.membership.events$.subscribe((event) => console.log(event));
 */
export async function createTcpCluster(options: TcpClusterOptions): Promise<TcpCluster> {
  const { config, local } = options;
  const localNode = config.nodes.find((node) => node.id === local);
  if (localNode === undefined)
    throw new MessagingError("INVALID_ARGUMENT", `node ${local} is not in cluster ${config.name}`);
  const logger = options.logger ?? consoleLogger("warn", local);
  const transport = new TcpTransport({
    config,
    local,
    identity: {
      node: local,
      clusterHash: clusterNameHash(config.name),
      fingerprint: options.namespace.fingerprint,
      secret: options.secret,
      version: PROTOCOL_VERSION,
    },
    tls: options.tls,
    listen: {
      host: options.listen?.host ?? localNode.host,
      port: options.listen?.port ?? localNode.port,
    },
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024 * 1024,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5000,
    reconnect: { initialDelayMs: 100, maxDelayMs: 5000, ...options.reconnect },
    scheduler: options.scheduler ?? asyncScheduler,
    logger,
    random: options.random ?? Math.random,
  });
  const node = await startClusterNode(transport, { ...options, logger });
  return {
    ...node,
    address: () => transport.address(),
    connectedPeers: () => transport.connectedPeers(),
  };
}
