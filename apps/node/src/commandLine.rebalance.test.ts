import { describe, expect, it } from "vitest";
import { parseCommandLine, usage } from "./commandLine.js";

describe("the rebalancing options", () => {
  it("default to a 2 s rebalance delay and 100 moves per second", () => {
    const run = parseCommandLine(["--local", "3"]);
    if (run === "help") throw new Error("unexpected help");
    expect(run.config).toMatchObject({ rebalanceDelay: 2000, maxMoves: 100, moveInterval: 1000 });
  });

  it("take --rebalance-delay, --max-moves and --move-interval, and refuse nonsense", () => {
    const run = parseCommandLine([
      ...["--id", "n1", "--listen", "127.0.0.1:9876"],
      ...["--rebalance-delay", "5000", "--max-moves", "4", "--move-interval", "250"],
    ]);
    if (run === "help") throw new Error("unexpected help");
    expect(run.config).toMatchObject({ rebalanceDelay: 5000, maxMoves: 4, moveInterval: 250 });
    const withSync = parseCommandLine(["--local", "3", "--sync-timeout", "700"]);
    if (withSync === "help") throw new Error("unexpected help");
    expect(withSync.config.store.syncTimeout).toBe(700);
    const withRestart = parseCommandLine(["--local", "3", "--restart-sync-timeout", "3000"]);
    if (withRestart === "help") throw new Error("unexpected help");
    expect(withRestart.config.store.restartSyncTimeout).toBe(3000);
    expect(() => parseCommandLine(["--local", "3", "--restart-sync-timeout", "5"])).toThrow(
      /restartSyncTimeout must be at least 10 ms/,
    );
    expect(() => parseCommandLine(["--local", "3", "--max-moves", "0"])).toThrow(/maxMoves/);
    for (const flag of ["--rebalance-delay", "--max-moves", "--move-interval"])
      expect(usage).toContain(flag);
  });
});
