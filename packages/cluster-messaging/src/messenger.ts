import { messageOf } from "@flowstore/serializers";
import { Observable, type SchedulerLike, type Subscriber, Subscription } from "rxjs";
import type { ReplyStatus } from "./frame.js";
import { LoopbackLink } from "./internal/loopbackLink.js";
import { type Expirable, TimeoutQueue } from "./internal/timeoutQueue.js";
import type { Link, LinkHandler } from "./link.js";
import type { Logger } from "./logger.js";
import type {
  ClusterMessaging,
  InboundMessage,
  RefusalStatus,
  RequestHandler,
  RequestOptions,
} from "./messaging.js";
import { MessagingError } from "./messagingError.js";
import type { NodeId } from "./node.js";

const NO_REPLY = -1;
const EMPTY = new Uint8Array(0);
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

type Listener = (message: Inbound) => void;

/** What a {@link Messenger} needs around it. */
export interface MessengerOptions {
  readonly localNode: NodeId;
  readonly members: ReadonlySet<NodeId>;
  readonly links: (peer: NodeId) => Link | undefined;
  readonly scheduler: SchedulerLike;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /** Called for each heartbeat that arrives. */
  readonly onHeartbeat: (from: NodeId) => void;
  /** Called when a connection to `peer` is refused (its process is gone). */
  readonly onRefused?: (peer: NodeId) => void;
}

/**
 * The messaging layer over any transport: subjects, requests and their replies, timeouts,
 * and the in-process path to the local node.
 *
 * @remarks Hot paths avoid per-message closures and timers: request timeouts share one
 * timer per timeout value ({@link TimeoutQueue}); inbound messages are instances of one class.
 */
export class Messenger implements ClusterMessaging, LinkHandler {
  readonly localNode: NodeId;
  readonly #options: MessengerOptions;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #served = new Set<string>();
  readonly #subscribers = new Set<Subscriber<InboundMessage>>();
  readonly #loopback: LoopbackLink;
  readonly #timeouts: TimeoutQueue<PendingRequest>;
  #nextId = 0;
  #closed = false;

  constructor(options: MessengerOptions) {
    this.localNode = options.localNode;
    this.#options = options;
    this.#loopback = new LoopbackLink(options.localNode, this);
    this.#timeouts = new TimeoutQueue(options.scheduler, (pending) => this.timeOut(pending));
  }

  /** The logger lines about this node's messages go to. */
  get logger(): Logger {
    return this.#options.logger;
  }

  unicast(to: NodeId, subject: string, payload: Uint8Array): boolean {
    const link = this.#linkTo(to);
    if (link === undefined) return false;
    link.oneWay(checkSubject(subject), payload);
    return true;
  }

  broadcast(subject: string, payload: Uint8Array): number {
    let sent = 0;
    for (const node of this.#options.members) {
      if (node !== this.localNode && this.unicast(node, subject, payload)) sent++;
    }
    return sent;
  }

  multicast(nodes: Iterable<NodeId>, subject: string, payload: Uint8Array): number {
    let sent = 0;
    for (const node of nodes) if (this.unicast(node, subject, payload)) sent++;
    return sent;
  }

  sendAndReceive(
    to: NodeId,
    subject: string,
    payload: Uint8Array,
    options: RequestOptions = {},
  ): Promise<Uint8Array> {
    if (this.#closed) {
      return Promise.reject(
        new MessagingError("CLOSED", "the local node is closed", { node: to, subject }),
      );
    }
    checkSubject(subject);
    const link = this.#linkTo(to);
    if (link === undefined) {
      const why = this.#options.members.has(to) ? "no connection to" : "not a member:";
      return Promise.reject(
        new MessagingError("UNREACHABLE", `${why} ${to}`, { node: to, subject }),
      );
    }
    this.#nextId = (this.#nextId + 1) >>> 0;
    const id = this.#nextId;
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs;
    return new Promise<Uint8Array>((resolve, reject) => {
      const pending = new PendingRequest(id, link, subject, timeoutMs, resolve, reject);
      this.#pending.set(id, pending);
      this.#timeouts.add(pending, timeoutMs);
      link.request(id, subject, payload);
    });
  }

