import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applicationIdOf,
  bucketOf,
  fnv1a64,
  hash48,
  IdentityHasher,
  identityKey,
} from "./flowId.js";
import { createFlowRule, sameFlowRule } from "./flowRule.js";
import type { DeviceId } from "./ids.js";
import { ruleSpec } from "./testing/arbitraries.js";

const utf8 = (text: string) => new TextEncoder().encode(text);

/** Reference FNV-1a 64 with bigint arithmetic, straight from the definition. */
function referenceFnv(bytes: Uint8Array): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of bytes) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

describe("fnv1a64", () => {
  it("matches the published test vectors", () => {
    expect(fnv1a64(utf8(""))).toBe(0xcbf29ce484222325n);
    expect(fnv1a64(utf8("a"))).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64(utf8("foobar"))).toBe(0x85944171f73967e8n);
  });

  it("agrees with a bigint implementation of the definition on any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(fnv1a64(bytes)).toBe(referenceFnv(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with the definition on inputs longer than one chunk of the byte path", () => {
    const bytes = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 256);
    expect(fnv1a64(bytes)).toBe(referenceFnv(bytes));
  });

  it("hashed piece by piece (IdentityHasher), a key hashes as hash48 of the whole key", () => {
    const hasher = new IdentityHasher();
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", minLength: 1 }),
        fc.array(fc.string({ unit: "grapheme-ascii" })),
        (device, pieces) => {
          hasher.begin(device as DeviceId);
          for (const piece of pieces) hasher.ascii(piece);
          const key = `${JSON.stringify([device]).slice(0, -1)},${pieces.join("")}`;
          expect(hasher.low48()).toBe(hash48(key));
        },
      ),
    );
  });

  it("hash48 is the low 48 bits", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (text) => {
        expect(BigInt(hash48(text))).toBe(fnv1a64(utf8(text)) & (2n ** 48n - 1n));
      }),
    );
  });
});

