import {
  createFlowEntry,
  type DeviceId,
  deviceId,
  type FlowBucketSnapshot,
  FlowBucketTable,
  type FlowEntry,
  type FlowRule,
  flowBucketNamespace,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { defineScenario, timeOps } from "../harness.js";
import { benchRules } from "../workload.js";

const DEVICE: DeviceId = deviceId("of:0000000000000001");
const T0 = 1_700_000_000_000;
const TERM = 1;

function rules(count: number, offset = 0): FlowRule[] {
  return benchRules(DEVICE, count, offset);
}

function entries(of: readonly FlowRule[], created = T0): FlowEntry[] {
  return of.map((r) => createFlowEntry(r, { created, state: "ADDED" }));
}

/** `entry` as sent by a node that writes the EtherType as ONOS's JSON does ("0x800"). */
function lenientEntry(entry: FlowEntry): unknown {
  const criteria = entry.rule.criteria.map((c) =>
    c.type === "ETH_TYPE" ? { type: c.type, ethType: `0x${c.ethType.toString(16)}` } : c,
  );
  return { ...entry, rule: { ...entry.rule, criteria } };
}

function filled(bucketCount: number, of: readonly FlowEntry[]): FlowBucketTable {
  const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount });
  for (const e of of) table.add(e, TERM);
  return table;
}

type Gc = () => void;

/** Heap in use after full collections, or undefined without `--expose-gc`. */
function settledHeap(): number | undefined {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (gc === undefined) return undefined;
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Operations per second on one device table holding 100k flows (add, update, update with a
 * function, remove; 128 and 1024 buckets), the codecs' entries per second (entry lists and
 * bucket snapshots, against the full schemas as a baseline), and the memory each stored flow
 * costs, created locally or decoded.
 */
