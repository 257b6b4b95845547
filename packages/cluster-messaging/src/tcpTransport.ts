import type { Buffer } from "node:buffer";
import * as net from "node:net";
import * as tls from "node:tls";
import type { SchedulerLike, Subscription } from "rxjs";
import type { ClusterConfig } from "./clusterConfig.js";
import {
  FrameError,
  FrameKind,
  FrameReader,
  type FrameSink,
  FrameWriter,
  type ReplyStatus,
} from "./frame.js";
import {
  checkHello,
  decodeHello,
  encodeHello,
  type HandshakeIdentity,
  newNonce,
  proofMatches,
  proofOf,
} from "./handshake.js";
import type { Link, LinkHandler, Transport } from "./link.js";
import type { Logger } from "./logger.js";
import type { ControllerNode, NodeId } from "./node.js";
import type { Random } from "./random.js";

/** TLS material of a node; with `mutual`, connecting peers must present a certificate the CA signed. */
export interface TlsSettings {
  /** The node's private key (PEM). */
  readonly key: string | Buffer;
  /** The node's certificate (PEM), shown to peers in both directions. */
  readonly cert: string | Buffer;
  /** Trusted CA certificates (PEM); peers' certificates must chain to one. */
  readonly ca: string | Buffer | readonly (string | Buffer)[];
  /** Require and verify a client certificate on inbound connections. */
  readonly mutual?: boolean;
  /** Overrides the host-name check of the peer's certificate (default: Node's check). */
  readonly checkServerIdentity?: (host: string, cert: tls.PeerCertificate) => Error | undefined;
}

/** Backoff of reconnection attempts to a node that has no connection. */
export interface ReconnectOptions {
  /** Delay after the first failure (default 100 ms). */
  readonly initialDelayMs: number;
  /** Largest delay, reached by doubling (default 5 s). */
  readonly maxDelayMs: number;
}

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

/** Largest frame accepted before the handshake completes (a hello is a few hundred bytes). */
const HANDSHAKE_MAX_FRAME_BYTES = 4096;
/** How long a closing connection may take to finish its writes before it is destroyed. */
const CLOSE_GRACE_MS = 1000;
const EMPTY = new Uint8Array(0);
const textEncoder = new TextEncoder();

