import { MessagingError, type NodeId } from "@flowstore/cluster-messaging";
import { type FlowBucketTable, isNewerThan, type Term } from "@flowstore/flow-bucket";
import type { ReplicaInfo } from "@flowstore/mastership";
import type { DeviceFlowTableOptions } from "./deviceFlowTable.js";
import type { TermFence } from "./termFence.js";

/** What a synchronization reads and merges into: one device's table on its new master. */
export interface SyncTarget {
  readonly deviceId: DeviceFlowTableOptions["deviceId"];
  readonly options: DeviceFlowTableOptions;
  readonly fence: TermFence;
  readonly table: FlowBucketTable;
  /** Whether the table was closed (the store is stopping). */
  closed(): boolean;
  /**
   * Whether this node keeps its tables on disk and, since it started, has neither activated a
   * term of the device nor taken a backup of it from an active master: what it holds is only
   * what its disk held, and it has no word yet of who holds newer writes.
   */
  restored(): boolean;
}

/** How often a restarted master asks again the nodes that have not answered yet, in ms. */
const RESTART_POLL_MS = 100;

/**
 * Pulls newer buckets from every replica that may hold the newest acknowledged writes, and
 * merges them bucket by bucket (the newer digest wins), before the term may activate.
 *
 * @remarks The writes are the last *activated* term's: its master acknowledged them, its
 * backups hold what was backed up. A term that never activated wrote nothing, and its master
 * may not yet have pulled them — so answers are not taken first-come: this node asks the
 * previous term's replicas and the last activated term's (as it knows them, and as each
 * replica's answer tells, for a node whose own view is stale), merges every answer, and waits
 * for the activated term's master while it is alive — at most `syncTimeout`, after which a
 * silent master (stalled past its lease) is given up and its unreplicated writes with it.
 * A dead one is given up at once; the live replicas' copies are then the best there is.
 */
