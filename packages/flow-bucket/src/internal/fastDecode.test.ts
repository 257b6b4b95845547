import { createNamespace, DecodeError, formatPath, pack, unpack } from "@flowstore/serializers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  canonicalCheckOf,
  colonHexBytes,
  EthernetTypeSchema,
  flexibleUint,
  HexBytesSchema,
  IpAddressSchema,
  IpPrefixSchema,
  Ipv4AddressSchema,
  Ipv4PrefixSchema,
  Ipv6AddressSchema,
  Ipv6PrefixSchema,
  MacSchema,
  OutputPortSchema,
  onosEnum,
  onosInt,
  PortSchema,
  Uint64Schema,
  uint,
  VlanIdSchema,
  withDefault,
} from "../addresses.js";
import { flowBucketNamespace } from "../codecs.js";
import {
  decodeSnapshot,
  FlowBucketSnapshotReferenceSchema,
  FlowBucketSnapshotSchema,
} from "../flowBucketSnapshot.js";
import {
  createFlowEntry,
  decodeEntries,
  decodeEntry,
  FlowEntryReferenceSchema,
  FlowEntrySchema,
} from "../flowEntry.js";
import { flowIdOf } from "../flowId.js";
import {
  createFlowRule,
  decodeRule,
  FlowRuleReferenceSchema,
  FlowRuleSchema,
  type FlowRuleSpec,
} from "../flowRule.js";
import { parseFlowRule } from "../flowRuleJson.js";
import { flowEntry, ruleSpec } from "../testing/arbitraries.js";
import { onosCriteria, onosTreatment } from "../testing/onosArbitraries.js";

/** What a peer gets: the value after msgpack, as the serializers decode it. */
const wire = (value: unknown): unknown => unpack(pack(value));

// Device ids whose identity keys need JSON escaping or UTF-8, besides the usual one.
const DEVICES = ["of:0000000000000001", 'sw"1\\a', "é:ü:1", "\u0001ctl"];

/** Issues as a caller sees them (zod's own issue objects carry more). */
const issuesOf = (result: { error?: z.ZodError }) =>
  result.error?.issues.map(({ code, path, message }) => ({ code, path, message }));

/** Same outcome: the same value, or the same issues. */
function expectSameOutcome<T>(fast: z.ZodType<T>, reference: z.ZodType<T>, raw: unknown) {
  const a = fast.safeParse(raw);
  const b = reference.safeParse(raw);
  expect(a.success).toBe(b.success);
  if (b.success) expect(a.data).toStrictEqual(b.data);
  else expect(issuesOf(a)).toStrictEqual(issuesOf(b));
}

/** Every path to a leaf (a primitive) of a decoded value. */
function leafPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) return [path];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((key) =>
    leafPaths((value as Record<string | number, unknown>)[key], [...path, key]),
  );
}

function setAt(root: unknown, path: readonly (string | number)[], value: unknown): void {
  let at = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1] as string | number] = value;
}

const badValues = fc.constantFrom<unknown>(
  -1,
  1.5,
  2 ** 64,
  Number.NaN,
  "x",
  "",
  "0x800",
  null,
  true,
  {},
  [],
  2n ** 63n,
  -5n,
);

