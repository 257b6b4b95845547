import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareDigests, type FlowBucketDigest, isNewerThan } from "./flowBucketDigest.js";

const digest: fc.Arbitrary<FlowBucketDigest> = fc.record({
  bucket: fc.nat({ max: 1023 }),
  term: fc.nat({ max: 5 }),
  timestamp: fc.nat({ max: 20 }),
});

/** The reference's rule: newer if the term is higher OR the timestamp is higher. */
const referenceIsNewer = (a: FlowBucketDigest, b: FlowBucketDigest) =>
  a.term > b.term || a.timestamp > b.timestamp;

describe("digest order", () => {
  it("is a total order on (term, timestamp)", () => {
    fc.assert(
      fc.property(digest, digest, digest, (a, b, c) => {
        const ab = compareDigests(a, b);
        // Antisymmetric, and 0 exactly for the same (term, timestamp).
        expect(Math.sign(compareDigests(b, a)) + Math.sign(ab)).toBe(0);
        expect(ab === 0).toBe(a.term === b.term && a.timestamp === b.timestamp);
        // Transitive.
        if (ab <= 0 && compareDigests(b, c) <= 0)
          expect(compareDigests(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });

  it("isNewerThan is exactly 'greater in that order', and never holds both ways", () => {
    fc.assert(
      fc.property(digest, digest, (a, b) => {
        expect(isNewerThan(a, b)).toBe(compareDigests(a, b) > 0);
        expect(isNewerThan(a, b) && isNewerThan(b, a)).toBe(false);
        expect(isNewerThan(a, undefined)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("sorting by it agrees with sorting by term, then timestamp", () => {
    fc.assert(
      fc.property(fc.array(digest), (digests) => {
        const sorted = [...digests].sort(compareDigests);
        const byKey = [...digests].sort(
          (x, y) => x.term * 1000 + x.timestamp - (y.term * 1000 + y.timestamp),
        );
        expect(sorted.map((d) => [d.term, d.timestamp])).toEqual(
          byKey.map((d) => [d.term, d.timestamp]),
        );
      }),
    );
  });

  it("a deposed master's bucket does not beat the new master's (the reference's rule does)", () => {
    // The old master (term 3) kept writing until its clock reached 50; the new master
    // (term 4) has made two changes since it took over, on a clock that was behind.
    const deposed = { bucket: 7, term: 3, timestamp: 50 };
    const current = { bucket: 7, term: 4, timestamp: 12 };
    expect(isNewerThan(current, deposed)).toBe(true);
    expect(isNewerThan(deposed, current)).toBe(false);
    // The looser rule calls each of them newer than the other, so a backup holding the
    // new master's copy would let the deposed copy overwrite it.
    expect(referenceIsNewer(deposed, current)).toBe(true);
    expect(referenceIsNewer(current, deposed)).toBe(true);
  });
});
