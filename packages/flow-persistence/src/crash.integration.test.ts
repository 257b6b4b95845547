import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FlowPersistence } from "./flowPersistence.js";
import {
  CRASH_BUCKETS,
  CRASH_DEVICE,
  crashBatch,
  crashChangesAfter,
} from "./testing/crashBatches.js";
import { writeFormatV1Directory } from "./testing/formatV1Directory.js";
import { tempDir, testBuckets } from "./testing/tables.js";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const writer = fileURLToPath(new URL("./testing/crashWriter.ts", import.meta.url));
const migrator = fileURLToPath(new URL("./testing/migrateWriter.ts", import.meta.url));

let dir = "";
let remove: () => Promise<void> = async () => {};
let child: ChildProcess | undefined;

beforeEach(async () => {
  ({ dir, remove } = await tempDir());
});

afterEach(async () => {
  if (child?.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await remove();
});

/**
 * Starts the crash writer on `dir`, waits until it reported `commits` more commits, then
 * kills it with SIGKILL a few ms later, most likely in the middle of the next commit.
 * Resolves with the last batch it reported committed.
 */
function writeThenKill(
  commits: number,
  delayMs: number,
  records = 1_000_000,
  mode: "whole" | "changes" = "whole",
): Promise<number> {
  return new Promise((resolve, reject) => {
    const process_ = spawn(
      process.execPath,
      ["--conditions=@flowstore/source", "--import", "tsx", writer, dir, String(records), mode],
      { cwd: packageDir, stdio: ["ignore", "pipe", "pipe"] },
    );
    child = process_;
    let output = "";
    let errors = "";
    let seen = 0;
    let last = 0;
    let killing = false;
    process_.stdout?.setEncoding("utf8");
    process_.stderr?.setEncoding("utf8");
    process_.stderr?.on("data", (text: string) => {
      errors += text;
    });
    process_.stdout?.on("data", (text: string) => {
      output += text;
      const lines = output.split("\n");
      output = lines.pop() ?? "";
      for (const line of lines) {
        const match = /^committed (\d+)$/.exec(line);
        if (match === null) continue;
        last = Number(match[1]);
        seen++;
      }
      if (seen >= commits && !killing) {
        killing = true;
        setTimeout(() => process_.kill("SIGKILL"), delayMs);
      }
    });
    process_.on("exit", (code, signal) => {
      if (signal === "SIGKILL" && seen >= commits) resolve(last);
      else
        reject(
          new Error(`crash writer exited (${code ?? signal}) after ${seen} commits:\n${errors}`),
        );
    });
  });
}

describe("a kill -9 in the middle of commits", () => {
  it.each([
    ["each bucket staged whole (a new base each time)", "whole"],
    ["each bucket staged as changes (change records, and compactions)", "changes"],
  ] as const)(
    "with %s, leaves the last committed batch whole, or the one in flight whole, and a directory that opens",
    async (_, mode) => {
      const delays = [0, 3, 7, 12]; // into the commit after the reported one
      let previous = 0;
      for (const delay of delays) {
        const reported = await writeThenKill(4, delay, undefined, mode);
        expect(reported).toBeGreaterThan(previous);

        const persistence = await FlowPersistence.open({ dir, cluster: "crash", node: "n1" });
        try {
          const [device, ...others] = await persistence.load();
          expect(others).toEqual([]);
          expect(device?.deviceId).toBe(CRASH_DEVICE);
          const buckets = device?.buckets ?? [];
          // One batch, whole: every bucket stamped by it, holding exactly its flows.
          const batch = buckets[0]?.timestamp ?? -1;
          expect(batch === reported || batch === reported + 1).toBe(true);
          expect(persistence.getMeta("batch")).toBe(batch);
          const expected = crashBatch(batch).buckets;
          expect(buckets.map((b) => b.bucket)).toEqual([...Array(CRASH_BUCKETS).keys()]);
          const held = crashChangesAfter(batch);
          for (const bucket of buckets) {
            expect(bucket.timestamp).toBe(batch);
            if (mode === "changes") {
              const found = new Map(bucket.entries.map((entry) => [entry.rule.id, entry.packets]));
              expect(found).toEqual(held[bucket.bucket]);
              continue;
            }
            const ids = bucket.entries.map((entry) => entry.rule.id);
            const want = (expected[bucket.bucket] ?? []).map((entry) => entry.rule.id).sort();
            expect(ids).toEqual(want);
            expect(bucket.entries.every((entry) => entry.packets === batch)).toBe(true);
          }
          previous = batch;
        } finally {
          await persistence.close();
        }
      }
    },
    120_000,
  );

  it("with a commit split into transactions, leaves every bucket whole, of one batch or the next", async () => {
    // 151 records a transaction: one bucket (its head and a base of 150 entries) each.
    for (const delay of [2, 6, 11]) {
      const reported = await writeThenKill(3, delay, 151);
      const persistence = await FlowPersistence.open({ dir, cluster: "crash", node: "n1" });
      try {
        const [device] = await persistence.load();
        const buckets = device?.buckets ?? [];
        expect(buckets.map((b) => b.bucket)).toEqual([...Array(CRASH_BUCKETS).keys()]);
        for (const bucket of buckets) {
          const batch = bucket.timestamp;
          expect(batch === reported || batch === reported + 1).toBe(true);
          const want = (crashBatch(batch).buckets[bucket.bucket] ?? [])
            .map((entry) => entry.rule.id)
            .sort();
          expect(bucket.entries.map((entry) => entry.rule.id)).toEqual(want);
          expect(bucket.entries.every((entry) => entry.packets === batch)).toBe(true);
        }
      } finally {
        await persistence.close();
      }
    }
  }, 120_000);
});

describe("a kill -9 in the middle of a migration", () => {
  /** Starts the migrator on `dir` and kills it `delayMs` after it starts opening. */
  function migrateThenKill(delayMs: number): Promise<"killed" | "migrated"> {
    return new Promise((resolve, reject) => {
      const process_ = spawn(
        process.execPath,
        ["--conditions=@flowstore/source", "--import", "tsx", migrator, dir],
        { cwd: packageDir, stdio: ["ignore", "pipe", "pipe"] },
      );
      child = process_;
      let output = "";
      let errors = "";
      process_.stdout?.setEncoding("utf8");
      process_.stderr?.setEncoding("utf8");
      process_.stderr?.on("data", (text: string) => {
        errors += text;
      });
      process_.stdout?.on("data", (text: string) => {
        const before = output;
        output += text;
        if (!before.includes("opening") && output.includes("opening")) {
          setTimeout(() => process_.kill("SIGKILL"), delayMs);
        }
      });
      process_.on("exit", (code, signal) => {
        if (output.includes("migrated")) resolve("migrated");
        else if (signal === "SIGKILL") resolve("killed");
        else reject(new Error(`migrator exited (${code ?? signal}):\n${errors}`));
      });
    });
  }

  it("leaves format 1 to migrate again, or format 2, with every flow", async () => {
    const device = CRASH_DEVICE;
    const buckets = [...testBuckets(device, 0, 48_000, 64)]
      .sort(([a], [b]) => a - b)
      .map(([bucket, entries]) => ({
        device,
        bucket,
        term: 2,
        timestamp: 7,
        entries: entries.sort((x, y) => (x.rule.id < y.rule.id ? -1 : 1)),
      }));
    const outcomes: string[] = [];
    for (const delay of [50, 250, 450, 700]) {
      await remove();
      ({ dir, remove } = await tempDir());
      await writeFormatV1Directory(dir, { cluster: "crash", node: "n1", buckets });
      outcomes.push(await migrateThenKill(delay));
      const persistence = await FlowPersistence.open({ dir, cluster: "crash", node: "n1" });
      try {
        const [loaded, ...others] = await persistence.load();
        expect(others).toEqual([]);
        expect(loaded?.buckets.length).toBe(buckets.length);
        for (const [i, bucket] of (loaded?.buckets ?? []).entries()) {
          expect(bucket).toMatchObject({ bucket: buckets[i]?.bucket, term: 2, timestamp: 7 });
          expect(bucket.entries.map((entry) => entry.rule.id)).toEqual(
            buckets[i]?.entries.map((entry) => entry.rule.id),
          );
        }
      } finally {
        await persistence.close();
      }
    }
    // At least one kill came before the migration was committed.
    expect(outcomes).toContain("killed");
  }, 120_000);
});