export async function synchronize(
  table: SyncTarget,
  info: ReplicaInfo,
  previous: ReplicaInfo | undefined,
): Promise<void> {
  const local = table.options.localNode;
  const sources = new Set<NodeId>();
  const addReplicas = (replicas: ReplicaInfo | null | undefined) => {
    if (replicas === undefined || replicas === null) return;
    for (const node of [replicas.master, ...replicas.backups]) {
      if (node !== undefined && node !== local) sources.add(node);
    }
  };
  let newest = table.fence.lastActivated;
  addReplicas(previous);
  addReplicas(newest);
  // A node with no earlier term in view (it just started) asks the current backups, so it
  // never activates an empty table over theirs.
  addReplicas({ ...info, master: undefined });
  // One that started on a data directory and has heard from no active master since asks
  // every node of the cluster, and waits for each (up to restartSyncTimeout): after a full
  // restart any node's disk may hold writes the others lack, and nothing tells which until
  // they answer — not even the last activated term a coordinator replays (etcd keeps it):
  // its master is not started yet, not dead.
  const restartWait = table.options.restartSyncTimeout;
  const restarting = restartWait !== undefined && table.restored();
  if (restarting) {
    for (const node of table.options.peers?.() ?? []) if (node !== local) sources.add(node);
  }
  if (sources.size === 0) return;
  // A replica with no connection at all (its process is gone: the reconnect was refused) is
  // taken for dead at once, without waiting for the failure detector's verdict.
  const gone = new Set<NodeId>();
  const alive = (node: NodeId) => !gone.has(node) && (table.options.isNodeAlive?.(node) ?? true);
  const now = table.options.now ?? (() => Date.now());
  const started = now();
  const deadline = started + (table.options.syncTimeout ?? Number.POSITIVE_INFINITY);
  const restartDeadline = started + (restartWait ?? 0);
  const retryDelay = table.options.retryDelay ?? 200;
  /** Waits `ms`, but not past `until`. */
  const pause = (until: number, ms: number) =>
    table.options.wait(Math.min(ms, Math.max(1, until - now())));
  const rounds =
    table.options.isNodeAlive === undefined ? (table.options.syncAttempts ?? 3) : Infinity;
  const answered = new Set<NodeId>();
  /** Requests still out, by replica. */
  const pending = new Map<NodeId, Promise<void>>();
  const syncing = () => table.fence.info?.term === info.term && !table.closed();
  // `syncTimeout` is for a holder that lost its devices without giving them up: stalled or
  // cut off, its candidacy gone with its lease. One still among the term's replicas (a
  // rebalance moved the device) is alive and serving, only slow under load: wait for it.
  const staysReplica = (node: NodeId | undefined) => {
    const current = table.fence.info ?? info;
    return node !== undefined && (current.master === node || current.backups.includes(node));
  };
  for (let round = 1; syncing(); round++) {
    // Every replica not yet heard from and not already asked; answers are taken as they
    // come, and a round ends when all are in or the deadline passes (a stalled replica's
    // request may hang for requestTimeout: it must not hold the sync past syncTimeout).
    const asked = [...sources].filter((node) => !answered.has(node) && !pending.has(node));
    for (const node of asked) {
      const request = syncFrom(table, node, info.term, syncing).then(
        (activated) => {
          answered.add(node);
          if (activated !== null && (newest === undefined || activated.term > newest.term)) {
            newest = activated;
            addReplicas(activated);
          }
        },
        (reason: unknown) => {
          if (MessagingError.is(reason, "UNREACHABLE")) gone.add(node);
          table.options.log.debug("replica did not answer the sync", {
            device: table.deviceId,
            node,
            error: String(reason),
          });
        },
      );
      pending.set(
        node,
        request.finally(() => pending.delete(node)),
      );
    }
    const everyAnswer = Promise.all(pending.values());
    if (Number.isFinite(deadline) && !staysReplica(newest?.master)) {
      await Promise.race([everyAnswer, table.options.wait(Math.max(1, deadline - now()))]);
    } else {
      await everyAnswer;
    }
    if (!syncing()) return;
    if (restarting) {
      // Every node answered: no copy anywhere is newer than what was merged.
      const silent = [...sources].filter((node) => !answered.has(node));
      if (silent.length === 0) return;
      if (now() >= restartDeadline) {
        table.options.log.warn("activating without the copies of nodes that did not answer", {
          device: table.deviceId,
          silent,
          answered: [...answered],
          waitedMs: now() - started,
        });
        return;
      }
      // Not started yet, or still loading its disk: asked again soon (a node not listening
      // yet refuses at once, so asking costs little, and every node waits for the last).
      table.options.log.debug("waiting for every node after a restart", {
        device: table.deviceId,
        silent,
        round,
      });
      await pause(restartDeadline, Math.min(RESTART_POLL_MS, retryDelay));
      continue;
    }
    // The master of the newest activated term holds every write it acknowledged.
    const holder = newest?.master;
    const coordinatorTerm = table.options.activeTerm?.() ?? 0;
    const knowsNewest = (newest?.term ?? 0) >= coordinatorTerm;
    const heardHolder = holder === undefined || holder === local || answered.has(holder);
    // This node activated the newest term itself: it has every write acknowledged in it.
    if (holder === local && knowsNewest) return;
    if (heardHolder && knowsNewest && (answered.size > 0 || ![...sources].some(alive))) return;
    const waiting = [...sources].filter((node) => !answered.has(node) && alive(node));
    // A replica whose request is still out gets until the deadline; one that failed is
    // asked again after a pause.
    const holderGone = holder !== undefined && !heardHolder && !alive(holder);
    if (
      waiting.length === 0 ||
      (holderGone && knowsNewest && answered.size > 0) ||
      (now() >= deadline && !staysReplica(holder)) ||
      round >= rounds
    ) {
      table.options.log.warn(
        holder !== undefined && !heardHolder
          ? "previous master did not answer"
          : "no previous replica answered; activating with the local copy",
        {
          device: table.deviceId,
          ...(holder !== undefined && !heardHolder ? { node: holder } : {}),
          replicas: [...sources],
          answered: [...answered],
          waitedMs: now() - started,
        },
      );
      return;
    }
    table.options.log.debug("waiting for the replicas of the last activated term", {
      device: table.deviceId,
      holder,
      waiting,
      round,
    });
    await pause(deadline, retryDelay);
  }
}

/** Merges `node`'s newer buckets; resolves with the newest activated term it knows of. */
async function syncFrom(
  table: SyncTarget,
  node: NodeId,
  term: Term,
  syncing: () => boolean,
): Promise<ReplicaInfo | null> {
  const remote = await table.options.sync.digests(node, table.deviceId, term);
  const wanted = remote.digests
    .filter((digest) => isNewerThan(digest, table.table.digest(digest.bucket)))
    .map((digest) => digest.bucket);
  const batch = table.options.syncBatch ?? 16;
  // A replica answers with the buckets that fit in one message, at least the first asked
  // for: the rest are asked for again.
  let remaining = wanted;
  while (remaining.length > 0) {
    const asked = remaining.slice(0, batch);
    const snapshots = await table.options.sync.buckets(node, table.deviceId, term, asked);
    // An answer after the term moved on, or after activation, is not merged.
    if (!syncing() || table.fence.activeTerm === term) break;
    const given = new Set<number>();
    for (const snapshot of snapshots) {
      if (!asked.includes(snapshot.bucket)) continue;
      table.table.merge(snapshot);
      given.add(snapshot.bucket);
    }
    if (given.size === 0) {
      throw new Error(`${node} answered none of the ${asked.length} buckets asked for`);
    }
    remaining = remaining.filter((bucket) => !given.has(bucket));
  }
  table.options.log.debug("synchronized", {
    device: table.deviceId,
    node,
    buckets: wanted.length,
  });
  return remote.activated;
}
