import { performance } from "node:perf_hooks";
import { sleep } from "../cluster.js";
import { type BenchContext, defineScenario, type Summary } from "../harness.js";
import {
  batchBody,
  http,
  type NodeProcess,
  postFlows,
  postSingles,
  scrape,
  settledMasterAndOther,
  startBareServer,
  startEtcdCluster,
  startLocalCluster,
  sumMetric,
  waitForBackups,
} from "../product.js";
import { percentile } from "../stats.js";
import { benchDevice } from "../workload.js";

/**
 * The user's write path, end to end: REST → (forward) → master → switch → completion, on
 * `flowstore-node --local 3`, against the machine's ceiling measured in the same run.
 */

const BATCH = 1000;

/** REST batches of 1,000 through `port`, `clients` at once: flows/s. */
async function batchRate(
  port: number,
  device: ReturnType<typeof benchDevice>,
  flows: number,
  clients: number,
  offset: number,
): Promise<number> {
  const { seconds } = await postFlows(port, device, flows, { batch: BATCH, clients, offset });
  return flows / seconds;
}

/** The REST port of the device's master, once it stays put, and of another node. */
const roles = (node: NodeProcess, device: string) => settledMasterAndOther(node.restPorts, device);

/**
 * Batches through the master and a non-master, and single-flow POSTs, on the cluster whose
 * REST ports are `ports` (`kind` names it in the figures).
 */
async function measureCluster(
  ctx: BenchContext,
  kind: string,
  ports: readonly number[],
  options: { flows: number; singleSeconds: number; ceiling: Summary; singleCeiling: number },
): Promise<void> {
  const device = benchDevice(1);
  const { flows, singleSeconds } = options;
  const { master, other } = await settledMasterAndOther(ports, device);
  let offset = 0;
  const through = async (port: number, clients: number) => {
    await waitForBackups(ports);
    const rate = await batchRate(port, device, flows, clients, offset);
    offset += flows;
    return rate;
  };
  // In turns: each run adds its flows to the same device, so the two paths see the table at
  // the same sizes (one after the other, the non-master's runs came on a table twice as big).
  const [viaMaster, viaOther] = await ctx.interleave(
    [
      {
        name: `${kind}: batches of 1,000 through the master, 2 clients`,
        unit: "flows/s",
        body: () => through(master, 2),
        better: "higher",
      },
      {
        name: `${kind}: batches of 1,000 through a non-master, 2 clients`,
        unit: "flows/s",
        body: () => through(other, 2),
        better: "higher",
      },
    ],
    { runs: 3, warmup: 1 },
  );
  await ctx.sample(
    `${kind}: batches of 1,000 through a non-master, 4 clients`,
    "flows/s",
    () => through(other, 4),
    { runs: 3, warmup: 0, better: "higher" },
  );
  ctx.ratio(
    `${kind}: batches through the master / ceiling`,
    viaMaster!,
    options.ceiling,
    "goal ≥ 0.3",
  );
  ctx.ratio(
    `${kind}: batches through a non-master / through the master`,
    viaOther!,
    viaMaster!,
    "goal ≥ 0.8",
  );

  const singles = async (label: string, to: number | readonly number[], at: number) => {
    await waitForBackups(ports);
    const result = await postSingles(to, device, {
      clients: 32,
      seconds: singleSeconds,
      offset: at,
    });
    const nodes = typeof to === "number" ? 1 : to.length;
    ctx.record(`${kind}: single-flow POSTs ${label}, 32 clients`, "requests/s", result.perSecond, {
      better: "higher",
    });
    ctx.record(
      `${kind}: single-flow POSTs ${label}, per node`,
      "requests/s",
      result.perSecond / nodes,
      {
        better: "higher",
        note: "goal ≥ 15,000/s per node",
      },
    );
    ctx.record(
      `${kind}: single-flow POST latency ${label}, p50`,
      "ms",
      percentile(result.latencies, 0.5),
      {
        better: "lower",
      },
    );
    ctx.record(
      `${kind}: single-flow POST latency ${label}, p99`,
      "ms",
      percentile(result.latencies, 0.99),
      {
        better: "lower",
        note: "goal ≤ 20 ms",
      },
    );
    ctx.record(
      `${kind}: single-flow POSTs ${label} answered 503 (retried)`,
      "requests",
      result.refused,
      {
        better: "lower",
      },
    );
    ctx.record(
      `${kind}: single-flow POSTs ${label} / ceiling`,
      "×",
      result.perSecond / options.singleCeiling,
      { better: "higher" },
    );
  };
  await singles("through a non-master", other, 10_000_000);
  await singles("spread over every node", ports, 11_000_000);
}

