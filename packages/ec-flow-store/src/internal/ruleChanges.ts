import type {
  ApplicationId,
  DeviceId,
  FlowBucketTable,
  FlowEntry,
  Term,
} from "@flowstore/flow-bucket";
import { withFlowEntry } from "@flowstore/flow-bucket";
import { FlowStoreError } from "../flowStoreError.js";
import type { RuleEvent } from "../flowStoreEvent.js";
import { type MessageOf, SUBJECTS } from "../storeMessaging.js";
import { assertNever } from "./assertNever.js";
import { checkTerm, forward, type StoreContext } from "./storeContext.js";

/** A single-rule change, a purge or table statistics, as forwarded to the master. */
export type RuleChange = MessageOf<"RuleChangeRequest">["change"];

/**
 * Changes to stored rules outside batches — a flow's counters, `PENDING_ADD` again, a
 * removal, purges, table statistics — made on the device's master: here, or forwarded.
 */
export class RuleChanges {
  readonly #context: StoreContext;

  constructor(context: StoreContext) {
    this.#context = context;
  }

  /** Makes `change` on the master of `device`: the event it produced and how many entries it removed. */
  async change(
    device: DeviceId,
    change: RuleChange,
  ): Promise<{ event: RuleEvent | undefined; removed: number }> {
    const context = this.#context;
    context.checkOpen();
    const info = context.mastership.mastership(device);
    if (info.master === undefined) throw new FlowStoreError("NO_MASTER", `no master for ${device}`);
    const reply =
      info.master === context.localNode
        ? await this.#changeLocal(change)
        : await forward(context, info.master, SUBJECTS.change, { term: info.term, change });
    return { event: reply.event ?? undefined, removed: reply.removed };
  }

  /**
   * Purges on the master; a device with no master (it is gone) is purged from the local
   * copy. Resolves with how many entries were removed.
   */
  async purge(device: DeviceId, appId: ApplicationId | undefined): Promise<number> {
    if (this.#context.mastership.mastership(device).master !== undefined) {
      const change: RuleChange =
        appId === undefined
          ? { kind: "PURGE", deviceId: device }
          : { kind: "PURGE_APP", deviceId: device, appId };
      return (await this.change(device, change)).removed;
    }
    const table = this.#context.tables.get(device)?.table;
    if (table === undefined) return 0;
    const newest = Math.max(0, ...table.buckets().map((bucket) => bucket.term));
    return table.purge(newest, appId === undefined ? undefined : { appId }).length;
  }

  /** A change forwarded to this node as master. */
  onChange(request: MessageOf<"RuleChangeRequest">): Promise<MessageOf<"RuleChangeReply">> {
    const device =
      "entry" in request.change ? request.change.entry.rule.deviceId : request.change.deviceId;
    checkTerm(this.#context, device, request.term);
    return this.#changeLocal(request.change);
  }

  async #changeLocal(change: RuleChange): Promise<MessageOf<"RuleChangeReply">> {
    const context = this.#context;
    const now = context.scheduler.now();
    const emit = (event: RuleEvent | null, removed = 0) => {
      if (event !== null) context.events.next(event);
      return { event, removed };
    };
    switch (change.kind) {
      case "ADD_OR_UPDATE":
      case "PENDING":
      case "REMOVE": {
        const entry = change.entry;
        const table = context.tables.table(entry.rule.deviceId);
        const index = table.table.bucketIndexOf(entry.rule.id);
        const event = await table.write(index, (t, term) =>
          changeEntry(t, term, change.kind, entry, now, context.config().replicateCounters),
        );
        return emit(event);
      }
      case "PURGE":
      case "PURGE_APP": {
        const table = context.tables.table(change.deviceId);
        const filter =
          change.kind === "PURGE_APP" ? { appId: change.appId as ApplicationId } : undefined;
        const removed = await table.write(0, (t, term) => t.purge(term, filter).length);
        return emit(null, removed);
      }
      case "TABLE_STATS":
        context.tableStats.set(change.deviceId, change.tables);
        return emit(null);
      default:
        return assertNever(change);
    }
  }
}

/** A single-entry change in `term`; the event it produces, if any. */
function changeEntry(
  table: FlowBucketTable,
  term: Term,
  kind: "ADD_OR_UPDATE" | "PENDING" | "REMOVE",
  entry: FlowEntry,
  now: number,
  replicateCounters: boolean,
): RuleEvent | null {
  switch (kind) {
    case "ADD_OR_UPDATE": {
      const stored = table.find(entry.rule);
      if (stored === undefined) {
        table.add(entry, term);
        return null;
      }
      const counters = {
        packets: entry.packets,
        bytes: entry.bytes,
        life: entry.life,
        liveType: entry.liveType,
        lastSeen: now,
      };
      if (stored.state !== "PENDING_ADD" && !replicateCounters) {
        // Counters alone are soft state: no new version, nothing owed to the backups.
        const refreshed = table.refresh(entry.rule, counters);
        return refreshed === undefined ? null : { type: "RULE_UPDATED", entry: refreshed };
      }
      const updated = withFlowEntry(stored, {
        ...counters,
        ...(stored.state === "PENDING_ADD" ? { state: "ADDED" as const } : {}),
      });
      table.modify(entry.rule, () => updated, term);
      return {
        type: stored.state === "PENDING_ADD" ? "RULE_ADDED" : "RULE_UPDATED",
        entry: updated,
      };
    }
    case "PENDING": {
      const updated = table.modify(
        entry.rule,
        (stored) =>
          stored.state === "PENDING_ADD"
            ? undefined
            : withFlowEntry(stored, { state: "PENDING_ADD" }),
        term,
      );
      return updated === undefined ? null : { type: "RULE_UPDATED", entry: updated };
    }
    case "REMOVE": {
      const removed = table.remove(entry, term);
      return removed === undefined ? null : { type: "RULE_REMOVED", entry: removed };
    }
    default:
      return assertNever(kind);
  }
}
