import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { freePorts, type NodeId } from "@flowstore/cluster-messaging";
import type { EcFlowRuleStore, FlowRuleOperation } from "@flowstore/ec-flow-store";
import type { DeviceId } from "@flowstore/flow-bucket";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";
import { adds, startStoreCluster, waitUntil } from "../cluster.js";
import { type BenchContext, defineScenario, type Summary } from "../harness.js";
import { spawnWorker, type WorkerProcess, wallClock, yieldToEventLoop } from "../scaling/worker.js";
import { benchDevice, benchRules } from "../workload.js";

const SIZES = [1, 3, 5] as const;
/** Devices each master writes per round. */
const DEVICES_PER_NODE = 4;
const BATCH = 1000;
const BACKUP_PERIOD = 200;
const ANTI_ENTROPY_PERIOD = 5000;
/** Long enough that a worker busy building rules on a loaded 2-core machine keeps its lease. */
const LEASE_TTL = 10;
/**
 * Discarded rounds before the measured ones: two for the 1-node cluster, which runs first
 * in each mode (so the code is warm for the baseline), one otherwise.
 */
const warmupOf = (size: number) => (size === 1 ? 2 : 1);
/** Workers start a round this long after the parent sends `go`, all at the same moment. */
const GO_DELAY_MS = 50;

interface Plan {
  readonly flowsPerDevice: number;
  readonly runs: number;
  /** Rounds with devices of their own; later rounds (only with `--runs`) reuse them. */
  readonly rounds: number;
}

const backupCount = (size: number) => Math.min(2, size - 1);

/** Device ids of a cluster of `size` nodes: `groups` groups of `DEVICES_PER_NODE` per node. */
function clusterDevices(first: number, size: number, groups: number): DeviceId[] {
  return Array.from({ length: size * DEVICES_PER_NODE * groups }, (_, i) => benchDevice(first + i));
}

/**
 * The n-th round (from 0, warm-up included): its device group and a rule range of its own
 * (fresh even when a group has to be reused because `--runs` asked for more rounds).
 */
function roundOf(call: number, plan: Plan): { group: number; ruleOffset: number } {
  return { group: call % plan.rounds, ruleOffset: call * plan.flowsPerDevice };
}

// ---- in one process ----------------------------------------------------------------------

async function inOneProcess(
  ctx: BenchContext,
  size: number,
  firstDevice: number,
  plan: Plan,
): Promise<Summary> {
  const devices = clusterDevices(firstDevice, size, plan.rounds);
  const bench = await startStoreCluster(devices, {
    size,
    backupCount: backupCount(size),
    config: {
      backupPeriod: BACKUP_PERIOD,
      antiEntropyPeriod: ANTI_ENTROPY_PERIOD,
      requestTimeout: 30_000,
    },
  });
  try {
    const mastered = new Map<NodeId, DeviceId[]>(bench.nodes.map((n) => [n, []]));
    for (const d of [...devices].sort()) mastered.get(bench.master(d))!.push(d);
    for (const [node, mine] of mastered) {
      if (mine.length !== DEVICES_PER_NODE * plan.rounds)
        throw new Error(
          `${node} masters ${mine.length} devices, not ${DEVICES_PER_NODE * plan.rounds}`,
        );
    }
    let call = 0;
    const round = async (): Promise<number> => {
      const { group, ruleOffset } = roundOf(call++, plan);
      const work: { store: EcFlowRuleStore; device: DeviceId; batches: FlowRuleOperation[][] }[] =
        [];
      for (const [node, mine] of mastered) {
        for (const d of mine.slice(group * DEVICES_PER_NODE, (group + 1) * DEVICES_PER_NODE)) {
          const batches: FlowRuleOperation[][] = [];
          for (let i = 0; i < plan.flowsPerDevice; i += BATCH) {
            batches.push(
              adds(benchRules(d, Math.min(BATCH, plan.flowsPerDevice - i), ruleOffset + i)),
            );
            await yieldToEventLoop(); // let heartbeats and backups run meanwhile
          }
          work.push({ store: bench.stores.get(node)!, device: d, batches });
        }
      }
      // Start from a quiet cluster: the previous round's replication has finished.
      await waitUntil(
        () => [...bench.stores.values()].every((st) => st.stats().unackedBuckets === 0),
        60_000,
        20,
      );
      (globalThis as { gc?: () => void }).gc?.();
      let flows = 0;
      const start = performance.now();
      await Promise.all(
        work.map(async ({ store, device, batches }) => {
          for (const operations of batches) {
            await store.storeBatch({ deviceId: device, operations });
            flows += operations.length;
          }
        }),
      );
      const seconds = (performance.now() - start) / 1000;
      const expected = work.length * plan.flowsPerDevice;
      if (flows !== expected) throw new Error(`${flows} flows acknowledged, not ${expected}`);
      if (!work.every(({ store, device }) => store.isActiveMaster(device)))
        throw new Error("mastership moved during the round");
      return flows / seconds;
    };
    return await ctx.sample(
      `in one process: ${size} node${size === 1 ? "" : "s"}`,
      "ops/s",
      round,
      {
        runs: plan.runs,
        warmup: warmupOf(size),
        better: "higher",
        note: noteOf(size, plan, "loopback TCP, embedded mastership"),
      },
    );
  } finally {
    await bench.close();
  }
}

