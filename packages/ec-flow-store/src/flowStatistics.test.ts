import type { NodeId } from "@flowstore/cluster-messaging";
import type { FlowRule } from "@flowstore/flow-bucket";
import { afterEach, describe, expect, it } from "vitest";
import type { FlowStatsReport } from "./deviceReports.js";
import { device, rule, type SimCluster, startSimCluster } from "./testing/simCluster.js";

const D1 = device(1);
let cluster: SimCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function $<T>(promise: Promise<T>): Promise<T> {
  if (cluster === undefined) throw new Error("no cluster");
  return cluster.run(promise);
}

function master(c: SimCluster): NodeId {
  const m = c.coordinator.mastership(D1).master;
  if (m === undefined) throw new Error("no master");
  return m;
}

const add = (rules: FlowRule[]) => rules.map((r) => ({ operator: "ADD" as const, rule: r }));
const report = (rules: readonly FlowRule[], packets: number): FlowStatsReport[] =>
  rules.map((r) => ({ rule: r, packets, bytes: 64 * packets, life: packets }));

/** Backup messages sent by every node so far. */
function backupMessages(c: SimCluster): number {
  let sent = 0;
  for (const node of c.nodes) {
    if (!c.alive.has(node)) continue;
    sent += c.store(node).stats().replication.backupMessages;
  }
  return sent;
}

async function settledCluster(flows: number) {
  cluster = await startSimCluster(3, [D1], {
    config: { backupPeriod: 100, antiEntropyPeriod: 300 },
  });
  const m = master(cluster);
  const rules = Array.from({ length: flows }, (_, i) => rule(D1, i));
  await $(cluster.store(m).storeBatch({ deviceId: D1, operations: add(rules) }));
  await $(cluster.store(m).updateFlowStatistics(D1, report(rules, 0)));
  await cluster.advance(1000);
  return { c: cluster, m, rules, store: cluster.store(m) };
}

