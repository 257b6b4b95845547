import type { NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId, FlowRule } from "@flowstore/flow-bucket";
import { afterEach, describe, expect, it } from "vitest";
import type { FlowStoreEvent } from "./flowStoreEvent.js";
import { StoreChannel, SUBJECTS } from "./storeMessaging.js";
import { device, rule, type SimCluster, startSimCluster } from "./testing/simCluster.js";

const D1 = device(1);
const D2 = device(2);
const D3 = device(3);
let cluster: SimCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function $<T>(promise: Promise<T>): Promise<T> {
  if (cluster === undefined) throw new Error("no cluster");
  return cluster.run(promise);
}

const add = (rules: FlowRule[]) => rules.map((r) => ({ operator: "ADD" as const, rule: r }));
const masterOf = (c: SimCluster, d: DeviceId): NodeId => c.coordinator.mastership(d).master!;
const sentOn = (c: SimCluster, node: NodeId, subject: string) =>
  c.store(node).stats().sent.get(subject)?.messages ?? 0;

describe("forwarded batches are coalesced", () => {
  it("every batch a node forwards to one master in a turn goes in one message, and each completes", async () => {
    cluster = await startSimCluster(3, [D1, D2, D3]);
    const c = cluster;
    // A node that masters none of some devices another node masters.
    const target = masterOf(c, D1);
    const devices = [D1, D2, D3].filter((d) => masterOf(c, d) === target);
    const origin = c.nodes.find((n) => n !== target)!;
    const batches = devices.flatMap((d) =>
      [0, 1, 2].map((k) => ({
        deviceId: d,
        operations: add([rule(d, 10 * k), rule(d, 10 * k + 1)]),
      })),
    );
    const before = sentOn(c, origin, SUBJECTS.applyBatches.subject);
    const ids = await $(Promise.all(batches.map((b) => c.store(origin).storeBatch(b))));
    expect(ids).toHaveLength(batches.length);
    expect(sentOn(c, origin, SUBJECTS.applyBatches.subject) - before).toBe(1);
    // The master stored them all, and completing them reaches the origin in one message.
    const requested = (c.events.get(target) ?? []).filter(
      (e): e is Extract<FlowStoreEvent, { type: "BATCH_REQUESTED" }> =>
        e.type === "BATCH_REQUESTED",
    );
    expect(requested.map((e) => e.batch.id).sort()).toEqual([...ids].sort());
    const completedBefore = sentOn(c, target, SUBJECTS.batchesCompleted.subject);
    await $(
      Promise.all(
        requested.map((e) =>
          c.store(target).batchOperationComplete({
            batchId: e.batch.id,
            deviceId: e.batch.deviceId,
            success: true,
            failed: [],
          }),
        ),
      ),
    );
    await c.advance(20);
    expect(sentOn(c, target, SUBJECTS.batchesCompleted.subject) - completedBefore).toBe(1);
    const completed = (c.events.get(origin) ?? []).filter((e) => e.type === "BATCH_COMPLETED");
    expect(completed.map((e) => (e as { batchId: string }).batchId).sort()).toEqual(
      [...ids].sort(),
    );
  });

  it("one message with good and refused batches keeps every batch's own outcome", async () => {
    cluster = await startSimCluster(3, [D1, D2, D3]);
    const c = cluster;
    const m = masterOf(c, D1);
    const other = c.nodes.find((n) => n !== m)!;
    // The coordinator balances three devices over three nodes: one is not `m`'s.
    const foreign = [D2, D3].find((d) => masterOf(c, d) !== m)!;
    expect(foreign).toBeDefined();
    const term = c.coordinator.mastership(D1).term;
    const batch = (id: string, d: DeviceId, n: number) => ({
      id,
      deviceId: d,
      operations: add([rule(d, n)]),
    });
    const batches = [
      { term, batch: batch("x:1", D1, 1) },
      { term: c.coordinator.mastership(foreign).term, batch: batch("x:2", foreign, 2) },
      { term, batch: batch("x:3", D1, 3) },
      // Last: a newer term than the master's own fences it, as it should.
      { term: term + 5, batch: batch("x:4", D1, 4) },
    ];
    const channel = new StoreChannel(c.messaging(other));
    const reply = await $(channel.call(m, SUBJECTS.applyBatches, { origin: other, batches }, 5000));
    expect(reply.results.map((r) => (r.ok ? "ok" : r.code))).toEqual([
      "ok",
      "NOT_MASTER",
      "ok",
      "STALE_TERM",
    ]);
    expect(c.store(m).localTable(foreign)?.find(rule(foreign, 2))).toBeUndefined();
    const table = c.store(m).localTable(D1)!;
    expect(table.find(rule(D1, 1))).toBeDefined();
    expect(table.find(rule(D1, 3))).toBeDefined();
    expect(table.find(rule(D1, 4))).toBeUndefined();
  });

  it("a batch refused by a node that is no longer master is retried on the new one", async () => {
    cluster = await startSimCluster(3, [D1], { config: { backupPeriod: 100 } });
    const c = cluster;
    const old = masterOf(c, D1);
    const origin = c.nodes.find((n) => n !== old)!;
    // Mastership moves while the forward is queued for the end of the turn.
    const stored = c.store(origin).storeBatch({ deviceId: D1, operations: add([rule(D1, 9)]) });
    await c.coordinator.forNode(old).relinquish(D1);
    await $(stored);
    const now = masterOf(c, D1);
    expect(now).not.toBe(old);
    expect(await $(c.store(origin).getFlowEntry(rule(D1, 9)))).toBeDefined();
  });

  it("a batch its own master took while synchronizing is retried on the next master when that term ends", async () => {
    cluster = await startSimCluster(3, [D1], { config: { backupPeriod: 100 } });
    const c = cluster;
    const old = masterOf(c, D1);
    await c.coordinator.forNode(old).relinquish(D1);
    const next = masterOf(c, D1);
    expect(next).not.toBe(old);
    // The new master is still pulling the newest copy: a batch it takes waits for its term.
    expect(c.store(next).isActiveMaster(D1)).toBe(false);
    const stored = c.store(next).storeBatch({ deviceId: D1, operations: add([rule(D1, 7)]) });
    // The term ends before it is active: the batch was not stored, so it goes to the next master.
    await c.coordinator.forNode(next).relinquish(D1);
    await $(stored);
    const last = masterOf(c, D1);
    expect(last).not.toBe(next);
    expect(await $(c.store(next).getFlowEntry(rule(D1, 7)))).toBeDefined();
    expect(c.store(last).localTable(D1)?.find(rule(D1, 7))).toBeDefined();
  });
});

