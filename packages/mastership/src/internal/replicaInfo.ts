import type { NodeId } from "../cluster.js";
import type { MastershipEventType, MastershipRole, ReplicaInfo } from "../mastership.js";

/** `info` with at most `backupCount` backups. */
export function truncateBackups(info: ReplicaInfo, backupCount: number): ReplicaInfo {
  if (info.backups.length <= backupCount) return info;
  return { term: info.term, master: info.master, backups: info.backups.slice(0, backupCount) };
}

/** Whether two backup lists name the same nodes in the same order. */
export function sameBackups(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((node, i) => node === b[i]);
}

/**
 * The event a change from `before` to `after` produces, or `undefined` if nothing a
 * reader of the (truncated) info can see changed.
 */
export function changeType(
  before: ReplicaInfo,
  after: ReplicaInfo,
): MastershipEventType | undefined {
  if (before.master !== after.master || before.term !== after.term) return "MASTER_CHANGED";
  if (!sameBackups(before.backups, after.backups)) return "BACKUPS_CHANGED";
  return undefined;
}

/** The local node's role in `info`. */
export function roleOf(info: ReplicaInfo, node: NodeId): MastershipRole {
  if (info.master === node) return "MASTER";
  return info.backups.includes(node) ? "STANDBY" : "NONE";
}
