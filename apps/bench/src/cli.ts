#!/usr/bin/env node
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./commandLine.js";
import { formatNumber, runScenario } from "./harness.js";
import { machineInfo, writeIndex, writeResult } from "./report.js";
import { scenarios } from "./scenarios/index.js";

const usage = `flowstore-bench — benchmarks with baselines measured in the same run

Usage: pnpm bench [-- options] [scenario ...]
       pnpm --filter @flowstore/bench bench -- <scenario> [options]

Runs the named scenarios (all of them when none is named) and writes
<scenario>.json, <scenario>.md and one <scenario>-<curve>.svg per curve under
the results directory, then README.md there: an index of the latest results.

Options:
  --full           the whole suite: bigger workloads, more runs (default: quick)
  --runs N         measured runs per figure (overrides each scenario's default)
  --out DIR        results directory (default: apps/bench/results)
  --list           list the scenarios and exit
  -h, --help       this text

Scenarios:
${scenarios.map((s) => `  ${s.name.padEnd(14)} ${s.description}`).join("\n")}
`;

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`flowstore-bench: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (values.list) {
    for (const s of scenarios) process.stdout.write(`${s.name}\t${s.description}\n`);
    return 0;
  }
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && (!Number.isInteger(runs) || runs < 1)) {
    process.stderr.write(
      `flowstore-bench: --runs must be a positive integer, got ${values.runs}\n`,
    );
    return 2;
  }
  const unknown = positionals.filter((name) => !scenarios.some((s) => s.name === name));
  if (unknown.length > 0) {
    process.stderr.write(
      `flowstore-bench: unknown scenario ${unknown.join(", ")}; known: ${scenarios.map((s) => s.name).join(", ")}\n`,
    );
    return 2;
  }
  const selected =
    positionals.length === 0 ? scenarios : scenarios.filter((s) => positionals.includes(s.name));
  const out =
    values.out ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "results");
  const machine = machineInfo();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(
    `flowstore-bench: ${selected.length} scenario(s), ${values.full ? "full" : "quick"} suite, ` +
      `${machine.cpu} × ${machine.cores}, Node.js ${machine.node}`,
  );

  const suiteStart = performance.now();
  const elapsed = () => `${((performance.now() - suiteStart) / 1000).toFixed(0)} s`;
  for (const [i, scenario] of selected.entries()) {
    log(`flowstore-bench: [${i + 1}/${selected.length}] ${scenario.name} (${elapsed()} so far)`);
    const result = await runScenario(scenario, {
      quick: !values.full,
      log,
      ...(runs === undefined ? {} : { runs }),
    });
    const files = await writeResult(out, result, machine);
    process.stdout.write(`\n## ${scenario.name}\n`);
    for (const f of result.figures) {
      const value =
        f.kind === "ratio" ? `${f.value.toFixed(2)}×` : `${formatNumber(f.value)} ${f.unit}`;
      const spread = f.stats ? `  (spread ${(f.stats.spread * 100).toFixed(1)} %)` : "";
      process.stdout.write(`  ${f.name.padEnd(48)} ${value}${spread}\n`);
    }
    process.stdout.write(`  → ${files.map((f) => path.relative(process.cwd(), f)).join(", ")}\n`);
  }
  const index = await writeIndex(out);
  process.stdout.write(`\nindex → ${path.relative(process.cwd(), index)}\n`);
  log(`flowstore-bench: ${selected.length} scenario(s) in ${elapsed()}`);
  return 0;
}

function parse(argv: readonly string[]) {
  return parseCommandLine(argv, {
    full: { type: "boolean", default: false },
    runs: { type: "string" },
    out: { type: "string" },
    list: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`flowstore-bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
