import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Criterion } from "./criterion.js";
import { FlowBucket } from "./flowBucket.js";
import { FlowBucketError } from "./flowBucketError.js";
import {
  createFlowEntry,
  FLOW_ENTRY_STATES,
  type FlowEntry,
  type FlowEntryState,
  withFlowEntry,
} from "./flowEntry.js";
import { createFlowRule, type FlowRule, sameFlowRule } from "./flowRule.js";
import type { ApplicationId } from "./ids.js";
import { LogicalClock } from "./logicalClock.js";
import { flowRule } from "./testing/arbitraries.js";

const DEVICE = "of:0000000000000001";

/** A rule with the same flow id as `rule` but another selector: a hash collision. */
function collidingTwin(rule: FlowRule): FlowRule {
  const criteria: Criterion[] = rule.criteria.filter((c) => c.type !== "VLAN_VID");
  criteria.push({ type: "VLAN_VID", vlanId: 4095 });
  criteria.sort((a, b) => (a.type < b.type ? -1 : 1));
  const twin = { ...rule, criteria };
  if (sameFlowRule(twin, rule)) return { ...rule, priority: (rule.priority + 1) % 65536 };
  return twin;
}

type Op =
  | { kind: "add"; rule: number; created: number; state: FlowEntryState }
  | { kind: "update"; rule: number; created: number; state: FlowEntryState }
  | { kind: "modify"; rule: number; packets: number; skip: boolean }
  | { kind: "removeEntry"; rule: number; created: number }
  | { kind: "removeRule"; rule: number }
  | { kind: "purge"; appOf: number | undefined }
  | { kind: "refresh"; rule: number; packets: number }
  | { kind: "clear" };

const RULES = 6;
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("add" as const),
    rule: fc.nat({ max: RULES }),
    created: fc.integer({ min: 1, max: 4 }),
    state: fc.constantFrom(...FLOW_ENTRY_STATES),
  }),
  fc.record({
    kind: fc.constant("update" as const),
    rule: fc.nat({ max: RULES }),
    created: fc.integer({ min: 1, max: 4 }),
    state: fc.constantFrom(...FLOW_ENTRY_STATES),
  }),
  fc.record({
    kind: fc.constant("modify" as const),
    rule: fc.nat({ max: RULES }),
    packets: fc.nat({ max: 100 }),
    skip: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("removeEntry" as const),
    rule: fc.nat({ max: RULES }),
    created: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant("removeRule" as const), rule: fc.nat({ max: RULES }) }),
  fc.record({
    kind: fc.constant("purge" as const),
    appOf: fc.option(fc.nat({ max: RULES }), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant("refresh" as const),
    rule: fc.nat({ max: RULES }),
    packets: fc.nat({ max: 3 }),
  }),
  fc.constant({ kind: "clear" as const }),
);

/** The model: a list of entries, at most one per rule identity, and the last stamp. */
class Model {
  entries: FlowEntry[] = [];
  term = 0;
  timestamp = 0;
  find(rule: FlowRule) {
    return this.entries.find((e) => e.rule.id === rule.id && sameFlowRule(e.rule, rule));
  }
  put(entry: FlowEntry) {
    this.entries = [...this.entries.filter((e) => e !== this.find(entry.rule)), entry];
  }
  drop(entry: FlowEntry) {
    this.entries = this.entries.filter((e) => e !== entry);
  }
}

