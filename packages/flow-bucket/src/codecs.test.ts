import { createNamespace, DecodeError, pack } from "@flowstore/serializers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { flowBucketNamespace } from "./codecs.js";
import { FlowBucket } from "./flowBucket.js";
import { FlowBucketTable } from "./flowBucketTable.js";
import { decodeCheckedEntries, decodeEntries } from "./flowEntry.js";
import { createFlowRule } from "./flowRule.js";
import { parseFlowRule } from "./flowRuleJson.js";
import { deviceId } from "./ids.js";
import { LogicalClock } from "./logicalClock.js";
import { flowEntry, flowRule } from "./testing/arbitraries.js";
import { onosCriteria, onosTreatment } from "./testing/onosArbitraries.js";

const ns = flowBucketNamespace;
const DEVICE = "of:0000000000000001";

describe("flowBucketNamespace", () => {
  it("uses ids 200–299 and can be included by another namespace", () => {
    expect(ns.registrations.every((r) => r.id >= 200 && r.id < 300)).toBe(true);
    const store = createNamespace("store").include(ns).register(300, "Ping", z.string()).build();
    expect(store.has("FlowEntry")).toBe(true);
    expect(store.fingerprint).not.toBe(ns.fingerprint);
  });

  it("round-trips rules and entries exactly, keeping 64-bit ids", () => {
    fc.assert(
      fc.property(flowRule(), flowEntry([DEVICE]), (rule, entry) => {
        expect(ns.serializer("FlowRule").decode(ns.encode("FlowRule", rule))).toEqual(rule);
        const back = ns.serializer("FlowEntry").decode(ns.encode("FlowEntry", entry));
        expect(back).toEqual(entry);
        expect(typeof back.rule.id).toBe("bigint");
        expect(ns.serializer("FlowId").decode(ns.encode("FlowId", rule.id))).toBe(rule.id);
      }),
      { numRuns: 300 },
    );
    const maxApp = createFlowRule({ deviceId: DEVICE, appId: 65535, priority: 1 });
    expect(maxApp.id >> 48n).toBe(65535n);
    expect(ns.serializer("FlowRule").decode(ns.encode("FlowRule", maxApp)).id).toBe(maxApp.id);
  });

  it("round-trips rules of every type ONOS's codecs read, field for field", () => {
    fc.assert(
      fc.property(onosCriteria, onosTreatment, (criteria, treatment) => {
        const rule = parseFlowRule(
          { priority: 9, isPermanent: true, selector: { criteria }, treatment },
          { deviceId: DEVICE, appId: 3 },
        );
        const back = ns.serializer("FlowRule").decode(ns.encode("FlowRule", rule));
        expect(back).toStrictEqual(rule);
        // Shared as a rule parsed locally is.
        expect(back.treatment).toBe(rule.treatment);
      }),
      { numRuns: 200 },
    );
  });

  it("round-trips buckets, digests, summaries and timestamped buckets", () => {
    fc.assert(
      fc.property(
        fc.array(flowEntry([DEVICE]), { maxLength: 30 }),
        fc.nat(1000),
        (entries, term) => {
          const table = new FlowBucketTable({ deviceId: deviceId(DEVICE), bucketCount: 4 });
          for (const e of entries) table.add(e, term);
          for (const bucket of table.buckets()) {
            const snapshot = bucket.snapshot();
            const back = ns.serializer("FlowBucket").decode(ns.encode("FlowBucket", snapshot));
            expect(back).toEqual(snapshot);
            expect(FlowBucket.fromSnapshot(back).digest()).toEqual(bucket.digest());
            const stamped = new LogicalClock(9).stamp(snapshot);
            expect(
              ns
                .serializer("TimestampedFlowBucket")
                .decode(ns.encode("TimestampedFlowBucket", stamped)),
            ).toEqual(stamped);
          }
          const digests = table.digests();
          expect(
            ns.serializer("FlowBucketDigests").decode(ns.encode("FlowBucketDigests", digests)),
          ).toEqual(digests);
          const summary = table.summary();
          expect(ns.serializer("DeviceDigest").decode(ns.encode("DeviceDigest", summary))).toEqual(
            summary,
          );
          const list = [...table.entries()];
          expect(ns.serializer("FlowEntries").decode(ns.encode("FlowEntries", list))).toEqual(list);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses a rule whose id does not match its identity, naming the field", () => {
    const rule = createFlowRule({ deviceId: DEVICE, appId: 3, priority: 9 });
    const forged = { ...rule, priority: 10 }; // same id, other identity
    const bytes = Uint8Array.from([0, 202, ...pack(forged)]);
    try {
      ns.serializer("FlowRule").decode(bytes);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DecodeError);
      expect((error as DecodeError).code).toBe("INVALID");
      expect((error as DecodeError).path).toBe("id");
    }
  });

  it("refuses an entry with a bad field, naming its path", () => {
    const rule = createFlowRule({
      deviceId: DEVICE,
      appId: 3,
      priority: 9,
      criteria: [{ type: "ETH_TYPE", ethType: 0x800 }],
    });
    const bad = {
      rule: { ...rule, criteria: [{ type: "ETH_TYPE", ethType: "ipv4" }] },
      state: "ADDED",
      packets: 0,
      bytes: 0,
      life: 0,
      lastSeen: 0,
      created: 0,
      liveType: "UNKNOWN",
    };
    const error = (() => {
      try {
        ns.serializer("FlowEntry").decode(Uint8Array.from([0, 203, ...pack(bad)]));
      } catch (e) {
        return e as DecodeError;
      }
      throw new Error("expected a DecodeError");
    })();
    expect(error.path).toBe("rule.criteria[0].ethType");
    expect(error.message).toMatch(/^FlowEntry: rule\.criteria\[0\]\.ethType: /);
  });

  it("garbage bytes are a DecodeError, never anything else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          ns.decode(Uint8Array.from([0, 203, ...bytes]));
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe("decodeCheckedEntries (entries whose bytes the caller checked)", () => {
  /** `entries` as plain objects, as unpacking gives them (not the decoded entries). */
  const raw = (entries: readonly unknown[]) =>
    entries.map((entry) => structuredClone(entry) as Record<string, unknown>);

  it("gives what decodeEntries gives, field for field", () => {
    fc.assert(
      fc.property(fc.array(flowEntry([DEVICE]), { maxLength: 8 }), (entries) => {
        const values = raw(entries);
        const checked = decodeEntries(values);
        expect(checked).toBeDefined();
        expect(decodeCheckedEntries(values)).toEqual(checked);
      }),
      { numRuns: 200 },
    );
  });

  it("takes the flow id as stored, and still refuses any other field that is not valid", () => {
    const rule = createFlowRule({ deviceId: DEVICE, appId: 3, priority: 7 });
    const [entry] = raw([
      {
        rule,
        state: "ADDED",
        packets: 1,
        bytes: 2,
        life: 3,
        lastSeen: 4,
        created: 4,
        liveType: "UNKNOWN",
      },
    ]) as [{ rule: { id: bigint } }];
    const otherId = { ...entry, rule: { ...entry.rule, id: entry.rule.id + 1n } };
    expect(decodeEntries([otherId])).toBeUndefined();
    expect(decodeCheckedEntries([otherId])?.[0]?.rule.id).toBe(entry.rule.id + 1n);
    expect(decodeCheckedEntries([{ ...entry, state: "LOST" }])).toBeUndefined();
  });
});
