import { randomUUID } from "node:crypto";
import {
  type ClusterMembership,
  type MembershipEvent,
  type NodeId,
  nodeId,
} from "@flowstore/cluster-messaging";
import {
  createEmbeddedCoordinator,
  createEtcdMastership,
  type EtcdMastership,
  type Mastership,
} from "@flowstore/mastership";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";
import { Subject } from "rxjs";
import { type BenchContext, defineScenario } from "../harness.js";

const DEVICES = 1000;
const STARTUP_DEVICES = 10_000;
const LEASE_TTL = 2;

const NODES = [nodeId("n1"), nodeId("n2"), nodeId("n3")] as const;
const devices = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `of:${i.toString(16).padStart(16, "0")}`);

/** A membership the scenario drives by hand: `convict(node)` is a failure detector's verdict. */
function manualMembership(local: NodeId): ClusterMembership & { convict(node: NodeId): void } {
  const events = new Subject<MembershipEvent>();
  const down = new Set<NodeId>();
  return {
    localNode: { id: local, host: "127.0.0.1", port: 0 },
    nodes: () => NODES.map((id, i) => ({ id, host: "127.0.0.1", port: 9000 + i })),
    state: (id) => (down.has(id) ? "INACTIVE" : "ACTIVE"),
    events$: events.asObservable(),
    convict(id) {
      down.add(id);
      events.next({ type: "NODE_INACTIVE", node: id });
    },
  };
}

/** Resolves when `check` holds, polling every `everyMs`; rejects after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs: number, everyMs = 2): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

const balanced = (view: Mastership<string>, nodes: readonly NodeId[], total: number): boolean => {
  const counts = nodes.map((n) => view.mastersOf(n).length);
  return (
    counts.reduce((a, b) => a + b, 0) === total && Math.max(...counts) - Math.min(...counts) <= 1
  );
};

/** Every device of `dead` has a live master in `view`. */
const failedOver = (view: Mastership<string>, dead: NodeId, keys: readonly string[]): boolean =>
  view.mastersOf(dead).length === 0 &&
  keys.every((key) => view.mastership(key).master !== undefined);

async function embeddedFailover(): Promise<number> {
  const membership = manualMembership(NODES[1]);
  const coordinator = createEmbeddedCoordinator<string>({ membership });
  try {
    const views = NODES.map((n) => coordinator.forNode(n));
    const keys = devices(DEVICES);
    for (const view of views) for (const key of keys) await view.requestRoleFor(key);
    await views[0]?.balance();
    const survivor = views[1] as Mastership<string>;
    if (!balanced(survivor, NODES, DEVICES))
      throw new Error("embedded coordinator did not balance");
    const start = performance.now();
    membership.convict(NODES[0]);
    await until(() => failedOver(survivor, NODES[0], keys), 10_000, 0);
    return performance.now() - start;
  } finally {
    coordinator.close();
  }
}

async function etcdCluster(
  endpoint: string,
  options: { convictingObserver?: boolean } = {},
): Promise<{
  views: EtcdMastership<string>[];
  convict?: (node: NodeId) => void;
  close(): Promise<void>;
}> {
  const prefix = `/bench/${randomUUID()}/`;
  const membership = options.convictingObserver === true ? manualMembership(NODES[1]) : undefined;
  const views = await Promise.all(
    NODES.map((n) =>
      createEtcdMastership<string>({
        endpoints: [endpoint],
        node: n,
        prefix,
        leaseTtl: LEASE_TTL,
        ...(membership !== undefined && n === NODES[1] ? { membership } : {}),
      }),
    ),
  );
  return {
    views,
    ...(membership === undefined ? {} : { convict: (n: NodeId) => membership.convict(n) }),
    close: async () => {
      await Promise.all(views.map((view) => view.close()));
    },
  };
}

async function etcdFailover(
  endpoint: string,
  ctx: BenchContext,
  convict: boolean,
): Promise<number> {
  const cluster = await etcdCluster(endpoint, { convictingObserver: convict });
  try {
    const keys = devices(DEVICES);
    for (const view of cluster.views)
      await Promise.all(keys.map((key) => view.requestRoleFor(key)));
    const [dead, survivor] = cluster.views as [EtcdMastership<string>, EtcdMastership<string>];
    const settleStart = performance.now();
    await until(() => cluster.views.every((view) => balanced(view, NODES, DEVICES)), 60_000, 20);
    ctx.progress(
      `etcd: ${DEVICES} devices balanced over 3 nodes in ${(performance.now() - settleStart).toFixed(0)} ms`,
    );
    const start = performance.now();
    await dead.abandon();
    cluster.convict?.(NODES[0]);
    await until(() => failedOver(survivor, NODES[0], keys), 10_000);
    return performance.now() - start;
  } finally {
    await cluster.close();
  }
}

async function etcdStartupWrites(endpoint: string, writeBatchSize?: number): Promise<number> {
  const view = await createEtcdMastership<string>({
    endpoints: [endpoint],
    node: NODES[0],
    prefix: `/bench/${randomUUID()}/`,
    leaseTtl: 5,
    ...(writeBatchSize === undefined ? {} : { writeBatchSize }),
  });
  try {
    const keys = devices(STARTUP_DEVICES);
    const start = performance.now();
    await Promise.all(keys.map((key) => view.requestRoleFor(key)));
    const seconds = (performance.now() - start) / 1000;
    if (view.mastersOf(NODES[0]).length !== STARTUP_DEVICES)
      throw new Error("not every candidacy was recorded");
    return STARTUP_DEVICES / seconds;
  } finally {
    await view.close();
  }
}

export const mastershipScenario = defineScenario({
  name: "mastership",
  description:
    "failover time after a node crash (embedded, etcd) and etcd candidate writes at start-up",
  async run(ctx) {
    const embedded = await ctx.sample(
      "embedded: crash → all 1,000 devices re-mastered (3 nodes)",
      "ms",
      embeddedFailover,
      {
        runs: ctx.quick ? 5 : 10,
        warmup: 1,
        better: "lower",
      },
    );
    ctx.progress(`embedded failover median ${embedded.median.toFixed(2)} ms`);
    let etcd: EtcdServer | undefined;
    try {
      etcd = await startEtcd();
      const endpoint = etcd.endpoint;
      const runs = ctx.quick ? 3 : 7;
      await ctx.sample(
        `etcd: kill → all 1,000 devices re-mastered, lease expiry (TTL ${LEASE_TTL} s)`,
        "ms",
        () => etcdFailover(endpoint, ctx, false),
        {
          runs,
          warmup: 0,
          better: "lower",
          note: `bound: TTL + 0.5 s = ${LEASE_TTL * 1000 + 500} ms`,
        },
      );
      await ctx.sample(
        "etcd: kill → all 1,000 devices re-mastered, failure detector verdict revokes the lease",
        "ms",
        () => etcdFailover(endpoint, ctx, true),
        { runs, warmup: 0, better: "lower", note: "measured from the verdict" },
      );
      const batched = await ctx.sample(
        "etcd: candidate writes at start-up, 10,000 devices (batched transactions)",
        "writes/s",
        () => etcdStartupWrites(endpoint),
        { runs, warmup: 1, better: "higher" },
      );
      const single = await ctx.sample(
        "etcd: candidate writes at start-up, 10,000 devices (one put per candidacy)",
        "writes/s",
        () => etcdStartupWrites(endpoint, 1),
        { runs: ctx.quick ? 1 : 3, warmup: 0, better: "higher" },
      );
      ctx.ratio("etcd start-up: batched vs one put per candidacy", batched, single);
    } finally {
      await etcd?.stop();
    }
  },
});
