// `replication: "sync"`: a batch is acknowledged once `minSyncBackups` backups hold it; with
// too few backups the master serves and says so, or refuses — as configured.
import type { NodeId } from "@flowstore/cluster-messaging";
import { afterEach, describe, expect, it } from "vitest";
import { device, rule, type SimCluster, startSimCluster } from "./testing/simCluster.js";

const D1 = device(1);
let cluster: SimCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function masterOf(c: SimCluster): NodeId {
  const m = c.coordinator.mastership(D1).master;
  if (m === undefined) throw new Error("no master");
  return m;
}

const addOne = (i: number) => ({
  deviceId: D1,
  operations: [{ operator: "ADD" as const, rule: rule(D1, i) }],
});

describe("sync replication", () => {
  it("acknowledges a batch once a backup holds it, through the master and through a non-master", async () => {
    cluster = await startSimCluster(3, [D1], {
      config: { replication: "sync", backupPeriod: 60_000 },
    });
    const c = cluster;
    const m = masterOf(c);
    const other = c.nodes.find((n) => n !== m)!;
    const backups = c.coordinator.mastership(D1).backups;
    for (const [i, via] of [m, other].entries()) {
      const r = rule(D1, i + 1);
      const receipt = await c.run(
        c
          .store(via)
          .storeBatchWithReceipt({ deviceId: D1, operations: [{ operator: "ADD", rule: r }] }),
      );
      expect(receipt).toMatchObject({ replication: "sync", degraded: false });
      expect(receipt.backedUpBy).toBeGreaterThanOrEqual(1);
      // At the moment of the acknowledgement a backup holds the flow (the backup period is a
      // minute: only the sync round could have brought it).
      const holders = backups.filter((b) => c.store(b).localTable(D1)?.find(r) !== undefined);
      expect(holders.length).toBeGreaterThanOrEqual(1);
    }
    expect(c.store(m).stats().sync.syncBatches).toBe(2);
  });

  it("with every backup cut off, serve acknowledges after requestTimeout and says it is under-replicated", async () => {
    cluster = await startSimCluster(3, [D1], {
      config: { replication: "sync", requestTimeout: 200, backupPeriod: 60_000 },
    });
    const c = cluster;
    const m = masterOf(c);
    for (const b of c.nodes) if (b !== m) c.network.setLink(m, b, { dropRate: 1 });
    const started = c.scheduler.now();
    const receipt = await c.run(c.store(m).storeBatchWithReceipt(addOne(1)));
    expect(receipt).toMatchObject({ replication: "sync", degraded: true, backedUpBy: 0 });
    expect(c.scheduler.now() - started).toBeGreaterThanOrEqual(200);
    expect(c.store(m).stats().sync.underReplicatedBatches).toBe(1);
  });

  it("with fewer live backups than minSyncBackups, refuse stores nothing and says why", async () => {
    cluster = await startSimCluster(2, [D1], {
      config: { replication: "sync", minSyncBackups: 2, underReplicated: "refuse" },
    });
    const c = cluster;
    const m = masterOf(c);
    await expect(c.run(c.store(m).storeBatchWithReceipt(addOne(1)))).rejects.toMatchObject({
      code: "UNDER_REPLICATED",
    });
    expect(await c.run(c.store(m).getFlowRuleCount({ deviceId: D1 }))).toBe(0);
  });

  it("with fewer live backups than minSyncBackups, serve acknowledges once every live backup holds it", async () => {
    cluster = await startSimCluster(2, [D1], {
      config: { replication: "sync", minSyncBackups: 2 },
    });
    const c = cluster;
    const m = masterOf(c);
    const receipt = await c.run(c.store(m).storeBatchWithReceipt(addOne(1)));
    expect(receipt).toMatchObject({ degraded: true, backedUpBy: 1 });
  });

  it("async (the default) acknowledges without waiting for a backup", async () => {
    cluster = await startSimCluster(3, [D1], { config: { backupPeriod: 60_000 } });
    const c = cluster;
    const m = masterOf(c);
    for (const b of c.nodes) if (b !== m) c.network.setLink(m, b, { dropRate: 1 });
    const started = c.scheduler.now();
    const receipt = await c.run(c.store(m).storeBatchWithReceipt(addOne(1)));
    expect(receipt).toEqual({ batchId: expect.any(String), replication: "async", degraded: false });
    expect(c.scheduler.now() - started).toBeLessThan(50);
  });
});
