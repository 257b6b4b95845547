import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { defineScenario, runScenario } from "./harness.js";
import { machineInfo, writeResult } from "./report.js";
import { percentile, stats } from "./stats.js";

describe("stats", () => {
  it("median, extremes and spread", () => {
    const s = stats([10, 12, 8, 11, 9]);
    expect(s).toMatchObject({ median: 10, min: 8, max: 12, spread: 0.4 });
  });

  it("percentiles interpolate between samples", () => {
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(percentile([5, 1, 3], 0.99)).toBeCloseTo(4.96);
    expect(() => percentile([], 0.5)).toThrow(RangeError);
  });
});

describe("runScenario", () => {
  const scenario = defineScenario({
    name: "demo",
    description: "a scenario with known figures",
    async run(ctx) {
      let call = 0;
      const a = await ctx.sample("a", "ops/s", () => [999, 999, 100, 300, 200][call++]!, {
        runs: 3,
        warmup: 2,
      });
      const b = await ctx.sample("b", "ops/s", () => 50, { runs: 2, warmup: 0 });
      ctx.record("bytes", "B", 64, { note: "one | reading" });
      ctx.ratio("a vs b", a, b);
    },
  });

  it("discards warm-up runs, keeps medians and ratios, and reports progress", async () => {
    const lines: string[] = [];
    const result = await runScenario(scenario, { quick: true, log: (l) => lines.push(l) });
    expect(result.figures.map((f) => [f.name, f.value])).toEqual([
      ["a", 200],
      ["b", 50],
      ["bytes", 64],
      ["a vs b", 4],
    ]);
    expect(result.figures[0]?.stats?.samples).toEqual([100, 300, 200]);
    expect(lines).toContain("[demo] a: run 3/3: 200 ops/s");
  });

  it("--runs overrides every measurement's run count", async () => {
    const result = await runScenario(scenario, { quick: true, runs: 1, log: () => {} });
    expect(result.figures[1]?.stats?.samples).toEqual([50]);
  });

  it("writes JSON and a Markdown table with the machine it ran on", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "bench-"));
    try {
      const result = await runScenario(scenario, { quick: true, log: () => {} });
      const [json, markdown] = await writeResult(dir, result, machineInfo());
      const parsed = JSON.parse(await readFile(json!, "utf8")) as {
        machine: { cores: number };
        figures: unknown[];
      };
      expect(parsed.machine.cores).toBe(os.cpus().length);
      expect(parsed.figures).toHaveLength(4);
      const md = await readFile(markdown!, "utf8");
      expect(md).toContain("| a vs b | 4.00 | × |");
      expect(md).toContain("one \\| reading");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
