import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DecodeError } from "./decodeError.js";
import { createNamespace } from "./namespace.js";

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

const Criterion = z.discriminatedUnion("type", [
  z.object({ type: z.literal("IN_PORT"), port: z.bigint() }),
  z.object({ type: z.literal("ETH_TYPE"), ethType: z.string() }),
  z.object({ type: z.literal("IPV4_DST"), ip: z.string() }),
]);
const Entry = z.object({
  id: z.bigint(),
  deviceId: z.string(),
  priority: z.number().int(),
  selector: z.object({ criteria: z.array(Criterion) }),
  counters: z.map(z.string(), z.bigint()),
  life: z.number().optional(),
});
type Entry = z.infer<typeof Entry>;

const common = createNamespace("common")
  .register(1, "NodeId", z.string().min(1))
  .register(2, "Anything", z.unknown())
  .build();
const store = createNamespace("store").include(common).register(100, "Entry", Entry).build();

/** Values msgpack represents exactly: 64-bit bigints, doubles, strings, Maps, nested arrays. */
const value: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.bigInt({ min: INT64_MIN, max: UINT64_MAX }),
    fc.constantFrom(INT64_MIN, UINT64_MAX, 0n, -1n, 2n ** 63n - 1n, 2n ** 32n),
    fc.double({ noNaN: true }).filter((n) => !Object.is(n, -0)),
    fc.integer(),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 5 }),
    fc
      .array(fc.tuple(fc.oneof(fc.string(), fc.integer()), tie("value")), { maxLength: 4 })
      .map((pairs) => new Map(pairs)),
    fc.dictionary(
      fc.string().filter((k) => k !== "__proto__"),
      tie("value"),
      { maxKeys: 5, noNullPrototype: true },
    ),
  ),
})).value;

const entry: fc.Arbitrary<Entry> = fc.record(
  {
    id: fc.bigInt({ min: 0n, max: UINT64_MAX }),
    deviceId: fc.string(),
    priority: fc.integer({ min: 0, max: 65535 }),
    selector: fc.record(
      {
        criteria: fc.array(
          fc.oneof(
            fc.record(
              {
                type: fc.constant("IN_PORT" as const),
                port: fc.bigInt({ min: 0n, max: UINT64_MAX }),
              },
              { noNullPrototype: true },
            ),
            fc.record(
              { type: fc.constant("ETH_TYPE" as const), ethType: fc.string() },
              { noNullPrototype: true },
            ),
            fc.record(
              { type: fc.constant("IPV4_DST" as const), ip: fc.ipV4() },
              { noNullPrototype: true },
            ),
          ),
          { maxLength: 6 },
        ),
      },
      { noNullPrototype: true },
    ),
    counters: fc
      .array(fc.tuple(fc.string(), fc.bigInt({ min: INT64_MIN, max: 2n ** 63n - 1n })))
      .map((p) => new Map(p)),
    life: fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
  },
  { requiredKeys: ["id", "deviceId", "priority", "selector", "counters"], noNullPrototype: true },
);

/** Every call that may throw must throw a DecodeError, or return a value that passes the schema. */
function decodesOrRefuses(decode: () => unknown, schema: z.ZodType): void {
  try {
    const decoded = decode();
    expect(schema.safeParse(decoded).success).toBe(true);
  } catch (error) {
    expect(error).toBeInstanceOf(DecodeError);
  }
}

