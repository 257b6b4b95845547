import { VirtualTimeScheduler } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { type NodeId, nodeId } from "./cluster.js";
import { createEmbeddedCoordinator, type EmbeddedCoordinator } from "./embeddedMastership.js";
import { MastershipError, type MastershipEvent } from "./mastership.js";
import {
  type BackendOptions,
  type ClusterUnderTest,
  describeMastershipBehaviour,
} from "./testing/mastershipSuite.js";
import { TestMembership } from "./testing/testMembership.js";

/** Moves virtual time forward by `ms`, running whatever falls due. */
function advance(scheduler: VirtualTimeScheduler, ms: number): void {
  const target = scheduler.frame + ms;
  scheduler.maxFrames = target;
  scheduler.flush();
  scheduler.frame = target;
}

interface EmbeddedCluster extends ClusterUnderTest {
  readonly coordinator: EmbeddedCoordinator<string>;
  readonly membership: TestMembership;
  readonly scheduler: VirtualTimeScheduler;
}

function startEmbedded(nodeCount: number, options: BackendOptions = {}): EmbeddedCluster {
  const nodes = Array.from({ length: nodeCount }, (_, i) => nodeId(`n${i + 1}`));
  const scheduler = new VirtualTimeScheduler();
  const membership = new TestMembership(nodes[0] as NodeId, nodes);
  const coordinator = createEmbeddedCoordinator<string>({
    membership,
    scheduler,
    rebalanceDelay: options.rebalanceDelay ?? 5000,
    ...(options.maxMoves === undefined ? {} : { maxMoves: options.maxMoves }),
    ...(options.moveInterval === undefined ? {} : { moveInterval: options.moveInterval }),
  });
  const viewOptions = options.backupCount === undefined ? {} : { backupCount: options.backupCount };
  for (const n of nodes) coordinator.forNode(n, viewOptions);
  return {
    nodes,
    coordinator,
    membership,
    scheduler,
    view: (n) => coordinator.forNode(n),
    now: () => scheduler.now(),
    async crash(n) {
      membership.setState(n, "INACTIVE");
    },
    async restart(n) {
      membership.setState(n, "ACTIVE");
    },
    async eventually(check) {
      for (let step = 0; ; step++) {
        await Promise.resolve();
        try {
          check();
          return;
        } catch (error) {
          if (step >= 600) throw error;
        }
        advance(scheduler, 100);
      }
    },
    async close() {
      coordinator.close();
      membership.close();
    },
  };
}

describeMastershipBehaviour({
  name: "embedded",
  start: async (nodeCount, options) => startEmbedded(nodeCount, options),
});