type Phase = "connecting" | "hello" | "auth" | "open" | "closed";

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
      throw new Error("the node is not listening");
    }
    return { host: address.address, port: address.port };
  }

  async start(handler: LinkHandler): Promise<void> {
    if (this.#handler !== undefined) throw new Error("transport already started");
    this.#handler = handler;
    const { tls: tlsSettings } = this.options;
    const server =
      tlsSettings === undefined
        ? net.createServer((socket) => this.#accept(socket))
        : tls.createServer(
            {
              key: tlsSettings.key,
              cert: tlsSettings.cert,
              ca: tlsSettings.ca as string | Buffer | (string | Buffer)[],
              requestCert: tlsSettings.mutual === true,
              rejectUnauthorized: tlsSettings.mutual === true,
            },
            (socket) => this.#accept(socket),
          );
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

  /** Opens a socket to `node`; `ready` runs once it can carry the handshake. */
  connectSocket(node: ControllerNode, ready: () => void): net.Socket {
    const settings = this.options.tls;
    if (settings === undefined) {
      const socket = net.connect({ host: node.host, port: node.port }, ready);
      socket.setNoDelay(true);
      return socket;
    }
    const socket = tls.connect(
      {
        host: node.host,
        port: node.port,
        key: settings.key,
        cert: settings.cert,
        ca: settings.ca as string | Buffer | (string | Buffer)[],
        ...(settings.checkServerIdentity === undefined
          ? {}
          : { checkServerIdentity: settings.checkServerIdentity }),
      },
      ready,
    );
    socket.setNoDelay(true);
    return socket;
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

/** Keeps one outbound connection to a peer, redialling with backoff while there is none. */
class Dialer {
  #connection: Connection | undefined;
  #retry: Subscription | undefined;
  #failures = 0;
  #stopped = false;
  #lastImmediate = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly transport: TcpTransport,
    readonly node: ControllerNode,
  ) {}

  get open(): Connection | undefined {
    return this.#connection?.isOpen === true ? this.#connection : undefined;
  }

  dial(): void {
    if (this.#stopped || this.#connection !== undefined) return;
    this.#retry?.unsubscribe();
    this.#retry = undefined;
    let connection: Connection | undefined;
    const socket = this.transport.connectSocket(this.node, () => connection?.begin());
    connection = new Connection(this.transport, socket, "connect", this.node.id, this);
    this.#connection = connection;
  }

  /**
   * A connection from the peer closed: if we have none to it either, dial now rather than
   * after the backoff — it is answered (the peer is up) or refused (it is gone).
   */
  probe(): void {
    if (this.#connection !== undefined || this.#stopped) return;
    this.#retry?.unsubscribe();
    this.#retry = undefined;
    this.dial();
  }

  /** The peer just connected to us: it is up, so try now rather than after the backoff. */
  poke(): void {
    if (this.#connection !== undefined || this.#stopped) return;
    this.#failures = 0;
    this.dial();
  }

  opened(): void {
    if (this.#failures > 0) {
      this.transport.options.logger.info("connected", { peer: this.node.id });
    }
    this.#failures = 0;
  }

  closed(
    connection: Connection,
    wasOpen: boolean,
    error: string | undefined,
    errorCode: string | undefined,
  ): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    if (this.#stopped) return;
    if (!wasOpen && errorCode === "ECONNREFUSED") this.transport.handler?.refused(this.node.id);
    const { reconnect, random, scheduler, logger } = this.transport.options;
    const base = Math.min(reconnect.maxDelayMs, reconnect.initialDelayMs * 2 ** this.#failures);
    // An open connection just closed: dial again at once. Either the peer answers (a
    // dropped connection, nothing more) or its address refuses — the proof it is gone.
    // (At most once per initial delay, so a peer that keeps dropping us is not redialled hot.)
    const now = scheduler.now();
    const immediate = wasOpen && now - this.#lastImmediate >= reconnect.initialDelayMs;
    if (immediate) this.#lastImmediate = now;
    const delay = immediate ? 0 : Math.round(base * (0.75 + 0.5 * random()));
    const fields = {
      peer: this.node.id,
      retryInMs: delay,
      ...(error === undefined ? {} : { error }),
    };
    if (wasOpen) logger.info("connection lost", fields);
    else if (this.#failures === 0) logger.info("cannot connect; retrying with backoff", fields);
    else logger.debug("cannot connect; retrying with backoff", fields);
    this.#failures = wasOpen ? 0 : this.#failures + 1;
    this.#retry = scheduler.schedule(() => {
      this.#retry = undefined;
      this.dial();
    }, delay);
  }

  stop(): void {
    this.#stopped = true;
    this.#retry?.unsubscribe();
    this.#retry = undefined;
  }
}

/**
 * One TCP connection: the handshake, then frames in both directions. It is the {@link Link}
 * to its peer once open.
 */
class Connection implements Link, FrameSink {
  peer: NodeId;
  readonly role: "connect" | "accept";
  readonly #transport: TcpTransport;
  readonly #socket: net.Socket;
  readonly #dialer: Dialer | undefined;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #nonce = newNonce();
  #phase: Phase = "connecting";
  #timer: Subscription | undefined;
  #error: string | undefined;
  #errorCode: string | undefined;
  #closedPromise: Promise<void>;

  constructor(
    transport: TcpTransport,
    socket: net.Socket,
    role: "connect" | "accept",
    expected: NodeId | undefined,
    dialer?: Dialer,
  ) {
    this.#transport = transport;
    this.#socket = socket;
    this.role = role;
    this.peer = expected ?? ("?" as NodeId);
    this.#dialer = dialer;
    this.#reader = new FrameReader(this, HANDSHAKE_MAX_FRAME_BYTES);
    this.#writer = new FrameWriter((bytes) => this.#write(bytes));
    transport.track(this);
    this.#closedPromise = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Buffer) => this.#data(chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      this.#error = error.message;
      this.#errorCode = error.code;
    });
    socket.once("close", () => this.#onClose());
    const { handshakeTimeoutMs } = transport.options;
    this.#timer = transport.options.scheduler.schedule(() => {
      this.#timer = undefined;
      if (this.#phase === "open" || this.#phase === "closed") return;
      this.#log("warn", "handshake timed out; connection dropped", {
        timeoutMs: handshakeTimeoutMs,
      });
      socket.destroy();
    }, handshakeTimeoutMs);
  }

  get isOpen(): boolean {
    return this.#phase === "open";
  }

  /** Starts the handshake (once the socket can carry it). */
  begin(): void {
    if (this.#phase !== "connecting") return;
    this.#phase = "hello";
    if (this.role === "connect") {
      const { identity } = this.#transport.options;
      this.#writer.control(FrameKind.HELLO, encodeHello(identity, this.#nonce, EMPTY));
    }
  }

  /** Flushes, closes gracefully, and destroys the socket if that takes too long. */
  shutdown(): Promise<void> {
    if (this.#phase === "connecting") {
      // Nothing was said yet: no need to wait for a dial that may hang.
      this.#socket.destroy();
    } else if (this.#phase !== "closed") {
      this.#writer.flush();
      this.#reader.stop();
      this.#socket.end();
      const grace = this.#transport.options.scheduler.schedule(
        () => this.#socket.destroy(),
        CLOSE_GRACE_MS,
      );
      void this.#closedPromise.then(() => grace.unsubscribe());
    }
    return this.#closedPromise;
  }

  // ---- Link: frames out --------------------------------------------------------------

  oneWay(subject: string, payload: Uint8Array): void {
    if (this.#phase === "open") this.#writer.oneWay(subject, payload);
  }

  request(id: number, subject: string, payload: Uint8Array): void {
    if (this.#phase === "open") this.#writer.request(id, subject, payload);
  }

  reply(id: number, status: ReplyStatus, payload: Uint8Array): void {
    if (this.#phase === "open") this.#writer.reply(id, status, payload);
  }

  heartbeat(): void {
    if (this.#phase === "open") this.#writer.heartbeat();
  }

  // ---- FrameSink: frames in ----------------------------------------------------------

  onHello(body: Buffer): void {
    const { identity } = this.#transport.options;
    const { secret } = identity;
    if (this.#phase !== "hello") throw new FrameError(`hello during ${this.#phase}`);
    const remote = decodeHello(body);
    if (typeof remote === "string") {
      this.#refuse(remote);
      return;
    }
    if (this.role === "accept") this.peer = remote.node;
    const expected = this.role === "connect" ? this.peer : undefined;
    const reason = checkHello(identity, remote, this.#transport.members, expected);
    if (reason !== undefined) {
      this.#refuse(reason, remote.node);
      return;
    }
    if (this.role === "connect") {
      if (!proofMatches(secret, "accept", this.#nonce, remote.node, remote.proof)) {
        this.#refuse("cluster secret does not match", remote.node);
        return;
      }
      this.#writer.control(FrameKind.AUTH, proofOf(secret, "connect", remote.nonce, identity.node));
      this.#open();
    } else {
      this.#writer.control(
        FrameKind.HELLO,
        encodeHello(identity, this.#nonce, proofOf(secret, "accept", remote.nonce, identity.node)),
      );
      this.#phase = "auth";
    }
  }

  onAuth(proof: Buffer): void {
    if (this.#phase !== "auth") throw new FrameError(`auth during ${this.#phase}`);
    const { secret } = this.#transport.options.identity;
    if (!proofMatches(secret, "connect", this.#nonce, this.peer, proof)) {
      this.#refuse("cluster secret does not match", this.peer);
      return;
    }
    this.#open();
  }

  onRefuse(reason: string): void {
    this.#log("warn", "peer refused the handshake", { reason });
    this.#reader.stop();
    this.#socket.destroy();
  }

  onOneWay(subject: string, payload: Buffer): void {
    this.#handler().oneWay(this, subject, payload);
  }

  onRequest(id: number, subject: string, payload: Buffer): void {
    this.#handler().request(this, id, subject, payload);
  }

  onReply(id: number, status: ReplyStatus, payload: Buffer): void {
    this.#handler().reply(this, id, status, payload);
  }

  onHeartbeat(): void {
    this.#handler().heartbeat(this);
  }

  // ---- internals ---------------------------------------------------------------------

  #handler(): LinkHandler {
    const handler = this.#transport.handler;
    if (this.#phase !== "open" || handler === undefined) {
      throw new FrameError(`message before the handshake completed (${this.#phase})`);
    }
    return handler;
  }

  #open(): void {
    this.#phase = "open";
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    this.#reader.maxFrameBytes = this.#transport.options.maxFrameBytes;
    this.#log("debug", "connection open", {});
    this.#dialer?.opened();
    this.#transport.opened(this);
  }

  #refuse(reason: string, claimed?: string): void {
    this.#log("warn", "handshake refused", {
      reason,
      ...(claimed === undefined ? {} : { claimed }),
    });
    this.#writer.control(FrameKind.REFUSE, textEncoder.encode(reason));
    this.#writer.flush();
    this.#phase = "closed";
    this.#reader.stop();
    this.#socket.end();
    const grace = this.#transport.options.scheduler.schedule(
      () => this.#socket.destroy(),
      CLOSE_GRACE_MS,
    );
    void this.#closedPromise.then(() => grace.unsubscribe());
  }

  #data(chunk: Buffer): void {
    try {
      this.#reader.push(chunk);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (error instanceof FrameError) {
        this.#log("warn", "malformed input; connection dropped", { reason });
      } else {
        this.#log("error", "failure while handling input; connection dropped", { reason });
      }
      this.#reader.stop();
      this.#socket.destroy();
    }
  }

  #write(bytes: Buffer): void {
    if (this.#socket.destroyed) return;
    this.#socket.write(bytes);
    const { maxBufferedBytes } = this.#transport.options;
    if (this.#socket.writableLength > maxBufferedBytes) {
      this.#log("warn", "peer is not reading; connection dropped", {
        bufferedBytes: this.#socket.writableLength,
      });
      this.#socket.destroy();
    }
  }

  #onClose(): void {
    const wasOpen = this.#phase === "open";
    this.#phase = "closed";
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    this.#writer.close();
    this.#reader.stop();
    this.#transport.closedConnection(this, wasOpen);
    this.#dialer?.closed(this, wasOpen, this.#error, this.#errorCode);
  }

  #log(
    level: "debug" | "info" | "warn" | "error",
    message: string,
    fields: Record<string, unknown>,
  ): void {
    this.#transport.options.logger[level](message, {
      peer: this.peer,
      role: this.role,
      address: `${this.#socket.remoteAddress}:${this.#socket.remotePort}`,
      ...fields,
    });
  }
}
