import type { NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId, Term } from "@flowstore/flow-bucket";
import type { Mastership } from "@flowstore/mastership";
import type { SchedulerLike, Subject } from "rxjs";
import type { StoreConfig } from "../config.js";
import { FlowStoreError } from "../flowStoreError.js";
import type { FlowStoreEvent } from "../flowStoreEvent.js";
import type { Logger } from "../logger.js";
import type { TableStatistics } from "../messages.js";
import type { Exchange, MessageOf, StoreChannel } from "../storeMessaging.js";
import type { DeviceTables } from "./deviceTables.js";

/**
 * What the parts of one node's store share: its tables, its channel to the other nodes, its
 * clock and the stream its events go out on.
 */
export interface StoreContext {
  readonly localNode: NodeId;
  readonly mastership: Mastership<DeviceId>;
  readonly channel: StoreChannel;
  readonly scheduler: SchedulerLike;
  readonly log: Logger;
  readonly tables: DeviceTables;
  /** The store's `events$`. */
  readonly events: Subject<FlowStoreEvent>;
  /** The table statistics last reported per device (kept by its master). */
  readonly tableStats: Map<DeviceId, readonly TableStatistics[]>;
  /** The current configuration. */
  config(): StoreConfig;
  /** Resolves after `ms` on the store's scheduler (virtual time in tests). */
  wait(ms: number): Promise<void>;
  /** Throws `CLOSED` once the store is closed. */
  checkOpen(): void;
  /** Whether the store is closed. */
  isClosed(): boolean;
}

/** A request forwarded to this node as master: see {@link TermFence.admitForwarded}. */
export function checkTerm(context: StoreContext, device: DeviceId, senderTerm: Term): void {
  context.tables
    .table(device)
    .fence.admitForwarded(senderTerm, context.mastership.mastership(device));
}

/** A request to the master; a failed call becomes `TIMEOUT` or `UNAVAILABLE`. */
export async function forward<E extends Exchange>(
  context: StoreContext,
  master: NodeId,
  exchange: E,
  request: MessageOf<E["request"]>,
): Promise<MessageOf<E["reply"]>> {
  try {
    return await context.channel.call(master, exchange, request, context.config().requestTimeout);
  } catch (error) {
    throw FlowStoreError.from(error, `master ${master} did not answer`);
  }
}
