// Persistence: every node keeps the tables it masters and backs up on disk; a full restart
// (every node killed at once) brings back every flow acknowledged a commit interval before.
import type { NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId, FlowId, FlowRule } from "@flowstore/flow-bucket";
import { afterEach, describe, expect, it } from "vitest";
import type { StoreConfigInput } from "./config.js";
import { MemoryDisk } from "./testing/memoryDisk.js";
import { device, rule, type SimCluster, startSimCluster } from "./testing/simCluster.js";

const D1 = device(1);
const D2 = device(2);
let cluster: SimCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Each node's persistence on its {@link MemoryDisk} in `disks` (made at its first start). */
function onDisks(disks: Map<NodeId, MemoryDisk>) {
  return (node: NodeId) => {
    let disk = disks.get(node);
    if (disk === undefined) {
      disk = new MemoryDisk();
      disks.set(node, disk);
    }
    return { sink: disk, loaded: disk.load(), commitInterval: 100 };
  };
}

/**
 * Three nodes (of D1 and D2 unless told otherwise), each keeping a {@link MemoryDisk}
 * (or none, `persist: false`); `config` goes over a backup period of 200 ms.
 */
async function start(
  disks: Map<NodeId, MemoryDisk>,
  options: { persist?: boolean; devices?: DeviceId[]; config?: StoreConfigInput } = {},
) {
  return startSimCluster(3, options.devices ?? [D1, D2], {
    config: { backupPeriod: 200, ...options.config },
    ...(options.persist === false ? {} : { persistence: onDisks(disks) }),
  });
}

async function writeFlows(c: SimCluster, from: number, count: number): Promise<FlowId[]> {
  const ids: FlowId[] = [];
  for (let i = from; i < from + count; i++) {
    const d = i % 2 === 0 ? D1 : D2;
    const r = rule(d, i);
    ids.push(r.id);
    await c.run(
      c
        .store(c.nodes[i % 3]!)
        .storeBatch({ deviceId: d, operations: [{ operator: "ADD", rule: r }] }),
    );
  }
  return ids;
}

/** Kills every node at once (what was not committed is lost), then starts them all again. */
async function restartAll(c: SimCluster, disks: Map<NodeId, MemoryDisk>) {
  for (const node of c.nodes) {
    disks.get(node)?.crash();
    await c.crash(node);
  }
  await c.advance(500);
  for (const node of c.nodes) await c.restart(node);
  await c.advance(3000);
}

/**
 * Three nodes of D1 with `maxDiskLag` 500 ms, whose disks' commits hang from `stall()` until
 * `resume()`.
 */
async function startWithStallingDisks() {
  let stalled = false;
  const waiting: (() => void)[] = [];
  cluster = await startSimCluster(3, [D1], {
    config: { maxDiskLag: 500 },
    persistence: () => {
      const disk = new MemoryDisk();
      const flush = disk.flush.bind(disk);
      disk.flush = async () => {
        if (stalled) await new Promise<void>((resolve) => waiting.push(resolve));
        await flush();
      };
      return { sink: disk, commitInterval: 100 };
    },
  });
  return {
    c: cluster,
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      for (const go of waiting.splice(0)) go();
    },
  };
}

/** Stores rules 0–19 of D1 through the first node and lets every disk commit them. */
async function storeTwentyOnD1(c: SimCluster): Promise<FlowRule[]> {
  const rules = Array.from({ length: 20 }, (_, i) => rule(D1, i));
  await c.run(
    c.store(c.nodes[0]!).storeBatch({
      deviceId: D1,
      operations: rules.map((r) => ({ operator: "ADD" as const, rule: r })),
    }),
  );
  await c.advance(300);
  return rules;
}

/** The flow ids of D1 that `node` holds. */
function heldOnD1(c: SimCluster, node: NodeId): Set<FlowId> {
  return new Set([...(c.store(node).localTable(D1)?.entries() ?? [])].map((e) => e.rule.id));
}

/** Every flow id the masters of D1 and D2 hold. */
function listed(c: SimCluster): Set<FlowId> {
  const ids = new Set<FlowId>();
  for (const d of [D1, D2]) {
    const master = c.coordinator.mastership(d).master!;
    expect(c.store(master).isActiveMaster(d)).toBe(true);
    for (const entry of c.store(master).localTable(d)?.entries() ?? []) ids.add(entry.rule.id);
  }
  return ids;
}

