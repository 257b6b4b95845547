// Runs one fault run from the command line and prints its report:
//   node --conditions=@flowstore/source --import tsx src/faultCli.ts [seed] [seconds] [faults]
// e.g. `… 7 60 kill,stall,term,burstKill`, or `… 1 60 none` for a run under load without
// faults (its convictions are false ones). Exit code 1 when the history check fails.
import { type FaultKind, runFaults } from "./faultRun.js";

const [seedText = "1", secondsText = "30", faultText = "kill,stall,term,burstKill"] =
  process.argv.slice(2);
const faults = faultText === "none" ? [] : (faultText.split(",") as FaultKind[]);
const report = await runFaults({
  seed: Number(seedText),
  durationMs: Number(secondsText) * 1000,
  faults,
  log: (line) => process.stdout.write(`${line}\n`),
});
for (const line of report.lines) process.stdout.write(`${line}\n`);
process.exitCode =
  report.lost.length + report.resurrected.length + report.divergent.length > 0 ? 1 : 0;
