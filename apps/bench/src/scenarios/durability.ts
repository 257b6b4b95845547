import { defineScenario, type Summary } from "../harness.js";
import { get, postFlows, postSingles, startLocalCluster } from "../product.js";
import { percentile } from "../stats.js";
import { benchDevice } from "../workload.js";

/**
 * What durability costs a user, on `flowstore-node --local 3` through REST: the same writes
 * with `--replication async` (the default: acknowledged once the master applied them) and
 * `sync` (once a backup holds them too), in the same run.
 */

const BATCH = 1000;

export const durabilityScenario = defineScenario({
  name: "durability",
  description:
    "replication async vs sync on flowstore-node --local 3: REST batches and single-flow POSTs through a non-master, throughput and latency of each mode, in the same run",
  async run(ctx) {
    const flows = ctx.quick ? 30_000 : 100_000;
    const singleSeconds = ctx.quick ? 6 : 15;
    const device = benchDevice(1);
    const results = new Map<string, { batches: Summary; p50: number; p99: number }>();
    for (const mode of ["async", "sync"] as const) {
      const node = await startLocalCluster({
        nodes: 3,
        devices: 2,
        config: { store: { replication: mode } },
        log: (line) => ctx.progress(line),
      });
      try {
        const answer = await get(node.restPorts[0]!, `/onos/v1/mastership/${device}/master`);
        const { nodeId } = JSON.parse(answer.body) as { nodeId: string };
        const master = node.restPorts[Number(nodeId.replace(/^n/, "")) - 1];
        const other = node.restPorts.find((p) => p !== master)!;
        let offset = 0;
        const batches = await ctx.sample(
          `${mode}: batches of 1,000 through a non-master, 2 clients`,
          "flows/s",
          async () => {
            const { seconds } = await postFlows(other, device, flows, {
              batch: BATCH,
              clients: 2,
              offset,
            });
            offset += flows;
            return flows / seconds;
          },
          { runs: 3, warmup: 1, better: "higher" },
        );
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
        results.set(mode, { batches, p50, p99 });
      } finally {
        await node.stop();
      }
    }
    const async = results.get("async")!;
    const sync = results.get("sync")!;
    ctx.ratio("sync batches / async batches", sync.batches, async.batches, "goal ≥ 0.5");
    ctx.record("sync: added single-flow latency p50", "ms", sync.p50 - async.p50, {
      better: "lower",
    });
    ctx.record("sync: added single-flow latency p99", "ms", sync.p99 - async.p99, {
      better: "lower",
    });
  },
});
