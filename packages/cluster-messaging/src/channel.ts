import { messageOf, type Serializer } from "@flowstore/serializers";
import { Observable, type Subscription } from "rxjs";
import type { ClusterMessaging, InboundMessage, RequestOptions } from "./messaging.js";
import { MessagingError } from "./messagingError.js";
import type { NodeId } from "./node.js";

/** A subject with typed, validated payloads. */
export interface ChannelSpec<Req, Rep> {
  readonly subject: string;
  /** Encodes requests (and one-way messages) and validates them on receipt. */
  readonly request: Serializer<Req>;
  /** Encodes replies and validates them on receipt (omit for one-way-only subjects). */
  readonly reply?: Serializer<Rep>;
}

/** A typed inbound message: `value` passed validation. */
export interface TypedInbound<Req, Rep> {
  readonly from: NodeId;
  readonly value: Req;
  readonly expectsReply: boolean;
  /** Sends the reply (encoded with the channel's reply serializer). */
  reply(value: Rep): boolean;
  /** Refuses the message with a reason (sent to the caller as `HANDLER_ERROR`). */
  fail(reason: string): void;
}

/**
 * Typed messaging on one subject: payloads are encoded with the channel's serializers and
 * validated on receipt.
 *
 * @remarks An inbound payload that fails validation never reaches the handler or the
 * subscriber: it is dropped with a log line and, for a request, answered `PROTOCOL_ERROR`,
 * so the caller gets a `MessagingError` with that code. A reply that fails validation
 * rejects the caller's promise with `PROTOCOL_ERROR` too.
 */
export interface Channel<Req, Rep> {
  readonly subject: string;
  unicast(to: NodeId, value: Req): boolean;
  broadcast(value: Req): number;
  multicast(nodes: Iterable<NodeId>, value: Req): number;
  sendAndReceive(to: NodeId, value: Req, options?: RequestOptions): Promise<Rep>;
  /** Valid inbound messages on the subject. */
  subscribe(): Observable<TypedInbound<Req, Rep>>;
  /** Answers requests with `handler`'s (possibly async) result. */
  serve(handler: (value: Req, from: NodeId) => Rep | Promise<Rep>): Subscription;
}

/** A {@link Channel} for `spec` over `messaging`. */
export function createChannel<Req, Rep = never>(
  messaging: ClusterMessaging,
  spec: ChannelSpec<Req, Rep>,
): Channel<Req, Rep> {
  const { subject, request } = spec;
  const replySerializer = (): Serializer<Rep> => {
    if (spec.reply === undefined)
      throw new MessagingError("INVALID_ARGUMENT", `channel ${subject} has no reply serializer`);
    return spec.reply;
  };
  /** The decoded value, or `undefined` after refusing the message. */
  const decode = (message: InboundMessage): { value: Req } | undefined => {
    try {
      return { value: request.decode(message.payload) };
    } catch (error) {
      const reason = messageOf(error);
      message.reject("PROTOCOL_ERROR", `payload failed validation: ${reason}`);
      return undefined;
    }
  };
  const typed = (message: InboundMessage, value: Req): TypedInbound<Req, Rep> => ({
    from: message.from,
    value,
    expectsReply: message.expectsReply,
    reply: (reply) => message.reply(replySerializer().encode(reply)),
    fail: (reason) => message.reject("HANDLER_ERROR", reason),
  });

  return {
    subject,
    unicast: (to, value) => messaging.unicast(to, subject, request.encode(value)),
    broadcast: (value) => messaging.broadcast(subject, request.encode(value)),
    multicast: (nodes, value) => messaging.multicast(nodes, subject, request.encode(value)),
    async sendAndReceive(to, value, options) {
      const decoder = replySerializer();
      const bytes = await messaging.sendAndReceive(to, subject, request.encode(value), options);
      try {
        return decoder.decode(bytes);
      } catch (error) {
        const reason = messageOf(error);
        throw new MessagingError(
          "PROTOCOL_ERROR",
          `reply from ${to} failed validation: ${reason}`,
          {
            node: to,
            subject,
            cause: error,
          },
        );
      }
    },
    subscribe: () =>
      new Observable<TypedInbound<Req, Rep>>((subscriber) =>
        messaging.subscribe(subject).subscribe({
          next: (message) => {
            const decoded = decode(message);
            if (decoded !== undefined) subscriber.next(typed(message, decoded.value));
          },
          complete: () => subscriber.complete(),
        }),
      ),
    serve: (handler) =>
      messaging.serve(subject, async (payload, from) => {
        let value: Req;
        try {
          value = request.decode(payload);
        } catch (error) {
          const reason = messageOf(error);
          // The messenger answers a PROTOCOL_ERROR MessagingError with that status.
          throw new MessagingError("PROTOCOL_ERROR", `payload failed validation: ${reason}`, {
            subject,
            cause: error,
          });
        }
        const result = await handler(value, from);
        return spec.reply === undefined ? undefined : spec.reply.encode(result);
      }),
  };
}
