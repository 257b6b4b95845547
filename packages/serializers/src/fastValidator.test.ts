import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { compileFastValidator } from "./fastValidator.js";

const schemas = {
  criterion: z.discriminatedUnion("type", [
    z.object({ type: z.literal("IN_PORT"), port: z.number().int().min(0) }),
    z.object({ type: z.literal("ETH_TYPE"), ethType: z.string().regex(/^0x[0-9a-f]{1,4}$/) }),
  ]),
  entry: z.object({
    id: z.bigint().min(0n),
    name: z.string().min(1).max(8),
    state: z.enum(["ADDED", "REMOVED"]),
    tags: z.array(z.string()).max(3),
    counters: z.map(z.string(), z.number()),
    life: z.number().optional(),
    owner: z.string().nullable(),
    either: z.union([z.number().int().lt(10), z.boolean()]),
  }),
  tuple: z.array(z.literal(1)).length(2),
};

const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(
      "IN_PORT",
      "ETH_TYPE",
      "0x800",
      "0xZZ",
      "",
      "ADDED",
      "REMOVED",
      1,
      9,
      10,
      -1,
      1.5,
      0n,
      -1n,
      true,
      null,
      undefined,
      Number.NaN,
      Number.POSITIVE_INFINITY,
    ),
    fc.string({ maxLength: 10 }),
    fc.array(tie("v"), { maxLength: 3 }),
    fc
      .array(fc.tuple(fc.string({ maxLength: 3 }), tie("v")), { maxLength: 2 })
      .map((e) => new Map(e)),
    fc.record(
      {
        type: fc.constantFrom("IN_PORT", "ETH_TYPE", "X"),
        port: tie("v"),
        ethType: tie("v"),
        id: fc.bigInt({ min: -2n, max: 5n }),
        name: fc.string({ maxLength: 9 }),
        state: fc.constantFrom("ADDED", "REMOVED", "nope"),
        tags: fc.array(fc.string(), { maxLength: 4 }),
        counters: fc
          .array(fc.tuple(fc.string(), fc.oneof(fc.integer(), fc.string())))
          .map((e) => new Map(e)),
        life: tie("v"),
        owner: fc.oneof(fc.string(), fc.constant(null)),
        either: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.boolean(), fc.double()),
        extra: tie("v"),
      },
      { requiredKeys: [], noNullPrototype: true },
    ),
  ),
})).v;

describe("compileFastValidator", () => {
  for (const [name, schema] of Object.entries(schemas)) {
    const fast = compileFastValidator(schema);

    it(`compiles ${name}`, () => {
      expect(fast).toBeTypeOf("function");
    });

    it(`${name}: whatever the fast path accepts, zod accepts and outputs unchanged`, () => {
      fc.assert(
        fc.property(value, (v) => {
          if (!fast!(v)) return;
          const parsed = schema.safeParse(v);
          expect(parsed.success).toBe(true);
          expect(parsed.data).toStrictEqual(v);
        }),
        { numRuns: 3000 },
      );
    });
  }

  it("accepts the values it is there for", () => {
    const entry = {
      id: 7n,
      name: "abc",
      state: "ADDED",
      tags: ["a"],
      counters: new Map([["packets", 3]]),
      owner: null,
      either: true,
    };
    expect(compileFastValidator(schemas.entry)!(entry)).toBe(true);
    expect(compileFastValidator(schemas.criterion)!({ type: "ETH_TYPE", ethType: "0x800" })).toBe(
      true,
    );
  });

  it("leaves values zod would change to zod: unknown keys, defaults", () => {
    expect(compileFastValidator(schemas.criterion)!({ type: "IN_PORT", port: 1, extra: 1 })).toBe(
      false,
    );
    expect(compileFastValidator(z.object({ a: z.number().default(1) }))).toBeUndefined();
    expect(compileFastValidator(z.string().transform((s) => s.length))).toBeUndefined();
    expect(compileFastValidator(z.string().refine((s) => s !== "x"))).toBeUndefined();
  });
});
