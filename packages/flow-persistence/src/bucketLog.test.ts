import { describe, expect, it } from "vitest";
import { type BucketState, foldById, MAX_CHANGE_RECORDS, shouldCompact } from "./bucketLog.js";

describe("foldById", () => {
  const entry = (id: number, version = 0) => ({ id: BigInt(id), version });
  const idOf = (value: { id: bigint }) => value.id;

  it("returns the base itself when there are no changes", () => {
    const base = [entry(1), entry(2)];
    expect(foldById(base, [], idOf)).toBe(base);
  });

  it("applies changes in order, removal before upsert, and keeps ascending ids", () => {
    const base = [entry(1), entry(3), entry(5)];
    const folded = foldById(
      base,
      [
        { entries: [entry(4), entry(3, 1)], removed: [1n] },
        { entries: [entry(1, 2), entry(0)], removed: [5n, 1n] },
      ],
      idOf,
    );
    expect(folded).toEqual([entry(0), entry(1, 2), entry(3, 1), entry(4)]);
  });
});

describe("shouldCompact", () => {
  const state = (changes: number, changeBytes: number, baseBytes = 1000): BucketState => ({
    term: 1,
    timestamp: 1,
    flows: 10,
    baseBytes,
    changes,
    changeBytes,
    recount: false,
  });

  it("compacts once the changes would outweigh the base, or be too many", () => {
    expect(shouldCompact(state(3, 500), 400)).toBe(false);
    expect(shouldCompact(state(3, 500), 501)).toBe(true);
    expect(shouldCompact(state(MAX_CHANGE_RECORDS - 1, 10, 1e6), 10)).toBe(false);
    expect(shouldCompact(state(MAX_CHANGE_RECORDS, 10, 1e6), 10)).toBe(true);
  });
});
