// The short fault run of CI: three flowstore-node processes with etcd under a seeded nemesis
// (kill -9, SIGSTOP, SIGTERM, burst then kill -9, a rolling restart) while writers and a
// deleter post through random nodes. FAULT_SEED=<n> replays a seed; the long run is the
// `failover-faults` bench scenario.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type FaultRunOptions, runFaults } from "./faultRun.js";

const seed = Number(process.env.FAULT_SEED ?? 101);

/**
 * A 40 s run with `options` (2–4 s between faults, SIGSTOPs of 5–8 s), its report printed
 * under `label`: it must have struck and seen writes and deletes, and lost, undone and
 * split none of them.
 */
async function expectNoLoss(
  label: string,
  options: Pick<FaultRunOptions, "seed" | "faults" | "dataDir">,
): Promise<void> {
  const report = await runFaults({
    ...options,
    durationMs: 40_000,
    gapMs: [2000, 4000],
    stallMs: [5000, 8000],
    log: (line) => process.stdout.write(`${label}: ${line}\n`),
  });
  process.stdout.write(`${report.lines.map((line) => `${label}: ${line}`).join("\n")}\n`);
  expect(report.faults.length).toBeGreaterThan(0);
  expect(report.acknowledgedAdds).toBeGreaterThan(1000);
  expect(report.acknowledgedDeletes).toBeGreaterThan(0);
  const failure = report.lines.join("\n");
  expect(report.lost, failure).toEqual([]);
  expect(report.resurrected, failure).toEqual([]);
  expect(report.divergent, failure).toEqual([]);
}

describe("flowstore-node processes under faults", () => {
  it(`keeps every acknowledged write and delete, on every node (seed ${seed})`, async () => {
    await expectNoLoss("fault run", {
      seed,
      faults: ["kill", "stall", "term", "burstKill", "rolling"],
    });
  }, 170_000);

  it(`with data directories, a restarted node's old copy undoes no write or delete, and a full restart keeps what the disks had (seed ${seed + 200})`, async () => {
    // Every restart (after kill -9, SIGTERM, a rolling restart) loads the node's copy from
    // disk: older than the live ones, it must not bring deleted flows back nor hide new ones.
    // killAll: kill -9 of every node at once, and a full restart from the disks, under load:
    // what was acknowledged more than 300 ms before (three commit intervals) must be there.
    const dataDir = mkdtempSync(join(tmpdir(), "flowstore-faults-"));
    try {
      await expectNoLoss("fault run (data)", {
        seed: seed + 200,
        faults: ["kill", "killAll", "term", "rolling", "burstKill"],
        dataDir,
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 170_000);
});
