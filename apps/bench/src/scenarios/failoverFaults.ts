import { type FaultReport, runFaults, spread } from "../../../node/src/faultRun.js";
import { defineScenario } from "../harness.js";

/**
 * The long fault run: three `flowstore-node` processes with etcd, a seeded nemesis (kill -9
 * and restart, SIGSTOP of 5–25 s, SIGTERM and restart, a burst then kill -9, a rolling restart), writers and a
 * deleter through random nodes; then the history check. Seeds 1…N (quick: one run of 60 s;
 * full: three of 2 minutes), and a run under the same load without faults, whose
 * convictions are all false.
 */
export const failoverFaultsScenario = defineScenario({
  name: "failover-faults",
  description:
    "three flowstore-node processes + etcd under kill -9, SIGSTOP, SIGTERM and burst-then-kill: time until writes are accepted again, terms per device per fault, losses by category, false convictions under load",
  async run(ctx) {
    const runs = ctx.quick ? 1 : 3;
    const durationMs = ctx.quick ? 60_000 : 120_000;
    const reports: FaultReport[] = [];
    for (let seed = 1; seed <= runs; seed++) {
      ctx.progress(`fault run ${seed}/${runs}: seed ${seed}, ${durationMs / 1000} s of faults`);
      const report = await runFaults({
        seed,
        durationMs,
        faults: ["kill", "stall", "term", "burstKill", "rolling"],
        log: (line) => ctx.progress(line),
      });
      for (const line of report.lines) ctx.progress(line);
      reports.push(report);
    }
    const faults = reports.flatMap((r) => r.faults);
    const kills = faults.filter((f) => f.kind === "kill" || f.kind === "burstKill");
    const stalls = faults.filter((f) => f.kind === "stall");
    const graceful = faults.filter((f) => f.kind === "term");
    const figure = (name: string, values: readonly number[], note: string) => {
      const s = spread(values);
      ctx.record(`${name} (median)`, "ms", s.median, {
        better: "lower",
        note: `n=${s.n}; ${note}`,
      });
      ctx.record(`${name} (max)`, "ms", s.max, { better: "lower", note: `n=${s.n}` });
    };
    figure(
      "kill -9 of a master → a write to its device accepted",
      kills.flatMap((f) => f.writesAgainMs),
      "goal ≤ 500 ms median, ≤ 1 s max (lease TTL 2 s)",
    );
    figure(
      "SIGSTOP of a master → another node named master of its device",
      stalls.flatMap((f) => f.masterMovedMs),
      "the lease expires (TTL 2 s) or φ convicts it",
    );
    figure(
      "SIGSTOP of a master → a write to its device accepted elsewhere",
      stalls.flatMap((f) => f.writesAgainMs),
      "goal ≤ lease TTL + 1 s = 3 s",
    );
    figure(
      "SIGTERM of a master → a write to its device accepted elsewhere",
      graceful.flatMap((f) => f.writesAgainMs),
      "planned hand-over",
    );
    const termsPerFault = reports.map((r) => {
      const total = [...r.termsPerDevice.values()].reduce((a, b) => a + b, 0);
      return total / Math.max(1, r.termsPerDevice.size) / Math.max(1, r.faults.length);
    });
    ctx.record("terms per device per fault", "terms", spread(termsPerFault).median, {
      better: "lower",
      note: `sampled every 100 ms; runs: ${termsPerFault.map((t) => t.toFixed(2)).join(", ")}`,
    });
    const sum = (pick: (r: FaultReport) => number) => reports.reduce((n, r) => n + pick(r), 0);
    const acked = sum((r) => r.acknowledgedAdds);
    ctx.record(
      "acknowledged adds lost outside the asynchronous window",
      "flows",
      sum((r) => r.lost.length),
      {
        better: "lower",
        note: `of ${acked} acknowledged adds, ${faults.length} faults; goal 0`,
      },
    );
    ctx.record(
      "acknowledged adds lost in the asynchronous window",
      "flows",
      sum((r) => r.asyncWindowLost.length),
      { better: "lower", note: "acknowledged ≤ 100 ms before a kill -9 of the device's master" },
    );
    ctx.record(
      "acknowledged deletes resurrected outside the asynchronous window",
      "flows",
      sum((r) => r.resurrected.length),
      {
        better: "lower",
        note: `of ${sum((r) => r.acknowledgedDeletes)} acknowledged deletes; goal 0`,
      },
    );
    ctx.record(
      "acknowledged deletes resurrected in the asynchronous window",
      "flows",
      sum((r) => r.asyncWindowResurrected.length),
      { better: "lower", note: "acknowledged ≤ 100 ms before a kill -9 of the device's master" },
    );
    ctx.record(
      "flows the nodes disagree on",
      "flows",
      sum((r) => r.divergent.length),
      {
        better: "lower",
        note: "goal 0",
      },
    );
    ctx.record(
      "requests failed during the fault runs",
      "%",
      (100 * sum((r) => r.failedRequests)) /
        Math.max(
          1,
          sum((r) => r.requests),
        ),
      { better: "lower", note: "including those sent to a node that was down or stopped" },
    );
    ctx.progress(`under load without faults: ${durationMs / 1000} s`);
    const calm = await runFaults({
      seed: 1000,
      durationMs,
      faults: [],
      log: (l) => ctx.progress(l),
    });
    for (const line of calm.lines) ctx.progress(line);
    ctx.record("false convictions under write load, no faults", "convictions", calm.convictions, {
      better: "lower",
      note: `${durationMs / 1000} s, 3 writers of 5-flow batches + a deleter, ${calm.acknowledgedAdds} acknowledged adds`,
    });
  },
});
