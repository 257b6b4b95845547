// `maxBackupLag`: a master whose backups hold none of its writes of the last `maxBackupLag` ms
// holds a device's new batches until they catch up, and refuses them if they do not — so
// what `replication: "async"` can lose when a master dies stays bounded under any load.
import type { NodeId } from "@flowstore/cluster-messaging";
import { afterEach, describe, expect, it } from "vitest";
import { device, rule, type SimCluster, startSimCluster } from "./testing/simCluster.js";

const D1 = device(1);
let cluster: SimCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Three nodes of D1 with `maxBackupLag` 300 ms; backup rounds go out only after writes. */
async function start(): Promise<{ c: SimCluster; m: NodeId; backups: NodeId[] }> {
  cluster = await startSimCluster(3, [D1], {
    config: { maxBackupLag: 300, backupPeriod: 60_000 },
  });
  const m = cluster.coordinator.mastership(D1).master!;
  return { c: cluster, m, backups: cluster.nodes.filter((n) => n !== m) };
}

/** Messages from `from` to each of `to` take `ms` to arrive (1 ms: as before). */
function slow(c: SimCluster, from: NodeId, to: readonly NodeId[], ms: number) {
  for (const node of to) c.network.setLink(from, node, { delayMs: ms });
}

const add = (c: SimCluster, via: NodeId, ...ns: number[]) =>
  c.store(via).storeBatch({
    deviceId: D1,
    operations: ns.map((n) => ({ operator: "ADD" as const, rule: rule(D1, n) })),
  });

describe("backup lag", () => {
  it("is 0 while the backups keep up, and the age of the oldest write none holds when they do not", async () => {
    const { c, m, backups } = await start();
    await c.run(add(c, m, 1));
    await c.advance(50);
    expect(c.store(m).stats().backupLagMs).toBe(0);
    slow(c, m, backups, 1000);
    await c.run(add(c, m, 2)); // acknowledged at once: replication is asynchronous
    await c.advance(250);
    const lag = c.store(m).stats().backupLagMs;
    expect(lag).toBeGreaterThanOrEqual(250);
    expect(lag).toBeLessThan(300);
    await c.advance(800); // the round arrives; its acknowledgement comes back at once
    expect(c.store(m).stats().backupLagMs).toBe(0);
  });

  it("holds batches that come while the backups are more than maxBackupLag behind, in order, and stores them once a backup catches up", async () => {
    const { c, m, backups } = await start();
    const other = backups[0]!;
    slow(c, m, backups, 500);
    await c.run(add(c, m, 1));
    await c.advance(400);
    expect(c.store(m).stats().backupLagMs).toBeGreaterThan(300);
    // One batch through the master, one forwarded by another node: both wait.
    const outcomes: string[] = [];
    const held = [add(c, m, 20), add(c, other, 30)].map((p, i) =>
      p.then(
        () => outcomes.push(`stored ${i}`),
        (error: unknown) => outcomes.push(`refused ${i}: ${String(error)}`),
      ),
    );
    await c.advance(50);
    expect(outcomes).toEqual([]);
    expect(c.store(m).localTable(D1)?.find(rule(D1, 20))).toBeUndefined();
    slow(c, m, backups, 1);
    await c.run(Promise.all(held));
    expect(outcomes).toEqual(["stored 0", "stored 1"]);
    for (const n of [1, 20, 30]) expect(c.store(m).localTable(D1)?.find(rule(D1, n))).toBeDefined();
    await c.advance(50);
    for (const b of backups)
      for (const n of [1, 20, 30])
        expect(c.store(b).localTable(D1)?.find(rule(D1, n))).toBeDefined();
  });

  it("refuses batches (OVERLOADED, nothing stored) while the backups stay behind, and takes them again once they catch up", async () => {
    const { c, m, backups } = await start();
    slow(c, m, backups, 2000);
    await c.run(add(c, m, 1));
    await c.advance(400);
    const asked = c.scheduler.now();
    await expect(c.run(add(c, m, 2))).rejects.toMatchObject({
      code: "OVERLOADED",
      message: expect.stringContaining("maxBackupLag 300"),
    });
    // Held for maxBackupLag first, in case the backups caught up meanwhile.
    expect(c.scheduler.now() - asked).toBeGreaterThanOrEqual(300);
    expect(c.store(m).localTable(D1)?.find(rule(D1, 2))).toBeUndefined();
    slow(c, m, backups, 1);
    await c.advance(1500); // the slow round arrives and is acknowledged
    expect(c.store(m).stats().backupLagMs).toBe(0);
    await c.run(add(c, m, 3));
    expect(c.store(m).localTable(D1)?.find(rule(D1, 3))).toBeDefined();
  });

  it("one backup that keeps up is enough: a new master would pull the writes from it", async () => {
    const { c, m, backups } = await start();
    slow(c, m, [backups[0]!], 2000);
    await c.run(add(c, m, 1));
    await c.advance(400);
    expect(c.store(m).stats().backupLagMs).toBe(0);
    const asked = c.scheduler.now();
    await c.run(add(c, m, 2));
    expect(c.scheduler.now() - asked).toBeLessThan(50);
  });
});
