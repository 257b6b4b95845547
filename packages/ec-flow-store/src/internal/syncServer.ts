import type { DeviceId, Term } from "@flowstore/flow-bucket";
import type { Subscription } from "rxjs";
import {
  MAX_MESSAGE_ENTRIES,
  type MessageOf,
  type StoreChannel,
  SUBJECTS,
} from "../storeMessaging.js";
import type { DeviceFlowTable } from "./deviceFlowTable.js";
import type { DeviceTables } from "./deviceTables.js";

/**
 * The replica side of synchronization: a new master asks this node for its digests of a
 * device, then for the buckets it lacks — answered with as many of them as fit in one
 * message (`MAX_MESSAGE_ENTRIES`); it asks again for the rest. Returns the handlers'
 * subscriptions.
 */
export function serveSync(channel: StoreChannel, tables: DeviceTables): Subscription[] {
  return [
    channel.serve(SUBJECTS.syncDigests, (r) => onSyncDigests(tables, r)),
    channel.serve(SUBJECTS.syncBuckets, (r) => onSyncBuckets(tables, r)),
  ];
}

function onSyncDigests(
  tables: DeviceTables,
  request: MessageOf<"SyncDigestsRequest">,
): MessageOf<"SyncDigestsReply"> {
  const table = fencedReplica(tables, request.deviceId, request.term, request.clock);
  const activated = table.lastActivated;
  return {
    clock: table.table.clock.current,
    digests: table.digests(),
    activated:
      activated === undefined
        ? null
        : {
            term: activated.term,
            ...(activated.master === undefined ? {} : { master: activated.master }),
            backups: [...activated.backups],
          },
  };
}

function onSyncBuckets(
  tables: DeviceTables,
  request: MessageOf<"SyncBucketsRequest">,
): MessageOf<"SyncBucketsReply"> {
  const table = fencedReplica(tables, request.deviceId, request.term, request.clock);
  return {
    clock: table.table.clock.current,
    buckets: table.snapshotsWithin(request.buckets, MAX_MESSAGE_ENTRIES),
  };
}

/** A replica asked by the master of `term`: refuses an older master, and a newer one fences this node. */
function fencedReplica(
  tables: DeviceTables,
  device: DeviceId,
  term: Term,
  clock: number,
): DeviceFlowTable {
  const table = tables.table(device);
  table.fence.admitSync(term);
  table.table.clock.observe(clock);
  return table;
}