// ---- as separate processes ---------------------------------------------------------------

/**
 * Runs a cluster of `size` worker processes (the pool's first ones; spawned when missing,
 * and kept for the next size: each `stop` closes the worker's node, not its process).
 */
async function separateProcesses(
  ctx: BenchContext,
  etcd: EtcdServer,
  pool: WorkerProcess[],
  size: number,
  firstDevice: number,
  plan: Plan,
): Promise<Summary> {
  // One spare group per node, in case mastership ends up uneven.
  const devices = clusterDevices(firstDevice, size, plan.rounds + 1);
  const ports = await freePorts(size);
  const nodes = ports.map((port, i) => ({ id: `n${i + 1}`, host: "127.0.0.1", port }));
  const spawnStart = performance.now();
  while (pool.length < size) pool.push(spawnWorker());
  const workers = pool.slice(0, size);
  try {
    const prefix = `/write-scaling/${randomUUID()}/`;
    // Node i campaigns first for every size-th device from i, so it is their master from the
    // start: etcd's balancer only hands a device to one of its listed backups, and with
    // backupCount 2 of 5 candidates it may never reach the last two nodes to campaign.
    await Promise.all(
      workers.map((w, i) =>
        w.request(
          {
            type: "start",
            node: nodes[i]!.id,
            nodes,
            etcd: [etcd.endpoint],
            prefix,
            devices,
            preferred: devices.filter((_, j) => j % size === i),
            backupCount: backupCount(size),
            minShare: DEVICES_PER_NODE * plan.rounds,
            leaseTtl: LEASE_TTL,
            store: {
              backupPeriod: BACKUP_PERIOD,
              antiEntropyPeriod: ANTI_ENTROPY_PERIOD,
              requestTimeout: 30_000,
            },
            settleTimeoutMs: 60_000,
            quietMs: 600,
          },
          "started",
          90_000,
        ),
      ),
    );
    const ready = await Promise.all(
      workers.map((w) => w.request({ type: "campaign" }, "ready", 90_000)),
    );
    const shares = ready.map((r) => r.mastered.length);
    if (new Set(ready.flatMap((r) => r.mastered)).size !== devices.length)
      throw new Error(`the workers' shares do not cover the ${devices.length} devices once`);
    ctx.progress(
      `separate processes, ${size} node(s): started and settled in ${((performance.now() - spawnStart) / 1000).toFixed(1)} s; devices per master ${shares.join(", ")}`,
    );
    let call = 0;
    const slowest = { build: 0, quiet: 0 };
    const round = async (): Promise<number> => {
      const { ruleOffset } = roundOf(call++, plan);
      const prepared = await Promise.all(
        workers.map((w) =>
          w.request(
            {
              type: "prepare",
              devicesPerNode: DEVICES_PER_NODE,
              flowsPerDevice: plan.flowsPerDevice,
              ruleOffset,
              batch: BATCH,
            },
            "prepared",
            90_000,
          ),
        ),
      );
      slowest.build = Math.max(slowest.build, ...prepared.map((p) => p.buildMs));
      slowest.quiet = Math.max(slowest.quiet, ...prepared.map((p) => p.quietMs));
      const written = new Set(prepared.flatMap((p) => p.devices));
      if (written.size !== size * DEVICES_PER_NODE)
        throw new Error("two workers prepared the same device");
      const results = await Promise.all(
        workers.map((w) =>
          w.request({ type: "go", at: wallClock() + GO_DELAY_MS }, "written", 120_000),
        ),
      );
      const flows = results.reduce((sum, r) => sum + r.flows, 0);
      const expected = size * DEVICES_PER_NODE * plan.flowsPerDevice;
      if (flows !== expected) throw new Error(`${flows} flows acknowledged, not ${expected}`);
      const inactive = results.flatMap((r) => r.inactive);
      if (inactive.length > 0)
        ctx.progress(
          `  ${inactive.length} written device(s) still mastered but not in an active term at the end: ${inactive.join("; ")}`,
        );
      const moved = results.flatMap((r) => r.moved);
      if (moved.length > 0)
        throw new Error(`mastership moved during the round: ${moved.join("; ")}`);
      const start = Math.min(...results.map((r) => r.start));
      const end = Math.max(...results.map((r) => r.end));
      return flows / ((end - start) / 1000);
    };
    const summary = await ctx.sample(
      `separate processes: ${size} node${size === 1 ? "" : "s"}`,
      "ops/s",
      round,
      {
        runs: plan.runs,
        warmup: warmupOf(size),
        better: "higher",
        note: noteOf(
          size,
          plan,
          `one process per node, loopback TCP, etcd mastership (lease TTL ${LEASE_TTL} s); every worker starts at one agreed instant, time = first start → last end`,
        ),
      },
    );
    ctx.progress(
      `separate processes, ${size} node(s), between rounds: rules built in ≤ ${Math.round(slowest.build)} ms, backups caught up in ≤ ${Math.round(slowest.quiet)} ms`,
    );
    return summary;
  } finally {
    // Close every node before the next size; a worker that does not answer is killed.
    await Promise.all(
      workers.map((w) => w.request({ type: "stop" }, "stopped", 20_000).catch(() => w.kill())),
    );
  }
}

