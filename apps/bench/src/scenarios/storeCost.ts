import { performance } from "node:perf_hooks";
import {
  createFlowEntry,
  type DeviceId,
  FlowBucketTable,
  flowBucketNamespace,
} from "@flowstore/flow-bucket";
import { adds, sleep, startStoreCluster, waitUntil } from "../cluster.js";
import { type BenchContext, defineScenario, type Series } from "../harness.js";
import { benchDevice, benchRules } from "../workload.js";

/** What one point of a curve costs. */
interface Cost {
  /** Heap per node once loaded and replicated, bytes. */
  readonly heapPerNode: number;
  /** Heap of one bare replica (FlowBucketTables of the same flows, no store), bytes. */
  readonly bareHeap: number;
  /** CPU of the idle cluster, % of one core per node. */
  readonly idleCpuPerNode: number;
  /** Anti-entropy bytes the cluster sends per round. */
  readonly antiEntropyBytes: number;
  /** The 2018 reference's anti-entropy: every changed bucket's digest, per device and backup. */
  readonly digestBytes: number;
}

const NODES = 3;
const BACKUPS = 2;
const BUCKETS = 128;
/** Heap readings this close to zero are the collector's noise, not the store's cost. */
const HEAP_NOISE = 2 ** 19;

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with node --expose-gc (pnpm bench does)");
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Loads `devices × perDevice` flows into a 3-node cluster and measures it idle. */
async function measure(
  ctx: BenchContext,
  devicesCount: number,
  perDevice: number,
  idleMs: number,
): Promise<Cost> {
  const antiEntropyPeriod = 1000;
  const devices: DeviceId[] = Array.from({ length: devicesCount }, (_, i) =>
    benchDevice(0x10000 + i),
  );
  const label = `${devicesCount} devices × ${perDevice} flows`;

  // The same flows in bare tables: one replica's worth, no store around it.
  const before = heapAfterGc();
  let bare: FlowBucketTable[] | undefined = devices.map((d) => {
    const table = new FlowBucketTable({ deviceId: d, bucketCount: BUCKETS });
    for (let i = 0; i < perDevice; i += 10_000) {
      for (const rule of benchRules(d, Math.min(10_000, perDevice - i), i))
        table.add(createFlowEntry(rule, { created: 1 }), 1);
    }
    return table;
  });
  const bareHeap = heapAfterGc() - before;
  const digest = flowBucketNamespace.serializer("FlowBucketDigests");
  // The reference's round: per device and backup, a request stamped with the device id and
  // its clock, answered with the digest of every bucket.
  const digestBytes = bare.reduce((sum, table) => {
    const all = Array.from({ length: BUCKETS }, (_, i) => table.digest(i));
    return sum + BACKUPS * (digest.encode(all).length + table.deviceId.length + 9);
  }, 0);
  bare = undefined;

  const start = heapAfterGc();
  ctx.progress(`${label}: starting ${NODES} nodes`);
  const cluster = await startStoreCluster(devices, {
    size: NODES,
    config: { backupPeriod: 200, antiEntropyPeriod, bucketCount: BUCKETS },
  });
  try {
    const loadStart = performance.now();
    for (const d of devices) {
      const store = cluster.stores.get(cluster.master(d))!;
      for (let i = 0; i < perDevice; i += 1000)
        await store.storeBatch({
          deviceId: d,
          operations: adds(benchRules(d, Math.min(1000, perDevice - i), i)),
        });
    }
    await waitUntil(
      () =>
        [...cluster.stores.values()].every((s) => s.stats().unackedBuckets === 0) &&
        devices.every((d) =>
          cluster.coordinator
            .mastership(d)
            .backups.every((b) => cluster.stores.get(b)!.localTable(d)?.size === perDevice),
        ),
      600_000,
      200,
    );
    ctx.progress(
      `${label}: loaded and replicated in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`,
    );
    // Let the replicas compare once, then measure the idle cluster.
    await sleep(antiEntropyPeriod + 200);
    const heapPerNode = (heapAfterGc() - start) / NODES;
    const sent = () => {
      let bytes = 0;
      let messages = 0;
      for (const store of cluster.stores.values()) {
        const summary = store.stats().sent.get("flowstore.summary");
        bytes += summary?.bytes ?? 0;
        messages += summary?.messages ?? 0;
      }
      return { bytes, messages };
    };
    // A round is one summary message from each master to each of its backup nodes.
    const pairs = new Set(
      devices.flatMap((d) => {
        const info = cluster.coordinator.mastership(d);
        return info.backups.map((b) => `${info.master}>${b}`);
      }),
    ).size;
    const sentBefore = sent();
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    await sleep(idleMs);
    const cpu = process.cpuUsage(cpuBefore);
    const wall = performance.now() - wallBefore;
    const sentAfter = sent();
    const rounds = (sentAfter.messages - sentBefore.messages) / pairs;
    const idleCpuPerNode = ((cpu.user + cpu.system) / 1000 / wall / NODES) * 100;
    const antiEntropyBytes =
      rounds > 0 ? (sentAfter.bytes - sentBefore.bytes) / rounds : Number.NaN;
    ctx.progress(
      `${label}: ${(heapPerNode / 2 ** 20).toFixed(1)} MiB per node (bare replica ${(bareHeap / 2 ** 20).toFixed(1)} MiB), ` +
        `idle CPU ${idleCpuPerNode.toFixed(2)} % of a core per node, anti-entropy ${Math.round(antiEntropyBytes)} B/round ` +
        `(every bucket's digest: ${digestBytes} B)`,
    );
    return { heapPerNode, bareHeap, idleCpuPerNode, antiEntropyBytes, digestBytes };
  } finally {
    await cluster.close();
  }
}

