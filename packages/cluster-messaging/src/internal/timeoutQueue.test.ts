import fc from "fast-check";
import { VirtualTimeScheduler } from "rxjs";
import { describe, expect, it } from "vitest";
import { TimeoutQueue } from "./timeoutQueue.js";

interface Item {
  readonly name: number;
  readonly timeoutMs: number;
  deadline: number;
  settled: boolean;
}

describe("TimeoutQueue", () => {
  it("expires exactly the unsettled items, each at its own deadline, then holds no timer", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 100 }),
            timeoutMs: fc.constantFrom(10, 50, 200),
            settleAfter: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
          }),
          { maxLength: 40 },
        ),
        (plan) => {
          const scheduler = new VirtualTimeScheduler();
          const expired: { name: number; at: number }[] = [];
          const queue = new TimeoutQueue<Item>(scheduler, (item) => {
            item.settled = true;
            expired.push({ name: item.name, at: scheduler.now() });
          });
          const expected: { name: number; at: number }[] = [];
          plan.forEach(({ at, timeoutMs, settleAfter }, name) => {
            const item: Item = { name, timeoutMs, deadline: 0, settled: false };
            scheduler.schedule(() => queue.add(item, timeoutMs), at);
            // A settle at the deadline itself races the timeout: leave those out.
            if (settleAfter !== undefined && settleAfter !== timeoutMs) {
              scheduler.schedule(() => {
                if (item.settled) return;
                item.settled = true;
                queue.settled(timeoutMs);
              }, at + settleAfter);
            }
            if (settleAfter === undefined || settleAfter >= timeoutMs) {
              expected.push({ name, at: at + timeoutMs });
            }
          });
          scheduler.flush();
          const key = (e: { name: number; at: number }) => e.name;
          expect([...expired].sort((a, b) => key(a) - key(b))).toEqual(
            plan
              .map((_, name) => expected.find((e) => e.name === name))
              .filter((e) => e !== undefined),
          );
          expect(scheduler.actions).toHaveLength(0);
        },
      ),
    );
  });
});