async function ceilingRate(ctx: BenchContext, flows: number, clients: number): Promise<number> {
  const bare = await startBareServer();
  try {
    return await batchRate(bare.port, benchDevice(1), flows, clients, 0);
  } finally {
    await bare.stop();
    ctx.progress(`bare HTTP server stopped`);
  }
}

/** Operations a node may have on their way to masters in the overload run (its limit). */
const OVERLOAD_LIMIT = 5_000;

/**
 * A sustained overload: 16 clients post batches of 1,000 through a non-master of a
 * `--local 3` whose `maxPendingOperations` is {@link OVERLOAD_LIMIT}, retrying each 503 after
 * 10 ms, for `seconds`. Records what was acknowledged and refused, the process's memory
 * before, at its peak and after, and whether every acknowledged flow is stored.
 */
async function measureOverload(ctx: BenchContext, seconds: number): Promise<void> {
  const device = benchDevice(1);
  const node = await startLocalCluster({
    nodes: 3,
    devices: 2,
    config: { store: { maxPendingOperations: OVERLOAD_LIMIT } },
    inspect: true,
    log: (line) => ctx.progress(line),
  });
  try {
    const { other } = await roles(node, device);
    const stored = async () =>
      (await scrape(node)).reduce((sum, metrics) => sum + sumMetric(metrics, "flowstore_flows"), 0);
    const before = await stored();
    const heapBefore = await node.liveHeap();
    const rssBefore = node.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, node.rss());
    }, 250);
    let acknowledged = 0;
    let refused = 0;
    let next = 40_000_000;
    const end = performance.now() + seconds * 1000;
    const client = async () => {
      while (performance.now() < end) {
        const from = next;
        next += BATCH;
        const body = batchBody(device, from, BATCH);
        for (;;) {
          const answer = await http(other, "POST", "/onos/v1/flows", body);
          if (answer.status === 200) {
            acknowledged += BATCH;
            break;
          }
          if (answer.status !== 503) throw new Error(`POST /onos/v1/flows: ${answer.status}`);
          refused++;
          if (performance.now() >= end) break;
          await sleep(10);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: 16 }, client));
    } finally {
      clearInterval(sampler);
    }
    await waitForBackups(node.restPorts);
    const after = await stored();
    const heapAfter = await node.liveHeap();
    const mb = (bytes: number) => bytes / 2 ** 20;
    ctx.record(
      "overload: flows acknowledged per second, 16 clients",
      "flows/s",
      acknowledged / seconds,
      {
        better: "higher",
      },
    );
    ctx.record("overload: batches answered 503 (and retried)", "requests", refused, {
      note: `maxPendingOperations ${OVERLOAD_LIMIT.toLocaleString("en")}`,
    });
    ctx.record("overload: node process memory before", "MiB", mb(rssBefore), { better: "lower" });
    ctx.record("overload: node process memory at its peak", "MiB", mb(rssPeak), {
      better: "lower",
      note: "bounded: what was acknowledged, not what was offered",
    });
    ctx.record(
      "overload: live heap afterwards per acknowledged flow (three copies)",
      "B",
      (heapAfter - heapBefore) / Math.max(acknowledged, 1),
      { better: "lower", note: "what the stored flows take: no queue left behind" },
    );
    ctx.record(
      "overload: acknowledged flows not stored afterwards",
      "flows",
      before + acknowledged - after,
      {
        better: "lower",
        note: "goal 0",
      },
    );
  } finally {
    await node.stop();
  }
}

