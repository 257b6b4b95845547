import type { ClusterMessaging, NodeId } from "@flowstore/cluster-messaging";
import type { Subscription } from "rxjs";
import { type StoreMessageType, storeNamespace } from "./messages.js";

/**
 * What the store needs from cluster messaging: request/reply by subject, with bytes.
 *
 * @remarks A narrow port so the store runs unchanged over TCP, the in-memory transport of the
 * simulation tests, or anything else; `fromClusterMessaging` adapts the real thing.
 */
export interface StoreMessaging {
  readonly localNode: NodeId;
  /** Sends `payload` to `node` on `subject` and resolves with the reply, or rejects (timeout, refusal). */
  request(
    node: NodeId,
    subject: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array>;
  /** Answers requests on `subject` until the returned subscription is unsubscribed. */
  serve(
    subject: string,
    handler: (payload: Uint8Array, from: NodeId) => Promise<Uint8Array> | Uint8Array,
  ): Subscription;
}

/**
 * Flow entries in one backup message or sync answer at most (a single bigger bucket still
 * goes alone): a whole large table in one message would pass the cluster's frame limit
 * (16 MiB, about 100,000 entries), and the connection would be dropped on every attempt.
 */
export const MAX_MESSAGE_ENTRIES = 20_000;

/** The value of a store message type. */
export type MessageOf<T extends StoreMessageType> = ReturnType<
  ReturnType<typeof storeNamespace.serializer<T>>["decode"]
>;

/** The store's subjects, each with its request and reply type. */
export const SUBJECTS = {
  backup: { subject: "flowstore.backup", request: "BackupRequest", reply: "BackupReply" },
  summary: { subject: "flowstore.summary", request: "SummaryRequest", reply: "SummaryReply" },
  syncDigests: {
    subject: "flowstore.sync-digests",
    request: "SyncDigestsRequest",
    reply: "SyncDigestsReply",
  },
  syncBuckets: {
    subject: "flowstore.sync-buckets",
    request: "SyncBucketsRequest",
    reply: "SyncBucketsReply",
  },
  applyBatches: {
    subject: "flowstore.apply-batches",
    request: "ApplyBatchesRequest",
    reply: "ApplyBatchesReply",
  },
  batchesCompleted: {
    subject: "flowstore.batches-completed",
    request: "BatchesCompleted",
    reply: "Ack",
  },
  read: { subject: "flowstore.read", request: "ReadRequest", reply: "ReadReply" },
  change: { subject: "flowstore.change", request: "RuleChangeRequest", reply: "RuleChangeReply" },
} as const satisfies Record<
  string,
  { subject: string; request: StoreMessageType; reply: StoreMessageType }
>;

/** One of the store's request/reply exchanges. */
export type Exchange = (typeof SUBJECTS)[keyof typeof SUBJECTS];

/** Typed request/reply over a {@link StoreMessaging}: encodes, sends, decodes and validates. */
export class StoreChannel {
  /** Requests sent and their encoded bytes, per subject. */
  readonly sent = new Map<string, { messages: number; bytes: number }>();
  readonly #messaging: StoreMessaging;
  /** The last request encoded (see `#encode`). */
  #lastEncoded: { exchange: Exchange; request: unknown; bytes: Uint8Array } | undefined;

  constructor(messaging: StoreMessaging) {
    this.#messaging = messaging;
  }

  get localNode(): NodeId {
    return this.#messaging.localNode;
  }

  async call<E extends Exchange>(
    node: NodeId,
    exchange: E,
    request: MessageOf<E["request"]>,
    timeoutMs: number,
  ): Promise<MessageOf<E["reply"]>> {
    const bytes = this.#encode(exchange, request);
    const sent = this.sent.get(exchange.subject) ?? { messages: 0, bytes: 0 };
    sent.messages++;
    sent.bytes += bytes.length;
    this.sent.set(exchange.subject, sent);
    const reply = await this.#messaging.request(node, exchange.subject, bytes, timeoutMs);
    return storeNamespace.serializer(exchange.reply).decode(reply) as MessageOf<E["reply"]>;
  }

  /**
   * `request` encoded; the same request object sent again (one message to several nodes, as a
   * backup round to a device's backups) is encoded once.
   */
  #encode(exchange: Exchange, request: unknown): Uint8Array {
    const last = this.#lastEncoded;
    if (last !== undefined && last.request === request && last.exchange === exchange) {
      return last.bytes;
    }
    const bytes = storeNamespace.serializer(exchange.request).encode(request as never);
    this.#lastEncoded = { exchange, request, bytes };
    return bytes;
  }

  serve<E extends Exchange>(
    exchange: E,
    handler: (
      request: MessageOf<E["request"]>,
      from: NodeId,
    ) => Promise<MessageOf<E["reply"]>> | MessageOf<E["reply"]>,
  ): Subscription {
    const decode = storeNamespace.serializer(exchange.request);
    const encode = storeNamespace.serializer(exchange.reply);
    return this.#messaging.serve(exchange.subject, async (payload, from) => {
      const request = decode.decode(payload) as MessageOf<E["request"]>;
      return encode.encode((await handler(request, from)) as never);
    });
  }
}

/** The store's port over cluster messaging's request/reply (`sendAndReceive` / `serve`). */
export function fromClusterMessaging(messaging: ClusterMessaging): StoreMessaging {
  return {
    localNode: messaging.localNode,
    request: (node, subject, payload, timeoutMs) =>
      messaging.sendAndReceive(node, subject, payload, { timeoutMs }),
    serve: (subject, handler) => messaging.serve(subject, handler),
  };
}
