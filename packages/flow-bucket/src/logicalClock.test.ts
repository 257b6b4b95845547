import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LogicalClock } from "./logicalClock.js";

type Step = { kind: "next" } | { kind: "observe"; timestamp: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant({ kind: "next" as const }),
  fc.nat({ max: 10_000 }).map((timestamp) => ({ kind: "observe" as const, timestamp })),
);

describe("LogicalClock", () => {
  it("starts at its start value and ticks from there", () => {
    const clock = new LogicalClock();
    expect(clock.current).toBe(0);
    expect(clock.next()).toBe(1);
    expect(clock.next()).toBe(2);
    expect(new LogicalClock(41).next()).toBe(42);
  });

  it("never goes back: every tick or observation gives a larger time than all before", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 100 }), (steps) => {
        const clock = new LogicalClock();
        let last = clock.current;
        for (const s of steps) {
          const now = s.kind === "next" ? clock.next() : clock.observe(s.timestamp);
          expect(now).toBeGreaterThan(last);
          expect(clock.current).toBe(now);
          if (s.kind === "observe") expect(now).toBeGreaterThan(s.timestamp);
          last = now;
        }
      }),
    );
  });

  it("orders causally related events across clocks (Lamport's condition)", () => {
    // Three clocks exchange messages; a receive is later than its send, and so is
    // everything the receiver stamps afterwards.
    const message = fc.record({
      from: fc.nat({ max: 2 }),
      to: fc.nat({ max: 2 }),
      localTicksBefore: fc.nat({ max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 60 }), (messages) => {
        const clocks = [new LogicalClock(), new LogicalClock(), new LogicalClock()];
        for (const m of messages) {
          const sender = clocks[m.from]!;
          const receiver = clocks[m.to]!;
          for (let i = 0; i < m.localTicksBefore; i++) sender.next();
          const sent = sender.stamp("hello");
          const received = receiver.observe(sent.timestamp);
          expect(received).toBeGreaterThan(sent.timestamp);
          expect(receiver.next()).toBeGreaterThan(sent.timestamp);
        }
      }),
    );
  });

  it("merging is commutative in effect: observing several times lands past all of them", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 1_000_000 }), { minLength: 1, maxLength: 20 }), (ts) => {
        const forward = new LogicalClock();
        const backward = new LogicalClock();
        for (const t of ts) forward.observe(t);
        for (const t of [...ts].reverse()) backward.observe(t);
        const max = Math.max(...ts);
        expect(forward.current).toBeGreaterThan(max);
        expect(backward.current).toBeGreaterThan(max);
        // At most one tick per observation beyond the largest.
        expect(forward.current).toBeLessThanOrEqual(max + ts.length);
      }),
    );
  });

  it("refuses timestamps that are not non-negative safe integers", () => {
    const clock = new LogicalClock();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => clock.observe(bad)).toThrow(RangeError);
    }
    expect(() => new LogicalClock(-3)).toThrow(RangeError);
    expect(clock.current).toBe(0);
    expect(() => new LogicalClock(Number.MAX_SAFE_INTEGER).next()).toThrow(/exhausted/);
  });
});
