import type { DeviceId, FlowEntry } from "@flowstore/flow-bucket";
import { FlowStoreError } from "../flowStoreError.js";
import { type MessageOf, SUBJECTS } from "../storeMessaging.js";
import { assertNever } from "./assertNever.js";
import { checkTerm, forward, type StoreContext } from "./storeContext.js";

const PAGE_ENTRIES = 10_000;

/**
 * Reads, answered by the device's master: forwarded there, answered once its term is active,
 * and a device's entries paged by buckets so a large table never travels in one message.
 */
export class Reads {
  readonly #context: StoreContext;
  readonly #isDeviceAvailable: ((device: DeviceId) => boolean) | undefined;

  constructor(context: StoreContext, isDeviceAvailable?: (device: DeviceId) => boolean) {
    this.#context = context;
    this.#isDeviceAvailable = isDeviceAvailable;
  }

  /** A read on the device's master (here or forwarded); a device with no master that is not connected is answered from the local copy. */
  async read(request: MessageOf<"ReadRequest">): Promise<MessageOf<"ReadReply">> {
    const context = this.#context;
    context.checkOpen();
    const info = context.mastership.mastership(request.deviceId);
    if (info.master === context.localNode) return this.#readOnMaster(request);
    if (info.master === undefined) {
      const available = this.#isDeviceAvailable?.(request.deviceId) ?? true;
      if (!available) return this.#readLocal(request);
      throw new FlowStoreError(
        "NO_MASTER",
        `no master for ${request.deviceId}; its flows cannot be read now`,
      );
    }
    return forward(context, info.master, SUBJECTS.read, request);
  }

  /** A read forwarded to this node as master. */
  onRead(request: MessageOf<"ReadRequest">): Promise<MessageOf<"ReadReply">> {
    // A read carries no term: only "is this node the master" is checked.
    checkTerm(this.#context, request.deviceId, 0);
    return this.#readOnMaster(request);
  }

  /** Every entry of `device`, read on the master a page (10,000 entries) at a time. */
  async *pages(device: DeviceId): AsyncGenerator<readonly FlowEntry[]> {
    let from: number | null = 0;
    while (from !== null) {
      const reply = await this.read({
        kind: "ENTRIES",
        deviceId: device,
        fromBucket: from,
        maxEntries: PAGE_ENTRIES,
      });
      if (reply.kind !== "ENTRIES") return unexpected(reply.kind);
      yield reply.entries;
      from = reply.nextBucket;
    }
  }

  /**
   * A read on the master, once its term is active: until then its copy may lack what the
   * previous master acknowledged (a delete answered from it would find nothing to delete).
   */
  #readOnMaster(request: MessageOf<"ReadRequest">): Promise<MessageOf<"ReadReply">> {
    return this.#context.tables.table(request.deviceId).read(() => this.#readLocal(request));
  }

  #readLocal(request: MessageOf<"ReadRequest">): MessageOf<"ReadReply"> {
    const table = this.#context.tables.get(request.deviceId)?.table;
    switch (request.kind) {
      case "ENTRY":
        return { kind: "ENTRY", entry: table?.find(request.rule) ?? null };
      case "ENTRY_BY_ID":
        return { kind: "ENTRY", entry: table?.get(request.flowId) ?? null };
      case "ENTRIES": {
        const entries: FlowEntry[] = [];
        let nextBucket: number | null = null;
        for (const bucket of table?.buckets() ?? []) {
          if (bucket.index < request.fromBucket) continue;
          if (entries.length >= request.maxEntries) {
            nextBucket = bucket.index;
            break;
          }
          for (const entry of bucket.entries()) entries.push(entry);
        }
        return { kind: "ENTRIES", entries, nextBucket };
      }
      case "COUNT": {
        if (table === undefined) return { kind: "COUNT", count: 0 };
        if (request.state === undefined) return { kind: "COUNT", count: table.size };
        return { kind: "COUNT", count: table.countOf(request.state) };
      }
      case "TABLE_STATS":
        return {
          kind: "TABLE_STATS",
          tables: [...(this.#context.tableStats.get(request.deviceId) ?? [])],
        };
      default:
        return assertNever(request);
    }
  }
}

/** A master answered a read with another kind of reply than asked for: a protocol error. */
export function unexpected(kind: string): never {
  throw new FlowStoreError("UNAVAILABLE", `the master answered a read with a ${kind} reply`);
}
