import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { pack, packTyped, unpack } from "./msgpack.js";
import { RecordWriter } from "./recordWriter.js";

/** msgpackr as every flowstore codec sets it up (see `msgpack.ts`). */
const options = {
  useRecords: true,
  mapsAsObjects: false,
  int64AsType: "bigint",
  moreTypes: false,
} as const;

/** Plain values: what a message is made of. */
const plain: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.double({ noNaN: true }).filter((n) => !Object.is(n, -0)),
    fc.integer(),
    fc.integer({ min: 0, max: 0x1_0000_0000 }),
    fc.string({ unit: "grapheme" }),
    fc.string({ maxLength: 300 }),
    // ASCII with other characters after it, lone surrogates included.
    fc.tuple(fc.string(), fc.string({ unit: "binary", maxLength: 40 })).map(([a, b]) => a + b),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 20 }),
    // Objects of a few shapes (and so repeated shapes), and of any keys.
    fc.record({ a: tie("value"), b: tie("value") }, { noNullPrototype: true }),
    fc.record(
      { type: fc.constantFrom("IN_PORT", "ETH_TYPE"), port: fc.integer() },
      { noNullPrototype: true },
    ),
    fc.dictionary(fc.string({ maxLength: 6 }), tie("value"), { maxKeys: 5, noNullPrototype: true }),
  ),
})).value;

describe("RecordWriter with shapes in the message", () => {
  it("writes plain values byte for byte as msgpackr does, and they read back", () => {
    const writer = new RecordWriter();
    fc.assert(
      fc.property(plain, (value) => {
        const packr = new Packr(options);
        const fast = writer.pack(value);
        expect(fast).toBeDefined();
        expect(Buffer.from(fast!)).toEqual(Buffer.from(packr.pack(value)));
        expect(new Packr(options).unpack(fast!)).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it("defines each shape once per value: a list of same-shaped objects names it by id", () => {
    const writer = new RecordWriter();
    const rows = Array.from({ length: 100 }, (_, i) => ({
      id: BigInt(i),
      name: `r${i}`,
      on: true,
    }));
    const bytes = writer.pack({ rows })!;
    expect(Buffer.from(bytes)).toEqual(Buffer.from(new Packr(options).pack({ rows })));
    // One definition of each of the two shapes, the keys written once.
    expect(Buffer.from(bytes).toString("latin1").split("name").length - 1).toBe(1);
    // The next value defines them again: it is read on its own.
    const again = writer.pack(rows.slice(0, 2))!;
    expect(new Packr(options).unpack(again)).toEqual(rows.slice(0, 2));
  });

  it("copies a frozen object met again in a value (a shared treatment): msgpackr's bytes still", () => {
    const deepFreeze = <T>(value: T): T => {
      if (typeof value === "object" && value !== null) {
        for (const inner of Object.values(value)) deepFreeze(inner);
        Object.freeze(value);
      }
      return value;
    };
    const writer = new RecordWriter();
    fc.assert(
      fc.property(plain, plain, (shared, other) => {
        const frozen = deepFreeze(structuredClone(shared));
        // First met inside a new shape (its shapes defined there), then again and again.
        const value = [{ first: frozen }, frozen, other, { x: frozen, y: [frozen, frozen] }];
        const fast = writer.pack(value);
        expect(fast).toBeDefined();
        expect(Buffer.from(fast!)).toEqual(Buffer.from(new Packr(options).pack(value)));
        expect(new Packr(options).unpack(fast!)).toEqual(value);
      }),
      { numRuns: 300 },
    );
    // With shared shapes too (as on disk): shapes msgpackr learned, then the writer's bytes.
    const treatment = deepFreeze({ instructions: [{ type: "OUTPUT", port: 2 }], deferred: [] });
    const rules = Array.from({ length: 5 }, (_, i) => ({ id: BigInt(i), treatment }));
    const structures: string[][] = [];
    const learning = new Packr({ ...options, structures });
    learning.pack(rules);
    const bytes = new RecordWriter(structures).pack(rules);
    expect(bytes).toBeDefined();
    expect(Buffer.from(bytes!)).toEqual(Buffer.from(learning.pack(rules)));
  });

  it("leaves to msgpackr what it does not write, and pack still reads back the same", () => {
    const writer = new RecordWriter();
    const many = Object.fromEntries(
      Array.from({ length: 70 }, (_, i) => [`k${i}`, { [`shape${i}`]: i }]),
    );
    const cases: unknown[] = [
      { counters: new Map([["packets", 3n]]) },
      [1, undefined, 2],
      new Uint8Array([1, 2, 3]),
      many, // 71 shapes: more than one value's own record ids
      2n ** 64n,
    ];
    for (const value of cases) {
      expect(writer.pack(value)).toBeUndefined();
    }
    for (const value of cases.slice(0, 4)) {
      const back = unpack(pack(value));
      expect(back instanceof Uint8Array ? new Uint8Array(back) : back).toEqual(value);
    }
  });

  it("keeps writing correctly once varied keys made it start its tree over", () => {
    const writer = new RecordWriter();
    const packr = new Packr(options);
    for (let i = 0; i < 3000; i++) {
      const value = { [`a${i}`]: i, [`b${i}`]: { [`c${i}`]: [i, `s${i}`] }, fixed: { x: i } };
      const bytes = writer.pack(value)!;
      expect(packr.unpack(bytes)).toEqual(value);
    }
  });

  it("writes a typed value behind its two-byte type id", () => {
    const value = { deviceId: "of:1", flows: [{ id: 5n, state: "ADDED" }] };
    const bytes = packTyped(0x1234, value);
    expect([...bytes.subarray(0, 2)]).toEqual([0x12, 0x34]);
    expect(unpack(bytes.subarray(2))).toEqual(value);
    const map = packTyped(7, new Map([["a", 1]]));
    expect([...map.subarray(0, 2)]).toEqual([0, 7]);
    expect(unpack(map.subarray(2))).toEqual(new Map([["a", 1]]));
  });
});
