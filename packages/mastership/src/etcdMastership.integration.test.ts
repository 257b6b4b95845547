// Against a real etcd, started here on free loopback ports and stopped by its PID.
import { randomUUID } from "node:crypto";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EtcdServer, startEtcd } from "../scripts/etcdServer.js";
import { type NodeId, nodeId } from "./cluster.js";
import {
  createEtcdMastership,
  type EtcdMastership,
  type EtcdMastershipOptions,
} from "./etcdMastership.js";
import { MastershipError } from "./mastership.js";
import { type ClusterUnderTest, describeMastershipBehaviour } from "./testing/mastershipSuite.js";
import { TestMembership } from "./testing/testMembership.js";

let etcd: EtcdServer | undefined;

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.stop();
});

function endpoint(): string {
  if (etcd === undefined) throw new Error("etcd did not start (see the beforeAll error)");
  return etcd.endpoint;
}

/** Polls `check` every 25 ms until it passes or `timeoutMs` is over. */
async function eventually(check: () => void, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface EtcdCluster extends ClusterUnderTest {
  readonly views: Map<NodeId, EtcdMastership<string>>;
  readonly prefix: string;
}

async function startCluster(
  nodeCount: number,
  options: Partial<EtcdMastershipOptions> & { endpoint?: string; memberships?: boolean } = {},
): Promise<EtcdCluster> {
  const prefix = `/test/${randomUUID()}/`;
  const nodes = Array.from({ length: nodeCount }, (_, i) => nodeId(`n${i + 1}`));
  const views = new Map<NodeId, EtcdMastership<string>>();
  const open = (n: NodeId) => {
    const membership = options.memberships === true ? new TestMembership(n, nodes) : undefined;
    return createEtcdMastership<string>({
      endpoints: [options.endpoint ?? endpoint()],
      node: n,
      leaseTtl: 2,
      prefix,
      balanceDelay: 50,
      rebalanceDelay: options.rebalanceDelay ?? 0,
      ...(options.backupCount === undefined ? {} : { backupCount: options.backupCount }),
      ...(options.leaseTtl === undefined ? {} : { leaseTtl: options.leaseTtl }),
      ...(options.maxMoves === undefined ? {} : { maxMoves: options.maxMoves }),
      ...(options.moveInterval === undefined ? {} : { moveInterval: options.moveInterval }),
      ...(membership === undefined ? {} : { membership }),
    });
  };
  for (const n of nodes) views.set(n, await open(n));
  return {
    nodes,
    views,
    prefix,
    view(n) {
      const view = views.get(n);
      if (view === undefined) throw new Error(`no view for ${n}`);
      return view;
    },
    async crash(n) {
      await views.get(n)?.abandon();
    },
    async restart(n) {
      await views.get(n)?.abandon();
      views.set(n, await open(n));
    },
    now: () => Date.now(),
    eventually: (check) => eventually(check),
    async close() {
      await Promise.all([...views.values()].map((view) => view.close()));
    },
  };
}

describeMastershipBehaviour({
  name: "etcd",
  start: (nodeCount, options) => startCluster(nodeCount, options ?? {}),
});

describe("etcd mastership", () => {
  it("uses the master candidacy's create revision as the term", async () => {
    const cluster = await startCluster(2);
    const raw = new Etcd3({ hosts: endpoint() });
    try {
      const [a, b] = cluster.nodes as [NodeId, NodeId];
      await cluster.view(a).requestRoleFor("dev-1");
      await cluster.view(b).requestRoleFor("dev-1");
      const info = cluster.view(b).mastership("dev-1");
      const candidacy = await raw.kv.range({
        key: Buffer.from(`${cluster.prefix}c/dev-1/${info.master}`),
      });
      expect(Number(candidacy.kvs[0]?.create_revision)).toBe(info.term);
    } finally {
      raw.close();
      await cluster.close();
    }
  });

  // etcd expires a lease at most TTL after its last keepalive, checked every 0.5 s; the
  // bound leaves 0.5 s more for a loaded machine (the benchmark reports the real figure).
  it("fails over within about the lease TTL when a node is killed", async () => {
    const cluster = await startCluster(3);
    try {
      const [dead, b, d] = cluster.nodes as [NodeId, NodeId, NodeId];
      const keys = Array.from({ length: 30 }, (_, i) => `dev-${i}`);
      for (const n of cluster.nodes)
        await Promise.all(keys.map((key) => cluster.view(n).requestRoleFor(key)));
      await eventually(() => expect(cluster.view(b).mastersOf(dead).length).toBeGreaterThan(0));
      const killedAt = Date.now();
      await cluster.crash(dead);
      await eventually(() => {
        for (const n of [b, d]) expect(cluster.view(n).mastersOf(dead)).toEqual([]);
      }, 5000);
      expect(Date.now() - killedAt).toBeLessThan(3000);
    } finally {
      await cluster.close();
    }
  });

  it("revokes a convicted node's lease, failing over long before its TTL", async () => {
    const cluster = await startCluster(3, { leaseTtl: 10, memberships: true });
    const membership = new TestMembership(nodeId("n2"), cluster.nodes);
    const survivor = await createEtcdMastership<string>({
      endpoints: [endpoint()],
      node: nodeId("observer"),
      prefix: cluster.prefix,
      membership,
    });
    try {
      const [dead, b] = cluster.nodes as [NodeId, NodeId];
      const keys = Array.from({ length: 30 }, (_, i) => `dev-${i}`);
      for (const n of cluster.nodes)
        await Promise.all(keys.map((key) => cluster.view(n).requestRoleFor(key)));
      await eventually(() => expect(cluster.view(b).mastersOf(dead).length).toBeGreaterThan(0));
      await cluster.crash(dead);
      const convictedAt = Date.now();
      membership.setState(dead, "INACTIVE");
      await eventually(() => expect(cluster.view(b).mastersOf(dead)).toEqual([]), 5000);
      expect(Date.now() - convictedAt).toBeLessThan(2000);
    } finally {
      await survivor.close();
      await cluster.close();
    }
  });

  it("refuses to start below a term seen before a restart (etcd's data wiped), and starts above it", async () => {
    const own = await startEtcd(); // a fresh etcd: its revision is low
    try {
      const refused = createEtcdMastership({
        endpoints: [own.endpoint],
        node: nodeId("n1"),
        leaseTtl: 2,
        termFloor: 1_000_000,
      });
      await expect(refused).rejects.toMatchObject({ code: "TERM_REGRESSION" });
      await expect(refused).rejects.toThrow(/revision \d+, below term 1000000/);
      const view = await createEtcdMastership<string>({
        endpoints: [own.endpoint],
        node: nodeId("n1"),
        leaseTtl: 2,
        termFloor: 1,
      });
      try {
        await view.requestRoleFor("dev-1");
        await eventually(() => expect(view.mastership("dev-1").term).toBeGreaterThan(1));
      } finally {
        await view.close();
      }
    } finally {
      await own.stop();
    }
  });

  it("steps down at once when it cannot renew its lease, and campaigns again when etcd is back", async () => {
    const own = await startEtcd();
    const cluster = await startCluster(2, { endpoint: own.endpoint });
    try {
      const [a, b] = cluster.nodes as [NodeId, NodeId];
      const keys = Array.from({ length: 10 }, (_, i) => `dev-${i}`);
      for (const n of cluster.nodes)
        await Promise.all(keys.map((key) => cluster.view(n).requestRoleFor(key)));
      await eventually(() => expect(cluster.view(a).mastersOf(a)).toHaveLength(5));
      const lostMastership: string[] = [];
      cluster.view(a).events$.subscribe((event) => {
        if (event.type === "MASTER_CHANGED" && event.info.master !== a)
          lostMastership.push(event.key);
      });
      // etcd freezes: no keepalive can succeed, and no watch event can tell us anything.
      process.kill(own.pid, "SIGSTOP");
      const frozenAt = Date.now();
      try {
        await eventually(() => {
          expect(cluster.view(a).mastersOf(a)).toEqual([]);
          expect(cluster.view(b).mastersOf(b)).toEqual([]);
        }, 5000);
        expect(Date.now() - frozenAt).toBeLessThan(2500);
        expect(lostMastership).toHaveLength(5);
        expect(cluster.view(a).role("dev-0")).toBe("NONE");
        expect(
          await cluster.view(a).activate("dev-0", cluster.view(a).mastership("dev-0").term),
        ).toBe(false);
      } finally {
        process.kill(own.pid, "SIGCONT");
      }
      await eventually(() => {
        for (const key of keys) {
          const info = cluster.view(b).mastership(key);
          expect([info.master, ...info.backups].sort()).toEqual([a, b]);
          expect(cluster.view(a).mastership(key)).toEqual(info);
        }
        expect(cluster.view(a).mastersOf(a)).toHaveLength(5);
      });
    } finally {
      await cluster.close();
      await own.stop();
    }
  });

  it("finds its lease stale at once when its process resumes after a stall longer than the TTL", async () => {
    const cluster = await startCluster(2);
    try {
      const [a, b] = cluster.nodes as [NodeId, NodeId];
      await cluster.view(a).requestRoleFor("dev-1");
      await cluster.view(b).requestRoleFor("dev-1");
      await eventually(() => expect(cluster.view(a).leaseFreshUntil()).toBeGreaterThan(Date.now()));
      // The event loop stalls (SIGSTOP, a long GC pause): no keep-alive goes out or comes back.
      const stalledAt = Date.now();
      while (Date.now() - stalledAt < 2100) {
        // busy: nothing else runs in this process
      }
      // Before any answer can arrive, both views know their masterships may be gone.
      for (const n of cluster.nodes)
        expect(cluster.view(n).leaseFreshUntil()).toBeLessThanOrEqual(Date.now());
      // They come back with new keep-alives (or new leases) and are fresh again.
      await eventually(() => {
        for (const n of cluster.nodes)
          expect(cluster.view(n).leaseFreshUntil()).toBeGreaterThan(Date.now());
      });
    } finally {
      await cluster.close();
    }
  });

  it("lets its lease go stale when keep-alives go unanswered, never past the last answered one + TTL", async () => {
    const own = await startEtcd();
    const cluster = await startCluster(1, { endpoint: own.endpoint });
    try {
      const view = cluster.view(cluster.nodes[0] as NodeId);
      await eventually(() => expect(view.leaseFreshUntil()).toBeGreaterThan(Date.now()));
      process.kill(own.pid, "SIGSTOP");
      const frozenAt = Date.now();
      try {
        // Every keep-alive answered was sent before the freeze: etcd may expire the lease
        // from frozenAt + TTL (2 s) on, and the view must not count on it beyond that.
        expect(view.leaseFreshUntil()).toBeLessThanOrEqual(frozenAt + 2000);
        await eventually(
          () => expect(view.leaseFreshUntil()).toBeLessThanOrEqual(Date.now()),
          5000,
        );
        expect(view.leaseFreshUntil()).toBeLessThanOrEqual(frozenAt + 2000);
      } finally {
        process.kill(own.pid, "SIGCONT");
      }
      await eventually(() => expect(view.leaseFreshUntil()).toBeGreaterThan(Date.now()));
    } finally {
      await cluster.close();
      await own.stop();
    }
  });

  it("refuses commands after close", async () => {
    const cluster = await startCluster(1);
    const view = cluster.view(cluster.nodes[0] as NodeId);
    await view.close();
    await expect(view.requestRoleFor("dev-1")).rejects.toBeInstanceOf(MastershipError);
  });

  it("fails to start with UNAVAILABLE when etcd cannot be reached", async () => {
    await expect(
      createEtcdMastership({
        endpoints: ["http://127.0.0.1:1"],
        node: nodeId("n1"),
        clientOptions: { dialTimeout: 500 },
      }),
    ).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });
});