describe("embedded coordinator", () => {
  let cluster: EmbeddedCluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  const keys = Array.from({ length: 30 }, (_, i) => `dev-${i}`);

  async function balancedCluster(rebalanceDelay = 5000): Promise<EmbeddedCluster> {
    const c = startEmbedded(3, { rebalanceDelay });
    for (const n of c.nodes) for (const key of keys) await c.view(n).requestRoleFor(key);
    advance(c.scheduler, 1);
    return c;
  }

  const counts = (c: EmbeddedCluster): number[] =>
    c.nodes.map((n) => c.view(n).mastersOf(n).length);

  it("spreads each master's first backups so a failure splits its keys evenly", async () => {
    cluster = await balancedCluster();
    const c = cluster;
    expect(counts(c)).toEqual([10, 10, 10]);
    const [a, b, d] = c.nodes as [NodeId, NodeId, NodeId];
    for (const master of [a, b, d]) {
      const firsts = c
        .view(a)
        .mastersOf(master)
        .map((key) => c.coordinator.mastership(key).backups[0]);
      const perNode = [a, b, d]
        .filter((n) => n !== master)
        .map((n) => firsts.filter((f) => f === n).length);
      expect(perNode).toEqual([5, 5]);
    }
    await c.crash(a);
    // Failover happens at once, not after a timer, and is already balanced.
    expect(counts(c).slice(1)).toEqual([15, 15]);
    expect(c.view(a).mastersOf(a)).toEqual([]);
  });

  it("gives a returning node its share only after the rebalance delay, and a flapping node none", async () => {
    cluster = await balancedCluster(5000);
    const c = cluster;
    const [a] = c.nodes as [NodeId];
    const changes: MastershipEvent<string>[] = [];
    c.view(a).events$.subscribe((event) => {
      if (event.type === "MASTER_CHANGED") changes.push(event);
    });
    await c.crash(a);
    expect(changes).toHaveLength(10);
    // Flapping: back, down again, back — within the delay nothing moves.
    c.membership.setState(a, "ACTIVE");
    advance(c.scheduler, 3000);
    c.membership.setState(a, "INACTIVE");
    c.membership.setState(a, "ACTIVE");
    advance(c.scheduler, 4999);
    expect(changes).toHaveLength(10);
    expect(counts(c)).toEqual([0, 15, 15]);
    // It is a backup again right away, the last one.
    for (const key of keys) expect(c.coordinator.mastership(key).backups.at(-1)).toBe(a);
    advance(c.scheduler, 1);
    expect(counts(c)).toEqual([10, 10, 10]);
    expect(changes).toHaveLength(20);
  });

  it("moves a key whose term is active before one whose master is still synchronizing", async () => {
    // n1 alone first: it masters both keys; it activates only "small" (its sync of "big", a
    // table loaded from disk, is still under way) when n2 comes back and balancing starts.
    cluster = startEmbedded(2, { rebalanceDelay: 1000 });
    const c = cluster;
    const [n1, n2] = c.nodes as [NodeId, NodeId];
    await c.crash(n2);
    for (const key of ["big", "small"]) await c.view(n1).requestRoleFor(key);
    advance(c.scheduler, 1);
    expect(c.view(n1).mastersOf(n1)).toEqual(["big", "small"]);
    await c.view(n1).activate("small", c.coordinator.mastership("small").term);
    for (const key of ["big", "small"]) await c.view(n2).requestRoleFor(key);
    await c.restart(n2);
    advance(c.scheduler, 1001);
    expect(c.coordinator.mastership("big").master).toBe(n1);
    expect(c.coordinator.mastership("small").master).toBe(n2);
  });

  it("hands a closed view's keys over at once and refuses its later commands", async () => {
    cluster = await balancedCluster();
    const c = cluster;
    const [a, b] = c.nodes as [NodeId, NodeId];
    const view = c.view(a);
    let completed = false;
    view.events$.subscribe({ complete: () => (completed = true) });
    await view.close();
    expect(completed).toBe(true);
    expect(c.view(b).mastersOf(a)).toEqual([]);
    for (const key of keys) expect(c.coordinator.mastership(key).backups).not.toContain(a);
    await expect(view.requestRoleFor("dev-0")).rejects.toBeInstanceOf(MastershipError);
    await expect(view.activate("dev-0", 1)).rejects.toMatchObject({ code: "CLOSED" });
  });

  it("keeps a key's term growing after every candidate left and one came back", async () => {
    cluster = startEmbedded(2);
    const c = cluster;
    const [a, b] = c.nodes as [NodeId, NodeId];
    await c.view(a).requestRoleFor("dev-x");
    const first = c.view(a).mastership("dev-x").term;
    await c.view(a).relinquish("dev-x");
    expect(c.view(a).keys()).toEqual([]);
    expect(c.view(a).mastership("dev-x").master).toBeUndefined();
    await c.view(b).requestRoleFor("dev-x");
    expect(c.view(a).mastership("dev-x")).toEqual({ term: first + 1, master: b, backups: [] });
  });

  it("starts every key's terms above termFloor (the highest term seen before a full restart)", async () => {
    const coordinator = createEmbeddedCoordinator<string>({ termFloor: 41 });
    const view = coordinator.forNode(nodeId("n1"));
    await view.requestRoleFor("dev-x");
    expect(view.mastership("dev-x").term).toBe(42);
    coordinator.close();
    expect(() => createEmbeddedCoordinator({ termFloor: -1 })).toThrow(/termFloor/);
  });

  it("puts a candidate that asks again ahead of a node that is down, so the returning node is last", async () => {
    cluster = startEmbedded(3, { rebalanceDelay: 60_000 });
    const [n1, n2, n3] = cluster.nodes as [NodeId, NodeId, NodeId];
    for (const n of [n1, n2, n3]) await cluster.view(n).requestRoleFor("dev");
    advance(cluster.scheduler, 1);
    const master = cluster.coordinator.mastership("dev").master!;
    const [first, second] = cluster.coordinator.mastership("dev").backups as [NodeId, NodeId];
    cluster.membership.setState(second, "INACTIVE");
    await cluster.view(first).relinquish("dev");
    await cluster.view(first).requestRoleFor("dev");
    cluster.membership.setState(second, "ACTIVE");
    advance(cluster.scheduler, 1);
    expect(cluster.coordinator.mastership("dev")).toMatchObject({
      master,
      backups: [first, second],
    });
  });

  it("uses no timer once closed", async () => {
    cluster = await balancedCluster();
    const c = cluster;
    await c.crash(c.nodes[0] as NodeId);
    c.membership.setState(c.nodes[0] as NodeId, "ACTIVE");
    c.coordinator.close();
    expect(c.scheduler.actions.filter((action) => !action.closed)).toEqual([]);
  });
});