  subscribe(subject: string): Observable<InboundMessage> {
    checkSubject(subject);
    return new Observable<InboundMessage>((subscriber) => {
      if (this.#closed) {
        subscriber.complete();
        return;
      }
      const listener: Listener = (message) => subscriber.next(message);
      this.#addListener(subject, listener);
      this.#subscribers.add(subscriber);
      return () => {
        this.#subscribers.delete(subscriber);
        this.#removeListener(subject, listener);
      };
    });
  }

  serve(subject: string, handler: RequestHandler): Subscription {
    checkSubject(subject);
    if (this.#served.has(subject))
      throw new MessagingError("INVALID_ARGUMENT", `subject ${subject} is already served`);
    if (this.#closed) return Subscription.EMPTY;
    const listener: Listener = (message) => this.#handle(message, handler);
    this.#served.add(subject);
    this.#addListener(subject, listener);
    // A Subscription runs its teardown once, however often it is unsubscribed.
    return new Subscription(() => {
      this.#served.delete(subject);
      this.#removeListener(subject, listener);
    });
  }

  // ---- LinkHandler: what the transport delivers -------------------------------------

  oneWay(link: Link, subject: string, payload: Uint8Array): void {
    this.#deliver(link, subject, payload, NO_REPLY);
  }

  request(link: Link, id: number, subject: string, payload: Uint8Array): void {
    this.#deliver(link, subject, payload, id);
  }

  reply(link: Link, id: number, status: ReplyStatus, payload: Uint8Array): void {
    const pending = this.#pending.get(id);
    if (pending === undefined || pending.link !== link) {
      this.#options.logger.debug("reply to no pending request; dropped", { from: link.peer, id });
      return;
    }
    this.#settle(pending);
    if (status === "OK") {
      pending.resolve(payload);
      return;
    }
    const reason = textDecoder.decode(payload);
    const { peer } = link;
    const context = { node: peer, subject: pending.subject };
    switch (status) {
      case "NO_HANDLER":
        pending.reject(
          new MessagingError(
            "NO_HANDLER",
            `${peer} has no handler for ${pending.subject}`,
            context,
          ),
        );
        return;
      case "HANDLER_ERROR":
        pending.reject(
          new MessagingError(
            "HANDLER_ERROR",
            `handler of ${pending.subject} on ${peer} failed: ${reason}`,
            context,
          ),
        );
        return;
      case "PROTOCOL_ERROR":
        pending.reject(
          new MessagingError(
            "PROTOCOL_ERROR",
            `${peer} refused ${pending.subject}: ${reason}`,
            context,
          ),
        );
        return;
      default:
        assertNever(status);
        return;
    }
  }

  heartbeat(link: Link): void {
    this.#options.onHeartbeat(link.peer);
  }

  refused(peer: NodeId): void {
    this.#options.onRefused?.(peer);
  }

  linkDown(link: Link): void {
    for (const pending of [...this.#pending.values()]) {
      if (pending.link !== link) continue;
      this.#settle(pending);
      pending.reject(
        new MessagingError("UNREACHABLE", `connection to ${link.peer} lost before the reply`, {
          node: link.peer,
          subject: pending.subject,
        }),
      );
    }
  }

  /** Rejects pending requests (`CLOSED`), completes subscriptions, removes handlers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of [...this.#pending.values()]) {
      this.#settle(pending);
      pending.reject(
        new MessagingError("CLOSED", "the local node closed before the reply", {
          node: pending.link.peer,
          subject: pending.subject,
        }),
      );
    }
    this.#timeouts.close();
    for (const subscriber of [...this.#subscribers]) subscriber.complete();
    this.#subscribers.clear();
    this.#listeners.clear();
    this.#served.clear();
  }

  // ---- internals ------------------------------------------------------------------------

  /** @internal Sends the reply of an inbound request. */
  sendReply(
    message: Inbound,
    link: Link,
    id: number,
    status: ReplyStatus,
    payload: Uint8Array,
  ): void {
    if (this.#closed) return;
    if (status !== "OK") {
      this.#options.logger.warn("message refused", {
        from: message.from,
        subject: message.subject,
        status,
        reason: textDecoder.decode(payload),
      });
    }
    link.reply(id, status, payload);
  }

  /** @internal Logs a refused one-way message. */
  logDropped(message: Inbound, status: RefusalStatus, reason: string): void {
    this.#options.logger.warn("message refused", {
      from: message.from,
      subject: message.subject,
      status,
      reason,
    });
  }

