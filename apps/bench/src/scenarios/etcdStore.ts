import { performance } from "node:perf_hooks";
import type { FlowRuleOperation } from "@flowstore/ec-flow-store";
import type { DeviceId, FlowId } from "@flowstore/flow-bucket";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";
import {
  createEtcdFlowStore,
  type EtcdFlowStore,
  type EtcdFlowStoreOptions,
} from "../baselines/etcdFlowStore.js";
import { adds, sleep, startStoreCluster, waitUntil } from "../cluster.js";
import { defineScenario, timeOps } from "../harness.js";
import { benchDevice as device, benchRules as rules } from "../workload.js";

const BATCH = 1000;

/** `count` rules of `d` as ADD batches of {@link BATCH}, built before any clock starts. */
function batches(d: DeviceId, count: number, offset: number): FlowRuleOperation[][] {
  const out: FlowRuleOperation[][] = [];
  for (let i = 0; i < count; i += BATCH)
    out.push(adds(rules(d, Math.min(BATCH, count - i), offset + i)));
  return out;
}

export const etcdStoreScenario = defineScenario({
  name: "etcd-store",
  description:
    "flowstore (3 nodes) vs flows kept directly in etcd, one key per flow: write throughput, failover with 100,000 flows, writes while etcd is down",
  async run(ctx) {
    const writes = ctx.quick ? 20_000 : 100_000;
    // The quick suite fails over 50,000 flows to stay within its time budget; --full 100,000.
    const failoverFlows = ctx.quick ? 50_000 : 100_000;
    let etcd: EtcdServer | undefined;
    const clients: EtcdFlowStore[] = [];
    const etcdStore = (options: Partial<EtcdFlowStoreOptions> = {}): EtcdFlowStore => {
      if (etcd === undefined) throw new Error("etcd is not running");
      const store = createEtcdFlowStore({
        endpoints: [etcd.endpoint],
        prefix: "/bench/flows",
        ...options,
      });
      clients.push(store);
      return store;
    };
    try {
      etcd = await startEtcd();
      ctx.progress(`one etcd member at ${etcd.endpoint} (pid ${etcd.pid})`);

      // ---- write throughput ---------------------------------------------------------------
      {
        ctx.progress(
          `writes: ${writes} flows per run in batches of ${BATCH}, a fresh device per run`,
        );
        const devices = Array.from({ length: 8 }, (_, i) => device(10 + i));
        const bench = await startStoreCluster(devices, {
          config: { backupPeriod: 2000, antiEntropyPeriod: 5000, requestTimeout: 30_000 },
        });
        let next = 0;
        const flowstore = await ctx.sample(
          "flowstore: flow writes on the master",
          "ops/s",
          async () => {
            const d = devices[next++ % devices.length]!;
            const prepared = batches(d, writes, 0);
            const master = bench.stores.get(bench.master(d))!;
            await waitUntil(
              () => [...bench.stores.values()].every((s) => s.stats().unackedBuckets === 0),
              60_000,
              20,
            );
            return timeOps(writes, async () => {
              for (const operations of prepared)
                await master.storeBatch({ deviceId: d, operations });
            });
          },
          {
            runs: 3,
            warmup: 1,
            better: "higher",
            note: "3 nodes, backupCount 2; acknowledged by the master, copied to the backups afterwards",
          },
        );
        await bench.close();

        let fresh = 1000;
        const etcdWrites = (concurrency: number) => {
          const store = etcdStore({ concurrency });
          return async () => {
            const d = device(fresh++);
            const prepared = batches(d, writes, 0);
            return timeOps(writes, async () => {
              for (const operations of prepared)
                await store.storeBatch({ deviceId: d, operations });
            });
          };
        };
        const inFlight8 = await ctx.sample(
          "etcd store: flow writes, txns of 128, 8 in flight",
          "ops/s",
          etcdWrites(8),
          {
            runs: 3,
            warmup: 1,
            better: "higher",
            note: "one put per flow; acknowledged once committed (fsync) by one etcd member on this machine, data on local disk",
          },
        );
        const inFlight1 = await ctx.sample(
          "etcd store: flow writes, txns of 128, 1 in flight",
          "ops/s",
          etcdWrites(1),
          { runs: ctx.quick ? 2 : 3, warmup: ctx.quick ? 0 : 1, better: "higher" },
        );
        ctx.ratio("flowstore vs etcd store (8 in flight): writes", flowstore, inFlight8);
        ctx.ratio("etcd store: 8 vs 1 transactions in flight", inFlight8, inFlight1);
      }

      // ---- failover ----------------------------------------------------------------------
      {
        const d = device(3);
        const runs = ctx.quick ? 1 : 3;
        const sized = ctx.quick
          ? "quick suite: 50,000 flows to keep within its time (--full: 100,000); "
          : "";
        ctx.progress(`failover: ${failoverFlows} flows on ${d}, ${runs} run(s) each`);
        let flowstoreLost = 0;
        const flowstore = await ctx.sample(
          `flowstore: crash → new master active, ${failoverFlows.toLocaleString("en-US")} flows`,
          "ms",
          async () => {
            const bench = await startStoreCluster([d], {
              config: { backupPeriod: 500, antiEntropyPeriod: 5000, requestTimeout: 5000 },
            });
            try {
              const m = bench.master(d);
              for (const operations of batches(d, failoverFlows, 30_000_000))
                await bench.stores.get(m)!.storeBatch({ deviceId: d, operations });
              const backups = bench.coordinator.mastership(d).backups.slice(0, 2);
              await waitUntil(
                () =>
                  backups.every((b) => bench.stores.get(b)!.localTable(d)?.size === failoverFlows),
                120_000,
                20,
              );
              await sleep(600); // every flow is older than one backup round
              const start = performance.now();
              const crashing = bench.crash(m);
              const next = bench.master(d);
              await waitUntil(() => bench.stores.get(next)?.isActiveMaster(d) === true, 60_000);
              const elapsed = performance.now() - start;
              await crashing;
              const kept = bench.stores.get(next)!.localTable(d)?.size ?? 0;
              flowstoreLost = Math.max(flowstoreLost, failoverFlows - kept);
              return elapsed;
            } finally {
              await bench.close();
            }
          },
          {
            runs,
            warmup: 0,
            better: "lower",
            note: `${sized}the crash is reported to the coordinator at once: re-election, sync with the backups, activation (add the failure detector's time in a real cluster)`,
          },
        );
        ctx.record("flowstore: flows lost at failover", "flows", flowstoreLost, {
          better: "lower",
          note: `worst of ${runs} run(s); flows older than one backup round`,
        });

        const writer = etcdStore({ concurrency: 8 });
        const acked = new Set<FlowId>();
        for (const operations of batches(d, failoverFlows, 30_000_000)) {
          await writer.storeBatch({ deviceId: d, operations });
          for (const op of operations) acked.add(op.rule.id);
        }
        writer.close();
        let etcdLost = 0;
        const etcdTakeOver = await ctx.sample(
          `etcd store: new master reads ${failoverFlows.toLocaleString("en-US")} flows`,
          "ms",
          async () => {
            const start = performance.now();
            const nextMaster = etcdStore();
            const entries = await nextMaster.getFlowEntries(d);
            const elapsed = performance.now() - start;
            nextMaster.close();
            const read = new Set(entries.map((e) => e.rule.id));
            let missing = 0;
            for (const id of acked) if (!read.has(id)) missing++;
            etcdLost = Math.max(etcdLost, missing);
            return elapsed;
          },
          {
            runs: ctx.quick ? 3 : 5,
            warmup: 1,
            better: "lower",
            note: `${sized}a fresh client: connect, prefix range read in pages of 5000 at one revision, decode`,
          },
        );
        ctx.record("etcd store: acknowledged flows lost at failover", "flows", etcdLost, {
          better: "lower",
        });
        ctx.ratio(
          "etcd store vs flowstore: failover time (crash → active)",
          etcdTakeOver,
          flowstore,
          "neither includes detecting the crash (failure detector or lease expiry)",
        );
      }

      // ---- writes while etcd is down ----------------------------------------------------------
      {
        const d = device(4);
        const timeoutMs = 1000;
        const bench = await startStoreCluster([d], {
          config: { backupPeriod: 500, antiEntropyPeriod: 5000, requestTimeout: 5000 },
        });
        try {
          const running = etcdStore({ callTimeoutMs: timeoutMs });
          await running.getFlowEntries(d); // connected, as a running master's client would be
          const [etcdOps, flowstoreOps] = batches(d, 2 * BATCH, 40_000_000) as [
            FlowRuleOperation[],
            FlowRuleOperation[],
          ];
          ctx.progress("availability: stopping etcd, then one batch of 1000 to each store");
          await etcd.stop();
          const etcdStart = performance.now();
          const etcdOutcome = await running.storeBatch({ deviceId: d, operations: etcdOps }).then(
            () => "written",
            (error: unknown) => `failed: ${String((error as { cause?: unknown }).cause ?? error)}`,
          );
          const etcdMs = performance.now() - etcdStart;
          const master = bench.stores.get(bench.master(d))!;
          const flowstoreStart = performance.now();
          const flowstoreOutcome = await master
            .storeBatch({ deviceId: d, operations: flowstoreOps })
            .then(
              () => "written",
              (error: unknown) => `failed: ${String(error)}`,
            );
          const flowstoreMs = performance.now() - flowstoreStart;
          const flowstoreKept = (await master.getFlowEntries(d)).length;
          ctx.progress(`etcd store while etcd is down: ${etcdOutcome.slice(0, 200)}`);
          ctx.record(
            "etcd down: etcd store flows written of a batch of 1000",
            "flows",
            etcdOutcome === "written" ? BATCH : 0,
            {
              better: "higher",
              note: `the batch ${etcdOutcome === "written" ? "was written" : "failed"}`,
            },
          );
          ctx.record("etcd down: etcd store time to fail the batch", "ms", etcdMs, {
            note: `call deadline ${timeoutMs} ms, the etcd3 client's default retry and circuit-breaker policies`,
          });
          ctx.record(
            "etcd down: flowstore flows written of a batch of 1000",
            "flows",
            flowstoreOutcome === "written" ? flowstoreKept : 0,
            {
              better: "higher",
              note: "same moment; this set-up's mastership is embedded, so flowstore does not use etcd",
            },
          );
          ctx.record("etcd down: flowstore time to write the batch", "ms", flowstoreMs);
        } finally {
          await bench.close();
        }
      }
    } finally {
      for (const client of clients) client.close();
      await etcd?.stop();
    }
  },
});
