import type { Subscription } from "rxjs";
import type { ControllerNode } from "../node.js";
import { Connection } from "./connection.js";
import { connectSocket } from "./sockets.js";
import type { TcpTransport } from "./transport.js";

/** Backoff of reconnection attempts to a node that has no connection. */
export interface ReconnectOptions {
  /** Delay after the first failure (default 100 ms). */
  readonly initialDelayMs: number;
  /** Largest delay, reached by doubling (default 5 s). */
  readonly maxDelayMs: number;
}

/** Keeps one outbound connection to a peer, redialling with backoff while there is none. */
export class Dialer {
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
    const socket = connectSocket(this.node, this.transport.options.tls, () => connection?.begin());
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
