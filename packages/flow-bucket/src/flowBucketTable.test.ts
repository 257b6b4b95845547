import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FlowBucket } from "./flowBucket.js";
import { FlowBucketError } from "./flowBucketError.js";
import { FlowBucketTable } from "./flowBucketTable.js";
import { createFlowEntry, type FlowEntry } from "./flowEntry.js";
import { bucketOf } from "./flowId.js";
import { createFlowRule, type FlowRule } from "./flowRule.js";
import { type ApplicationId, type DeviceId, deviceId } from "./ids.js";
import { flowRule } from "./testing/arbitraries.js";

const DEVICE: DeviceId = deviceId("of:0000000000000001");

function ruleNumber(i: number, appId = 1): FlowRule {
  return createFlowRule({
    deviceId: DEVICE,
    appId,
    priority: 100,
    criteria: [
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip: `10.0.${(i >> 8) & 255}.${i & 255}/32` },
    ],
  });
}

const entry = (rule: FlowRule, created = 1): FlowEntry => createFlowEntry(rule, { created });

describe("FlowBucketTable", () => {
  it("takes power-of-two bucket counts only", () => {
    for (const bucketCount of [1, 2, 128, 1024, 65536]) {
      expect(new FlowBucketTable({ deviceId: DEVICE, bucketCount }).bucketCount).toBe(bucketCount);
    }
    for (const bucketCount of [0, 3, 100, 1000, 131072, 1.5]) {
      expect(() => new FlowBucketTable({ deviceId: DEVICE, bucketCount })).toThrow(FlowBucketError);
    }
    expect(new FlowBucketTable({ deviceId: DEVICE }).bucketCount).toBe(128);
  });

  it.each([128, 1024])("puts each flow in bucket flowId mod %i, allocating lazily", (count) => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: count });
    const rules = [0, 1, 2].map((i) => ruleNumber(i));
    for (const rule of rules) table.add(entry(rule), 1);
    expect(table.allocatedBuckets).toBeLessThanOrEqual(3);
    expect(table.size).toBe(3);
    for (const rule of rules) {
      const index = Number(rule.id % BigInt(count));
      expect(table.bucketIndexOf(rule.id)).toBe(index);
      expect(table.bucket(index)?.find(rule)?.rule).toBe(rule);
      expect(table.get(rule.id)?.rule).toBe(rule);
    }
    expect(table.digest(count - 1)).toEqual(
      table.bucket(count - 1)?.digest() ?? { bucket: count - 1, term: 0, timestamp: 0 },
    );
    // 2 000 flows use most of 128 buckets.
    for (let i = 3; i < 2000; i++) table.add(entry(ruleNumber(i)), 1);
    expect(table.size).toBe(2000);
    expect(table.allocatedBuckets).toBe(
      new Set([...table.entries()].map((e) => bucketOf(e.rule.id, count))).size,
    );
    expect(() => table.allocate(count)).toThrow(FlowBucketError);
  });

  it("stamps each change with the term and the next tick of the device clock", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 1024 });
    const a = ruleNumber(1);
    table.add(entry(a), 7);
    expect(table.update(entry(a, 0), 7)).toBe(false); // older than stored: refused
    expect(table.update(entry(a, 2), 8)).toBe(true);
    const index = table.bucketIndexOf(a.id);
    expect(table.digests()).toEqual([{ bucket: index, term: 8, timestamp: 2 }]);
    expect(table.summary()).toMatchObject({ deviceId: DEVICE, term: 8, timestamp: 2, buckets: 1 });
    expect(table.remove(entry(a, 1), 8)).toBeUndefined(); // stored is newer
    expect(table.remove(a, 8)?.created).toBe(2);
    expect(table.clock.current).toBe(3);
  });

  it("version moves with every change of a bucket's stamp, and only then", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    const other = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    const a = ruleNumber(1);
    const seen = [table.version];
    const moved = () => {
      const moves = table.version !== seen.at(-1);
      seen.push(table.version);
      return moves;
    };
    table.add(entry(a), 1);
    expect(moved()).toBe(true);
    table.find(a);
    table.digests();
    table.summary();
    expect(moved()).toBe(false);
    expect(table.update(entry(a, 0), 1)).toBe(false); // refused: nothing changed
    expect(moved()).toBe(false);
    other.add(entry(a, 5), 2);
    expect(table.merge(other.bucket(other.bucketIndexOf(a.id))!.snapshot())).toBe(true);
    expect(moved()).toBe(true);
    table.clear();
    expect(moved()).toBe(true);
  });

  it("refuses an entry of another device", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE });
    const other = createFlowRule({ deviceId: "of:2", appId: 1, priority: 1 });
    expect(() => table.add(entry(other), 1)).toThrow(
      expect.objectContaining({ code: "WRONG_DEVICE" }),
    );
    expect(table.allocatedBuckets).toBe(0);
  });

  it("purges one application's flows across buckets, or all of them", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    for (let i = 0; i < 300; i++) table.add(entry(ruleNumber(i, i % 3)), 1);
    const removed = table.purge(2, { appId: 1 as ApplicationId });
    expect(removed).toHaveLength(100);
    expect(removed.every((e) => e.rule.appId === 1)).toBe(true);
    expect(table.size).toBe(200);
    expect([...table.entries()].some((e) => e.rule.appId === 1)).toBe(false);
    expect(table.purge(2)).toHaveLength(200);
    expect(table.size).toBe(0);
    expect(table.summary().term).toBe(2);
  });

  it("merge keeps the newer copy and moves the clock past the sender's", () => {
    const master = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    const backup = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    const a = ruleNumber(5);
    for (let i = 0; i < 10; i++) master.add(entry(a, i), 2);
    const index = master.bucketIndexOf(a.id);
    const snapshot = master.bucket(index)!.snapshot();
    expect(backup.merge(snapshot)).toBe(true);
    expect(backup.clock.current).toBeGreaterThan(snapshot.timestamp);
    expect(backup.find(a)?.created).toBe(9);
    expect(backup.summary()).toEqual(master.summary());
    // A deposed master's copy: older term, later clock. Refused.
    const deposed = new FlowBucket(index);
    for (let i = 0; i < 20; i++) deposed.add(entry(a, 100), 1, master.clock);
    expect(backup.merge(deposed)).toBe(false);
    expect(backup.find(a)?.created).toBe(9);
  });

  it("merge refuses a copy holding entries that do not belong in that bucket", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    const a = ruleNumber(5);
    const index = table.bucketIndexOf(a.id);
    const misplaced = { bucket: (index + 1) % 128, term: 9, timestamp: 9, entries: [entry(a)] };
    expect(() => table.merge(misplaced)).toThrow(
      expect.objectContaining({ code: "INVALID_BUCKET" }),
    );
    const foreign = createFlowRule({ deviceId: "of:2", appId: 1, priority: 1 });
    const wrongDevice = {
      bucket: table.bucketIndexOf(foreign.id),
      term: 9,
      timestamp: 9,
      entries: [entry(foreign)],
    };
    expect(() => table.merge(wrongDevice)).toThrow(
      expect.objectContaining({ code: "WRONG_DEVICE" }),
    );
    expect(table.size).toBe(0);
    expect(table.summary().timestamp).toBe(0);
  });

  it("merge takes a deferred copy (loaded from disk) undecoded, and checks its entries when they decode", () => {
    const master = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    const a = ruleNumber(5);
    master.add(entry(a), 2);
    const index = master.bucketIndexOf(a.id);
    const { entries, ...stamp } = master.bucket(index)!.snapshot();
    const loaded = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    expect(loaded.merge({ ...stamp, size: 1, decode: () => entries })).toBe(true);
    expect(loaded.bucket(index)?.deferred).toBe(true);
    expect([loaded.size, loaded.summary()]).toEqual([1, master.summary()]);
    expect(loaded.find(a)).toBe(entries[0]);

    // An entry that is not of this bucket surfaces when the entries are first needed.
    const misplaced = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    const other = { ...stamp, bucket: (index + 1) % 128, size: 1, decode: () => entries };
    expect(misplaced.merge(other)).toBe(true);
    expect(() => misplaced.stateCounts()).toThrow(
      expect.objectContaining({ code: "INVALID_BUCKET" }),
    );
    expect(misplaced.bucket(other.bucket)?.deferred).toBe(true);
  });

  it("copy() is an independent deep copy with the same summary", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    for (let i = 0; i < 50; i++) table.add(entry(ruleNumber(i)), 3);
    const copy = table.copy();
    expect(copy.summary()).toEqual(table.summary());
    expect(copy.digests()).toEqual(table.digests());
    expect(copy.clock.current).toBe(table.clock.current);
    copy.remove(ruleNumber(0), 3);
    expect(table.size).toBe(50);
    expect(copy.size).toBe(49);
    expect(copy.summary()).not.toEqual(table.summary());
  });

  describe("summary", () => {
    type Op =
      | { kind: "add"; rule: number; term: number }
      | { kind: "remove"; rule: number; term: number }
      | { kind: "clearBucket"; rule: number }
      | { kind: "mergeRemote"; rule: number; term: number; timestamp: number }
      | { kind: "clear" };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant("add" as const),
          rule: fc.nat(7),
          term: fc.nat(3),
        }),
      },
      fc.record({ kind: fc.constant("remove" as const), rule: fc.nat(7), term: fc.nat(3) }),
      fc.record({ kind: fc.constant("clearBucket" as const), rule: fc.nat(7) }),
      fc.record({
        kind: fc.constant("mergeRemote" as const),
        rule: fc.nat(7),
        term: fc.nat(5),
        timestamp: fc.nat(40),
      }),
      fc.constant({ kind: "clear" as const }),
    );

    it("changes whenever any bucket's digest changes, and only then", () => {
      fc.assert(
        fc.property(
          fc.array(flowRule([DEVICE]), { minLength: 8, maxLength: 8 }),
          fc.constantFrom(4, 128, 1024),
          fc.array(op, { maxLength: 40 }),
          (rules, bucketCount, ops) => {
            const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount });
            let term = 0;
            for (const o of ops) {
              const before = { digests: table.digests(), summary: table.summary() };
              const rule = "rule" in o ? rules[o.rule]! : undefined;
              switch (o.kind) {
                case "add":
                  term = Math.max(term, o.term);
                  table.add(entry(rule!), term);
                  break;
                case "remove":
                  term = Math.max(term, o.term);
                  table.remove(rule!, term);
                  break;
                case "clearBucket":
                  table.bucket(table.bucketIndexOf(rule!.id))?.clear();
                  break;
                case "mergeRemote":
                  table.merge({
                    bucket: table.bucketIndexOf(rule!.id),
                    term: o.term,
                    timestamp: o.timestamp,
                    entries: [entry(rule!)],
                  });
                  term = Math.max(term, table.summary().term);
                  break;
                case "clear":
                  table.clear();
                  break;
              }
              const after = { digests: table.digests(), summary: table.summary() };
              const digestsChanged =
                JSON.stringify(after.digests) !== JSON.stringify(before.digests);
              expect(JSON.stringify(after.summary) !== JSON.stringify(before.summary)).toBe(
                digestsChanged,
              );
              // A function of the digests only: a table rebuilt from the buckets agrees.
              const rebuilt = new FlowBucketTable({ deviceId: DEVICE, bucketCount });
              for (const bucket of table.buckets()) rebuilt.merge(bucket.snapshot());
              expect(rebuilt.summary()).toEqual(after.summary);
              // term/timestamp are those of the newest bucket.
              const newest = [...after.digests]
                .sort((x, y) => x.term - y.term || x.timestamp - y.timestamp)
                .pop();
              expect([after.summary.term, after.summary.timestamp]).toEqual([
                newest?.term ?? 0,
                newest?.timestamp ?? 0,
              ]);
              expect(after.summary.buckets).toBe(after.digests.length);
            }
          },
        ),
        { numRuns: 200 },
      );
    });

    it("is all zeros for a table that never changed", () => {
      expect(new FlowBucketTable({ deviceId: DEVICE }).summary()).toEqual({
        deviceId: DEVICE,
        term: 0,
        timestamp: 0,
        buckets: 0,
        checksum: 0,
      });
    });
  });
});

