import type {
  DeviceId,
  FlowCounters,
  FlowEntry,
  FlowEntryState,
  FlowId,
  FlowRule,
} from "@flowstore/flow-bucket";
import { refreshCounters, withFlowEntry } from "@flowstore/flow-bucket";
import { FlowStoreError } from "./flowStoreError.js";
import type { RuleEvent } from "./flowStoreEvent.js";
import type { DeviceFlowTable } from "./internal/deviceFlowTable.js";

/** One flow as its device reports it every stats period (`lastSeen` is the time of the call). */
export type FlowStatsReport = Omit<FlowCounters, "lastSeen"> & { readonly rule: FlowRule };

/** What {@link EcFlowRuleStore.updateFlowStatistics} made of one device report. */
export interface FlowStatsOutcome {
  /** Stored entries that took the report's counters (soft state: nothing replicated). */
  readonly refreshed: number;
  /** `PENDING_ADD` entries the device holds now: `ADDED`, a replicated change each. */
  readonly added: number;
  /** `PENDING_REMOVE`/`REMOVED` entries taken out of the store (the device no longer has them, or is told to drop them). */
  readonly removed: number;
  /**
   * Flows the device holds that the store does not (or holds as being removed): extraneous,
   * to be removed from the device — never adopted.
   */
  readonly extraneous: readonly FlowRule[];
  /** Stored entries (`PENDING_ADD`/`ADDED`, older than the report) the device lacks: install them again. */
  readonly missing: readonly FlowEntry[];
}

/**
 * Reports handled between two yields of `updateFlowStatistics`, so a poll of a device with a
 * million flows never holds the event loop for long: a few ms a slice here. (16,384 held it
 * for up to 80 ms while a table grew, each flow just added taking its `ADDED` change.)
 */
const STATS_SLICE = 4096;

/** What a device report needs from its node. */
export interface DeviceReportContext {
  /** The time of the report (every entry's `lastSeen`). */
  now(): number;
  /** Yields to the event loop between slices (the store's scheduler). */
  wait(ms: number): Promise<void>;
  /** Throws `CLOSED` once the store is closed. */
  checkOpen(): void;
  /** Whether counter-only reports are replicated too (`replicateCounters`, ONOS's way). */
  replicateCounters(): boolean;
  /** Publishes a rule event of a transition. */
  emit(event: RuleEvent): void;
}

/**
 * One device report applied to `table`, the device's table on its master: see
 * `EcFlowRuleStore.updateFlowStatistics`, whose work this is.
 */