describe("device reports: counters are soft state", () => {
  it("the first report makes PENDING_ADD entries ADDED, a change that reaches the backups", async () => {
    cluster = await startSimCluster(3, [D1], { config: { backupPeriod: 100 } });
    const m = master(cluster);
    const rules = Array.from({ length: 40 }, (_, i) => rule(D1, i));
    await $(cluster.store(m).storeBatch({ deviceId: D1, operations: add(rules) }));
    await cluster.advance(300);
    const outcome = await $(cluster.store(m).updateFlowStatistics(D1, report(rules, 3)));
    expect(outcome).toMatchObject({ added: 40, refreshed: 0, extraneous: [], missing: [] });
    await cluster.advance(300);
    for (const backup of cluster.coordinator.mastership(D1).backups) {
      const copy = cluster.store(backup).localTable(D1)!;
      expect(copy.stateCounts()).toMatchObject({ ADDED: 40, PENDING_ADD: 0 });
    }
    expect(cluster.store(m).flowStateCounts()).toMatchObject({ ADDED: 40, PENDING_ADD: 0 });
  });

  it("counter-only reports keep versions, digests and summaries, and send no backup", async () => {
    const { c, rules, store } = await settledCluster(200);
    const table = store.localTable(D1)!;
    const before = { version: table.version, summary: table.summary(), digests: table.digests() };
    const sentBefore = backupMessages(c);
    const lagBefore = store.stats().unackedBuckets;
    for (let poll = 1; poll <= 5; poll++) {
      const outcome = await $(store.updateFlowStatistics(D1, report(rules, poll)));
      expect(outcome).toMatchObject({ refreshed: 200, added: 0, removed: 0 });
      await c.advance(1000);
    }
    expect(table.version).toBe(before.version);
    expect(table.summary()).toEqual(before.summary);
    expect(table.digests()).toEqual(before.digests);
    expect(backupMessages(c)).toBe(sentBefore);
    expect(lagBefore).toBe(0);
    expect(store.stats().unackedBuckets).toBe(0);
    // The master shows the latest counters.
    const entry = await $(store.getFlowEntry(rules[9]!));
    expect(entry).toMatchObject({ state: "ADDED", packets: 5, bytes: 320, life: 5 });
  });

  it("with replicateCounters (the baseline), every report goes to the backups", async () => {
    const { c, rules, store } = await settledCluster(50);
    store.configure({ replicateCounters: true });
    const sentBefore = backupMessages(c);
    const versionBefore = store.localTable(D1)!.version;
    await $(store.updateFlowStatistics(D1, report(rules, 1)));
    await c.advance(500);
    expect(store.localTable(D1)!.version).toBeGreaterThan(versionBefore);
    expect(backupMessages(c)).toBeGreaterThan(sentBefore);
  });

  it("after a failover the new master lists every flow and takes counters from the next report", async () => {
    const { c, m, rules, store } = await settledCluster(60);
    await $(store.updateFlowStatistics(D1, report(rules, 7)));
    await c.crash(m);
    await c.advance(1000);
    const next = master(c);
    expect(next).not.toBe(m);
    const successor = c.store(next);
    const listed = await $(successor.getFlowEntries(D1));
    expect(listed).toHaveLength(60);
    expect(listed.every((e) => e.state === "ADDED")).toBe(true);
    await $(successor.updateFlowStatistics(D1, report(rules, 11)));
    const entry = await $(successor.getFlowEntry(rules[0]!));
    expect(entry).toMatchObject({ packets: 11, bytes: 704 });
  });

  it("flows the store does not hold are extraneous, never adopted; stored flows the device lacks are missing", async () => {
    const { rules, store } = await settledCluster(10);
    const stranger = rule(D1, 999);
    const reported = [...rules.slice(0, 8), stranger];
    const outcome = await $(store.updateFlowStatistics(D1, report(reported, 2)));
    expect(outcome.extraneous.map((r) => r.id)).toEqual([stranger.id]);
    expect(outcome.missing.map((e) => e.rule.id).sort()).toEqual(
      rules
        .slice(8)
        .map((r) => r.id)
        .sort(),
    );
    expect(await $(store.getFlowEntry(stranger))).toBeUndefined();
    expect(store.localTable(D1)!.size).toBe(10);
  });

  it("a complete report handled while flows are added finds the stored flows it omits, and only those", async () => {
    const { c, rules, store } = await settledCluster(10_000);
    const fresh = Array.from({ length: 50 }, (_, i) => rule(D1, 20_000 + i));
    // The device lacks three flows stored before its report; fifty are added while the
    // report is handled (it yields between slices), after the device was asked.
    const handled = store.updateFlowStatistics(D1, report(rules.slice(3), 4));
    const added = store.storeBatch({ deviceId: D1, operations: add(fresh) });
    const [outcome] = await c.run(Promise.all([handled, added]));
    expect(outcome.missing.map((e) => e.rule.id).sort()).toEqual(
      rules
        .slice(0, 3)
        .map((r) => r.id)
        .sort(),
    );
    expect(outcome).toMatchObject({ extraneous: [], removed: 0 });
    // With nothing missing, a report under the same load finds nothing to reinstall.
    const more = Array.from({ length: 50 }, (_, i) => rule(D1, 30_000 + i));
    const again = store.updateFlowStatistics(D1, report([...rules, ...fresh], 5));
    const addedAgain = store.storeBatch({ deviceId: D1, operations: add(more) });
    const [quiet] = await c.run(Promise.all([again, addedAgain]));
    expect(quiet).toMatchObject({ missing: [], extraneous: [], removed: 0 });
  });

  it("a partial report (just installed flows) concludes nothing about the flows it omits", async () => {
    const { rules, store } = await settledCluster(10);
    const fresh = [rule(D1, 500), rule(D1, 501)];
    await $(store.storeBatch({ deviceId: D1, operations: add(fresh) }));
    const outcome = await $(store.updateFlowStatistics(D1, report(fresh, 0), { complete: false }));
    expect(outcome).toMatchObject({ added: 2, missing: [], removed: 0 });
    expect(store.flowStateCounts(D1)).toMatchObject({ ADDED: 12, PENDING_ADD: 0 });
    // The complete report that omits them does say so.
    const full = await $(store.updateFlowStatistics(D1, report(rules, 1)));
    expect(full.missing.map((e) => e.rule.id).sort()).toEqual(fresh.map((r) => r.id).sort());
  });

  it("an entry being removed leaves the store at the next report, reported or not", async () => {
    const { rules, store } = await settledCluster(10);
    await $(
      store.storeBatch({
        deviceId: D1,
        operations: rules.slice(0, 3).map((r) => ({ operator: "REMOVE" as const, rule: r })),
      }),
    );
    expect(store.flowStateCounts(D1).PENDING_REMOVE).toBe(3);
    // The device still reports the first one: extraneous, and out of the store.
    const outcome = await $(store.updateFlowStatistics(D1, report(rules.slice(0, 1), 1)));
    expect(outcome.extraneous.map((r) => r.id)).toEqual([rules[0]!.id]);
    expect(outcome.removed).toBe(3);
    expect(store.localTable(D1)!.size).toBe(7);
    expect(store.flowStateCounts(D1)).toMatchObject({ PENDING_REMOVE: 0, ADDED: 7 });
  });

  it("a node that is not the active master refuses a report with NOT_MASTER", async () => {
    const { c, rules } = await settledCluster(5);
    const backup = c.coordinator.mastership(D1).backups[0]!;
    await expect(
      $(c.store(backup).updateFlowStatistics(D1, report(rules, 1))),
    ).rejects.toMatchObject({ code: "NOT_MASTER" });
  });

  it("a report of more flows than one slice is handled whole", async () => {
    const { c, store } = await settledCluster(0);
    const rules = Array.from({ length: 40_000 }, (_, i) => rule(D1, i));
    await $(store.storeBatch({ deviceId: D1, operations: add(rules) }));
    const first = await $(store.updateFlowStatistics(D1, report(rules, 1)));
    expect(first.added).toBe(40_000);
    const second = await $(store.updateFlowStatistics(D1, report(rules, 2)));
    expect(second.refreshed).toBe(40_000);
    expect(store.flowStateCounts()).toMatchObject({ ADDED: 40_000 });
    await c.advance(2000);
    for (const backup of c.coordinator.mastership(D1).backups) {
      expect(c.store(backup).localTable(D1)!.countOf("ADDED")).toBe(40_000);
    }
  });
});