  /** @internal Times out a pending request. */
  timeOut(pending: PendingRequest): void {
    if (this.#pending.get(pending.id) !== pending) return;
    this.#pending.delete(pending.id);
    pending.settled = true;
    pending.reject(
      new MessagingError(
        "TIMEOUT",
        `no reply from ${pending.link.peer} on ${pending.subject} within ${pending.timeoutMs} ms`,
        {
          node: pending.link.peer,
          subject: pending.subject,
        },
      ),
    );
  }

  #settle(pending: PendingRequest): void {
    this.#pending.delete(pending.id);
    pending.settled = true;
    this.#timeouts.settled(pending.timeoutMs);
  }

  #linkTo(to: NodeId): Link | undefined {
    if (this.#closed) return undefined;
    if (to === this.localNode) return this.#loopback;
    if (!this.#options.members.has(to)) return undefined;
    return this.#options.links(to);
  }

  #deliver(link: Link, subject: string, payload: Uint8Array, id: number): void {
    if (this.#closed) return;
    const listeners = this.#listeners.get(subject);
    if (listeners === undefined || listeners.size === 0) {
      if (id === NO_REPLY) {
        this.#options.logger.info("message on a subject nothing handles; dropped", {
          from: link.peer,
          subject,
        });
      } else {
        this.#options.logger.info("request on a subject nothing handles; refused", {
          from: link.peer,
          subject,
        });
        link.reply(id, "NO_HANDLER", EMPTY);
      }
      return;
    }
    const message = new Inbound(this, link, subject, payload, id);
    for (const listener of listeners) listener(message);
  }

  #handle(message: Inbound, handler: RequestHandler): void {
    let result: ReturnType<RequestHandler>;
    try {
      result = handler(message.payload, message.from);
    } catch (error) {
      message.reject(refusalOf(error), messageOf(error));
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (reply) => message.reply(reply ?? EMPTY),
        (error: unknown) => message.reject(refusalOf(error), messageOf(error)),
      );
    } else {
      message.reply(result ?? EMPTY);
    }
  }

  #addListener(subject: string, listener: Listener): void {
    let set = this.#listeners.get(subject);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(subject, set);
    }
    set.add(listener);
  }

  #removeListener(subject: string, listener: Listener): void {
    const set = this.#listeners.get(subject);
    if (set === undefined) return;
    set.delete(listener);
    if (set.size === 0) this.#listeners.delete(subject);
  }
}

/** A request waiting for its reply. */
class PendingRequest implements Expirable {
  deadline = 0;
  settled = false;
  constructor(
    readonly id: number,
    readonly link: Link,
    readonly subject: string,
    readonly timeoutMs: number,
    readonly resolve: (reply: Uint8Array) => void,
    readonly reject: (error: MessagingError) => void,
  ) {}
}

/** An inbound message; one class so the hot path allocates no closures. */
class Inbound implements InboundMessage {
  readonly from: NodeId;
  #answered = false;
  constructor(
    private readonly owner: Messenger,
    private readonly link: Link,
    readonly subject: string,
    readonly payload: Uint8Array,
    private readonly requestId: number,
  ) {
    this.from = link.peer;
  }

  get expectsReply(): boolean {
    return this.requestId !== NO_REPLY;
  }

  reply(payload: Uint8Array): boolean {
    if (this.requestId === NO_REPLY || this.#answered) return false;
    this.#answered = true;
    this.owner.sendReply(this, this.link, this.requestId, "OK", payload);
    return true;
  }

  reject(status: RefusalStatus, reason: string): void {
    if (this.requestId === NO_REPLY) {
      this.owner.logDropped(this, status, reason);
      return;
    }
    if (this.#answered) return;
    this.#answered = true;
    this.owner.sendReply(this, this.link, this.requestId, status, textEncoder.encode(reason));
  }
}

function checkSubject(subject: string): string {
  if (typeof subject !== "string" || subject.length === 0 || subject.length > 255) {
    throw new RangeError(`a subject is 1…255 characters, got ${JSON.stringify(subject)}`);
  }
  return subject;
}

/** A handler refuses a payload as invalid by throwing a `PROTOCOL_ERROR` {@link MessagingError}. */
function refusalOf(error: unknown): RefusalStatus {
  return error instanceof MessagingError && error.code === "PROTOCOL_ERROR"
    ? "PROTOCOL_ERROR"
    : "HANDLER_ERROR";
}

function assertNever(value: never): never {
  throw new Error(`unexpected ${String(value)}`);
}