function noteOf(size: number, plan: Plan, how: string): string {
  const copies = backupCount(size) === 0 ? "no replication" : `${backupCount(size)} backups`;
  return `${size * DEVICES_PER_NODE} devices × ${plan.flowsPerDevice.toLocaleString("en-US")} flows, ${DEVICES_PER_NODE} per master, all masters at once; storeBatch ADD in batches of ${BATCH}; ${copies}, backupPeriod ${BACKUP_PERIOD} ms; ${how}`;
}

export const writeScalingScenario = defineScenario({
  name: "write-scaling",
  description:
    "aggregate flow write throughput of 1, 3 and 5 nodes, every master writing its own devices: in one process and as one process per node",
  async run(ctx) {
    const runs = ctx.quick ? 3 : 5;
    const plan: Plan = {
      flowsPerDevice: ctx.quick ? 3000 : 10_000,
      runs,
      rounds: warmupOf(1) + runs,
    };
    ctx.progress(
      `${DEVICES_PER_NODE} devices per master × ${plan.flowsPerDevice} flows per round, batches of ${BATCH}, backupPeriod ${BACKUP_PERIOD} ms; fresh devices every round`,
    );
    const began = performance.now();
    const elapsed = () => `${((performance.now() - began) / 1000).toFixed(1)} s in`;
    let firstDevice = 0x5ca1_0000;
    const nextDevices = (size: number) => {
      const first = firstDevice;
      firstDevice += size * DEVICES_PER_NODE * (plan.rounds + 1);
      return first;
    };

    const oneProcess = new Map<number, Summary>();
    for (const size of SIZES) {
      const summary = await inOneProcess(ctx, size, nextDevices(size), plan);
      oneProcess.set(size, summary);
      ctx.progress(
        `in one process, ${size} node(s): median ${Math.round(summary.median)} flow writes/s (${elapsed()})`,
      );
    }

    const processes = new Map<number, Summary>();
    let etcd: EtcdServer | undefined;
    const pool: WorkerProcess[] = [];
    try {
      etcd = await startEtcd();
      for (const size of SIZES) {
        const summary = await separateProcesses(ctx, etcd, pool, size, nextDevices(size), plan);
        processes.set(size, summary);
        ctx.progress(
          `separate processes, ${size} node(s): median ${Math.round(summary.median)} flow writes/s (${elapsed()})`,
        );
      }
    } finally {
      await Promise.all(pool.map((w) => w.kill()));
      await etcd?.stop();
    }

    for (const [mode, figures] of [
      ["in one process", oneProcess],
      ["separate processes", processes],
    ] as const) {
      const base = figures.get(1)!;
      for (const size of SIZES.slice(1))
        ctx.ratio(`${mode}: ${size} nodes vs 1 node`, figures.get(size)!, base);
    }
    for (const size of SIZES)
      ctx.ratio(
        `${size} node${size === 1 ? "" : "s"}: separate processes vs in one process`,
        processes.get(size)!,
        oneProcess.get(size)!,
      );
    const points = (figures: Map<number, Summary>) =>
      SIZES.map((size) => ({ x: size, y: figures.get(size)!.median }));
    ctx.curve({
      name: "write throughput vs cluster size",
      x: { label: "nodes" },
      y: { label: "flow writes/s", unit: "ops/s" },
      series: [
        { name: "in one process", points: points(oneProcess) },
        { name: "separate processes", points: points(processes) },
      ],
      better: "higher",
      note: `medians; every master writes ${DEVICES_PER_NODE} devices of its own at once; 1 node has no replication, 3 and 5 nodes replicate to 2 backups; ${
        ctx.quick ? "quick suite" : "full suite"
      } on a shared machine (with 2 cores, 5 processes cannot scale linearly)`,
    });
  },
});
