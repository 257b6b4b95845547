import { describe, expect, it } from "vitest";
import {
  type BucketState,
  foldById,
  MAX_CHANGE_RECORDS,
  shouldCompact,
  withChanges,
} from "./bucketLog.js";

/** A small seeded generator, so a failing seed replays. */
function random(seed: number): (below: number) => number {
  let state = seed;
  return (below) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % below;
  };
}

const ascending = (values: Iterable<bigint>) =>
  [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe("withChanges", () => {
  it.each(Array.from({ length: 20 }, (_, i) => i + 1))(
    "seed %i: removes, then adds, as a set would",
    (seed) => {
      const next = random(seed);
      const id = () => BigInt(next(60)) * 0x1_0000_0001n; // spread over 64 bits, with repeats
      let set = new Set<bigint>();
      let ids: BigUint64Array = new BigUint64Array(0);
      for (let step = 0; step < 40; step++) {
        const upserted = Array.from({ length: next(6) }, id);
        const removed = Array.from({ length: next(6) }, id);
        ids = withChanges(ids, upserted, removed);
        set = new Set([...set].filter((x) => !removed.includes(x)));
        for (const x of upserted) set.add(x);
        expect([...ids]).toEqual(ascending(set));
      }
    },
  );
});

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
    ids: undefined,
  });

  it("compacts once the changes would outweigh the base, or be too many", () => {
    expect(shouldCompact(state(3, 500), 400)).toBe(false);
    expect(shouldCompact(state(3, 500), 501)).toBe(true);
    expect(shouldCompact(state(MAX_CHANGE_RECORDS - 1, 10, 1e6), 10)).toBe(false);
    expect(shouldCompact(state(MAX_CHANGE_RECORDS, 10, 1e6), 10)).toBe(true);
  });
});