describe("fast decoding of the wire form", () => {
  it("decodes what this package encodes without zod, to exactly what the full schema gives", () => {
    fc.assert(
      fc.property(fc.array(flowEntry(DEVICES), { maxLength: 8 }), fc.nat(1000), (entries, term) => {
        const snapshot = { bucket: 5, term, timestamp: term + 3, entries };
        const raw = wire(snapshot);
        const fast = decodeSnapshot(raw);
        expect(fast).toBeDefined(); // the fast path took it, id check included
        expect(fast).toStrictEqual(FlowBucketSnapshotReferenceSchema.parse(raw));
        expect(fast).toStrictEqual(snapshot);
        expect(FlowBucketSnapshotSchema.parse(raw)).toStrictEqual(fast);
        expect(Object.isFrozen(fast?.entries)).toBe(true);
        const list = wire(entries);
        expect(decodeEntries(list)).toStrictEqual(z.array(FlowEntryReferenceSchema).parse(list));
        fast?.entries.forEach((entry, i) => {
          const local = entries[i]?.rule;
          // Shared as a locally created rule's are: the same objects, not copies.
          expect(entry.rule.treatment).toBe(local?.treatment);
          entry.rule.criteria.forEach((criterion, j) => {
            const mine = local?.criteria[j];
            if (mine !== undefined && Object.isFrozen(mine)) expect(criterion).toBe(mine);
          });
        });
      }),
      { numRuns: 300 },
    );
  });

  it("decodes single rules and entries the same way", () => {
    fc.assert(
      fc.property(flowEntry(DEVICES), (entry) => {
        const rawRule = wire(entry.rule);
        expect(decodeRule(rawRule)).toStrictEqual(FlowRuleReferenceSchema.parse(rawRule));
        expect(decodeRule(rawRule)).toStrictEqual(entry.rule);
        const rawEntry = wire(entry);
        expect(decodeEntry(rawEntry)).toStrictEqual(FlowEntryReferenceSchema.parse(rawEntry));
        expect(FlowEntrySchema.parse(rawEntry)).toStrictEqual(entry);
      }),
      { numRuns: 300 },
    );
  });

  it("takes every criterion and instruction kind, and criteria whose keys sort apart from their types", () => {
    // ETH_DST sorts before ETH_DST_MASKED as a type, after it as a key (`ETH_DST{` > `ETH_DST_`).
    const rule = createFlowRule({
      deviceId: "of:0000000000000009",
      appId: 7,
      priority: 100,
      tableId: 3,
      permanent: false,
      timeout: 30,
      hardTimeout: 60,
      criteria: [
        { type: "ETH_DST", mac: "00:00:00:00:00:01" },
        { type: "ETH_DST_MASKED", mac: "aa:bb:cc:00:00:00", macMask: "ff:ff:ff:00:00:00" },
        { type: "ETH_SRC_MASKED", mac: "00:00:00:00:00:02", macMask: "ff:ff:ff:ff:ff:ff" },
        { type: "ETH_SRC", mac: "00:00:00:00:00:03" },
        { type: "IPV6_DST", ip: "2001:DB8:0:0:1::7/64" },
        { type: "IPV6_ND_TARGET", targetAddress: "fe80::1" },
        { type: "TUNNEL_ID", tunnelId: "0xffffffffffffffff" },
        { type: "MPLS_BOS", bos: true },
        { type: "ARP_SPA", ip: "10.0.0.1" },
        { type: "ICMPV6_TYPE", icmpv6Type: 135 },
        { type: "METADATA", metadata: 5 },
        { type: "IN_PHY_PORT", port: "LOCAL" },
      ],
      treatment: {
        instructions: [
          { type: "L2MODIFICATION", subtype: "VLAN_PUSH" },
          { type: "L2MODIFICATION", subtype: "VLAN_ID", vlanId: 10 },
          { type: "L2MODIFICATION", subtype: "MPLS_PUSH", ethernetType: "0x8847" },
          { type: "L2MODIFICATION", subtype: "TUNNEL_ID", tunnelId: 2n ** 63n },
          { type: "L3MODIFICATION", subtype: "IPV6_SRC", ip: "2001:db8::1" },
          { type: "L4MODIFICATION", subtype: "UDP_DST", udpPort: 53 },
          { type: "METER", meterId: 4 },
          { type: "OUTPUT", port: "CONTROLLER" },
        ],
        deferred: [{ type: "GROUP", groupId: 1 }, { type: "NOACTION" }],
        clearDeferred: true,
      },
    });
    const raw = wire(rule);
    expect(decodeRule(raw)).toStrictEqual(rule);
    expect(decodeRule(raw)).toStrictEqual(FlowRuleReferenceSchema.parse(raw));
  });

  it("decodes rules of the types ONOS added as the full schema does, the flat ones without zod", () => {
    fc.assert(
      fc.property(onosCriteria, onosTreatment, (criteria, treatment) => {
        const rule = parseFlowRule(
          { priority: 7, isPermanent: true, selector: { criteria }, treatment },
          { deviceId: "of:0000000000000003", appId: 9 },
        );
        const raw = wire(rule);
        expect(FlowRuleSchema.parse(raw)).toStrictEqual(rule);
        expectSameOutcome(FlowRuleSchema, FlowRuleReferenceSchema, raw);
        const fast = decodeRule(raw);
        if (fast !== undefined) expect(fast).toStrictEqual(rule);
        // Only the rarer kinds are left to the schema.
        const rare =
          /"type":"(OCH_SIGID|ODU_SIGID|PROTOCOL_INDEPENDENT|QUEUE|STAT_TRIGGER|L1MODIFICATION)"/;
        if (!rare.test(JSON.stringify({ criteria, treatment }))) expect(fast).toBeDefined();
      }),
      { numRuns: 300 },
    );
  });

  it("leaves meters and tables sent out of ONOS's order to the schema, which puts them in it", () => {
    const rule = parseFlowRule(
      {
        priority: 7,
        isPermanent: true,
        treatment: {
          instructions: [
            { type: "OUTPUT", port: 1 },
            { type: "METER", meterId: 1 },
            { type: "TABLE", tableId: 2 },
          ],
        },
      },
      { deviceId: "of:0000000000000003", appId: 9 },
    );
    const raw = wire(rule) as { treatment: { instructions: unknown[] } };
    raw.treatment.instructions.reverse();
    expect(decodeRule(raw)).toBeUndefined();
    expect(FlowRuleSchema.parse(raw)).toStrictEqual(rule);
  });

  it("leaves the rarer kinds (nested, optional or list fields) to the full schema, which gives the same rule", () => {
    const rare: FlowRuleSpec[] = [
      {
        criteria: [
          {
            type: "OCH_SIGID",
            ochSignalId: {
              gridType: "DWDM",
              channelSpacing: "CHL_50GHZ",
              spacingMultiplier: -4,
              slotGranularity: 4,
            },
          },
        ],
      },
      {
        criteria: [
          {
            type: "PROTOCOL_INDEPENDENT",
            matches: [{ field: "hdr.ipv4.dst", match: "LPM", value: "0a0000", prefixLength: 24 }],
          },
        ],
      },
      { treatment: { instructions: [{ type: "QUEUE", queueId: 3, port: "[eth1](1)" }] } },
      {
        treatment: {
          instructions: [
            {
              type: "STAT_TRIGGER",
              statTriggerFlag: "PERIODIC",
              statThreshold: [{ byteCount: 9 }],
            },
          ],
        },
      },
      {
        treatment: {
          instructions: [
            {
              type: "L1MODIFICATION",
              subtype: "ODU_SIGID",
              tributaryPortNumber: 1,
              tributarySlotLength: 8,
              tributarySlotBitmap: "1:0:0:0:0:0:0:0:0:ff",
            },
            {
              type: "PROTOCOL_INDEPENDENT",
              subtype: "ACTION",
              actionId: "fwd",
              actionParams: { p: "1" },
            },
          ],
        },
      },
    ].map((part) => ({ deviceId: "of:1", appId: 2, priority: 3, ...part }) as FlowRuleSpec);
    for (const spec of rare) {
      const rule = createFlowRule(spec);
      const raw = wire(rule);
      expect(decodeRule(raw)).toBeUndefined();
      expect(FlowRuleSchema.parse(raw)).toStrictEqual(rule);
      expectSameOutcome(FlowRuleSchema, FlowRuleReferenceSchema, raw);
    }
  });

  it("leaves lenient spellings to the full schema, which gives the same rule", () => {
    fc.assert(
      fc.property(ruleSpec(DEVICES), (spec: FlowRuleSpec) => {
        const rule = createFlowRule(spec);
        // ONOS spellings ("0x800", "CONTROLLER", lower-case MACs, host bits), unsorted criteria,
        // a treatment without `deferred`: what the fast path does not take.
        const raw = wire({ id: rule.id, ...spec });
        expect(FlowRuleSchema.parse(raw)).toStrictEqual(rule);
        expectSameOutcome(FlowRuleSchema, FlowRuleReferenceSchema, raw);
        const entry = wire(createFlowEntry(rule, { created: 1 }));
        setAt(entry, ["rule"], raw);
        expectSameOutcome(FlowEntrySchema, FlowEntryReferenceSchema, entry);
      }),
      { numRuns: 300 },
    );
  });

  it("sorts canonical criteria sent out of order, and refuses a type sent twice even with a matching id", () => {
    fc.assert(
      fc.property(flowEntry(DEVICES), fc.nat(), (entry, seed) => {
        const rule = entry.rule;
        const criteria = [...rule.criteria];
        // A rotation: out of order whenever there are two criteria or more.
        const shift = criteria.length === 0 ? 0 : seed % criteria.length;
        const rotated = [...criteria.slice(shift), ...criteria.slice(0, shift)];
        const raw = wire({ ...rule, criteria: rotated });
        expect(FlowRuleSchema.parse(raw)).toStrictEqual(rule);
        expectSameOutcome(FlowRuleSchema, FlowRuleReferenceSchema, raw);

        const first = criteria[0];
        if (first === undefined) return;
        const twice = [first, ...criteria];
        const id = flowIdOf(rule.appId, rule.deviceId, rule.priority, rule.tableId, twice);
        const duplicated = wire({ ...rule, id, criteria: twice });
        expect(FlowRuleSchema.safeParse(duplicated).success).toBe(false);
        expectSameOutcome(FlowRuleSchema, FlowRuleReferenceSchema, duplicated);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a bad field anywhere as the full schema does, with the same issues", () => {
    fc.assert(
      fc.property(
        fc.array(flowEntry(), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        badValues,
        (entries, pick, bad) => {
          const raw = wire({ bucket: 1, term: 2, timestamp: 3, entries });
          const paths = leafPaths(raw);
          const path = paths[pick % paths.length] ?? [];
          setAt(raw, path, bad);
          expectSameOutcome(FlowBucketSnapshotSchema, FlowBucketSnapshotReferenceSchema, raw);
          const reference = FlowBucketSnapshotReferenceSchema.safeParse(raw);
          if (reference.success) return;
          // Through the namespace: a DecodeError naming the field's path.
          const bytes = Uint8Array.from([0, 207, ...pack(raw)]);
          const error = (() => {
            try {
              flowBucketNamespace.serializer("FlowBucket").decode(bytes);
            } catch (e) {
              return e;
            }
            return undefined;
          })();
          expect(error).toBeInstanceOf(DecodeError);
          expect((error as DecodeError).code).toBe("INVALID");
          expect((error as DecodeError).path).toBe(
            formatPath(reference.error.issues[0]?.path ?? []),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it("names the field of a bad entry deep in a bucket", () => {
    const rules = [0, 1, 2].map((i) =>
      createFlowRule({
        deviceId: "of:0000000000000001",
        appId: 1,
        priority: i,
        criteria: [
          { type: "ETH_TYPE", ethType: 0x800 },
          { type: "IPV4_DST", ip: `10.0.0.${i}/32` },
        ],
      }),
    );
    const snapshot = {
      bucket: 0,
      term: 1,
      timestamp: 2,
      entries: rules.map((rule) => createFlowEntry(rule, { created: 5 })),
    };
    const decodeWith = (change: (raw: Record<string, unknown>) => void): DecodeError => {
      const raw = wire(snapshot) as Record<string, unknown>;
      change(raw);
      try {
        flowBucketNamespace
          .serializer("FlowBucket")
          .decode(Uint8Array.from([0, 207, ...pack(raw)]));
      } catch (error) {
        if (error instanceof DecodeError) return error;
        throw error;
      }
      throw new Error("expected a DecodeError");
    };
    expect(
      decodeWith((raw) => setAt(raw, ["entries", 1, "rule", "criteria", 1, "ip"], "10.0.0.300/32"))
        .path,
    ).toBe("entries[1].rule.criteria[1].ip");
    expect(
      decodeWith((raw) =>
        setAt(raw, ["entries", 2, "rule", "criteria", 1], { type: "ETH_TYPE", ethType: 0x800 }),
      ).path,
    ).toBe("entries[2].rule.criteria[1].type");
    expect(decodeWith((raw) => setAt(raw, ["entries", 0, "rule", "priority"], 7)).path).toBe(
      "entries[0].rule.id",
    );
    expect(decodeWith((raw) => setAt(raw, ["entries", 2, "packets"], -1)).message).toMatch(
      /^FlowBucket: entries\[2\]\.packets: /,
    );
    // The rest of the bucket is still decoded exactly when one entry is merely unusual.
    const raw = wire(snapshot);
    setAt(raw, ["entries", 1, "rule", "criteria", 0, "ethType"], "0x800");
    expect(FlowBucketSnapshotSchema.parse(raw)).toStrictEqual(snapshot);
  });

  it("keeps the schemas' definitions, so the namespace fingerprint is the full schemas'", () => {
    const build = (rule: z.ZodType, entry: z.ZodType, bucket: z.ZodType) =>
      createNamespace("x")
        .register(1, "FlowRule", rule)
        .register(2, "FlowEntry", entry)
        .register(3, "FlowBucket", bucket)
        .build().fingerprint;
    expect(build(FlowRuleSchema, FlowEntrySchema, FlowBucketSnapshotSchema)).toBe(
      build(FlowRuleReferenceSchema, FlowEntryReferenceSchema, FlowBucketSnapshotReferenceSchema),
    );
  });
});

describe("canonical checks", () => {
  const ipv4ish = fc.string({ unit: fc.constantFrom(..."0123456789./"), maxLength: 20 });
  const ipv6ish = fc.string({
    unit: fc.constantFrom(..."0123456789abcdefABCDEF:./"),
    maxLength: 44,
  });
  const macish = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF:"), maxLength: 18 });
  const octet = fc.integer({ min: 0, max: 255 });
  const anyValue = fc.oneof(
    fc.integer({ min: -5, max: 2 ** 33 }),
    fc.double(),
    fc.bigInt({ min: -5n, max: 2n ** 65n }),
    fc.string({ maxLength: 12 }),
    fc.boolean(),
    fc.constantFrom(null, undefined, "CONTROLLER", "0x800", -0),
  );
  const cases: [string, z.ZodType, fc.Arbitrary<unknown>][] = [
    [
      "IPv4 prefix",
      Ipv4PrefixSchema,
      fc.oneof(
        ipv4ish,
        fc
          .tuple(octet, octet, octet, octet, fc.integer({ min: 0, max: 33 }))
          .map(([a, b, c, d, n]) => `${a}.${b}.${c}.${d}/${n}`),
      ),
    ],
    ["IPv4 address", Ipv4AddressSchema, ipv4ish],
    ["IPv6 prefix", Ipv6PrefixSchema, ipv6ish],
    ["IPv6 address", Ipv6AddressSchema, ipv6ish],
    [
      "MAC",
      MacSchema,
      fc.oneof(
        macish,
        fc
          .array(octet, { minLength: 6, maxLength: 6 })
          .map((b) => b.map((x) => x.toString(16).padStart(2, "0")).join(":")),
      ),
    ],
    ["port", PortSchema, anyValue],
    ["64-bit", Uint64Schema, anyValue],
    ["uint", uint(0xfff), anyValue],
    ["flexible uint", flexibleUint(0xffff), anyValue],
    [
      "output port",
      OutputPortSchema,
      fc.oneof(
        anyValue,
        fc.constantFrom("[eth1](1)", "[x](01)", "[](0)", "0x1f", "UNKNOWN(3)", "017"),
      ),
    ],
    [
      "ONOS int",
      onosInt(-8, 4096),
      fc.oneof(anyValue, fc.integer({ min: -10, max: 5000 }).map(String)),
    ],
    [
      "VLAN id",
      VlanIdSchema,
      fc.oneof(anyValue, fc.constantFrom("ANY", "none", "-1", "65535", 65535, 4096)),
    ],
    [
      "EtherType",
      EthernetTypeSchema,
      fc.oneof(anyValue, fc.constantFrom("0x88a8", -30649, "-1", 65536)),
    ],
    [
      "hex bytes",
      HexBytesSchema,
      fc.oneof(anyValue, fc.constantFrom("0a", "A", "abc", "0A01", "")),
    ],
    [
      "colon hex bytes",
      colonHexBytes(3),
      fc.oneof(anyValue, fc.constantFrom("1:2:3", "01:02:03", "0A:b:c", "1:2")),
    ],
    ["IP prefix", IpPrefixSchema, fc.oneof(ipv4ish, ipv6ish)],
    ["IP address", IpAddressSchema, fc.oneof(ipv4ish, ipv6ish)],
    [
      "enum",
      onosEnum(["ODU2", "ODU2e"]),
      fc.oneof(anyValue, fc.constantFrom("ODU2E", "odu2", "ODU2e")),
    ],
    [
      "defaulted",
      withDefault(EthernetTypeSchema, 0x8100),
      fc.oneof(anyValue, fc.constant("0x8847")),
    ],
  ];

  for (const [name, schema, values] of cases) {
    it(`${name}: canonical means the schema gives the value back unchanged, and its output is canonical`, () => {
      const canonical = canonicalCheckOf(schema);
      fc.assert(
        fc.property(values, (value) => {
          const parsed = schema.safeParse(value);
          if (canonical(value)) {
            expect(parsed.success).toBe(true);
            expect(Object.is(parsed.data, value)).toBe(true);
          }
          if (parsed.success) expect(canonical(parsed.data)).toBe(true);
        }),
        { numRuns: 1000 },
      );
    });
  }
});
