import { performance } from "node:perf_hooks";
import { sleep } from "../cluster.js";
import { type BenchContext, defineScenario } from "../harness.js";
import {
  type NodeProcess,
  postFlows,
  scrape,
  startEtcdCluster,
  startLocalCluster,
  sumMetric,
} from "../product.js";
import { benchDevice } from "../workload.js";

/** How one design of the product runs: counters as soft state, or replicated (ONOS's way). */
interface Design {
  readonly name: string;
  readonly config: Record<string, unknown>;
}

const DESIGNS: readonly Design[] = [
  { name: "flowstore (counters soft state)", config: {} },
  {
    name: "counters replicated (ONOS's way)",
    config: { store: { replicateCounters: true } },
  },
];

/** What one run at one table size measured. */
interface Outcome {
  /** REST ingest, flows/s (batches of 1,000, 2 clients, through node 1). */
  readonly ingest: number;
  /** Last acknowledged write → every flow ADDED and backup lag 0, ms (Infinity: never, within the limit). */
  readonly convergeMs: number;
  /** Idle window: CPU of the busiest node, % of a core (--local: the process's / 3). */
  readonly idleCpuPerNode: number;
  /** Idle window: backup and anti-entropy bytes per second, for the one busy device. */
  readonly idleBackupBytesPerSecond: number;
  /** Heap per stored flow per node, replicas included (heap growth / (flows × copies)). */
  readonly heapPerFlow: number;
  /** Backup lag samples during the idle window (buckets; non-zero means it never settled). */
  readonly idleLagMax: number;
  /** How long convergence was waited for, ms. */
  readonly windowMs: number;
}

const NODES = 3;
const COPIES = 3; // the master and two backups

/** How the product runs: three nodes in one process, or three processes with etcd. */
type Mode = "local" | "etcd";

/** A running cluster, whichever the mode: its REST ports, CPU per node and live heap. */
interface ProductCluster {
  readonly restPorts: readonly number[];
  /** CPU time per node so far, ms (with --local: the one process's, split evenly). */
  cpuPerNode(): number[];
  /** The live heap of every process together, after a full collection, bytes. */
  liveHeap(): Promise<number>;
  stop(): Promise<void>;
}

async function startProduct(
  ctx: BenchContext,
  mode: Mode,
  design: Design,
): Promise<ProductCluster> {
  const log = (line: string) => ctx.progress(`${design.name}: ${line}`);
  if (mode === "local") {
    const node: NodeProcess = await startLocalCluster({
      nodes: NODES,
      devices: 2,
      config: design.config,
      inspect: true,
      log,
    });
    return {
      restPorts: node.restPorts,
      cpuPerNode: () => Array.from({ length: NODES }, () => node.cpuMs() / NODES),
      liveHeap: () => node.liveHeap(),
      stop: () => node.stop(),
    };
  }
  const cluster = await startEtcdCluster({
    nodes: NODES,
    devices: 2,
    config: design.config,
    inspect: true,
    log,
  });
  return {
    restPorts: cluster.restPorts,
    cpuPerNode: () => cluster.processes.map((p) => p.cpuMs()),
    liveHeap: async () => {
      let sum = 0;
      for (const p of cluster.processes) sum += await p.liveHeap();
      return sum;
    },
    stop: () => cluster.stop(),
  };
}