export const ingestScenario = defineScenario({
  name: "ingest",
  description:
    "REST ingest on flowstore-node --local 3 and on three processes with etcd: batches through the master and a non-master, single-flow POSTs, and the rate as the device grows, against a bare HTTP server parsing the same bodies",
  async run(ctx) {
    const flows = ctx.quick ? 30_000 : 100_000;
    const sizes = ctx.quick ? [0, 100_000] : [0, 100_000, 1_000_000];
    const singleSeconds = ctx.quick ? 8 : 20;
    const device = benchDevice(1);

    // ---- the ceiling ------------------------------------------------------------------
    const ceiling = await ctx.sample(
      "ceiling: bare HTTP server parsing the same bodies (batches of 1,000, 2 clients)",
      "flows/s",
      () => ceilingRate(ctx, flows, 2),
      { runs: 3, warmup: 1, better: "higher" },
    );
    const bare = await startBareServer();
    let singleCeiling: Awaited<ReturnType<typeof postSingles>>;
    try {
      singleCeiling = await postSingles(bare.port, device, {
        clients: 32,
        seconds: singleSeconds,
        offset: 0,
        path: "/",
      });
    } finally {
      await bare.stop();
    }
    ctx.record("ceiling: single-flow POSTs, 32 clients", "requests/s", singleCeiling.perSecond, {
      better: "higher",
    });

    // ---- overload: more than the node takes, from many clients ---------------------------
    await measureOverload(ctx, ctx.quick ? 10 : 30);

    // ---- flowstore: one process with three nodes, and three processes with etcd ----------
    const log = (line: string) => ctx.progress(line);
    const deployments = [
      ["--local 3", () => startLocalCluster({ nodes: 3, devices: 2, log })],
      ["3 processes with etcd", () => startEtcdCluster({ nodes: 3, devices: 2, log })],
    ] as const;
    for (const [label, start] of deployments) {
      const cluster = await start();
      try {
        await measureCluster(ctx, label, cluster.restPorts, {
          flows,
          singleSeconds,
          ceiling,
          singleCeiling: singleCeiling.perSecond,
        });
      } finally {
        await cluster.stop();
      }
    }

    // ---- the rate as the device grows ---------------------------------------------------
    // Three runs per size, their median charted: one run swung by half on the same code.
    // On an empty device each run takes a device of its own, so every one starts empty; on
    // a preloaded one they follow one another (1,000,000, then 100,000 more, and so on).
    const growth: { x: number; y: number }[] = [];
    const bySize: Summary[] = [];
    for (const preload of sizes) {
      const grown = await startLocalCluster({ nodes: 3, devices: 4 });
      try {
        const empties = [device, benchDevice(3), benchDevice(4)];
        // Through a node that is not the master of the device the run posts to.
        const others = new Map<string, number>();
        for (const d of preload === 0 ? empties : [device]) {
          others.set(d, (await roles(grown, d)).other);
        }
        const other = others.get(device)!;
        // The same warm-up for every size, on a device none of the runs uses: the measured
        // path is compiled.
        await postFlows(other, benchDevice(2), 20_000, { batch: BATCH, clients: 2 });
        if (preload > 0) {
          const started = performance.now();
          await postFlows(other, device, preload, { batch: BATCH, clients: 2, offset: 20_000_000 });
          ctx.progress(
            `preloaded ${preload.toLocaleString("en")} flows in ${Math.round((performance.now() - started) / 1000)} s`,
          );
        }
        let run = 0;
        const rate = await ctx.sample(
          `flowstore: batches through a non-master with ${preload.toLocaleString("en")} flows stored`,
          "flows/s",
          async () => {
            const on = preload === 0 ? empties[run % empties.length]! : device;
            const offset = 30_000_000 + (preload === 0 ? 0 : run * flows);
            run++;
            await waitForBackups(grown.restPorts);
            return batchRate(others.get(on)!, on, flows, 2, offset);
          },
          { runs: 3, warmup: 0, better: "higher" },
        );
        bySize.push(rate);
        growth.push({ x: Math.max(preload, 1), y: rate.median });
      } finally {
        await grown.stop();
      }
    }
    const empty = bySize[0];
    const largest = bySize[bySize.length - 1];
    if (empty !== undefined && largest !== undefined) {
      ctx.ratio(
        `rate with ${sizes[sizes.length - 1]!.toLocaleString("en")} flows stored / on an empty device`,
        largest,
        empty,
        "goal ≥ 0.8 at 1,000,000 (medians of three runs)",
      );
    }
    ctx.curve({
      name: "ingest vs flows stored",
      x: { label: "flows already on the device", scale: "log" },
      y: { label: "REST ingest through a non-master", unit: "flows/s" },
      better: "higher",
      series: [{ name: "flowstore", points: growth }],
      note: "0 is drawn at 1 on the log axis",
    });
  },
});
