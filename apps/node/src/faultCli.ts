// Runs one fault run from the command line and prints its report:
//   node --conditions=@flowstore/source --import tsx src/faultCli.ts [seed] [seconds] [faults]
// e.g. `… 7 60 kill,stall,term,burstKill`, or `… 1 60 none` for a run under load without
// faults (its convictions are false ones). Environment: FAULT_STALL_MS=500-1500 (SIGSTOP
// length, e.g. GC-like pauses), FAULT_GAP_MS=2000-5000, FAULT_WRITERS=3, FAULT_BATCH=5,
// FAULT_NODE_ARGS="--request-timeout 1000" (extra flowstore-node flags), FAULT_REPLICATION=sync
// (the nodes acknowledge a write once a backup holds it: no asynchronous window),
// FAULT_LOG_DIR=DIR (each node's whole output in DIR/<id>.log), FAULT_LOG_LEVEL=info,
// FAULT_DATA_DIR=DIR (each node keeps its flows in DIR/<id>: restarts load them),
// FAULT_DISK_WINDOW_MS=300 (writes acknowledged this long before a killAll are in its window).
// Exit code 1 when the history check fails.
import { type FaultKind, runFaults } from "./faultRun.js";

const [seedText = "1", secondsText = "30", faultText = "kill,stall,term,burstKill"] =
  process.argv.slice(2);
const faults = faultText === "none" ? [] : (faultText.split(",") as FaultKind[]);
const range = (name: string): { [key: string]: readonly [number, number] } => {
  const text = process.env[name];
  if (text === undefined) return {};
  const [lo, hi] = text.split("-").map(Number) as [number, number];
  return { value: [lo, hi ?? lo] };
};
if (faults.includes("killAll") && process.env.FAULT_DATA_DIR === undefined) {
  // Memory-only nodes keep nothing through a kill -9 of all of them: the run reports every
  // flow acknowledged before it as lost, which is what it is, but not a fault of the store.
  process.stderr.write(
    "faultCli: killAll without FAULT_DATA_DIR: every flow is gone once all nodes are killed, " +
      "and the run will report them lost; set FAULT_DATA_DIR to restart from disk\n",
  );
}
const stall = range("FAULT_STALL_MS").value;
const gap = range("FAULT_GAP_MS").value;
const report = await runFaults({
  seed: Number(seedText),
  durationMs: Number(secondsText) * 1000,
  faults,
  ...(stall === undefined ? {} : { stallMs: stall }),
  ...(gap === undefined ? {} : { gapMs: gap }),
  ...(process.env.FAULT_WRITERS === undefined
    ? {}
    : { writers: Number(process.env.FAULT_WRITERS) }),
  ...(process.env.FAULT_BATCH === undefined ? {} : { batch: Number(process.env.FAULT_BATCH) }),
  ...(process.env.FAULT_REPLICATION === "sync" ? { replication: "sync" as const } : {}),
  ...(process.env.FAULT_NODE_ARGS === undefined
    ? {}
    : { nodeArgs: process.env.FAULT_NODE_ARGS.split(" ").filter(Boolean) }),
  ...(process.env.FAULT_DISK_WINDOW_MS === undefined
    ? {}
    : { diskWindowMs: Number(process.env.FAULT_DISK_WINDOW_MS) }),
  ...(process.env.FAULT_DATA_DIR === undefined ? {} : { dataDir: process.env.FAULT_DATA_DIR }),
  ...(process.env.FAULT_LOG_DIR === undefined ? {} : { logDir: process.env.FAULT_LOG_DIR }),
  ...(process.env.FAULT_LOG_LEVEL === undefined ? {} : { logLevel: process.env.FAULT_LOG_LEVEL }),
  log: (line) => process.stdout.write(`${line}\n`),
});
for (const line of report.lines) process.stdout.write(`${line}\n`);
process.exitCode =
  report.lost.length + report.resurrected.length + report.divergent.length > 0 ? 1 : 0;
