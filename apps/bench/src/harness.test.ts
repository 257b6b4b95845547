import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { defineScenario, runScenario } from "./harness.js";
import { machineInfo, writeIndex, writeResult } from "./report.js";
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

  it("interleaves measurements run by run, after their warm-ups, each with its own summary", async () => {
    const order: string[] = [];
    const result = await runScenario(
      defineScenario({
        name: "turns",
        description: "two measurements in turns",
        async run(ctx) {
          const turn = (name: string, values: number[]) => ({
            name,
            unit: "flows/s",
            body: () => {
              order.push(name);
              return values.shift()!;
            },
          });
          const [a, b] = await ctx.interleave(
            [turn("x", [5, 10, 30, 20]), turn("y", [1, 2, 6, 4])],
            { runs: 3, warmup: 1 },
          );
          ctx.ratio("x / y", a!, b!);
        },
      }),
      { quick: true, log: () => {} },
    );
    expect(order).toEqual(["x", "y", "x", "y", "x", "y", "x", "y"]);
    expect(result.figures.map((f) => [f.name, f.value])).toEqual([
      ["x", 20],
      ["y", 4],
      ["x / y", 5],
    ]);
    expect(result.figures[0]?.stats?.samples).toEqual([10, 30, 20]);
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

describe("curves in the report and the results index", () => {
  const curved = defineScenario({
    name: "scaling",
    description: "writes as the cluster grows",
    async run(ctx) {
      const ours = await ctx.sample("writes, 3 nodes", "ops/s", () => 3_000, {
        runs: 1,
        warmup: 0,
        better: "higher",
      });
      const base = await ctx.sample("writes, no store", "ops/s", () => 12_000, {
        runs: 1,
        warmup: 0,
      });
      ctx.record("heap per flow", "B", 310, { better: "lower" });
      ctx.record("flows", "count", 1_000);
      ctx.ratio("3 nodes vs no store", ours, base);
      ctx.curve({
        name: "Writes/s by cluster size",
        x: { label: "nodes" },
        y: { label: "writes", unit: "ops/s" },
        better: "higher",
        series: [
          {
            name: "flowstore",
            points: [
              { x: 1, y: 9_000 },
              { x: 3, y: 3_000 },
            ],
          },
          { name: "no store", points: [{ x: 1, y: 12_000 }] },
        ],
      });
      ctx.curve({
        name: "Backup lag (p99)",
        x: { label: "flows", scale: "log" },
        y: { label: "lag", unit: "ms", scale: "log" },
        series: [
          {
            name: "p99",
            points: [
              { x: 1_000, y: 2 },
              { x: 10_000, y: 0 },
            ],
          },
        ],
      });
    },
  });

  async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "bench-"));
    try {
      await body(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it("writes one SVG per curve, keeps the curves in the JSON, and links and tabulates them", () =>
    inTempDir(async (dir) => {
      const result = await runScenario(curved, { quick: true, log: () => {} });
      const files = await writeResult(dir, result, machineInfo());
      expect(files.map((f) => path.basename(f))).toEqual([
        "scaling.json",
        "scaling.md",
        "scaling-writes-s-by-cluster-size.svg",
        "scaling-backup-lag-p99.svg",
      ]);
      expect((await readdir(dir)).sort()).toEqual([...files.map((f) => path.basename(f))].sort());
      for (const svg of files.slice(2)) {
        const text = await readFile(svg, "utf8");
        expect(text).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        expect(text.trimEnd().endsWith("</svg>")).toBe(true);
        expect(text).not.toMatch(/NaN|Infinity/);
      }
      const chart = await readFile(files[2]!, "utf8");
      expect(chart).toContain(">flowstore</text>");
      expect(chart).toContain(">no store</text>");
      const json = JSON.parse(await readFile(files[0]!, "utf8")) as { curves: { name: string }[] };
      expect(json.curves.map((c) => c.name)).toEqual([
        "Writes/s by cluster size",
        "Backup lag (p99)",
      ]);
      const md = await readFile(files[1]!, "utf8");
      expect(md).toContain("## Curves");
      expect(md).toContain("![Writes/s by cluster size](scaling-writes-s-by-cluster-size.svg)");
      expect(md).toContain("![Backup lag (p99)](scaling-backup-lag-p99.svg)");
      expect(md).toContain("| nodes | flowstore | no store |");
      expect(md).toContain("| 1 | 9,000 | 12,000 |");
      expect(md).toContain("| 3 | 3,000 |  |");
      expect(md).toContain("| 10,000 | 0 |");
    }));

  it("indexes every result in the directory and skips a malformed file with a warning", () =>
    inTempDir(async (dir) => {
      const machine = machineInfo();
      await writeResult(dir, await runScenario(curved, { quick: true, log: () => {} }), machine);
      const plain = defineScenario({
        name: "alpha",
        description: "a scenario without curves",
        async run(ctx) {
          ctx.record("bytes", "B", 64);
        },
      });
      await writeResult(dir, await runScenario(plain, { quick: true, log: () => {} }), machine);
      await writeFile(path.join(dir, "broken.json"), "{ not json");
      await writeFile(path.join(dir, "other.json"), JSON.stringify({ scenario: 3 }));
      const warnings: string[] = [];
      const index = await writeIndex(dir, { warn: (line) => warnings.push(line) });
      expect(path.basename(index)).toBe("README.md");
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toContain("broken.json");
      expect(warnings[1]).toContain("other.json");

      const md = await readFile(index, "utf8");
      expect(md.startsWith("# Latest benchmark results\n")).toBe(true);
      const sections = [...md.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
      expect(sections).toEqual(["alpha", "scaling"]);
      expect(md).toContain("writes as the cluster grows");
      expect(md).toContain(`${machine.cpu} × ${machine.cores} cores`);
      expect(md).toContain(`Node.js ${machine.node}`);
      expect(md).toContain("load average");
      expect(md).toContain("| 3 nodes vs no store | 0.25 | × |  |");
      expect(md).toContain("| writes, 3 nodes | 3,000 | ops/s | higher |");
      expect(md).toContain("| heap per flow | 310 | B | lower |");
      expect(md).not.toContain("| writes, no store |");
      expect(md).not.toContain("| flows |");
      expect(md).toContain("[scaling.md](scaling.md)");
      expect(md).toContain("[alpha.md](alpha.md).");
      expect(md).toContain("[Writes/s by cluster size](scaling-writes-s-by-cluster-size.svg)");
      expect(md).toContain("[Backup lag (p99)](scaling-backup-lag-p99.svg)");
      expect(md).not.toContain("broken");
    }));

  it("an empty results directory gives an index that says so", () =>
    inTempDir(async (dir) => {
      const md = await readFile(await writeIndex(dir, { warn: () => {} }), "utf8");
      expect(md).toContain("No results yet.");
    }));
});