describe("counters are soft state", () => {
  it("a counter report changes no version, digest, summary or delta, and is stored", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 4 });
    const rules = Array.from({ length: 40 }, (_, i) => ruleNumber(i));
    for (const rule of rules) table.add(entry(rule), 1);
    const version = table.version;
    const summary = table.summary();
    const digests = table.digests();
    const bucket = table.bucket(table.bucketIndexOf(rules[0]!.id))!;
    const deltaBefore = bucket.delta(1, 1);
    for (const [i, rule] of rules.entries()) {
      const refreshed = table.refresh(rule, { packets: i, bytes: 64 * i, life: 3, lastSeen: 99 });
      expect(refreshed?.packets).toBe(i);
    }
    expect(table.version).toBe(version);
    expect(table.summary()).toEqual(summary);
    expect(table.digests()).toEqual(digests);
    expect(table.clock.current).toBe(40);
    // A delta still names the rules changed since the base, now with their latest counters.
    const deltaAfter = bucket.delta(1, 1);
    expect(deltaAfter?.entries.map((e) => e.rule)).toEqual(deltaBefore?.entries.map((e) => e.rule));
    expect(table.find(rules[7]!)).toMatchObject({ packets: 7, bytes: 448, life: 3, lastSeen: 99 });
    // A report for a rule the table does not hold stores nothing.
    expect(table.refresh(ruleNumber(1000), { packets: 1, bytes: 1, life: 1, lastSeen: 1 })).toBe(
      undefined,
    );
    expect(table.size).toBe(40);
  });

  it("keeps per-state counts as entries change, without a walk", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 8 });
    const rules = Array.from({ length: 20 }, (_, i) => ruleNumber(i));
    for (const rule of rules) table.add(entry(rule), 1);
    for (const rule of rules.slice(0, 5)) {
      table.modify(rule, (e) => ({ ...e, state: "ADDED" as const }), 1);
    }
    table.remove(rules[19]!, 1);
    expect(table.stateCounts()).toEqual({
      PENDING_ADD: 14,
      ADDED: 5,
      PENDING_REMOVE: 0,
      REMOVED: 0,
      FAILED: 0,
    });
    const replica = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 8 });
    for (const bucket of table.buckets()) replica.merge(bucket.snapshot());
    expect(replica.stateCounts()).toEqual(table.stateCounts());
    replica.clear();
    expect(replica.countOf("PENDING_ADD")).toBe(0);
  });
});

describe("slot keys", () => {
  it("two applications' rules of one identity share a slot key and stay apart", () => {
    const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 128 });
    const a = ruleNumber(5, 1);
    const b = ruleNumber(5, 2);
    // The application id is in the top bits: the low (hash) bits, and so the key, are shared.
    expect(a.id).not.toBe(b.id);
    expect(BigInt.asUintN(48, a.id)).toBe(BigInt.asUintN(48, b.id));
    table.add(entry(a), 1);
    table.add(entry(b, 2), 1);
    expect(table.size).toBe(2);
    expect(table.find(a)?.rule.appId).toBe(1);
    expect(table.find(b)?.rule.appId).toBe(2);
    expect(table.get(a.id)?.rule.appId).toBe(1);
    expect(table.get(b.id)?.created).toBe(2);
    expect(table.refresh(b, { packets: 4, bytes: 4, life: 1, lastSeen: 3 })?.packets).toBe(4);
    expect(table.find(a)?.packets).toBe(0);
    expect(table.remove(a, 1)?.rule.appId).toBe(1);
    expect(table.find(a)).toBeUndefined();
    expect(table.find(b)?.packets).toBe(4);
    expect(table.size).toBe(1);
  });
});
