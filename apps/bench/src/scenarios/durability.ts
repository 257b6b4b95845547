import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { type BenchContext, defineScenario } from "../harness.js";
import {
  get,
  masterAndOther,
  parseMetrics,
  postFlows,
  postSingles,
  startEtcdCluster,
  startLocalCluster,
  sumMetric,
} from "../product.js";
import { percentile } from "../stats.js";
import { benchDevice } from "../workload.js";

/**
 * What durability costs a user, on `flowstore-node --local 3` through REST: the same writes
 * with `--replication async` (the default: acknowledged once the master applied them) and
 * `sync` (once a backup holds them too), and without and with `--data-dir`, in the same run;
 * then a full restart with a large table (kill -9 of every node at once, new processes on the
 * same directories), of `--local 3` and of three processes with etcd: how long until every
 * flow is served again.
 */

const BATCH = 1000;
/** Flows posted to a new cluster before its batches are timed. */
const WARM_UP = 10_000;

/** Bytes of the files under `dir`. */
function diskBytes(dir: string): number {
  let bytes = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) bytes += statSync(path.join(entry.parentPath, entry.name)).size;
  return bytes;
}

export const durabilityScenario = defineScenario({
  name: "durability",
  description:
    "what durability costs on flowstore-node --local 3: replication async vs sync (batches, single-flow POSTs, latency), memory only vs --data-dir (batches), and a full restart with a large table of --local 3 and of 3 processes with etcd (time until every flow is served, disk bytes per flow)",
  async run(ctx) {
    const flows = ctx.quick ? 30_000 : 100_000;
    const singleSeconds = ctx.quick ? 6 : 15;
    const device = benchDevice(1);
    // Batches: each run on a new cluster, the kinds compared taking turns, so that a change of
    // the machine's load during the scenario touches them alike.
    const batchesOn =
      (config: { store?: { replication: "async" | "sync" }; persisted?: boolean }) => async () => {
        const dir = config.persisted
          ? mkdtempSync(path.join(tmpdir(), "flowstore-durability-"))
          : undefined;
        const node = await startLocalCluster({
          nodes: 3,
          devices: 2,
          config: {
            ...(config.store === undefined ? {} : { store: config.store }),
            ...(dir === undefined ? {} : { dataDir: dir }),
          },
          log: (line) => ctx.progress(line),
        });
        try {
          const { other } = await masterAndOther(node.restPorts, device);
          await postFlows(other, device, WARM_UP, { batch: BATCH, clients: 2, offset: 0 });
          const { seconds } = await postFlows(other, device, flows, {
            batch: BATCH,
            clients: 2,
            offset: WARM_UP,
          });
          return flows / seconds;
        } finally {
          await node.stop();
          if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        }
      };
    const batches = (label: string) => ({
      name: `${label}: batches of 1,000 through a non-master, 2 clients`,
      unit: "flows/s",
      better: "higher" as const,
    });

    // ---- replication: async and sync -----------------------------------------------------
    const [asyncBatches, syncBatches] = await ctx.interleave(
      (["async", "sync"] as const).map((mode) => ({
        ...batches(mode),
        body: batchesOn({ store: { replication: mode } }),
      })),
      { warmup: 0 },
    );
    const latency = new Map<string, { p50: number; p99: number }>();
    for (const mode of ["async", "sync"] as const) {
      const node = await startLocalCluster({
        nodes: 3,
        devices: 2,
        config: { store: { replication: mode } },
        log: (line) => ctx.progress(line),
      });
      try {
        const { other } = await masterAndOther(node.restPorts, device);
        const singles = await postSingles(other, device, {
          clients: 32,
          seconds: singleSeconds,
          offset: 10_000_000,
        });
        const p50 = percentile(singles.latencies, 0.5);
        const p99 = percentile(singles.latencies, 0.99);
        ctx.record(`${mode}: single-flow POSTs, 32 clients`, "requests/s", singles.perSecond, {
          better: "higher",
        });
        ctx.record(`${mode}: single-flow POST latency p50`, "ms", p50, { better: "lower" });
        ctx.record(`${mode}: single-flow POST latency p99`, "ms", p99, { better: "lower" });
        latency.set(mode, { p50, p99 });
      } finally {
        await node.stop();
      }
    }

    // ---- persistence: the same batches without and with --data-dir -------------------------
    const [memoryOnly, dataDir] = await ctx.interleave(
      [
        { ...batches("memory only"), body: batchesOn({}) },
        { ...batches("--data-dir"), body: batchesOn({ persisted: true }) },
      ],
      { warmup: 0 },
    );
    ctx.ratio("--data-dir batches / memory-only batches", dataDir!, memoryOnly!, "goal ≥ 0.7");

    // ---- a full restart with a large table, in both deployments --------------------------
    const stored = ctx.quick ? 200_000 : 1_000_000;
    await measureRestart(ctx, "--local 3", stored, async (dir) => {
      let node = await startLocalCluster({ nodes: 3, devices: 2, config: { dataDir: dir } });
      return {
        restPorts: node.restPorts,
        async restart() {
          await node.stop(); // SIGKILL: every node of the process at once
          node = await startLocalCluster({
            nodes: 3,
            devices: 2,
            config: { dataDir: dir },
            waitFor: "nothing",
          });
          return node.restPorts;
        },
        stop: () => node.stop(),
      };
    });
    await measureRestart(ctx, "3 processes with etcd", stored, async (dir) => {
      const cluster = await startEtcdCluster({ nodes: 3, devices: 2, dataDir: dir });
      return {
        restPorts: cluster.restPorts,
        async restart() {
          await cluster.restart(); // SIGKILL of every process at once, then each started again
          return cluster.restPorts;
        },
        stop: () => cluster.stop(),
      };
    });

    const async = latency.get("async")!;
    const sync = latency.get("sync")!;
    ctx.ratio("sync batches / async batches", syncBatches!, asyncBatches!, "goal ≥ 0.5");
    ctx.record("sync: added single-flow latency p50", "ms", sync.p50 - async.p50, {
      better: "lower",
    });
    ctx.record("sync: added single-flow latency p99", "ms", sync.p99 - async.p99, {
      better: "lower",
    });
  },
});