async function runOnce(
  ctx: BenchContext,
  mode: Mode,
  design: Design,
  flows: number,
  idleSeconds: number,
  convergeLimitMs: number,
): Promise<Outcome> {
  const device = benchDevice(1);
  const node = await startProduct(ctx, mode, design);
  try {
    await sleep(2000);
    const heapBefore = await node.liveHeap();
    const label = `${design.name}, ${mode}, ${flows.toLocaleString("en")} flows`;
    let lastShown = 0;
    const posted = await postFlows(node.restPorts[0]!, device, flows, {
      progress: (n) => {
        if (n - lastShown >= flows / 5) {
          lastShown = n;
          ctx.progress(`${label}: ${n.toLocaleString("en")} posted`);
        }
      },
    });
    const ingest = flows / posted.seconds;
    ctx.progress(`${label}: ingest ${Math.round(ingest)} flows/s`);
    // Converged: every flow ADDED on the master and no backup owed anything.
    let convergeMs = Number.POSITIVE_INFINITY;
    const limit = posted.ackedAt + convergeLimitMs;
    while (performance.now() < limit) {
      const metrics = await scrape(node);
      const added = metrics.reduce(
        (s, m) => s + sumMetric(m, "flowstore_flows", 'state="ADDED"'),
        0,
      );
      const lag = metrics.reduce((s, m) => s + sumMetric(m, "flowstore_backup_lag_buckets"), 0);
      if (added === flows && lag === 0) {
        convergeMs = performance.now() - posted.ackedAt;
        break;
      }
      await sleep(100);
    }
    ctx.progress(
      `${label}: ${Number.isFinite(convergeMs) ? `converged ${Math.round(convergeMs)} ms after the last write` : `not converged within ${convergeLimitMs / 1000} s`}`,
    );
    // Idle: no writes; the switches keep reporting counters at the default stats period.
    const before = await scrape(node);
    const cpuBefore = node.cpuPerNode();
    const start = performance.now();
    let idleLagMax = 0;
    while (performance.now() - start < idleSeconds * 1000) {
      await sleep(1000);
      const metrics = await scrape(node);
      const lag = metrics.reduce((s, m) => s + sumMetric(m, "flowstore_backup_lag_buckets"), 0);
      idleLagMax = Math.max(idleLagMax, lag);
    }
    const seconds = (performance.now() - start) / 1000;
    // The busiest node: the device's master, which takes its switch's reports.
    const cpu = Math.max(...node.cpuPerNode().map((ms, i) => ms - (cpuBefore[i] ?? 0)));
    const after = await scrape(node);
    // The live heap: a full collection first, through the node's inspector.
    const heapAfter = await node.liveHeap();
    const bytes = (ms: Map<string, number>[]) =>
      ms.reduce(
        (s, m) =>
          s +
          sumMetric(m, "flowstore_store_bytes_total", 'subject="flowstore.backup"') +
          sumMetric(m, "flowstore_store_bytes_total", 'subject="flowstore.summary"'),
        0,
      );
    const outcome: Outcome = {
      ingest,
      convergeMs,
      idleCpuPerNode: (100 * cpu) / (seconds * 1000),
      idleBackupBytesPerSecond: (bytes(after) - bytes(before)) / seconds,
      heapPerFlow: (heapAfter - heapBefore) / (flows * COPIES),
      idleLagMax,
      windowMs: convergeLimitMs,
    };
    ctx.progress(
      `${label}: idle CPU ${outcome.idleCpuPerNode.toFixed(1)} % of a core per node, backup ${Math.round(outcome.idleBackupBytesPerSecond)} B/s, heap ${Math.round(outcome.heapPerFlow)} B per stored flow, idle lag up to ${idleLagMax}`,
    );
    return outcome;
  } finally {
    await node.stop();
  }
}

