import type { Buffer } from "node:buffer";
import type * as net from "node:net";
import { messageOf } from "@flowstore/serializers";
import type { Subscription } from "rxjs";
import {
  FrameError,
  FrameKind,
  FrameReader,
  type FrameSink,
  FrameWriter,
  type ReplyStatus,
} from "../frame.js";
import {
  checkHello,
  decodeHello,
  encodeHello,
  newNonce,
  proofMatches,
  proofOf,
} from "../handshake.js";
import type { Link, LinkHandler } from "../link.js";
import type { NodeId } from "../node.js";
import type { Dialer } from "./dialer.js";
import type { TcpTransport } from "./transport.js";

/** Largest frame accepted before the handshake completes (a hello is a few hundred bytes). */
const HANDSHAKE_MAX_FRAME_BYTES = 4096;
/** How long a closing connection may take to finish its writes before it is destroyed. */
const CLOSE_GRACE_MS = 1000;
const EMPTY = new Uint8Array(0);
const textEncoder = new TextEncoder();

/**
 * Where a connection is: `connecting` until the socket can carry the handshake, `hello` until
 * the hellos are exchanged, `auth` (the acceptor only) until the dialler's proof arrives, then
 * `open`; `closed` from a refusal or the socket's close on, whatever the phase before.
 */
type Phase = "connecting" | "hello" | "auth" | "open" | "closed";

/**
 * One TCP connection: the handshake, then frames in both directions. It is the {@link Link}
 * to its peer once open.
 */
export class Connection implements Link, FrameSink {
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
      this.#end();
    }
    return this.#closedPromise;
  }

  /** Flushes, stops reading and ends the socket; destroys it if it is not closed in time. */
  #end(): void {
    this.#writer.flush();
    this.#reader.stop();
    this.#socket.end();
    const grace = this.#transport.options.scheduler.schedule(
      () => this.#socket.destroy(),
      CLOSE_GRACE_MS,
    );
    void this.#closedPromise.then(() => grace.unsubscribe());
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
    this.#phase = "closed";
    this.#end();
  }

  #data(chunk: Buffer): void {
    try {
      this.#reader.push(chunk);
    } catch (error) {
      const reason = messageOf(error);
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
