import { performance } from "node:perf_hooks";
import type { NodeId } from "@flowstore/cluster-messaging";
import type { EcFlowRuleStore } from "@flowstore/ec-flow-store";
import type { DeviceId, FlowRule } from "@flowstore/flow-bucket";
import { PeriodicBackupStore } from "../baselines/periodicDeviceBackup.js";
import {
  adds,
  type BenchCluster,
  type ClusterStore,
  sleep,
  startCluster,
  startStoreCluster,
  waitUntil,
} from "../cluster.js";
import { defineScenario } from "../harness.js";
import { percentile } from "../stats.js";
import { benchDevice, benchRules } from "../workload.js";

/** One of the two designs under the same failures. */
interface Design<S extends ClusterStore> {
  readonly name: string;
  start(device: DeviceId, backupPeriod: number): Promise<BenchCluster<S>>;
  write(store: S, device: DeviceId, rules: readonly FlowRule[]): Promise<void>;
  holds(store: S, rule: FlowRule): boolean;
  size(store: S, device: DeviceId): number;
}

const flowstore: Design<EcFlowRuleStore> = {
  name: "flowstore",
  start: (device, backupPeriod) =>
    startStoreCluster([device], {
      config: { backupPeriod, antiEntropyPeriod: 4 * backupPeriod, requestTimeout: 2000 },
    }),
  write: async (store, deviceId, rules) => {
    await store.storeBatch({ deviceId, operations: adds(rules) });
  },
  holds: (store, rule) => store.localTable(rule.deviceId)?.find(rule) !== undefined,
  size: (store, device) => store.localTable(device)?.size ?? 0,
};

const design2015: Design<PeriodicBackupStore> = {
  name: "2015 design",
  start: (device, backupPeriod) =>
    startCluster([device], {
      store: (parts) =>
        new PeriodicBackupStore({
          messaging: parts.messaging,
          mastership: parts.mastership,
          backupPeriod,
          requestTimeout: 2000,
        }),
    }),
  write: (store, device, rules) => store.storeBatch(device, rules),
  holds: (store, rule) => store.has(rule),
  size: (store, device) => store.size(device),
};

/** The failures both designs go through. */
type Failure = "master crash" | "master and first backup crash" | "planned handover";
const FAILURES: readonly Failure[] = [
  "master crash",
  "master and first backup crash",
  "planned handover",
];

interface Outcome {
  /** Failure → the new master serving writes with the table it keeps, ms. */
  readonly serveMs: number;
  /** Acknowledged flows the master does not hold once things settle. */
  readonly lost: number;
  readonly acked: number;
}

/**
 * One run: `preload` flows replicated, a writer on the node that survives every failure
 * adding 100-flow batches through the master, the failure at a random moment of a backup
 * period, the writer going on through it; then every acknowledged flow is looked for on
 * the master.
 */
async function runOnce<S extends ClusterStore>(
  design: Design<S>,
  failure: Failure,
  options: { preload: number; backupPeriod: number; seed: number },
): Promise<Outcome> {
  const { preload, backupPeriod } = options;
  const device = benchDevice(0x500 + options.seed);
  const cluster = await design.start(device, backupPeriod);
  try {
    const master = cluster.master(device);
    const [first, second] = cluster.coordinator.mastership(device).backups as NodeId[];
    if (first === undefined || second === undefined) throw new Error("expected two backups");
    const store = (node: NodeId) => {
      const s = cluster.stores.get(node);
      if (s === undefined) throw new Error(`${node} is down`);
      return s;
    };
    const acked: FlowRule[] = [];
    for (let i = 0; i < preload; i += 1000) {
      const rules = benchRules(device, 1000, i);
      await design.write(store(master), device, rules);
      acked.push(...rules);
    }
    // Both designs have the preload on the first standby before anything fails.
    await waitUntil(() => design.size(store(first), device) === preload, 60_000, 5);

    let writing = true;
    let next = preload;
    const writer = (async () => {
      while (writing) {
        const rules = benchRules(device, 100, next);
        next += 100;
        try {
          await design.write(store(second), device, rules);
          acked.push(...rules);
        } catch {
          // Not acknowledged: the writer may retry it; it is not counted.
        }
        await sleep(2);
      }
    })();
    // Fail at a random moment of a backup period, after a full one of writes.
    await sleep(backupPeriod * (1 + ((options.seed * 0.618) % 1)));
    const start = performance.now();
    const failing: Promise<unknown> =
      failure === "master crash"
        ? cluster.crash(master)
        : failure === "master and first backup crash"
          ? Promise.all([cluster.crash(master), cluster.crash(first)])
          : cluster.coordinator.forNode(master).relinquish(device);
    await waitUntil(() => {
      const now = cluster.coordinator.mastership(device).master;
      return (
        now !== undefined &&
        now !== master &&
        cluster.stores.get(now)?.isActiveMaster(device) === true
      );
    }, 60_000);
    const serveMs = performance.now() - start;
    await failing;
    // Writes go on through the new master for two backup periods, then everything settles.
    await sleep(2 * backupPeriod);
    writing = false;
    await writer;
    await sleep(3 * backupPeriod);
    const now = store(cluster.master(device));
    const lost = acked.filter((rule) => !design.holds(now, rule)).length;
    return { serveMs, lost, acked: acked.length };
  } finally {
    await cluster.close();
  }
}

/**
 * flowstore against the 2015 design (whole devices to the first standby every period, no
 * sync on failover) under the same failures, on the same cluster, messaging and mastership.
 */
export const failoverScenario = defineScenario({
  name: "failover",
  description:
    "flows lost and time to a serving new master under a master crash, a double crash and a planned handover: flowstore against the 2015 design",
  async run(ctx) {
    const preload = ctx.quick ? 10_000 : 100_000;
    const backupPeriod = ctx.quick ? 250 : 1000;
    const runs = ctx.quick ? 2 : 5;
    ctx.progress(
      `${preload} flows replicated, then 100-flow batches from the surviving node; backupPeriod ${backupPeriod} ms for both designs; ${runs} runs each`,
    );
    for (const failure of FAILURES) {
      const results = new Map<string, Outcome[]>();
      for (let run = 0; run < runs; run++) {
        for (const design of [flowstore, design2015] as Design<ClusterStore>[]) {
          const outcome = await runOnce(design, failure, { preload, backupPeriod, seed: run + 1 });
          ctx.progress(
            `${failure}, ${design.name}, run ${run + 1}/${runs}: serving after ${outcome.serveMs.toFixed(1)} ms, ${outcome.lost} of ${outcome.acked} acknowledged flows lost`,
          );
          results.set(design.name, [...(results.get(design.name) ?? []), outcome]);
        }
      }
      for (const [name, outcomes] of results) {
        const lost = outcomes.map((o) => o.lost);
        const serve = outcomes.map((o) => o.serveMs);
        ctx.record(
          `${failure}: ${name}, acknowledged flows lost (median)`,
          "flows",
          percentile(lost, 0.5),
          {
            better: "lower",
            note: `runs: ${lost.join(", ")} of ${outcomes.map((o) => o.acked).join(", ")} acknowledged`,
          },
        );
        ctx.record(
          `${failure}: ${name}, time until the new master serves (median)`,
          "ms",
          percentile(serve, 0.5),
          {
            better: "lower",
            note:
              name === "flowstore"
                ? "serving once synced from the surviving replicas: the table it keeps"
                : "serves at once from the copy it holds, without a sync",
          },
        );
      }
    }
  },
});
