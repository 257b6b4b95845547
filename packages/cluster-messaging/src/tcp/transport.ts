import type * as net from "node:net";
import * as tls from "node:tls";
import type { SchedulerLike } from "rxjs";
import type { ClusterConfig } from "../clusterConfig.js";
import type { HandshakeIdentity } from "../handshake.js";
import type { Link, LinkHandler, Transport } from "../link.js";
import type { Logger } from "../logger.js";
import { MessagingError } from "../messagingError.js";
import type { NodeId } from "../node.js";
import type { Random } from "../random.js";
import { Connection } from "./connection.js";
import { Dialer, type ReconnectOptions } from "./dialer.js";
import { createServer, type TlsSettings } from "./sockets.js";

/** Everything {@link TcpTransport} needs. */
export interface TcpTransportOptions {
  readonly config: ClusterConfig;
  readonly local: NodeId;
  readonly identity: HandshakeIdentity;
  readonly tls: TlsSettings | undefined;
  readonly listen: { readonly host: string; readonly port: number };
  readonly maxFrameBytes: number;
  readonly maxBufferedBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly reconnect: ReconnectOptions;
  readonly scheduler: SchedulerLike;
  readonly logger: Logger;
  readonly random: Random;
}

/**
 * Connections to and from every configured peer over `node:net` (or `node:tls`).
 *
 * @remarks Each node dials every peer and keeps dialling with backoff while there is no
 * connection (the reference's connection custodian); it also accepts the peers' own
 * connections. Either open connection to a peer carries messages; a request's reply goes
 * back on the connection the request came on. When a peer's inbound connection opens, the
 * dialler to that peer retries at once instead of waiting out its backoff.
 */
export class TcpTransport implements Transport {
  readonly options: TcpTransportOptions;
  readonly members: ReadonlySet<string>;
  readonly #dialers = new Map<NodeId, Dialer>();
  readonly #connections = new Set<Connection>();
  readonly #inbound = new Map<NodeId, Set<Connection>>();
  #server: net.Server | undefined;
  #handler: LinkHandler | undefined;
  #closed = false;

  constructor(options: TcpTransportOptions) {
    this.options = options;
    this.members = new Set(options.config.nodes.map((node) => node.id));
  }

  get handler(): LinkHandler | undefined {
    return this.#handler;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The address the node listens on (the actual port when configured with port 0). */
  address(): { host: string; port: number } {
    const address = this.#server?.address();
    if (address === null || address === undefined || typeof address === "string") {
      throw new MessagingError("INVALID_ARGUMENT", "the node is not listening");
    }
    return { host: address.address, port: address.port };
  }

  async start(handler: LinkHandler): Promise<void> {
    if (this.#handler !== undefined)
      throw new MessagingError("INVALID_ARGUMENT", "transport already started");
    this.#handler = handler;
    const server = createServer(this.options.tls, (socket) => this.#accept(socket));
    if (server instanceof tls.Server) {
      server.on("tlsClientError", (error, socket) => {
        this.options.logger.warn("TLS handshake failed; connection dropped", {
          address: `${socket.remoteAddress}:${socket.remotePort}`,
          error: error.message,
        });
      });
    }
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error) => reject(error);
      server.once("error", failed);
      server.listen({ host: this.options.listen.host, port: this.options.listen.port }, () => {
        server.off("error", failed);
        resolve();
      });
    });
    server.on("error", (error) =>
      this.options.logger.error("server error", { error: error.message }),
    );
    for (const node of this.options.config.nodes) {
      if (node.id === this.options.local) continue;
      const dialer = new Dialer(this, node);
      this.#dialers.set(node.id, dialer);
      dialer.dial();
    }
  }

  link(peer: NodeId): Link | undefined {
    const outbound = this.#dialers.get(peer)?.open;
    if (outbound !== undefined) return outbound;
    const inbound = this.#inbound.get(peer);
    if (inbound !== undefined)
      for (const connection of inbound) if (connection.isOpen) return connection;
    return undefined;
  }

  /** Peers with an open connection (in either direction). */
  connectedPeers(): NodeId[] {
    return [...this.members].filter((id) => this.link(id as NodeId) !== undefined) as NodeId[];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const dialer of this.#dialers.values()) dialer.stop();
    const server = this.#server;
    const serverClosed =
      server === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([...this.#connections].map((connection) => connection.shutdown()));
    await serverClosed;
  }

  track(connection: Connection): void {
    this.#connections.add(connection);
  }

  opened(connection: Connection): void {
    if (connection.role === "connect") return;
    const peer = connection.peer;
    let set = this.#inbound.get(peer);
    if (set === undefined) {
      set = new Set();
      this.#inbound.set(peer, set);
    }
    // A new inbound connection from a peer means its older ones are stale (it restarted).
    for (const older of set) older.shutdown().catch(() => {});
    set.add(connection);
    this.#dialers.get(peer)?.poke();
  }

  closedConnection(connection: Connection, wasOpen: boolean): void {
    this.#connections.delete(connection);
    if (connection.role === "accept") {
      const set = this.#inbound.get(connection.peer);
      set?.delete(connection);
      if (set?.size === 0) this.#inbound.delete(connection.peer);
      if (wasOpen) this.#dialers.get(connection.peer)?.probe();
    }
    if (wasOpen) this.#handler?.linkDown(connection);
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const connection = new Connection(this, socket, "accept", undefined);
    connection.begin();
  }
}
