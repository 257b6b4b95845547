import { readFile } from "node:fs/promises";
import { asyncScheduler, VirtualTimeScheduler } from "rxjs";
import { describe, expect, it } from "vitest";
import { endOfTurn } from "./endOfTurn.js";

describe("endOfTurn", () => {
  it("with the wall clock, runs once this turn is over and before any timer, even one of 0 ms", async () => {
    // After I/O, as a request's handler runs: the check phase comes before the timers.
    await readFile(new URL(import.meta.url));
    const order: string[] = [];
    setTimeout(() => order.push("timer"), 0);
    endOfTurn(asyncScheduler, () => order.push("end of turn"));
    queueMicrotask(() => order.push("microtask"));
    order.push("now");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual(["now", "microtask", "end of turn", "timer"]);
  });

  it("can be cancelled before it runs", async () => {
    let ran = false;
    endOfTurn(asyncScheduler, () => {
      ran = true;
    }).unsubscribe();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).toBe(false);
  });

  it("with another scheduler (virtual time), is that scheduler's own 0 ms action", () => {
    const scheduler = new VirtualTimeScheduler();
    let ran = false;
    endOfTurn(scheduler, () => {
      ran = true;
    });
    expect(ran).toBe(false);
    scheduler.flush();
    expect(ran).toBe(true);
  });
});
