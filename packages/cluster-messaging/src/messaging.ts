import type { Observable, Subscription } from "rxjs";
import type { NodeId } from "./node.js";

/** Options of one request. */
export interface RequestOptions {
  /** How long to wait for the reply (default: the node's `requestTimeoutMs`, 5 s). */
  readonly timeoutMs?: number;
}

/** A status a receiver can answer a request with instead of a reply. */
export type RefusalStatus = "HANDLER_ERROR" | "PROTOCOL_ERROR";

/** A message that arrived on a subject. */
export interface InboundMessage {
  readonly from: NodeId;
  readonly subject: string;
  /** The bytes sent. A view that stays valid; copy it only to mutate it. */
  readonly payload: Uint8Array;
  /** Whether the sender waits for a reply (`sendAndReceive`) rather than `unicast` & co. */
  readonly expectsReply: boolean;
  /** Sends the reply; `false` if none is expected or one was already sent. */
  reply(payload: Uint8Array): boolean;
  /**
   * Refuses the message with `status` and a reason, logged here and, for a request, sent
   * to the caller (who gets a `MessagingError` with that code).
   */
  reject(status: RefusalStatus, reason: string): void;
}

/**
 * Answers requests on a subject; its result is the reply. Throwing answers `HANDLER_ERROR`,
 * except a `MessagingError` with code `PROTOCOL_ERROR` (an invalid payload), which answers that.
 */
export type RequestHandler = (
  payload: Uint8Array,
  from: NodeId,
) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

/**
 * Messages between cluster nodes, by subject.
 *
 * @remarks Payloads are bytes; {@link createChannel} adds a `Serializer` per subject for typed,
 * validated payloads. A message to the local node takes an in-process path (still
 * asynchronous). One-way sends return at once: `true` means handed to an open connection,
 * not delivered — a peer that dies a moment later loses it. Requests fail with a
 * `MessagingError` whose code says why.
 */
export interface ClusterMessaging {
  readonly localNode: NodeId;
  /** Sends to one node; `false` if there is no connection to it (or the node is closed). */
  unicast(to: NodeId, subject: string, payload: Uint8Array): boolean;
  /** Sends to every other node that has a connection; returns how many. */
  broadcast(subject: string, payload: Uint8Array): number;
  /** Sends to each of `nodes` (the local node included if listed); returns how many. */
  multicast(nodes: Iterable<NodeId>, subject: string, payload: Uint8Array): number;
  /** Sends a request and resolves with the reply, or rejects with a `MessagingError`. */
  sendAndReceive(
    to: NodeId,
    subject: string,
    payload: Uint8Array,
    options?: RequestOptions,
  ): Promise<Uint8Array>;
  /**
   * Every message that arrives on `subject` while subscribed. Reply with
   * `message.reply(bytes)`; for async handlers prefer {@link ClusterMessaging.serve}.
   * Completes when the node closes. A subscriber must not throw.
   */
  subscribe(subject: string): Observable<InboundMessage>;
  /**
   * Answers every request on `subject` with `handler`'s result (which may be a promise);
   * a throw or rejection answers `HANDLER_ERROR`. One-way messages are passed to it too
   * and its result ignored. At most one handler per subject; unsubscribing the returned
   * subscription removes it.
   */
  serve(subject: string, handler: RequestHandler): Subscription;
}