/** A cluster on data directories under `dir` that a full restart can be measured on. */
interface RestartableCluster {
  readonly restPorts: readonly number[];
  /** Kills every node at once and starts them again on the same directories; their REST ports. */
  restart(): Promise<readonly number[]>;
  stop(): Promise<void>;
}

/**
 * Stores `stored` flows through a non-master of a cluster started by `start`, kills every
 * node at once, starts them again and records how long until every flow is served (by the
 * devices' masters, on whichever nodes answer) and until every node answers, from outside
 * the processes; and the disk bytes per flow.
 */
async function measureRestart(
  ctx: BenchContext,
  label: string,
  stored: number,
  start: (dir: string) => Promise<RestartableCluster>,
): Promise<void> {
  const device = benchDevice(1);
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-restart-"));
  try {
    const cluster = await start(dir);
    try {
      const { other } = await masterAndOther(cluster.restPorts, device);
      const started = performance.now();
      await postFlows(other, device, stored, { batch: BATCH, clients: 2, offset: 50_000_000 });
      ctx.progress(
        `${label}: stored ${stored.toLocaleString("en")} flows in ${Math.round((performance.now() - started) / 1000)} s`,
      );
      // The kill comes once every node's disk holds everything it has (a lag of 0): the
      // restart is then measured on every acknowledged flow. How long the disks took after
      // the last acknowledgement is the window a kill would have lost writes in.
      const ackedAt = performance.now();
      let caughtUp: number | undefined;
      while (caughtUp === undefined && performance.now() - ackedAt < 60_000) {
        let lag = 0;
        for (const port of cluster.restPorts) {
          const answer = await get(port, "/metrics");
          lag += sumMetric(parseMetrics(answer.body), "flowstore_disk_lag_seconds");
        }
        if (lag === 0) caughtUp = performance.now();
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
      ctx.record(
        `${label}: every disk holds every acknowledged flow, after the last acknowledgement`,
        "s",
        ((caughtUp ?? performance.now()) - ackedAt) / 1000,
        {
          better: "lower",
          note: caughtUp === undefined ? "gave up after 60 s" : "--max-disk-lag is 1 s",
        },
      );
      const bytes = diskBytes(dir);
      ctx.record(`${label}: disk bytes per flow (three nodes' copies)`, "B", bytes / stored, {
        better: "lower",
      });
      ctx.record(`${label}: disk bytes per flow copy`, "B", bytes / stored / 3, {
        better: "lower",
      });
      const restartedAt = performance.now();
      const restPorts = await cluster.restart();
      // Flows served: those on the devices' masters, on whichever nodes answer already.
      const servedNow = async () => {
        let sum = 0;
        let up = 0;
        for (const port of restPorts) {
          const answer = await get(port, "/metrics").catch(() => undefined);
          if (answer?.status !== 200) continue;
          up++;
          sum += sumMetric(parseMetrics(answer.body), "flowstore_flows");
        }
        return { sum, up };
      };
      let served = 0;
      let servedAt: number | undefined;
      let everyNodeAt: number | undefined;
      const deadline = performance.now() + 120_000;
      while (
        (servedAt === undefined || everyNodeAt === undefined) &&
        performance.now() < deadline
      ) {
        const now = await servedNow();
        served = Math.max(served, now.sum);
        if (servedAt === undefined && served >= stored) servedAt = performance.now();
        if (everyNodeAt === undefined && now.up === restPorts.length)
          everyNodeAt = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const since = (at: number | undefined) => ((at ?? performance.now()) - restartedAt) / 1000;
      const flows = stored.toLocaleString("en");
      ctx.record(
        `${label}: full restart with ${flows} flows: until every flow is served`,
        "s",
        since(servedAt),
        {
          better: "lower",
          note:
            servedAt === undefined
              ? `gave up: ${served.toLocaleString("en")} of ${flows} served`
              : "goal ≤ 10 s at 1,000,000",
        },
      );
      ctx.record(
        `${label}: full restart with ${flows} flows: until every node answers`,
        "s",
        since(everyNodeAt),
        {
          better: "lower",
        },
      );
      ctx.record(
        `${label}: flows served after the restart / acknowledged before`,
        "×",
        served / stored,
        {
          better: "higher",
        },
      );
    } finally {
      await cluster.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
