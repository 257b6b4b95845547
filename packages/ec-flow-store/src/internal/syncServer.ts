import type { DeviceId, Term } from "@flowstore/flow-bucket";
import type { Subscription } from "rxjs";
import { type MessageOf, type StoreChannel, SUBJECTS } from "../storeMessaging.js";
import type { DeviceFlowTable } from "./deviceFlowTable.js";
import type { DeviceTables } from "./deviceTables.js";

/**
 * Flow entries in one sync answer at most (a single bigger bucket still goes alone), as in a
 * backup message: a whole large table in one answer would pass the cluster's frame limit
 * (16 MiB, about 100,000 entries), and the connection would be dropped on every attempt.
 */
export const SYNC_REPLY_ENTRIES = 20_000;

/**
 * The replica side of synchronization: a new master asks this node for its digests of a
 * device, then for the buckets it lacks — answered with as many of them as fit in
 * `maxEntriesPerReply` entries; it asks again for the rest. Returns the handlers'
 * subscriptions.
 */
export function serveSync(
  channel: StoreChannel,
  tables: DeviceTables,
  maxEntriesPerReply = SYNC_REPLY_ENTRIES,
): Subscription[] {
  return [
    channel.serve(SUBJECTS.syncDigests, (r) => onSyncDigests(tables, r)),
    channel.serve(SUBJECTS.syncBuckets, (r) => onSyncBuckets(tables, r, maxEntriesPerReply)),
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
  maxEntries: number,
): MessageOf<"SyncBucketsReply"> {
  const table = fencedReplica(tables, request.deviceId, request.term, request.clock);
  return {
    clock: table.table.clock.current,
    buckets: table.snapshotsWithin(request.buckets, maxEntries),
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