export const scaleScenario = defineScenario({
  name: "scale",
  description:
    "the product at scale: flowstore-node --local 3 and three processes with etcd, flows posted through REST, switches reporting counters; convergence and idle cost with counters as soft state vs replicated",
  async run(ctx) {
    const sizes = ctx.quick ? [100_000] : [100_000, 1_000_000];
    const idleSeconds = 30;
    const results = new Map<string, Outcome>();
    const key = (mode: Mode, design: Design, flows: number) => `${mode}/${design.name}/${flows}`;
    // --local 3 for every design and size; three processes with etcd for flowstore at every
    // size, and for the baseline at the smallest (it never converges, and its ingest is slow).
    const plan: [Mode, Design, number][] = [];
    for (const flows of sizes) for (const design of DESIGNS) plan.push(["local", design, flows]);
    for (const flows of sizes) plan.push(["etcd", DESIGNS[0]!, flows]);
    plan.push(["etcd", DESIGNS[1]!, sizes[0]!]);
    for (const [mode, design, flows] of plan) {
      // The baseline may never converge: give it a bounded window, and say so.
      const limit = flows >= 1_000_000 ? 120_000 : 60_000;
      results.set(
        key(mode, design, flows),
        await runOnce(ctx, mode, design, flows, idleSeconds, limit),
      );
    }
    for (const [mode, design, flows] of plan) {
      const o = results.get(key(mode, design, flows))!;
      const at = `${design.name}, ${mode === "local" ? "--local 3" : "3 processes + etcd"}, ${flows.toLocaleString("en")} flows`;
      const converged = Number.isFinite(o.convergeMs);
      ctx.record(`${at}: last write → converged`, "ms", converged ? o.convergeMs : o.windowMs, {
        better: "lower",
        note: converged
          ? "every flow ADDED, backup lag 0"
          : `never converged: still not after the whole ${o.windowMs / 1000} s window shown`,
      });
      ctx.record(`${at}: REST ingest`, "flows/s", o.ingest, { better: "higher" });
      ctx.record(`${at}: idle CPU of the busiest node`, "% of a core", o.idleCpuPerNode, {
        better: "lower",
        note:
          mode === "local"
            ? `over ${idleSeconds} s with no writes; the --local process's CPU / ${NODES}`
            : `over ${idleSeconds} s with no writes; the device's master's process`,
      });
      ctx.record(`${at}: idle backup traffic of the device`, "B/s", o.idleBackupBytesPerSecond, {
        better: "lower",
      });
      ctx.record(`${at}: idle backup lag, max`, "buckets", o.idleLagMax, { better: "lower" });
      ctx.record(`${at}: heap per stored flow per node`, "B", o.heapPerFlow, {
        better: "lower",
        note: "growth of the live heap (after a full collection) / (flows × 3 copies)",
      });
    }
    for (const [mode, flows] of [
      ...sizes.map((f) => ["local", f] as const),
      ["etcd", sizes[0]!] as const,
    ]) {
      const ours = results.get(key(mode, DESIGNS[0]!, flows))!;
      const base = results.get(key(mode, DESIGNS[1]!, flows))!;
      const size = `${mode === "local" ? "--local 3" : "3 processes + etcd"}, ${flows.toLocaleString("en")} flows`;
      ctx.record(
        `${size}: idle CPU, replicated counters / soft state`,
        "×",
        base.idleCpuPerNode / Math.max(ours.idleCpuPerNode, 0.01),
        { better: "higher" },
      );
      ctx.record(
        `${size}: idle backup traffic, replicated counters / soft state`,
        "×",
        base.idleBackupBytesPerSecond / Math.max(ours.idleBackupBytesPerSecond, 1),
        { better: "higher", note: "soft state's traffic floored at 1 B/s for the ratio" },
      );
    }
    if (sizes.length > 1) {
      for (const metric of ["convergeMs", "idleCpuPerNode"] as const) {
        ctx.curve({
          name: metric === "convergeMs" ? "convergence vs flows" : "idle CPU vs flows",
          x: { label: "flows on the device", scale: "log" },
          y:
            metric === "convergeMs"
              ? { label: "last write → converged", unit: "ms" }
              : { label: "idle CPU per node", unit: "% of a core" },
          better: "lower",
          series: DESIGNS.map((design) => ({
            name: design.name,
            points: sizes
              .map((flows) => ({ x: flows, y: results.get(key("local", design, flows))![metric] }))
              .filter((p) => Number.isFinite(p.y)),
          })),
        });
      }
    }
  },
});