export async function applyDeviceReport(
  device: DeviceId,
  table: DeviceFlowTable | undefined,
  reports: readonly FlowStatsReport[],
  options: { readonly complete?: boolean },
  deps: DeviceReportContext,
): Promise<FlowStatsOutcome> {
  deps.checkOpen();
  const lastSeen = deps.now();
  const outcome = {
    refreshed: 0,
    added: 0,
    removed: 0,
    extraneous: [] as FlowRule[],
    missing: [] as FlowEntry[],
  };
  const checkMaster = (): DeviceFlowTable => {
    if (table === undefined || !table.isActiveMaster) {
      throw new FlowStoreError(
        "NOT_MASTER",
        `${table?.fence.localNode ?? "this node"} is not the active master of ${device}`,
      );
    }
    return table;
  };
  const first = checkMaster();
  const term = first.info?.term;
  // The flows stored before the report was taken: each one the report names is counted
  // `live` below. Flows stored while it is handled are in neither.
  const atStart = first.table.stateCounts();
  const storedAtStart = atStart.PENDING_ADD + atStart.ADDED;
  const stillMaster = () => {
    deps.checkOpen();
    const current = checkMaster();
    if (current.info?.term !== term) {
      throw new FlowStoreError("NOT_MASTER", `the term of ${device} changed during a report`);
    }
    return current;
  };
  const replicate = deps.replicateCounters();
  let live = 0;
  const scratch: { -readonly [K in keyof FlowCounters]: FlowCounters[K] } = {
    packets: 0,
    bytes: 0,
    life: 0,
    lastSeen,
    liveType: undefined,
  };
  for (let start = 0; start < reports.length; start += STATS_SLICE) {
    if (start > 0) await deps.wait(0);
    const owner = stillMaster();
    const end = Math.min(reports.length, start + STATS_SLICE);
    const transitions: FlowEntry[] = [];
    for (let i = start; i < end; i++) {
      const report = reports[i] as FlowStatsReport;
      const rule = report.rule;
      if (rule.deviceId !== device) continue;
      const stored = owner.table.find(rule);
      if (stored === undefined || stored.state === "PENDING_REMOVE" || stored.state === "REMOVED") {
        outcome.extraneous.push(rule);
        continue;
      }
      if (stored.state !== "PENDING_ADD" && stored.state !== "ADDED") continue;
      live++;
      if (stored.state === "PENDING_ADD" || replicate) {
        transitions.push(
          withFlowEntry(stored, {
            packets: report.packets,
            bytes: report.bytes,
            life: report.life,
            lastSeen,
            ...(report.liveType === undefined ? {} : { liveType: report.liveType }),
            state: "ADDED",
          }),
        );
      } else {
        // The entry is found already: its counters are taken in place, with no second
        // lookup and no object per flow (a million-flow report every stats period).
        scratch.packets = report.packets;
        scratch.bytes = report.bytes;
        scratch.life = report.life;
        scratch.liveType = report.liveType;
        refreshCounters(stored, scratch);
        outcome.refreshed++;
      }
    }
    if (transitions.length > 0) {
      const events = await owner.write(0, (t, writeTerm) => {
        const applied: RuleEvent[] = [];
        for (const entry of transitions) {
          let was: FlowEntryState | undefined;
          const updated = t.modify(
            entry.rule,
            (stored) => {
              was = stored.state;
              return stored.state === "PENDING_ADD" || stored.state === "ADDED"
                ? withFlowEntry(stored, { ...entry, state: "ADDED" })
                : undefined;
            },
            writeTerm,
          );
          if (updated === undefined) continue;
          applied.push({
            type: was === "PENDING_ADD" ? "RULE_ADDED" : "RULE_UPDATED",
            entry: updated,
          });
        }
        return applied;
      });
      for (const event of events) {
        if (event.type === "RULE_ADDED") outcome.added++;
        else outcome.refreshed++;
        deps.emit(event);
      }
    }
  }
  // A complete report: whatever is stored but was not in it needs a look. Counts are
  // maintained, so a device that holds every flow stored before its report costs no walk —
  // also while flows are being added (compared with the count at the end, every report
  // under a steady load walked the whole table: 140 ms in one piece at 600,000 flows).
  if (options.complete === false) return outcome;
  const owner = stillMaster();
  const counts = owner.table.stateCounts();
  const leaving = counts.PENDING_REMOVE + counts.REMOVED;
  if (leaving === 0 && live >= storedAtStart) return outcome;
  const reported = new Set<FlowId>();
  for (let i = 0; i < reports.length; i++) {
    reported.add((reports[i] as FlowStatsReport).rule.id);
    if ((i + 1) % STATS_SLICE === 0) {
      await deps.wait(0);
      stillMaster();
    }
  }
  const gone: FlowEntry[] = [];
  let seen = 0;
  for (const bucket of owner.table.buckets()) {
    for (const entry of bucket.entries()) {
      if (entry.state === "PENDING_REMOVE" || entry.state === "REMOVED") gone.push(entry);
      else if (
        (entry.state === "PENDING_ADD" || entry.state === "ADDED") &&
        entry.created < lastSeen &&
        !reported.has(entry.rule.id)
      ) {
        outcome.missing.push(entry);
      }
    }
    seen += bucket.size;
    if (seen >= STATS_SLICE) {
      seen = 0;
      await deps.wait(0);
      stillMaster();
    }
  }
  if (gone.length > 0) {
    const removed = await stillMaster().write(0, (t, writeTerm) => {
      const out: FlowEntry[] = [];
      for (const entry of gone) {
        const stored = t.find(entry.rule);
        if (stored?.state !== "PENDING_REMOVE" && stored?.state !== "REMOVED") continue;
        const taken = t.remove(stored, writeTerm);
        if (taken !== undefined) out.push(taken);
      }
      return out;
    });
    outcome.removed = removed.length;
    for (const entry of removed) deps.emit({ type: "RULE_REMOVED", entry });
  }
  return outcome;
}
