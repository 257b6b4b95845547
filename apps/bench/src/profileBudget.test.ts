import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { busyBySecond, CATEGORIES, type CpuProfile, profileBudget } from "./profileBudget.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const url = (file: string) => `file:///repo/${file}`;

/**
 * A small profile: (root) calls the body parser (which hands the body to fastify), the REST
 * handler (which builds a rule and sends a batch, which sends a message) and the replicator
 * (which encodes a backup); the collector and idle run beside them. Each sample lasts 1 ms
 * (the delta to the next sample).
 */
function sampleProfile(): CpuProfile {
  const frame = (functionName: string, file: string) => ({ functionName, url: url(file) });
  const nodes = [
    { id: 1, callFrame: frame("(root)", ""), children: [2, 3, 4, 6, 8] },
    { id: 2, callFrame: frame("(idle)", "") },
    // Named as esbuild may rename it (tsx runs the node from source).
    { id: 3, callFrame: frame("parseJsonBody2", "apps/node/src/http/server.ts"), children: [9] },
    { id: 4, callFrame: frame("", "apps/node/src/http/flows.ts"), children: [5, 10] },
    { id: 5, callFrame: frame("parseFlowRule", "packages/flow-bucket/src/flowRuleJson.ts") },
    {
      id: 6,
      callFrame: frame("#send", "packages/ec-flow-store/dist/internal/replicator.js"),
      children: [7],
    },
    { id: 7, callFrame: frame("packTyped", "packages/serializers/src/msgpack.ts") },
    { id: 8, callFrame: frame("(garbage collector)", "") },
    { id: 9, callFrame: frame("done", "node_modules/fastify/lib/content-type-parser.js") },
    {
      id: 10,
      callFrame: frame("send", "packages/ec-flow-store/src/internal/batchSender.ts"),
      children: [11],
    },
    { id: 11, callFrame: frame("call", "packages/ec-flow-store/src/storeMessaging.ts") },
  ];
  // Seconds 0–1: the parser ×1, fastify from it ×1, the rule ×3, the encoding ×1, the
  // message ×1, idle ×3; then from 1 s: the handler ×2, the collector ×1.
  const samples = [3, 9, 5, 5, 5, 7, 11, 2, 2, 2, 4, 4, 8];
  const timeDeltas = [
    0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 991_000, 1000, 1000, 1000,
  ];
  return { nodes, startTime: 0, samples, timeDeltas: timeDeltas.slice(0, samples.length + 1) };
}

const share = (budget: ReturnType<typeof profileBudget>, category: string) =>
  budget.lines.find((line) => line.category === category)?.micros;

describe("profileBudget", () => {
  it("counts each busy sample once, in the first category of its stack, idle left out", () => {
    const budget = profileBudget(sampleProfile());
    expect(budget.busyMicros).toBe(10_000);
    // The parser's own time only: fastify, run from it, is the rest of the request.
    expect(share(budget, "REST bodies parsed (JSON.parse: the ceiling's work)")).toBe(1000);
    // Under the REST handler, but the rule's building is named first in the list.
    expect(share(budget, "flow rules built from REST JSON (parseFlowRule)")).toBe(3000);
    // Under the replicator (a later category), from a built dist/ file: still the encoding.
    expect(share(budget, "backups: messages encoded")).toBe(1000);
    // A message sent for a batch (a later category) counts as the batch's.
    expect(share(budget, "batches applied to the store")).toBe(1000);
    expect(share(budget, "the rest of each REST request and answer")).toBe(3000);
    expect(share(budget, "garbage collector")).toBe(1000);
    expect(budget.lines.map((line) => line.micros)).toEqual([3000, 3000, 1000, 1000, 1000, 1000]);
    expect(budget.lines.reduce((sum, line) => sum + line.share, 0)).toBeCloseTo(1);
  });

  it("keeps only the window asked for", () => {
    const budget = profileBudget(sampleProfile(), { fromSeconds: 0.5 });
    expect(budget.busyMicros).toBe(3000);
    expect(budget.lines.map((line) => line.category)).toEqual([
      "the rest of each REST request and answer",
      "garbage collector",
    ]);
    expect(profileBudget(sampleProfile(), { toSeconds: 0.5 }).busyMicros).toBe(7000);
  });

  it("gives the busy share of each second, to find the window", () => {
    expect(busyBySecond(sampleProfile())).toEqual([0.007, 0.003]);
  });

  it("puts samples no category knows under other", () => {
    const profile = sampleProfile();
    const other = { ...profile, samples: [1], timeDeltas: [0, 500] };
    expect(profileBudget(other).lines).toEqual([{ category: "other", micros: 500, share: 1 }]);
    expect(CATEGORIES.some((c) => c.name === "other")).toBe(false);
  });
});

describe("flowstore-profile", () => {
  const run = promisify(execFile);
  const cli = (...args: string[]) =>
    run(
      process.execPath,
      [
        "--conditions=@flowstore/source",
        "--import",
        "tsx",
        path.join(here, "profileCli.ts"),
        ...args,
      ],
      { cwd: here },
    );
  let dir: string | undefined;
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("prints the busy time by part, per flow, the most first", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "flowstore-profile-"));
    const file = path.join(dir, "node.cpuprofile");
    await writeFile(file, JSON.stringify(sampleProfile()));
    // As pnpm runs it: the `--` before the arguments is passed on.
    const { stdout } = await cli("--", file, "--flows", "1000");
    expect(stdout).toContain("busy 0.01 s");
    expect(stdout).toMatch(/30\.0 %\s+3\.0 µs\/flow {2}flow rules built from REST JSON/);
    expect(stdout).toMatch(/10\.0 %\s+1\.0 µs\/flow {2}REST bodies parsed/);
    expect(stdout.indexOf("flow rules built")).toBeLessThan(stdout.indexOf("REST bodies parsed"));
  });

  it("refuses a bad option with exit code 2 and the usage", async () => {
    const failed = await cli("x.cpuprofile", "--flows", "many").then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain("--flows must be a number ≥ 0, got many");
    expect(failed?.stderr).toContain("Usage:");
  });

  it("says so of a file that is not a CPU profile, with exit code 1", async () => {
    dir ??= await mkdtemp(path.join(tmpdir(), "flowstore-profile-"));
    const file = path.join(dir, "null.cpuprofile");
    await writeFile(file, "null");
    const failed = await cli(file).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(`${file} is not a V8 CPU profile`);
  });
});