/**
 * Store cost as the workload grows, on 3 nodes in one process with 2 backups per device:
 * heap per node against bare tables of the same flows, idle CPU, and anti-entropy bytes per
 * round against the reference's digest-of-every-bucket exchange.
 */
export const storeCostScenario = defineScenario({
  name: "store-cost",
  description:
    "heap, idle CPU and anti-entropy bytes per round as devices (100 → 10,000) and flows per device (100 → 1,000,000) grow; 3 nodes, 2 backups",
  async run(ctx) {
    const idleMs = ctx.quick ? 1500 : 5000;
    const deviceCounts = ctx.quick ? [100, 1000] : [100, 1000, 3000, 10_000];
    const flowCounts = ctx.quick
      ? [1000, 10_000, 100_000]
      : [100, 1000, 10_000, 100_000, 1_000_000];
    const idleBaseline = await idleCpu(idleMs);
    ctx.record("idle CPU of this process with no cluster", "% of a core", idleBaseline, {
      note: "the floor every idle figure sits on",
    });

    const byDevices: [number, Cost][] = [];
    for (const n of deviceCounts) byDevices.push([n, await measure(ctx, n, 100, idleMs)]);
    const byFlows: [number, Cost][] = [];
    for (const n of flowCounts) byFlows.push([n, await measure(ctx, 1, n, idleMs)]);

    for (const [axis, points, x] of [
      ["devices (100 flows each)", byDevices, "devices"],
      ["flows per device (1 device)", byFlows, "flows per device"],
    ] as const) {
      for (const [n, cost] of points) {
        const flows = axis.startsWith("devices") ? n * 100 : n;
        ctx.record(`${x} = ${n}: heap per node`, "MiB", cost.heapPerNode / 2 ** 20, {
          better: "lower",
          note:
            `one bare replica of the same flows: ${(cost.bareHeap / 2 ** 20).toFixed(2)} MiB` +
            (Math.abs(cost.heapPerNode) < HEAP_NOISE
              ? "; under 0.5 MiB, too small to tell from the collector's noise (readings down to −0.1 MiB were seen here)"
              : ""),
        });
        // Per flow only where the flows outweigh the fixed cost and the collector's noise.
        if (flows >= 10_000)
          ctx.record(`${x} = ${n}: heap per node per flow`, "B", cost.heapPerNode / flows, {
            better: "lower",
            note: `bare replica: ${(cost.bareHeap / flows).toFixed(0)} B/flow (${(cost.heapPerNode / cost.bareHeap).toFixed(2)}×)`,
          });
        ctx.record(`${x} = ${n}: idle CPU per node`, "% of a core", cost.idleCpuPerNode, {
          better: "lower",
        });
        ctx.record(`${x} = ${n}: anti-entropy per round`, "B", cost.antiEntropyBytes, {
          better: "lower",
          note: `every bucket's digest instead: ${cost.digestBytes} B (${(cost.digestBytes / Math.max(1, cost.antiEntropyBytes)).toFixed(1)}×)`,
        });
      }
      const series = (name: string, pick: (c: Cost) => number): Series => ({
        name,
        points: points.map(([n, c]) => ({ x: n, y: pick(c) })),
      });
      ctx.curve({
        name: `heap per node vs ${x}`,
        x: { label: axis, scale: "log" },
        y: { label: "heap", unit: "MiB", scale: "log" },
        series: [
          series("flowstore, per node", (c) => c.heapPerNode / 2 ** 20),
          series("bare FlowBucketTables, one replica", (c) => c.bareHeap / 2 ** 20),
        ],
        better: "lower",
      });
      ctx.curve({
        name: `idle CPU vs ${x}`,
        x: { label: axis, scale: "log" },
        y: { label: "idle CPU per node", unit: "% of a core" },
        series: [
          series("flowstore, per node", (c) => c.idleCpuPerNode),
          series("process with no cluster", () => idleBaseline),
        ],
        better: "lower",
      });
      ctx.curve({
        name: `anti-entropy bytes per round vs ${x}`,
        x: { label: axis, scale: "log" },
        y: { label: "bytes per round, whole cluster", unit: "B", scale: "log" },
        series: [
          series("flowstore summaries", (c) => c.antiEntropyBytes),
          series("every bucket's digest (2018 reference)", (c) => c.digestBytes),
        ],
        better: "lower",
      });
    }
  },
});

async function idleCpu(ms: number): Promise<number> {
  const before = process.cpuUsage();
  const wallBefore = performance.now();
  await sleep(ms);
  const cpu = process.cpuUsage(before);
  return ((cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore)) * 100;
}