describe("flow id", () => {
  const spec = {
    deviceId: "of:0000000000000001",
    appId: 0x2a,
    priority: 40000,
    criteria: [
      { type: "ETH_TYPE" as const, ethType: "0x800" },
      { type: "IPV4_DST" as const, ip: "10.0.0.1/32" },
    ],
    treatment: { instructions: [{ type: "OUTPUT" as const, port: 2 }] },
  };

  it("is the app id over the identity hash, and the same in another process", () => {
    const rule = createFlowRule(spec);
    expect(rule.id >> 48n).toBe(0x2an);
    expect(applicationIdOf(rule.id)).toBe(0x2a);
    expect(rule.id & (2n ** 48n - 1n)).toBe(
      BigInt(hash48(identityKey(rule.deviceId, 40000, 0, rule.criteria))),
    );
    // A fresh Node process (no shared state, different object identities) agrees.
    const script = `
      const enc = new TextEncoder().encode(${JSON.stringify(identityKey(rule.deviceId, 40000, 0, rule.criteria))});
      let h = 0xcbf29ce484222325n;
      for (const b of enc) { h ^= BigInt(b); h = (h * 0x100000001b3n) & 0xffffffffffffffffn; }
      process.stdout.write(String((0x2an << 48n) | (h & 0xffffffffffffn)));`;
    const other = execFileSync(process.execPath, ["-e", script], { encoding: "utf8" });
    expect(other).toBe(rule.id.toString());
  });

  it("has a golden value: the id of a fixed rule never changes across versions", () => {
    // Flow ids are stored on disk and compared between nodes; changing how they are computed
    // is a wire-incompatible change. Only update this on purpose.
    expect(createFlowRule(spec).id).toBe(GOLDEN_FLOW_ID);
    expect(
      identityKey(createFlowRule(spec).deviceId, 40000, 0, createFlowRule(spec).criteria),
    ).toBe('["of:0000000000000001",40000,0,["ETH_TYPE{ethType=2048}","IPV4_DST{ip=10.0.0.1/32}"]]');
  });

  it("has a golden value for a rule of ONOS's further criteria: each of their fields is in the identity", () => {
    const rule = createFlowRule({
      deviceId: "of:0000000000000001",
      appId: 7,
      priority: 100,
      tableId: 1,
      criteria: [
        { type: "IN_PORT", port: "CONTROLLER" },
        { type: "VLAN_VID", vlanId: "ANY" },
        { type: "TCP_SRC_MASKED", tcpPort: 80, tcpMask: 65520 },
        {
          type: "OCH_SIGID",
          ochSignalId: {
            gridType: "DWDM",
            channelSpacing: "CHL_50GHZ",
            spacingMultiplier: -4,
            slotGranularity: 4,
          },
        },
        {
          type: "PROTOCOL_INDEPENDENT",
          matches: [{ field: "hdr.ipv4.dst", match: "lpm", value: "0a000000", prefixLength: 8 }],
        },
      ],
    });
    expect(rule.id).toBe(2056715574030117n);
    expect(identityKey(rule.deviceId, 100, 1, rule.criteria)).toBe(
      JSON.stringify([
        "of:0000000000000001",
        100,
        1,
        [
          "IN_PORT{port=-3}",
          "OCH_SIGID{channelSpacing=CHL_50GHZ,gridType=DWDM,slotGranularity=4,spacingMultiplier=-4}",
          'PROTOCOL_INDEPENDENT{matches=[{"field":"hdr.ipv4.dst","match":"lpm","value":"0a000000","prefixLength":8}]}',
          "TCP_SRC_MASKED{tcpMask=65520,tcpPort=80}",
          "VLAN_VID{vlanId=4096}",
        ],
      ]),
    );
  });

  it("does not depend on criteria order, treatment, timeouts or permanence", () => {
    fc.assert(
      fc.property(ruleSpec(), fc.integer({ min: 0, max: 1000 }), (s, seed) => {
        const criteria = [...(s.criteria ?? [])];
        // A deterministic shuffle.
        for (let i = criteria.length - 1; i > 0; i--) {
          const j = (seed + i * 7) % (i + 1);
          [criteria[i], criteria[j]] = [criteria[j]!, criteria[i]!];
        }
        const a = createFlowRule(s);
        const b = createFlowRule({
          ...s,
          criteria,
          treatment: { instructions: [] },
          permanent: !s.permanent,
          timeout: 5,
        });
        expect(b.id).toBe(a.id);
        expect(sameFlowRule(a, b)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("differs when any part of the identity differs", () => {
    fc.assert(
      fc.property(ruleSpec(), ruleSpec(), (s, t) => {
        const a = createFlowRule(s);
        const b = createFlowRule(t);
        if (sameFlowRule(a, b) && a.appId === b.appId) expect(b.id).toBe(a.id);
        else expect(b.id).not.toBe(a.id);
      }),
      { numRuns: 500 },
    );
    const base = createFlowRule(spec);
    for (const change of [
      { priority: 40001 },
      { tableId: 1 },
      { deviceId: "of:0000000000000002" },
      { criteria: [{ type: "ETH_TYPE" as const, ethType: "0x800" }] },
    ]) {
      expect(createFlowRule({ ...spec, ...change }).id).not.toBe(base.id);
    }
  });

  it("spreads 100k rules evenly over 128 and over 1024 buckets", () => {
    const ids: bigint[] = [];
    for (let i = 0; i < 100_000; i++) {
      ids.push(
        createFlowRule({
          deviceId: "of:0000000000000001",
          appId: 1,
          priority: 100,
          criteria: [
            { type: "ETH_TYPE", ethType: "0x800" },
            { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
          ],
        }).id as bigint,
      );
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const bucketCount of [128, 1024]) {
      const counts = new Array<number>(bucketCount).fill(0);
      for (const id of ids) counts[bucketOf(id as never, bucketCount)]! += 1;
      const mean = ids.length / bucketCount;
      // Chi-square over bucketCount − 1 degrees of freedom: a uniform spread stays well under
      // k + 6·sqrt(2k); a skewed hash (e.g. one that ignores the low octet) is far above it.
      const chi = counts.reduce((sum, c) => sum + (c - mean) ** 2 / mean, 0);
      expect(chi).toBeLessThan(bucketCount + 6 * Math.sqrt(2 * bucketCount));
      expect(Math.min(...counts)).toBeGreaterThan(mean * 0.6);
      expect(Math.max(...counts)).toBeLessThan(mean * 1.4);
    }
  });

  it("bucketOf is flowId mod bucketCount, for powers of two and not", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.oneof(
          fc.constantFrom(1, 2, 128, 1024, 65536, 2 ** 31),
          fc.integer({ min: 1, max: 5000 }),
        ),
        (id, count) => {
          expect(bucketOf(id as never, count)).toBe(Number(id % BigInt(count)));
        },
      ),
    );
    expect(() => bucketOf(1n as never, 0)).toThrow(RangeError);
  });
});

const GOLDEN_FLOW_ID = 0x002a_46b6_8f4c_fe5cn;