describe("FlowBucket against a model", () => {
  it("every operation sequence leaves the same entries and stamp as the model", () => {
    fc.assert(
      fc.property(
        fc.array(flowRule([DEVICE]), { minLength: RULES, maxLength: RULES }),
        fc.array(fc.tuple(op, fc.integer({ min: -1, max: 2 }), fc.boolean()), { maxLength: 60 }),
        (generated, ops) => {
          const first = generated[0]!;
          const rules = [...generated, collidingTwin(first)];
          let bucket = new FlowBucket(3);
          const clock = new LogicalClock();
          const model = new Model();
          let term = 1;
          for (const [o, termStep, reload] of ops) {
            if (reload && bucket.term + bucket.timestamp > 0) {
              // As a node that restarts takes its copy from disk: deferred, decoded when needed.
              const copy = new FlowBucket(3);
              let decodes = 0;
              const { entries, ...stamp } = bucket.snapshot();
              expect(
                copy.mergeFrom({
                  ...stamp,
                  size: entries.length,
                  decode: () => {
                    decodes++;
                    return entries;
                  },
                }),
              ).toBe(true);
              expect(copy.deferred).toBe(true);
              expect([copy.digest(), copy.size]).toEqual([bucket.digest(), bucket.size]);
              expect(decodes).toBe(0);
              bucket = copy;
            }
            // Mostly the same or a later term; sometimes an earlier one, which must be refused.
            const opTerm = Math.max(0, term + termStep);
            const ticksBefore = clock.current;
            const stampBefore = bucket.digest();
            const stale = opTerm < model.term && o.kind !== "clear" && o.kind !== "refresh";
            let changed = false;
            try {
              changed = apply(bucket, clock, model, rules, o, opTerm);
              expect(stale).toBe(false);
            } catch (error) {
              expect(error).toBeInstanceOf(FlowBucketError);
              expect((error as FlowBucketError).code).toBe("STALE_TERM");
              expect(stale).toBe(true);
            }
            if (!stale) term = Math.max(term, opTerm);
            if (changed && o.kind !== "clear") {
              model.term = opTerm;
              model.timestamp = ticksBefore + 1;
              expect(clock.current).toBe(ticksBefore + 1);
            } else {
              expect(clock.current).toBe(ticksBefore);
              if (o.kind !== "clear") expect(bucket.digest()).toEqual(stampBefore);
            }
            expect(bucket.digest()).toEqual({
              bucket: 3,
              term: model.term,
              timestamp: model.timestamp,
            });
            expect(bucket.size).toBe(model.entries.length);
            expect(new Set(bucket.entries())).toEqual(new Set(model.entries));
            for (const rule of rules) expect(bucket.find(rule)).toBe(model.find(rule));
            for (const state of FLOW_ENTRY_STATES) {
              const inState = model.entries.filter((e) => e.state === state).length;
              expect(bucket.countOf(state)).toBe(inState);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** Applies `o` to both; returns whether it was a change (the bucket's word, checked against the model's). */
function apply(
  bucket: FlowBucket,
  clock: LogicalClock,
  model: Model,
  rules: readonly FlowRule[],
  o: Op,
  term: number,
): boolean {
  switch (o.kind) {
    case "add": {
      const entry = createFlowEntry(rules[o.rule]!, { created: o.created, state: o.state });
      const before = model.find(entry.rule);
      expect(bucket.add(entry, term, clock)).toBe(before);
      model.put(entry);
      return true;
    }
    case "update": {
      const entry = createFlowEntry(rules[o.rule]!, { created: o.created, state: o.state });
      const stored = model.find(entry.rule);
      const expected = stored !== undefined && entry.created >= stored.created;
      expect(bucket.update(entry, term, clock)).toBe(expected);
      if (expected) model.put(entry);
      return expected;
    }
    case "modify": {
      const rule = rules[o.rule]!;
      const stored = model.find(rule);
      const result = bucket.modify(
        rule,
        (e) => (o.skip ? undefined : withFlowEntry(e, { packets: o.packets })),
        term,
        clock,
      );
      if (stored === undefined || o.skip) {
        expect(result).toBeUndefined();
        return false;
      }
      expect(result).toEqual(withFlowEntry(stored, { packets: o.packets }));
      model.put(result!);
      return true;
    }
    case "removeEntry": {
      const target = createFlowEntry(rules[o.rule]!, { created: o.created });
      const stored = model.find(target.rule);
      const removed = bucket.remove(target, term, clock);
      if (stored === undefined || target.created < stored.created) {
        expect(removed).toBeUndefined();
        return false;
      }
      expect(removed).toBe(stored);
      model.drop(stored);
      return true;
    }
    case "refresh": {
      // A counter report: the stored entry takes the counters, and it is not a change.
      const rule = rules[o.rule]!;
      const stored = model.find(rule);
      const counters = { packets: o.packets, bytes: 64 * o.packets, life: 1, lastSeen: 9 };
      const refreshed = bucket.refresh(rule, counters);
      if (stored === undefined) {
        expect(refreshed).toBeUndefined();
        return false;
      }
      expect(refreshed).toEqual(withFlowEntry(stored, counters));
      if (refreshed !== stored) model.put(refreshed!);
      return false;
    }
    case "removeRule": {
      const stored = model.find(rules[o.rule]!);
      expect(bucket.remove(rules[o.rule]!, term, clock)).toBe(stored);
      if (stored !== undefined) model.drop(stored);
      return stored !== undefined;
    }
    case "purge": {
      const appId = o.appOf === undefined ? undefined : rules[o.appOf]!.appId;
      const doomed = model.entries.filter((e) => appId === undefined || e.rule.appId === appId);
      const removed = bucket.purge(
        term,
        clock,
        appId === undefined ? undefined : { appId: appId as ApplicationId },
      );
      expect(new Set(removed)).toEqual(new Set(doomed));
      for (const e of doomed) model.drop(e);
      return doomed.length > 0;
    }
    case "clear": {
      bucket.clear();
      model.entries = [];
      model.term = 0;
      model.timestamp = 0;
      return false;
    }
    default: {
      const never: never = o;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

describe("FlowBucket", () => {
  const rule = createFlowRule({
    deviceId: DEVICE,
    appId: 1,
    priority: 5,
    criteria: [{ type: "ETH_TYPE", ethType: "0x800" }],
  });

  it("keeps rules whose flow ids collide apart", () => {
    const twin = collidingTwin(rule);
    expect(twin.id).toBe(rule.id);
    const bucket = new FlowBucket(0);
    const clock = new LogicalClock();
    const a = createFlowEntry(rule, { created: 1 });
    const b = createFlowEntry(twin, { created: 1 });
    bucket.add(a, 1, clock);
    bucket.add(b, 1, clock);
    expect(bucket.size).toBe(2);
    expect(bucket.find(rule)).toBe(a);
    expect(bucket.find(twin)).toBe(b);
    expect(bucket.get(rule.id)).toBe(a);
    expect(bucket.remove(rule, 1, clock)).toBe(a);
    expect(bucket.find(twin)).toBe(b);
    expect(bucket.get(rule.id)).toBe(b);
  });

  it("refuses an update function that swaps the rule", () => {
    const bucket = new FlowBucket(0);
    const clock = new LogicalClock();
    bucket.add(createFlowEntry(rule, { created: 1 }), 1, clock);
    const other = createFlowRule({ deviceId: DEVICE, appId: 1, priority: 6 });
    expect(() =>
      bucket.modify(rule, () => createFlowEntry(other, { created: 2 }), 1, clock),
    ).toThrow(expect.objectContaining({ code: "RULE_CHANGED" }));
    expect(bucket.find(rule)?.created).toBe(1);
    expect(bucket.timestamp).toBe(1);
  });

  it("copy() is independent of the original, both ways", () => {
    const bucket = new FlowBucket(2);
    const clock = new LogicalClock();
    const entry = createFlowEntry(rule, { created: 1 });
    bucket.add(entry, 4, clock);
    const copy = bucket.copy();
    expect(copy.digest()).toEqual(bucket.digest());
    expect([...copy.entries()]).toEqual([entry]);
    bucket.remove(rule, 4, clock);
    expect(copy.find(rule)).toBe(entry);
    const other = createFlowRule({ deviceId: DEVICE, appId: 2, priority: 1 });
    copy.add(createFlowEntry(other, { created: 1 }), 5, clock);
    expect(bucket.find(other)).toBeUndefined();
    expect(bucket.digest()).toEqual({ bucket: 2, term: 4, timestamp: 2 });
  });

  it("a deferred copy decodes its entries once, when first needed, and never if replaced first", () => {
    const clock = new LogicalClock();
    const source = new FlowBucket(2);
    const rules = [1, 2, 3].map((n) => createFlowRule({ deviceId: DEVICE, appId: n, priority: n }));
    for (const r of rules) source.add(createFlowEntry(r, { created: 1 }), 4, clock);
    const { entries, ...stamp } = source.snapshot();
    let decodes = 0;
    let fail = true;
    const deferred = {
      ...stamp,
      size: entries.length,
      decode: () => {
        decodes++;
        if (fail) throw new Error("the bytes do not decode");
        return entries;
      },
    };
    const bucket = new FlowBucket(2);
    expect(bucket.mergeFrom(deferred)).toBe(true);
    expect([bucket.deferred, bucket.size, bucket.digest()]).toEqual([true, 3, source.digest()]);
    // Every use of an entry decodes first: a failure reaches the caller and changes nothing.
    expect(() => bucket.find(rules[0]!)).toThrow("the bytes do not decode");
    expect([bucket.deferred, bucket.size, decodes]).toEqual([true, 3, 1]);
    fail = false;
    expect(bucket.countOf("PENDING_ADD")).toBe(3);
    expect(bucket.deferred).toBe(false);
    expect(bucket.find(rules[1]!)).toBe(entries.find((e) => e.rule === rules[1]));
    expect(bucket.add(createFlowEntry(rules[0]!, { created: 2 }), 4, clock)).toBeDefined();
    expect(decodes).toBe(2);

    // A newer copy taken before anything needed the entries: they are never decoded.
    const replaced = new FlowBucket(2);
    replaced.mergeFrom(deferred);
    expect(replaced.mergeFrom(bucket.snapshot())).toBe(true);
    expect(replaced.deferred).toBe(false);
    expect(replaced.size).toBe(3);
    expect(decodes).toBe(2);
  });

  it("mergeFrom keeps the newer copy only (term first) and round-trips snapshots", () => {
    const clock = new LogicalClock();
    const mine = new FlowBucket(1);
    const theirs = new FlowBucket(1);
    const entry = createFlowEntry(rule, { created: 1 });
    for (let i = 0; i < 5; i++) mine.add(entry, 3, clock); // term 3, timestamp 5
    theirs.add(withFlowEntry(entry, { state: "ADDED" }), 4, new LogicalClock()); // term 4, ts 1
    expect(theirs.mergeFrom(mine)).toBe(false);
    expect(mine.mergeFrom(theirs.snapshot())).toBe(true);
    expect(mine.digest()).toEqual({ bucket: 1, term: 4, timestamp: 1 });
    expect(mine.find(rule)?.state).toBe("ADDED");
    expect(mine.mergeFrom(theirs)).toBe(false); // equal is not newer
    expect(FlowBucket.fromSnapshot(mine.snapshot()).snapshot()).toEqual(mine.snapshot());
    expect(() => mine.mergeFrom(new FlowBucket(2))).toThrow(FlowBucketError);
  });
});

describe("FlowBucket deltas", () => {
  /** Same digest and same replicated state; counters are soft state and may differ. */
  const sameContents = (a: FlowBucket, b: FlowBucket) => {
    const replicated = (bucket: FlowBucket) =>
      new Set([...bucket.entries()].map(({ rule, state, created }) => ({ rule, state, created })));
    expect(a.digest()).toEqual(b.digest());
    expect(replicated(a)).toEqual(replicated(b));
  };
  /** `count` distinct rules of application 999: a bucket big enough to keep a change log. */
  const fillers = (count: number) =>
    Array.from({ length: count }, (_, i) =>
      createFlowRule({
        deviceId: DEVICE,
        appId: 999,
        priority: 1000 + i,
        criteria: [{ type: "IN_PORT", port: 100 + i }],
      }),
    );

  it("a replica holding any earlier version reaches the current one from a delta, or is told to take the whole bucket", () => {
    let deltasApplied = 0;
    fc.assert(
      fc.property(
        fc.array(flowRule([DEVICE]), { minLength: RULES, maxLength: RULES }),
        fc.array(fc.tuple(op, fc.nat({ max: 3 })), { maxLength: 80 }),
        (generated, ops) => {
          const rules = [...generated, collidingTwin(generated[0]!)];
          const master = new FlowBucket(3);
          const clock = new LogicalClock();
          const model = new Model();
          for (const rule of fillers(40)) {
            const entry = createFlowEntry(rule, { created: 1 });
            master.add(entry, 1, clock);
            model.put(entry);
          }
          // A replica kept in step with deltas, and copies left behind at earlier versions.
          let replica = master.copy();
          const behind: FlowBucket[] = [];
          const catchUp = (copy: FlowBucket): FlowBucket => {
            const delta = master.delta(copy.term, copy.timestamp);
            if (copy.term === master.term && copy.timestamp === master.timestamp) return copy;
            if (delta === undefined) return master.copy();
            expect(delta.entries.length + delta.removed.length).toBeLessThan(
              Math.max(1, master.size),
            );
            expect(copy.applyDelta(delta)).toBe(true);
            deltasApplied++;
            return copy;
          };
          for (const [o, action] of ops) {
            try {
              apply(master, clock, model, rules, o, 1);
            } catch (error) {
              expect(error).toBeInstanceOf(FlowBucketError);
            }
            if (action === 0) replica = catchUp(replica);
            if (action === 1) behind.push(master.copy());
          }
          sameContents(catchUp(replica), master);
          for (const copy of behind) sameContents(catchUp(copy), master);
        },
      ),
      { numRuns: 500 },
    );
    expect(deltasApplied).toBeGreaterThan(100); // the runs exercise deltas, not only copies
  });

  it("a delta leaves a replica at any other version untouched and says so", () => {
    const clock = new LogicalClock();
    const [a, b, c] = [0, 1, 2].map((i) =>
      createFlowRule({
        deviceId: DEVICE,
        appId: 1,
        priority: 100 + i,
        criteria: [{ type: "IN_PORT", port: i + 1 }],
        treatment: { instructions: [{ type: "OUTPUT", port: 9 }] },
      }),
    ) as [FlowRule, FlowRule, FlowRule];
    const master = new FlowBucket(0);
    for (const rule of fillers(30)) master.add(createFlowEntry(rule, { created: 1 }), 1, clock);
    for (const rule of [a, b, c]) master.add(createFlowEntry(rule, { created: 1 }), 1, clock);
    const atThree = master.copy();
    master.remove(b, 1, clock);
    const atFour = master.copy();
    master.add(createFlowEntry(b, { created: 2 }), 1, clock);
    master.modify(a, (e) => withFlowEntry(e, { packets: 5 }), 1, clock);

    const fromThree = master.delta(atThree.term, atThree.timestamp)!;
    expect(fromThree.entries.map((e) => e.rule.priority).sort()).toEqual([100, 101]);
    expect(fromThree.removed).toEqual([]);
    const fromFour = master.delta(atFour.term, atFour.timestamp)!;
    // A delta from version 4 does not apply to a copy at version 3, which keeps what it had.
    expect(atThree.applyDelta(fromFour)).toBe(false);
    expect(atThree.digest()).toEqual({ bucket: 0, term: 1, timestamp: 33 });
    expect(atThree.size).toBe(33);
    // A version the bucket never had gets no delta at all.
    expect(master.delta(7, 33)).toBeUndefined();
    expect(atFour.applyDelta(fromFour)).toBe(true);
    sameContents(atFour, master);
  });

  it("a replica behind by new flows, each stored and then made ADDED, gets a delta while they are under half the bucket", () => {
    // Every new flow is two changes: stored PENDING_ADD, then ADDED by its device. A log cut
    // to half the bucket whenever it outgrew it reached back to a quarter of the bucket's
    // flows, and a backup that fell that far behind during a round trip got it whole.
    const clock = new LogicalClock();
    const master = new FlowBucket(0);
    const rules = fillers(400);
    const write = (rule: FlowRule) => {
      master.add(createFlowEntry(rule, { created: 1 }), 1, clock);
      master.modify(rule, (e) => withFlowEntry(e, { state: "ADDED" }), 1, clock);
    };
    for (const rule of rules.slice(0, 100)) write(rule);
    // A copy every few writes, caught up once as many new flows follow it as the bucket
    // allows: two changes each, up to the bucket's size.
    const waiting: { copy: FlowBucket; from: number }[] = [];
    let checked = 0;
    for (let i = 100; i < rules.length; i++) {
      if (i % 5 === 0) waiting.push({ copy: master.copy(), from: i });
      write(rules[i]!);
      for (const { copy, from } of [...waiting]) {
        const behind = i + 1 - from;
        if (2 * (behind + 1) <= master.size) continue;
        const delta = master.delta(copy.term, copy.timestamp);
        expect(delta, `a copy ${behind} flows behind a bucket of ${master.size}`).toBeDefined();
        expect(delta!.entries.map((e) => e.rule.id).sort()).toEqual(
          rules
            .slice(from, i + 1)
            .map((r) => r.id)
            .sort(),
        );
        expect(delta!.entries.every((e) => e.state === "ADDED")).toBe(true);
        expect(copy.applyDelta(delta!)).toBe(true);
        expect(copy.digest()).toEqual(master.digest());
        expect(copy.size).toBe(master.size);
        waiting.splice(
          waiting.findIndex((w) => w.copy === copy),
          1,
        );
        checked++;
      }
    }
    expect(checked).toBe(21); // the copies taken in the first 100 of those flows
  });

  it("a replica that logs the deltas it applies gives deltas from any version it held (for a copy on disk)", () => {
    const clock = new LogicalClock();
    const rules = fillers(40);
    const master = new FlowBucket(0);
    for (const rule of rules.slice(0, 30))
      master.add(createFlowEntry(rule, { created: 1 }), 1, clock);
    const logging = new FlowBucket(0, undefined, { logDeltas: true });
    const plain = new FlowBucket(0);
    for (const replica of [logging, plain]) replica.mergeFrom(master.snapshot());
    const kept = { term: logging.term, timestamp: logging.timestamp }; // what the disk holds
    // Two rounds of backups: a removal, two adds, a change.
    let base = { term: master.term, timestamp: master.timestamp };
    master.remove(rules[3]!, 1, clock);
    master.add(createFlowEntry(rules[31]!, { created: 2 }), 1, clock);
    for (const replica of [logging, plain])
      expect(replica.applyDelta(master.delta(base.term, base.timestamp)!)).toBe(true);
    base = { term: master.term, timestamp: master.timestamp };
    master.add(createFlowEntry(rules[32]!, { created: 3 }), 1, clock);
    master.modify(rules[4]!, (e) => withFlowEntry(e, { state: "ADDED" }), 1, clock);
    for (const replica of [logging, plain])
      expect(replica.applyDelta(master.delta(base.term, base.timestamp)!)).toBe(true);

    // The plain replica started its log afresh at each delta: nothing from the kept version.
    expect(plain.delta(kept.term, kept.timestamp)).toBeUndefined();
    const since = logging.delta(kept.term, kept.timestamp)!;
    expect(since.removed.map((r) => r.id)).toEqual([rules[3]!.id]);
    expect(since.entries.map((e) => e.rule.id).sort()).toEqual(
      [rules[4]!.id, rules[31]!.id, rules[32]!.id].sort(),
    );
    sameContents(logging, plain);
    sameContents(logging, master);
  });
});