export const flowBucketScenario = defineScenario({
  name: "flow-bucket",
  description:
    "flow table core: add/update/remove ops/s on 100k flows, codec entries/s, bytes per stored entry",
  async run(ctx) {
    const flows = 100_000;
    ctx.progress(`building ${flows.toLocaleString("en-US")} rules`);
    const ruleSet = rules(flows);
    const added = entries(ruleSet);
    const newer = entries(ruleSet, T0 + 1000);

    for (const bucketCount of [128, 1024]) {
      await ctx.sample(
        `add, ${bucketCount} buckets`,
        "ops/s",
        () => {
          const table = new FlowBucketTable({ deviceId: DEVICE, bucketCount });
          return timeOps(flows, () => {
            for (const e of added) table.add(e, TERM);
          });
        },
        { better: "higher", note: `${flows} new flows into an empty table` },
      );
    }
    await ctx.sample(
      "update, 128 buckets",
      "ops/s",
      () => {
        const table = filled(128, added);
        return timeOps(flows, () => {
          for (const e of newer) table.update(e, TERM);
        });
      },
      { better: "higher", note: "replace each of 100k stored entries by a newer one" },
    );
    await ctx.sample(
      "update with a function, 128 buckets",
      "ops/s",
      () => {
        const table = filled(128, added);
        return timeOps(flows, () => {
          for (const r of ruleSet) {
            table.modify(r, (e) => withFlowEntry(e, { packets: e.packets + 10, life: 5 }), TERM);
          }
        });
      },
      { better: "higher", note: "counter update: find, build the new entry, store it" },
    );
    await ctx.sample(
      "remove, 128 buckets",
      "ops/s",
      () => {
        const table = filled(128, added);
        return timeOps(flows, () => {
          for (const e of added) table.remove(e, TERM);
        });
      },
      { better: "higher", note: "remove each of 100k stored entries" },
    );

    // Replication cost of a bucket: encode + decode (validated) of 1000 entries.
    const batch = added.slice(0, 1000);
    const codec = flowBucketNamespace.serializer("FlowEntries");
    const runsPerSample = 20;
    await ctx.sample(
      "codec round trip of entries",
      "entries/s",
      () =>
        timeOps(batch.length * runsPerSample, () => {
          for (let i = 0; i < runsPerSample; i++) codec.decode(codec.encode(batch));
        }),
      { better: "higher", note: "FlowEntries encode + validated decode, 1000 per message" },
    );
    await ctx.sample(
      "encode entries",
      "entries/s",
      () =>
        timeOps(batch.length * runsPerSample, () => {
          for (let i = 0; i < runsPerSample; i++) codec.encode(batch);
        }),
      { better: "higher", note: "FlowEntries, 1000 per message" },
    );
    const entriesBytes = codec.encode(batch);
    await ctx.sample(
      "decode entries",
      "entries/s",
      () =>
        timeOps(batch.length * runsPerSample, () => {
          for (let i = 0; i < runsPerSample; i++) codec.decode(entriesBytes);
        }),
      { better: "higher", note: "FlowEntries, 1000 per message, validated (ids checked)" },
    );
    ctx.record("encoded size of an entry", "bytes", entriesBytes.length / batch.length, {
      better: "lower",
      note: "FlowEntries message of 1000 entries / 1000",
    });

    // What a backup or a failover decodes: whole bucket snapshots.
    const buckets = flowBucketNamespace.serializer("FlowBucket");
    const snapshot = { bucket: 7, term: TERM, timestamp: 1000, entries: batch };
    const snapshotBytes = buckets.encode(snapshot);
    const decodeSnapshot = await ctx.sample(
      "decode FlowBucketSnapshot of 1000 entries",
      "entries/s",
      () =>
        timeOps(batch.length * runsPerSample, () => {
          for (let i = 0; i < runsPerSample; i++) buckets.decode(snapshotBytes);
        }),
      { better: "higher", note: "validated, ids checked, shared parts interned; goal ≥ 300k" },
    );
    // The same snapshot with one ONOS spelling ("0x800") in its first entry: the fast path
    // declines it and the full schemas (zod, normalization, id rehash) decode all of it.
    const lenientBytes = buckets.encode({
      ...snapshot,
      entries: [lenientEntry(batch[0]!), ...batch.slice(1)],
    } as unknown as FlowBucketSnapshot);
    const fullSchemas = await ctx.sample(
      "decode FlowBucketSnapshot, full schemas",
      "entries/s",
      () =>
        timeOps(batch.length * 5, () => {
          for (let i = 0; i < 5; i++) buckets.decode(lenientBytes);
        }),
      { better: "higher", note: "baseline: one lenient spelling sends the whole bucket to zod" },
    );
    ctx.ratio(
      "snapshot decoding speed-up",
      decodeSnapshot,
      fullSchemas,
      "fast path / full schemas",
    );

    // Memory: the heap a stored flow costs, rule and all, over 1M flows (250k quick). Rules first (what a
    // rule costs), then their entries (what the table adds), then the rules' array is dropped.
    const stored = ctx.quick ? 250_000 : 1_000_000;
    const start = settledHeap();
    if (start === undefined) {
      ctx.progress("no global.gc (run node with --expose-gc): memory figures skipped");
      return;
    }
    ctx.progress(`memory: storing ${stored.toLocaleString("en-US")} flows`);
    let many: FlowRule[] | undefined = rules(stored);
    const withRules = settledHeap()!;
    let big: FlowBucketTable | undefined = new FlowBucketTable({
      deviceId: DEVICE,
      bucketCount: 1024,
    });
    for (let i = 0; i < stored; i++) {
      big.add(createFlowEntry(many[i]!, { created: T0 + i, state: "ADDED" }), TERM);
    }
    const withEntries = settledHeap()!;
    many = undefined;
    const end = settledHeap()!;
    if (big.size !== stored) throw new Error(`stored ${big.size} of ${stored} flows`);
    big = undefined;
    ctx.record("heap per stored flow", "bytes", (end - start) / stored, {
      better: "lower",
      note: `entry + rule (selector, shared treatment) + map slot; ${stored} flows, 1024 buckets; goal ≤ 500`,
    });
    ctx.record("heap per rule", "bytes", (withRules - start) / stored, {
      better: "lower",
      note: "a rule with its id and selector, as created (including 8 bytes of array slot)",
    });
    ctx.record("heap per entry and slot", "bytes", (withEntries - withRules) / stored, {
      better: "lower",
      note: "what the table adds to a rule: the entry object and its map slot",
    });

    // The same, for flows that arrive as bucket snapshots (a backup, a failover).
    const received = 200_000;
    ctx.progress(`memory: decoding ${received.toLocaleString("en-US")} flows`);
    const messages: Uint8Array[] = [];
    for (let b = 0; b < received / 1000; b++) {
      const part = entries(rules(1000, stored + b * 1000));
      messages.push(buckets.encode({ bucket: b, term: TERM, timestamp: b + 1, entries: part }));
    }
    const beforeDecoded = settledHeap()!;
    const copy = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 1024 });
    for (const message of messages) {
      for (const e of buckets.decode(message).entries) copy.add(e, TERM);
    }
    const afterDecoded = settledHeap()!;
    // Read after the measurement, so that the table and the messages are alive when it is taken.
    if (copy.size !== received || messages.length !== received / 1000) {
      throw new Error(`decoded ${copy.size} of ${received} flows`);
    }
    ctx.record("heap per decoded flow", "bytes", (afterDecoded - beforeDecoded) / received, {
      better: "lower",
      note: `flows decoded from FlowBucket snapshots into a 1024-bucket table; ${received} flows; same as created ones`,
    });
  },
});