describe("persistence", () => {
  it("a full restart keeps every flow acknowledged a commit interval before it", async () => {
    const disks = new Map<NodeId, MemoryDisk>();
    cluster = await start(disks);
    const c = cluster;
    const ids = await writeFlows(c, 1, 300);
    await c.advance(150); // one commit interval and then some
    await restartAll(c, disks);
    const after = listed(c);
    expect(ids.filter((id) => !after.has(id))).toEqual([]);
    // The restarted masters are in new terms, above every term on disk.
    for (const d of [D1, D2])
      expect(c.store(c.coordinator.mastership(d).master!).term(d)).toBeGreaterThan(1);
  });

  it("after a full restart a master decodes its copy before it serves; backups decode theirs in the background once the cluster serves", async () => {
    const disks = new Map<NodeId, MemoryDisk>();
    cluster = await start(disks, { devices: [D1], config: { bucketCount: 4 } });
    const c = cluster;
    await c.run(
      c.store(c.nodes[0]!).storeBatch({
        deviceId: D1,
        operations: Array.from({ length: 40 }, (_, i) => ({
          operator: "ADD" as const,
          rule: rule(D1, i),
        })),
      }),
    );
    await c.advance(300);
    for (const node of c.nodes) {
      disks.get(node)?.crash();
      await c.crash(node);
    }
    await c.advance(500);
    for (const node of c.nodes) await c.restart(node);
    const active = () => c.nodes.find((node) => c.store(node).isActiveMaster(D1));
    for (let i = 0; i < 500 && active() === undefined; i++) await c.advance(10);
    const master = active()!;
    const backups = c.nodes.filter((n) => n !== master);
    // The master's four buckets were decoded before its term was active; the backups' copies
    // are still (almost all) encoded then.
    expect(disks.get(master)!.decodes).toBe(4);
    for (const node of backups) expect(disks.get(node)!.decodes).toBeLessThanOrEqual(1);
    await c.advance(1000);
    for (const node of backups) {
      expect(disks.get(node)!.decodes).toBe(4);
      expect([...(c.store(node).localTable(D1)?.entries() ?? [])]).toHaveLength(40);
    }
    expect([...(c.store(master).localTable(D1)?.entries() ?? [])]).toHaveLength(40);
  });

  it("the first node back after a full restart waits for the others before it serves: writes only the old master's disk holds are kept", async () => {
    const disks = new Map<NodeId, MemoryDisk>();
    // Four buckets, so the writes after the restart land in the buckets of the earlier ones.
    cluster = await start(disks, { devices: [D1], config: { bucketCount: 4 } });
    const c = cluster;
    const add = (node: NodeId, from: number, count: number) =>
      c.run(
        c.store(node).storeBatch({
          deviceId: D1,
          operations: Array.from({ length: count }, (_, i) => ({
            operator: "ADD" as const,
            rule: rule(D1, from + i),
          })),
        }),
      );
    await add(c.nodes[0]!, 1, 20);
    await c.advance(300);
    const master = c.coordinator.mastership(D1).master!;
    const backups = c.nodes.filter((node) => node !== master);
    // The backups die first; the master goes on acknowledging writes that only its own disk
    // then holds, and dies too.
    for (const node of backups) {
      disks.get(node)!.crash();
      await c.crash(node);
    }
    await add(master, 1000, 20);
    await c.advance(300);
    disks.get(master)!.crash();
    await c.crash(master);
    await c.advance(500);
    // The two backups come back first, a client writes through one of them, and the old
    // master comes back a second later.
    for (const node of backups) await c.restart(node);
    const late = c.store(backups[0]!).storeBatch({
      deviceId: D1,
      operations: Array.from({ length: 20 }, (_, i) => ({
        operator: "ADD" as const,
        rule: rule(D1, 2000 + i),
      })),
    });
    late.catch(() => {});
    await c.advance(1000);
    await c.restart(master);
    await c.run(late);
    await c.advance(3000);
    const now = c.coordinator.mastership(D1).master!;
    const held = heldOnD1(c, now);
    const acknowledged = [1, 1000, 2000].flatMap((from) =>
      Array.from({ length: 20 }, (_, i) => rule(D1, from + i).id),
    );
    expect(acknowledged.filter((id) => !held.has(id))).toEqual([]);
  });

  it("a node that does not come back is waited for restartSyncTimeout, then the others serve what they hold", async () => {
    const disks = new Map<NodeId, MemoryDisk>();
    cluster = await start(disks, { devices: [D1], config: { restartSyncTimeout: 2000 } });
    const c = cluster;
    const rules = await storeTwentyOnD1(c); // on every node's disk
    for (const node of c.nodes) {
      disks.get(node)!.crash();
      await c.crash(node);
    }
    await c.advance(500);
    const [gone, ...back] = c.nodes;
    for (const node of back) await c.restart(node);
    await c.advance(1000);
    const master = c.coordinator.mastership(D1).master!;
    expect(master).not.toBe(gone);
    expect(c.store(master).isActiveMaster(D1)).toBe(false); // still waiting for `gone`
    await c.advance(1500);
    expect(c.store(master).isActiveMaster(D1)).toBe(true);
    const held = heldOnD1(c, master);
    expect(rules.filter((r) => !held.has(r.id))).toEqual([]);
    await c.run(
      c.store(back[1]!).storeBatch({
        deviceId: D1,
        operations: [{ operator: "ADD", rule: rule(D1, 500) }],
      }),
    );
  });

  it("after a full restart and no write, a failover does not wait restartSyncTimeout: the backups' copies were confirmed by the live master", async () => {
    const disks = new Map<NodeId, MemoryDisk>();
    cluster = await start(disks, { devices: [D1], config: { restartSyncTimeout: 5000 } });
    const c = cluster;
    const rules = await storeTwentyOnD1(c);
    await restartAll(c, disks);
    const first = c.coordinator.mastership(D1).master!;
    expect(c.store(first).isActiveMaster(D1)).toBe(true);
    // The master dies before anything is written: the next one serves within a second,
    // with every flow.
    await c.crash(first);
    let waited = 0;
    const next = () => c.coordinator.mastership(D1).master;
    while (waited < 5000 && !(next() !== undefined && c.store(next()!).isActiveMaster(D1))) {
      await c.advance(100);
      waited += 100;
    }
    expect(waited).toBeLessThan(1000);
    const held = heldOnD1(c, next()!);
    expect(rules.filter((r) => !held.has(r.id))).toEqual([]);
  });

  it("without persistence the same restart keeps nothing (the control)", async () => {
    const disks = new Map<NodeId, MemoryDisk>();
    cluster = await start(disks, { persist: false });
    const c = cluster;
    await writeFlows(c, 1, 50);
    await c.advance(150);
    await restartAll(c, disks);
    expect(listed(c).size).toBe(0);
  });

  it("removals and changes reach the disk: after a commit it holds exactly the node's copy", async () => {
    const disks = new Map<NodeId, MemoryDisk>();
    cluster = await start(disks);
    const c = cluster;
    const ids = await writeFlows(c, 1, 200);
    const master = c.coordinator.mastership(D1).master!;
    const store = c.store(master);
    const d1 = [...(store.localTable(D1)?.entries() ?? [])];
    for (const entry of d1.slice(0, 40)) await c.run(store.removeFlowRule(entry));
    await c.advance(400);
    for (const node of c.nodes) {
      expect(disks.get(node)!.flows(D1)).toEqual(heldOnD1(c, node));
    }
    expect(ids.length).toBe(200);
  });

  it("a batch that comes while the disk is behind by maxDiskLag is held, and stored once the disk catches up", async () => {
    const { c, stall, resume } = await startWithStallingDisks();
    const master = c.store(c.coordinator.mastership(D1).master!);
    const add = (from: number) =>
      master.storeBatch({
        deviceId: D1,
        operations: [0, 1].map((i) => ({ operator: "ADD" as const, rule: rule(D1, from + i) })),
      });
    await c.run(add(1));
    stall();
    await c.run(add(10));
    await c.advance(700);
    expect(master.stats().persistence?.lagMs).toBeGreaterThan(500);
    // Two batches come while the disk is behind: held, in order, not refused.
    const outcomes: string[] = [];
    const held = [add(20), add(30)].map((p, i) =>
      p.then(
        () => outcomes.push(`stored ${i}`),
        (error: unknown) => outcomes.push(`refused ${i}: ${String(error)}`),
      ),
    );
    await c.advance(200);
    expect(outcomes).toEqual([]);
    expect(master.localTable(D1)?.find(rule(D1, 20))).toBeUndefined();
    resume();
    await c.run(Promise.all(held));
    expect(outcomes).toEqual(["stored 0", "stored 1"]);
    for (const n of [20, 21, 30, 31])
      expect(master.localTable(D1)?.find(rule(D1, n))).toBeDefined();
  });

  it("a disk that stays behind by maxDiskLag makes the master refuse writes (OVERLOADED), after holding them for maxDiskLag, until it catches up", async () => {
    const { c, stall, resume } = await startWithStallingDisks();
    const master = c.store(c.coordinator.mastership(D1).master!);
    const add = (i: number) =>
      master.storeBatch({ deviceId: D1, operations: [{ operator: "ADD", rule: rule(D1, i) }] });
    await c.run(add(1));
    stall();
    await c.run(add(2)); // the change the stuck commit holds
    await c.advance(700);
    expect(master.stats().persistence?.lagMs).toBeGreaterThan(500);
    await expect(c.run(add(3))).rejects.toMatchObject({ code: "OVERLOADED" });
    resume();
    await c.advance(300);
    expect(master.stats().persistence?.lagMs).toBeLessThan(500);
    await c.run(add(4));
  });

  it("counter-only device reports write nothing to disk (soft state)", async () => {
    const disks = new Map<NodeId, MemoryDisk>();
    cluster = await start(disks);
    const c = cluster;
    await writeFlows(c, 1, 100);
    const master = c.coordinator.mastership(D1).master!;
    const store = c.store(master);
    const report = () =>
      [...(store.localTable(D1)?.entries() ?? [])].map((e) => ({
        rule: e.rule,
        packets: c.scheduler.now(),
        bytes: 1,
        life: 1,
      }));
    await c.run(store.updateFlowStatistics(D1, report())); // PENDING_ADD → ADDED: a change
    await c.advance(300);
    const before = store.stats().persistence?.entries;
    await c.run(store.updateFlowStatistics(D1, report()));
    await c.advance(300);
    expect(store.stats().persistence?.entries).toBe(before);
  });
});