describe("namespace round trips", () => {
  it("any supported value survives encode → decode exactly, with its type name", () => {
    fc.assert(
      fc.property(value, (v) => {
        const decoded = store.decode(store.encode("Anything", v));
        expect(decoded.type).toBe("Anything");
        expect(decoded.value).toStrictEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it("bigint extremes keep every bit and stay bigint", () => {
    const anything = store.serializer("Anything");
    for (const n of [INT64_MIN, UINT64_MAX, 0n, 1n, -1n, 2n ** 53n + 1n]) {
      const back = anything.decode(anything.encode(n));
      expect(typeof back).toBe("bigint");
      expect(back).toBe(n);
    }
    // A safe integer that happens to be large stays a number.
    expect(anything.decode(anything.encode(2 ** 40))).toBe(2 ** 40);
  });

  it("bigints beyond 64 bits are refused at encode time, not truncated", () => {
    expect(() => store.encode("Anything", UINT64_MAX + 1n)).toThrow(TypeError);
  });

  it("schema-typed values round trip, singly and in batches", () => {
    const entries = store.serializer("Entry");
    const batch = createNamespace("batch").register(7, "Entries", z.array(Entry)).build();
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (list) => {
        for (const e of list) expect(entries.decode(entries.encode(e))).toStrictEqual(e);
        expect(batch.decode(batch.encode("Entries", list)).value).toStrictEqual(list);
      }),
      { numRuns: 200 },
    );
  });
});

describe("decoding bad bytes", () => {
  const entries = store.serializer("Entry");
  const sample: Entry = {
    id: 42n,
    deviceId: "of:0000000000000001",
    priority: 40000,
    selector: { criteria: [{ type: "ETH_TYPE", ethType: "0x800" }] },
    counters: new Map([["packets", 10n]]),
  };

  it("garbage never escapes as anything but DecodeError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        decodesOrRefuses(() => store.decode(bytes), z.unknown());
        decodesOrRefuses(() => entries.decode(bytes), Entry);
      }),
      { numRuns: 3000 },
    );
  });

  it("a valid encoding with random bytes flipped is refused or still valid", () => {
    const good = entries.encode(sample);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (flips) => {
          const bytes = Uint8Array.from(good);
          for (const [at, byte] of flips) bytes[at] = byte;
          decodesOrRefuses(() => entries.decode(bytes), Entry);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("every truncation is a TRUNCATED or MALFORMED DecodeError", () => {
    const good = entries.encode(sample);
    for (let end = 0; end < good.length; end++) {
      const error = catchDecode(() => entries.decode(good.subarray(0, end)));
      expect(["TRUNCATED", "MALFORMED"]).toContain(error.code);
      expect(error.typeName).toBe("Entry");
    }
  });

  it("trailing bytes are refused", () => {
    const good = entries.encode(sample);
    const error = catchDecode(() => entries.decode(Uint8Array.from([...good, 0xc0])));
    expect(error.code).toBe("MALFORMED");
  });

  it("a value of another registered type is WRONG_TYPE, naming both", () => {
    const error = catchDecode(() => entries.decode(store.encode("NodeId", "n1")));
    expect(error.code).toBe("WRONG_TYPE");
    expect(error.message).toBe("Entry: expected type id 100, got NodeId (id 1)");
  });

  it("an unregistered type id is UNKNOWN_TYPE", () => {
    const error = catchDecode(() => store.decode(Uint8Array.from([0x12, 0x34, 0xc0])));
    expect(error.code).toBe("UNKNOWN_TYPE");
    expect(error.message).toContain("4660");
  });

  it("a schema failure names the type and the zod path of the field", () => {
    const other = createNamespace("other").register(100, "Entry", z.unknown()).build();
    const bad = { ...sample, selector: { criteria: [{ type: "ETH_TYPE", ethType: 2048 }] } };
    const error = catchDecode(() => entries.decode(other.encode("Entry", bad)));
    expect(error.code).toBe("INVALID");
    expect(error.path).toBe("selector.criteria[0].ethType");
    expect(error.message).toMatch(/^Entry: selector\.criteria\[0\]\.ethType: /);
  });
});

describe("fingerprint", () => {
  it("is stable across runs: a fixed namespace hashes to a known value", () => {
    // Changing this value changes the wire contract: nodes built before and after will refuse
    // each other in the handshake. Only update it on purpose.
    expect(common.fingerprint).toBe(GOLDEN_COMMON_FINGERPRINT);
    expect(common.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it("is the same for the same registrations built twice", () => {
    const again = createNamespace("common")
      .register(1, "NodeId", z.string().min(1))
      .register(2, "Anything", z.unknown())
      .build();
    expect(again.fingerprint).toBe(common.fingerprint);
  });

  it("changes when an id, a name or a schema changes", () => {
    const variants = [
      createNamespace("c")
        .register(3, "NodeId", z.string().min(1))
        .register(2, "Anything", z.unknown()),
      createNamespace("c")
        .register(1, "Node", z.string().min(1))
        .register(2, "Anything", z.unknown()),
      createNamespace("c")
        .register(1, "NodeId", z.string().min(2))
        .register(2, "Anything", z.unknown()),
      createNamespace("c").register(1, "NodeId", z.bigint()).register(2, "Anything", z.unknown()),
      createNamespace("c").register(1, "NodeId", z.string().min(1)),
      createNamespace("c")
        .register(1, "NodeId", z.map(z.string(), z.string()))
        .register(2, "Anything", z.unknown()),
      createNamespace("c")
        .register(1, "NodeId", z.map(z.string(), z.number()))
        .register(2, "Anything", z.unknown()),
    ].map((b) => b.build().fingerprint);
    expect(new Set([common.fingerprint, ...variants]).size).toBe(variants.length + 1);
  });

  it("a composed namespace includes its parts", () => {
    expect(store.registrations.map((r) => `${r.namespace}.${r.name}#${r.id}`)).toEqual([
      "common.NodeId#1",
      "common.Anything#2",
      "store.Entry#100",
    ]);
    expect(store.fingerprint).not.toBe(common.fingerprint);
    // Including the same namespace through two paths is fine.
    expect(() => createNamespace("x").include(common).include(store).build()).not.toThrow();
  });

  it("clashing ids or names are refused at build time", () => {
    expect(() =>
      createNamespace("x").include(common).register(1, "Other", z.string()).build(),
    ).toThrow(/x: x.Other \(id 1\) clashes with common.NodeId \(id 1\)/);
    expect(() =>
      createNamespace("x").include(common).register(9, "NodeId", z.string()).build(),
    ).toThrow(/clashes/);
    expect(() => createNamespace("x").register(70000, "Big", z.string())).toThrow(RangeError);
  });
});

function catchDecode(decode: () => unknown): DecodeError {
  try {
    decode();
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
  throw new Error("expected a DecodeError");
}

const GOLDEN_COMMON_FINGERPRINT = "e28bc859c60426f3";