describe("backpressure", () => {
  it("past maxPendingOperations a batch is refused with OVERLOADED and stores nothing; the others are kept", async () => {
    cluster = await startSimCluster(3, [D1], { config: { maxPendingOperations: 10 } });
    const c = cluster;
    const origin = c.nodes.find((n) => n !== masterOf(c, D1))!;
    const first = add(Array.from({ length: 8 }, (_, i) => rule(D1, i)));
    const second = add(Array.from({ length: 8 }, (_, i) => rule(D1, 100 + i)));
    const taken = c.store(origin).storeBatch({ deviceId: D1, operations: first });
    const refused = c.store(origin).storeBatch({ deviceId: D1, operations: second });
    await expect($(refused)).rejects.toMatchObject({ code: "OVERLOADED" });
    await $(taken);
    const stored = c.store(masterOf(c, D1)).localTable(D1)!;
    expect(stored.size).toBe(8);
    expect(second.some((op) => stored.find(op.rule) !== undefined)).toBe(false);
    // Once the first is acknowledged there is room again.
    await $(c.store(origin).storeBatch({ deviceId: D1, operations: second }));
    expect(stored.size).toBe(16);
  });
});

describe("planned hand-over", () => {
  it("handOver moves every device the node masters, with every write it acknowledged", async () => {
    cluster = await startSimCluster(3, [D1, D2, D3], { config: { backupPeriod: 1000 } });
    const c = cluster;
    const leaving = masterOf(c, D1);
    const mine = [D1, D2, D3].filter((d) => masterOf(c, d) === leaving);
    const rules = mine.flatMap((d) => Array.from({ length: 30 }, (_, i) => rule(d, i)));
    // Acknowledged, and not yet sent to any backup when the hand-over starts.
    await $(
      Promise.all(
        mine.map((d) =>
          c
            .store(leaving)
            .storeBatch({ deviceId: d, operations: add(rules.filter((r) => r.deviceId === d)) }),
        ),
      ),
    );
    const result = await $(c.store(leaving).handOver(5000));
    expect(result.remaining).toEqual([]);
    expect([...result.moved].sort()).toEqual([...mine].sort());
    for (const d of mine) {
      const next = masterOf(c, d);
      expect(next).not.toBe(leaving);
      expect(c.store(next).isActiveMaster(d)).toBe(true);
      for (const r of rules.filter((x) => x.deviceId === d)) {
        expect(c.store(next).localTable(d)?.find(r), `${r.id} on ${next}`).toBeDefined();
      }
    }
  });

  it("a node handing over is given no device meanwhile: it masters none when it stops", async () => {
    // backupPeriod: what a master acknowledges reaches its backups only a second later.
    cluster = await startSimCluster(3, [D1, D2, D3], { config: { backupPeriod: 1000 } });
    const c = cluster;
    const leaving = masterOf(c, D1);
    const writer = c.nodes.find((n) => n !== leaving)!;
    const result = await $(c.store(leaving).handOver(5000));
    expect(result.remaining).toEqual([]);
    // The rebalance after the hand-over (its successor now masters two devices) has run.
    await c.advance(1500);
    expect(c.coordinator.forNode(leaving).mastersOf(leaving)).toEqual([]);
    // Writes through another node are acknowledged, then the node stops, and they are on the
    // devices' masters. (Here backups land before the stop whoever took the writes, so this
    // part holds without the fix too; with real processes, a device given to the leaving
    // node lost the writes it took in its last 40 ms: the fault test's rolling restart.)
    const rules = [D1, D2, D3].flatMap((d) => Array.from({ length: 5 }, (_, i) => rule(d, i)));
    for (const d of [D1, D2, D3]) {
      await $(
        c
          .store(writer)
          .storeBatch({ deviceId: d, operations: add(rules.filter((r) => r.deviceId === d)) }),
      );
    }
    await c.crash(leaving);
    await c.advance(3000);
    for (const r of rules) {
      const master = masterOf(c, r.deviceId);
      expect(c.store(master).localTable(r.deviceId)?.find(r), `${r.id} on ${master}`).toBeDefined();
    }
  });
});
