#!/usr/bin/env node
import { readFile } from "node:fs/promises";
import { parseCommandLine } from "./commandLine.js";
import { busyBySecond, CATEGORIES, type CpuProfile, profileBudget } from "./profileBudget.js";

const usage = `flowstore-profile — where a node's busy time went, from its CPU profile

Usage: pnpm --filter @flowstore/bench profile -- <file.cpuprofile> [options]

Reads a profile written by \`node --cpu-prof\` (see "Profiling the product" in
apps/bench/README.md) and prints the busy time by part of the write path. Each
sample counts once, in the first of these parts its stack is in:
${CATEGORIES.map((c) => `  - ${c.name}`).join("\n")}
  - other

Options:
  --from S     leave out the first S seconds of the profile (start-up, preload)
  --to S       leave out what came after S seconds
  --flows N    flows posted in the window: prints µs per flow too
  --timeline   the busy share of each second instead, to find the window
  -h, --help   this text
`;

function fail(message: string): number {
  process.stderr.write(`flowstore-profile: ${message}\n\n${usage}`);
  return 2;
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    return fail((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (positionals.length !== 1) return fail("name one .cpuprofile file");
  const numbers: Record<string, number | undefined> = {};
  for (const name of ["from", "to", "flows"] as const) {
    const text = values[name];
    if (text === undefined) continue;
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) {
      return fail(`--${name} must be a number ≥ 0, got ${text}`);
    }
    numbers[name] = value;
  }
  const file = positionals[0]!;
  let profile: CpuProfile;
  try {
    profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  } catch (error) {
    process.stderr.write(`flowstore-profile: cannot read ${file}: ${(error as Error).message}\n`);
    return 1;
  }
  if (
    typeof profile !== "object" ||
    profile === null ||
    !Array.isArray(profile.nodes) ||
    !Array.isArray(profile.samples) ||
    !Array.isArray(profile.timeDeltas)
  ) {
    process.stderr.write(`flowstore-profile: ${file} is not a V8 CPU profile\n`);
    return 1;
  }
  if (values.timeline) {
    const seconds = busyBySecond(profile).map((share, s) => `${s}s ${Math.round(share * 100)}%`);
    process.stdout.write(`${seconds.join("  ")}\n`);
    return 0;
  }
  const budget = profileBudget(profile, {
    ...(numbers.from === undefined ? {} : { fromSeconds: numbers.from }),
    ...(numbers.to === undefined ? {} : { toSeconds: numbers.to }),
  });
  const flows = numbers.flows;
  const out: string[] = [`busy ${(budget.busyMicros / 1e6).toFixed(2)} s`];
  for (const line of budget.lines) {
    const perFlow = flows ? `${(line.micros / flows).toFixed(1).padStart(7)} µs/flow  ` : "";
    out.push(`${(line.share * 100).toFixed(1).padStart(6)} %  ${perFlow}${line.category}`);
  }
  process.stdout.write(`${out.join("\n")}\n`);
  return 0;
}

function parse(argv: readonly string[]) {
  return parseCommandLine(argv, {
    from: { type: "string" },
    to: { type: "string" },
    flows: { type: "string" },
    timeline: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
}

process.exitCode = await main(process.argv.slice(2));
