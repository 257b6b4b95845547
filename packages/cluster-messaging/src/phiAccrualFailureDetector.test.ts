import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_FAILURE_DETECTOR,
  PhiAccrualFailureDetector,
  phiOf,
} from "./phiAccrualFailureDetector.js";

/** A detector fed `count` heartbeats `every` ms apart, the last one at the returned time. */
function regular(count: number, every: number, options = DEFAULT_FAILURE_DETECTOR) {
  const detector = new PhiAccrualFailureDetector(options);
  let now = 0;
  for (let i = 0; i < count; i++) {
    now += every;
    detector.heartbeat(now);
  }
  return { detector, last: now };
}

describe("PhiAccrualFailureDetector", () => {
  it("is 0 before the first heartbeat and low right after each one", () => {
    const detector = new PhiAccrualFailureDetector();
    expect(detector.phi(10_000)).toBe(0);
    const { detector: fed, last } = regular(50, 500);
    expect(fed.phi(last + 500)).toBeLessThan(0.5);
  });

  it("grows with silence", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 1, max: 5000 }),
        (a, more) => {
          const { detector, last } = regular(30, 500);
          expect(detector.phi(last + a + more)).toBeGreaterThanOrEqual(detector.phi(last + a));
        },
      ),
    );
  });

  it("with the defaults, does not convict a peer for a 2 s GC stall but does after ~4 s of silence", () => {
    const { detector, last } = regular(100, 500);
    const threshold = DEFAULT_FAILURE_DETECTOR.phiThreshold;
    expect(detector.phi(last + 2000)).toBeLessThan(1);
    expect(detector.phi(last + 2500)).toBeLessThan(threshold);
    expect(detector.phi(last + 3000)).toBeLessThan(threshold);
    expect(detector.phi(last + 4000)).toBeGreaterThanOrEqual(threshold);
  });

  it("learns a slower rhythm: irregular heartbeats widen the tolerance", () => {
    const steady = regular(100, 500).detector;
    const jittery = new PhiAccrualFailureDetector();
    let now = 0;
    for (let i = 0; i < 100; i++) {
      now += i % 2 === 0 ? 100 : 1400;
      jittery.heartbeat(now);
    }
    const steadyLast = 100 * 500;
    expect(jittery.phi(now + 3500)).toBeLessThan(steady.phi(steadyLast + 3500));
  });

  it("forgets its history on reset", () => {
    const { detector, last } = regular(10, 500);
    expect(detector.phi(last + 10_000)).toBeGreaterThan(8);
    detector.reset();
    expect(detector.started).toBe(false);
    expect(detector.phi(last + 10_000)).toBe(0);
  });

  it("phiOf is about -log10 of the normal tail", () => {
    // One standard deviation above the mean: P(X > x) ≈ 0.159, φ ≈ 0.8.
    expect(phiOf(1100, 1000, 100)).toBeCloseTo(0.8, 1);
    // Far below the mean: φ ≈ 0.
    expect(phiOf(0, 1000, 100)).toBeLessThan(0.001);
  });
});
