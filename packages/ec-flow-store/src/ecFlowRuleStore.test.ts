import type { NodeId } from "@flowstore/cluster-messaging";
import { applicationId, createFlowEntry, type FlowRule } from "@flowstore/flow-bucket";
import { afterEach, describe, expect, it } from "vitest";
import type { FlowStoreEvent } from "./flowStoreEvent.js";
import { device, rule, type SimCluster, startSimCluster } from "./testing/simCluster.js";

const D1 = device(1);
const D2 = device(2);
const N1 = "n1" as NodeId;
let cluster: SimCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Runs virtual time until `promise` settles. */
function $<T>(promise: Promise<T>): Promise<T> {
  if (cluster === undefined) throw new Error("no cluster");
  return cluster.run(promise);
}

function master(c: SimCluster, d = D1): NodeId {
  const m = c.coordinator.mastership(d).master;
  if (m === undefined) throw new Error(`no master for ${d}`);
  return m;
}

function ofType<T extends FlowStoreEvent["type"]>(events: readonly FlowStoreEvent[], type: T) {
  return events.filter((e): e is Extract<FlowStoreEvent, { type: T }> => e.type === type);
}

const add = (rules: FlowRule[]) => rules.map((r) => ({ operator: "ADD" as const, rule: r }));

describe("the reference's scenarios, on one node", () => {
  it("an empty store has no flows", async () => {
    cluster = await startSimCluster(1, [D1]);
    const store = cluster.store(N1);
    expect(await $(store.getFlowRuleCount())).toBe(0);
    expect(await $(store.getFlowEntries(D1))).toEqual([]);
  });

  it("a stored batch adds the rule in PENDING_ADD and asks for it to be applied", async () => {
    cluster = await startSimCluster(1, [D1]);
    const store = cluster.store(N1);
    const r = rule(D1, 1);
    const id = await $(store.storeBatch({ deviceId: D1, operations: add([r]) }));
    const entries = await $(store.getFlowEntries(D1));
    expect(entries).toHaveLength(1);
    expect(entries[0]?.state).toBe("PENDING_ADD");
    expect(entries[0]?.rule.id).toBe(r.id);
    const requested = ofType(cluster.events.get(N1)!, "BATCH_REQUESTED");
    expect(requested.map((e) => e.batch.id)).toEqual([id]);
  });

  it("add then addOrUpdate: the entry is ADDED and there is one flow", async () => {
    cluster = await startSimCluster(1, [D1]);
    const store = cluster.store(N1);
    const r = rule(D1, 1);
    await $(store.storeBatch({ deviceId: D1, operations: add([r]) }));
    const event = await $(
      store.addOrUpdateFlowRule(createFlowEntry(r, { created: 0, state: "ADDED", packets: 5 })),
    );
    expect(event?.type).toBe("RULE_ADDED");
    expect(await $(store.getFlowRuleCount())).toBe(1);
    const entry = await $(store.getFlowEntry(r));
    expect(entry?.state).toBe("ADDED");
    expect(entry?.packets).toBe(5);
    // A second report is an update.
    const again = await $(
      store.addOrUpdateFlowRule(createFlowEntry(r, { created: 0, packets: 9 })),
    );
    expect(again?.type).toBe("RULE_UPDATED");
    expect(await $(store.getFlowRuleCount({ deviceId: D1, state: "ADDED" }))).toBe(1);
  });

  it("remove: REMOVE marks the entry PENDING_REMOVE, removeFlowRule takes it away", async () => {
    cluster = await startSimCluster(1, [D1]);
    const store = cluster.store(N1);
    const r = rule(D1, 1);
    await $(store.storeBatch({ deviceId: D1, operations: add([r]) }));
    await $(store.storeBatch({ deviceId: D1, operations: [{ operator: "REMOVE", rule: r }] }));
    const entry = await $(store.getFlowEntry(r));
    expect(entry?.state).toBe("PENDING_REMOVE");
    const event = await $(store.removeFlowRule(entry!));
    expect(event?.type).toBe("RULE_REMOVED");
    expect(await $(store.getFlowRuleCount({ deviceId: D1 }))).toBe(0);
    expect(await $(store.getFlowEntry(r))).toBeUndefined();
  });

  it("purge device: every rule of the device is gone", async () => {
    cluster = await startSimCluster(1, [D1]);
    const store = cluster.store(N1);
    await $(
      store.storeBatch({ deviceId: D1, operations: add([rule(D1, 1), rule(D1, 2), rule(D1, 3)]) }),
    );
    expect(await $(store.getFlowRuleCount({ deviceId: D1 }))).toBe(3);
    expect(await $(store.purgeFlowRule(D1))).toBe(3);
    expect(await $(store.getFlowRuleCount({ deviceId: D1 }))).toBe(0);
  });

  it("purge by application across two devices removes only that application's rules", async () => {
    cluster = await startSimCluster(1, [D1, D2]);
    const store = cluster.store(N1);
    await $(store.storeBatch({ deviceId: D1, operations: add([rule(D1, 1, 1), rule(D1, 2, 2)]) }));
    await $(store.storeBatch({ deviceId: D2, operations: add([rule(D2, 1, 1), rule(D2, 2, 2)]) }));
    expect(await $(store.purgeFlowRules(D1, applicationId(1)))).toBe(1);
    expect(await $(store.purgeFlowRules(D2, applicationId(1)))).toBe(1);
    const left = [...(await $(store.getFlowEntries(D1))), ...(await $(store.getFlowEntries(D2)))];
    expect(left.map((e) => e.rule.appId)).toEqual([2, 2]);
    expect(await $(store.purgeFlowRules())).toBe(2);
    expect(await $(store.getFlowRuleCount())).toBe(0);
  });

  it("an empty batch completes at once, successfully", async () => {
    cluster = await startSimCluster(1, [D1]);
    const id = await $(cluster.store(N1).storeBatch({ deviceId: D1, operations: [] }));
    expect(ofType(cluster.events.get(N1)!, "BATCH_COMPLETED")).toEqual([
      { type: "BATCH_COMPLETED", batchId: id, deviceId: D1, success: true, failed: [] },
    ]);
  });

  it("a rule for another device than the batch's is refused", async () => {
    cluster = await startSimCluster(1, [D1, D2]);
    await expect(
      $(cluster.store(N1).storeBatch({ deviceId: D1, operations: add([rule(D2, 1)]) })),
    ).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(await $(cluster.store(N1).getFlowRuleCount())).toBe(0);
  });
});

