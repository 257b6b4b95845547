import { performance } from "node:perf_hooks";
import { createFlowEntry, FlowBucketTable } from "@flowstore/flow-bucket";
import { adds, startStoreCluster as startBench, waitUntil } from "../cluster.js";
import { defineScenario, timeOps } from "../harness.js";
import { percentile } from "../stats.js";
import { benchDevice as device, benchRules as rules } from "../workload.js";

export const storeScenario = defineScenario({
  name: "store",
  description:
    "3 nodes, loopback TCP, embedded mastership, backupCount 2: writes on and forwarded to the master, backup lag, failover with 100,000 flows, anti-entropy cost of idle devices",
  async run(ctx) {
    const BATCH = 1000;
    const writes = ctx.quick ? 50_000 : 200_000;
    const backupPeriod = 200;

    // ---- writes -------------------------------------------------------------------------
    {
      // Every run writes a fresh device, so each measures the same work (no table grows
      // across runs); backups run at the default period meanwhile.
      const devices = Array.from({ length: 12 }, (_, i) => device(10 + i));
      const bench = await startBench(devices, {
        config: { backupPeriod: 2000, antiEntropyPeriod: 5000 },
      });
      let next = 0;
      const write = (onMaster: boolean) => async () => {
        const d = devices[next++ % devices.length]!;
        const m = bench.master(d);
        const node = onMaster ? m : bench.nodes.find((n) => n !== m)!;
        const prepared: ReturnType<typeof adds>[] = [];
        for (let i = 0; i < writes; i += BATCH) prepared.push(adds(rules(d, BATCH, i)));
        // Start from a quiet cluster: the previous run's replication has finished.
        await waitUntil(
          () => [...bench.stores.values()].every((st) => st.stats().unackedBuckets === 0),
          60_000,
          20,
        );
        return timeOps(writes, async () => {
          for (const operations of prepared)
            await bench.stores.get(node)!.storeBatch({ deviceId: d, operations });
        });
      };
      ctx.progress(
        `writes: ${writes} flows per run, on the master and forwarded, in batches of ${BATCH}, a fresh device per run`,
      );
      const onMaster = await ctx.sample("flow writes on the master", "ops/s", write(true), {
        runs: 3,
        warmup: 1,
        better: "higher",
        note: "storeBatch ADD, batches of 1000, rules prepared beforehand",
      });
      const forwarded = await ctx.sample(
        "flow writes forwarded from a non-master",
        "ops/s",
        write(false),
        {
          runs: ctx.quick ? 3 : 5,
          warmup: 1,
          better: "higher",
          note: "the same over loopback TCP to the master, while backup rounds run in the same process",
        },
      );
      await bench.close();
      // Baseline: the same rules added straight into one table, no store, no cluster.
      const d = device(1);
      const prepared = rules(d, writes, 10_000_000);
      const baseline = await ctx.sample(
        "baseline: FlowBucketTable.add, same rules, no store",
        "ops/s",
        () => {
          const table = new FlowBucketTable({ deviceId: d, bucketCount: 128 });
          return timeOps(writes, () => {
            for (const rule of prepared) table.add(createFlowEntry(rule, { created: 1 }), 1);
          });
        },
        { runs: 3, warmup: 1, better: "higher", note: "rules prepared beforehand" },
      );
      ctx.ratio("master writes vs bare table", onMaster, baseline);
      ctx.ratio("forwarded vs master writes", forwarded, onMaster);
    }

    // ---- backup lag -----------------------------------------------------------------------
    {
      const d = device(2);
      const bench = await startBench([d], { config: { backupPeriod, antiEntropyPeriod: 5000 } });
      const m = bench.master(d);
      const backups = bench.coordinator.mastership(d).backups.slice(0, 2);
      const samples = ctx.quick ? 30 : 100;
      const lags: number[] = [];
      ctx.progress(`backup lag: ${samples} single-flow writes, backupPeriod ${backupPeriod} ms`);
      for (let i = 0; i < samples; i++) {
        const [rule] = rules(d, 1, 20_000_000 + i);
        const start = performance.now();
        await bench.stores.get(m)!.storeBatch({ deviceId: d, operations: adds([rule!]) });
        await waitUntil(
          () => backups.every((b) => bench.stores.get(b)!.localTable(d)?.find(rule!) !== undefined),
          10_000,
        );
        lags.push(performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 50));
      }
      ctx.record("backup lag p50 (write → on both backups)", "ms", percentile(lags, 0.5), {
        note: `backupPeriod ${backupPeriod} ms`,
      });
      ctx.record("backup lag p99", "ms", percentile(lags, 0.99));
      await bench.close();
    }

    // ---- failover ---------------------------------------------------------------------------
    {
      const d = device(3);
      const flows = ctx.quick ? 100_000 : 100_000;
      const bench = await startBench([d], {
        config: { backupPeriod: 500, antiEntropyPeriod: 5000, requestTimeout: 5000 },
      });
      const m = bench.master(d);
      ctx.progress(`failover: ${flows} flows on ${d}, master ${m}`);
      for (let i = 0; i < flows; i += 5000) {
        await bench.stores
          .get(m)!
          .storeBatch({ deviceId: d, operations: adds(rules(d, 5000, 30_000_000 + i)) });
      }
      const backups = bench.coordinator.mastership(d).backups.slice(0, 2);
      await waitUntil(
        () => backups.every((b) => bench.stores.get(b)!.localTable(d)?.size === flows),
        120_000,
        20,
      );
      await new Promise((resolve) => setTimeout(resolve, 600)); // older than one backup round
      const start = performance.now();
      const crashing = bench.crash(m);
      const next = bench.master(d);
      await waitUntil(() => bench.stores.get(next)?.isActiveMaster(d) === true, 60_000);
      const elapsed = performance.now() - start;
      await crashing;
      const kept = bench.stores.get(next)!.localTable(d)?.size ?? 0;
      ctx.record("failover: crash → new master active, 100,000 flows", "ms", elapsed, {
        note: "crash reported to the coordinator at once; add the failure detector's time in a real cluster",
      });
      ctx.record("failover: flows lost (older than one backup round)", "flows", flows - kept, {
        better: "lower",
      });
      await bench.close();
    }

    // ---- anti-entropy cost of idle devices ------------------------------------------------------
    {
      const count = ctx.quick ? 300 : 1000;
      const devices = Array.from({ length: count }, (_, i) => device(100 + i));
      const antiEntropyPeriod = 500;
      const bench = await startBench(devices, { config: { backupPeriod: 100, antiEntropyPeriod } });
      ctx.progress(`anti-entropy: ${count} idle devices with 10 flows each`);
      for (const d of devices) {
        await bench.stores
          .get(bench.master(d))!
          .storeBatch({ deviceId: d, operations: adds(rules(d, 10)) });
      }
      await new Promise((resolve) => setTimeout(resolve, 2 * antiEntropyPeriod + 500)); // replicated and compared
      const sent = () => {
        let bytes = 0;
        let messages = 0;
        for (const store of bench.stores.values()) {
          const s = store.stats().sent.get("flowstore.summary");
          bytes += s?.bytes ?? 0;
          messages += s?.messages ?? 0;
        }
        return { bytes, messages };
      };
      // A round is one summary message from each master to each of its backup nodes.
      const pairs = new Set(
        devices.flatMap((d) => {
          const info = bench.coordinator.mastership(d);
          return info.backups.map((b) => `${info.master}>${b}`);
        }),
      ).size;
      const before = sent();
      await new Promise((resolve) => setTimeout(resolve, 4 * antiEntropyPeriod + 50));
      const after = sent();
      const rounds = (after.messages - before.messages) / pairs;
      // Each round carries a summary of every device to each of its two backups.
      const perDeviceRound = (after.bytes - before.bytes) / (count * 2 * rounds);
      ctx.record("anti-entropy bytes per idle device per round", "B", perDeviceRound, {
        note: `${after.messages - before.messages} summary messages: ${rounds} rounds of ${count} devices × 2 backups`,
        better: "lower",
      });
      await bench.close();
    }
  },
});
