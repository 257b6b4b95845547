import { describe, expect, it } from "vitest";
import { simulate } from "./testing/simulation.js";

/**
 * Seeded simulations of the replication protocol. `FUZZ_RUNS` sets how many seeds run
 * (default 200), `FUZZ_SEED` the first one; a failing seed is printed with its fault log
 * and replays exactly with `FUZZ_SEED=<seed> FUZZ_RUNS=1`.
 */
const runs = Number(process.env.FUZZ_RUNS ?? 200);
const first = Number(process.env.FUZZ_SEED ?? 1);

describe("replication under faults", () => {
  it(`${runs} seeded runs keep every invariant`, { timeout: 600_000 }, async () => {
    let acknowledged = 0;
    let crashes = 0;
    for (let seed = first; seed < first + runs; seed++) {
      const report = await simulate(seed);
      if (report.violations.length > 0) {
        const replay = `FUZZ_SEED=${seed} FUZZ_RUNS=1 pnpm vitest run --project ec-flow-store simulation`;
        throw new Error(
          `seed ${seed} (${report.nodes} nodes) broke ${report.violations.length} invariant(s); replay: ${replay}\n` +
            `${report.violations.slice(0, 10).join("\n")}\nfaults:\n${report.log.join("\n")}`,
        );
      }
      acknowledged += report.acknowledged;
      crashes += report.crashes;
    }
    // The runs did exercise what they claim to.
    expect(acknowledged).toBeGreaterThan(runs * 20);
    expect(crashes).toBeGreaterThan(runs / 2);
  });

  it(`sync replication: ${Math.ceil(runs / 2)} seeded runs where a master crashes right after acknowledging lose no acknowledged write`, {
    timeout: 600_000,
  }, async () => {
    let acknowledged = 0;
    let crashes = 0;
    for (let seed = first; seed < first + Math.ceil(runs / 2); seed++) {
      const report = await simulate(seed, { replication: "sync" });
      if (report.violations.length > 0) {
        const replay = `FUZZ_SEED=${seed} FUZZ_RUNS=1 pnpm vitest run --project ec-flow-store simulation`;
        throw new Error(
          `sync seed ${seed} (${report.nodes} nodes) broke ${report.violations.length} invariant(s); replay: ${replay}\n` +
            `${report.violations.slice(0, 10).join("\n")}\nfaults:\n${report.log.join("\n")}`,
        );
      }
      acknowledged += report.acknowledged;
      crashes += report.crashes;
    }
    expect(acknowledged).toBeGreaterThan(runs * 5);
    expect(crashes).toBeGreaterThan(runs / 4);
  });
});