describe("three nodes", () => {
  it("a batch stored on a non-master is applied by the master and completed back on the asking node", async () => {
    cluster = await startSimCluster(3, [D1]);
    const m = master(cluster);
    const other = cluster.nodes.find((n) => n !== m)!;
    const r = rule(D1, 7);
    const id = await $(cluster.store(other).storeBatch({ deviceId: D1, operations: add([r]) }));
    const requested = ofType(cluster.events.get(m)!, "BATCH_REQUESTED");
    expect(requested).toHaveLength(1);
    expect(requested[0]?.origin).toBe(other);
    await $(
      cluster
        .store(m)
        .batchOperationComplete({ batchId: id, deviceId: D1, success: true, failed: [] }),
    );
    await cluster.advance(20);
    expect(
      ofType(cluster.events.get(other)!, "BATCH_COMPLETED").map((e) => [e.batchId, e.success]),
    ).toEqual([[id, true]]);
    // Any node reads through the master.
    for (const node of cluster.nodes) {
      expect((await $(cluster.store(node).getFlowEntries(D1))).map((e) => e.rule.id)).toEqual([
        r.id,
      ]);
    }
  });

  it("the master's changes reach both backups within one backup period", async () => {
    cluster = await startSimCluster(3, [D1], {
      config: { backupPeriod: 100, antiEntropyPeriod: 500 },
    });
    const m = master(cluster);
    const { backups } = cluster.coordinator.forNode(m).mastership(D1);
    expect(backups).toHaveLength(2);
    const rules = Array.from({ length: 50 }, (_, i) => rule(D1, i));
    await $(cluster.store(m).storeBatch({ deviceId: D1, operations: add(rules) }));
    await cluster.advance(150);
    for (const node of backups) expect(cluster.store(node).localTable(D1)?.size).toBe(50);
  });

  it("after the master dies, the new master has every flow that was backed up", async () => {
    cluster = await startSimCluster(3, [D1], { config: { backupPeriod: 100 } });
    const old = master(cluster);
    const rules = Array.from({ length: 20 }, (_, i) => rule(D1, i));
    await $(cluster.store(old).storeBatch({ deviceId: D1, operations: add(rules) }));
    await cluster.advance(150);
    await cluster.crash(old);
    await cluster.advance(500);
    const now = master(cluster);
    expect(now).not.toBe(old);
    expect(cluster.store(now).isActiveMaster(D1)).toBe(true);
    expect((await $(cluster.store(now).getFlowEntries(D1))).length).toBe(20);
  });

  it("a restarted backup gets the whole table back (anti-entropy)", async () => {
    cluster = await startSimCluster(3, [D1], {
      config: { backupPeriod: 100, antiEntropyPeriod: 300 },
    });
    const m = master(cluster);
    await $(
      cluster.store(m).storeBatch({
        deviceId: D1,
        operations: add(Array.from({ length: 30 }, (_, i) => rule(D1, i))),
      }),
    );
    await cluster.advance(150);
    const backup = cluster.coordinator.mastership(D1).backups[0]!;
    await cluster.crash(backup);
    await cluster.advance(100);
    await cluster.restart(backup);
    await cluster.advance(1500);
    expect(master(cluster)).toBe(m);
    expect(cluster.coordinator.forNode(m).mastership(D1).backups).toContain(backup);
    expect(cluster.store(backup).localTable(D1)?.size).toBe(30);
  });

  it("reads with no master fail with NO_MASTER while the device is available", async () => {
    cluster = await startSimCluster(1, [D1]);
    await cluster.coordinator.forNode(N1).relinquish(D1);
    await cluster.advance(20);
    await expect($(cluster.store(N1).getFlowEntries(D1))).rejects.toMatchObject({
      code: "NO_MASTER",
    });
  });

  it("with no master, an unavailable device is answered from the local copy", async () => {
    let available = true;
    cluster = await startSimCluster(1, [D1], { isDeviceAvailable: () => available });
    const store = cluster.store(N1);
    await $(store.storeBatch({ deviceId: D1, operations: add([rule(D1, 1), rule(D1, 2)]) }));
    await cluster.coordinator.forNode(N1).relinquish(D1);
    await cluster.advance(20);
    await expect($(store.getFlowEntries(D1))).rejects.toMatchObject({ code: "NO_MASTER" });
    available = false;
    expect((await $(store.getFlowEntries(D1))).length).toBe(2);
    expect(await $(store.getFlowRuleCount({ deviceId: D1 }))).toBe(2);
  });

  it("a device with no master (gone) is purged from the local copy", async () => {
    cluster = await startSimCluster(1, [D1]);
    const store = cluster.store(N1);
    await $(
      store.storeBatch({
        deviceId: D1,
        operations: add([rule(D1, 1, 1), rule(D1, 2, 2), rule(D1, 3, 2)]),
      }),
    );
    await cluster.coordinator.forNode(N1).relinquish(D1);
    await cluster.advance(20);
    expect(await $(store.purgeFlowRules(D1, applicationId(2)))).toBe(2);
    expect([...(store.localTable(D1)?.entries() ?? [])].map((e) => e.rule.appId)).toEqual([1]);
    expect(await $(store.purgeFlowRule(D1))).toBe(1);
    expect(store.localTable(D1)?.size).toBe(0);
  });

  it("a bad configuration value is refused, naming it, and the old value stays", async () => {
    cluster = await startSimCluster(1, [D1]);
    const store = cluster.store(N1);
    expect(() => store.configure({ backupPeriod: -5 })).toThrow(/backupPeriod/);
    expect(() => store.configure({ bucketCount: 100 })).toThrow(/power of two/);
    expect(() => store.configure({ nonsense: 1 } as never)).toThrow(/nonsense/);
    expect(store.config.backupPeriod).toBe(2000);
    expect(store.configure({ backupPeriod: 500 }).backupPeriod).toBe(500);
  });
});
