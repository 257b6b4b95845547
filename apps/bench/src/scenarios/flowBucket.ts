import {
  createFlowEntry,
  createFlowRule,
  type DeviceId,
  deviceId,
  FlowBucketTable,
  type FlowEntry,
  type FlowRule,
  flowBucketNamespace,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { defineScenario, timeOps } from "../harness.js";

const DEVICE: DeviceId = deviceId("of:0000000000000001");
const T0 = 1_700_000_000_000;
const TERM = 1;

/**
 * A typical rule of a device with many host routes: in port, IPv4, a /32 destination of its
 * own, and one output port.
 */
function rule(i: number): FlowRule {
  return createFlowRule({
    deviceId: DEVICE,
    appId: 23,
    priority: 40000 + (i % 100),
    criteria: [
      { type: "IN_PORT", port: 1 + (i % 48) },
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
    ],
    treatment: { instructions: [{ type: "OUTPUT", port: 1 + ((i * 7) % 48) }] },
  });
}

function rules(count: number, offset = 0): FlowRule[] {
  const out = new Array<FlowRule>(count);
  for (let i = 0; i < count; i++) out[i] = rule(offset + i);
  return out;
}

function entries(of: readonly FlowRule[], created = T0): FlowEntry[] {
  return of.map((r) => createFlowEntry(r, { created, state: "ADDED" }));
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
 * function, remove; 128 and 1024 buckets), and the memory each stored flow costs.
 */
export const flowBucketScenario = defineScenario({
  name: "flow-bucket",
  description: "flow table core: add/update/remove ops/s on 100k flows, bytes per stored entry",
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
    await ctx.sample(
      "codec round trip of entries",
      "entries/s",
      () =>
        timeOps(batch.length * 5, () => {
          for (let i = 0; i < 5; i++) codec.decode(codec.encode(batch));
        }),
      { better: "higher", note: "FlowEntries encode + validated decode, 1000 per message" },
    );
    ctx.record("encoded size of an entry", "bytes", codec.encode(batch).length / batch.length, {
      better: "lower",
      note: "FlowEntries message of 1000 entries / 1000",
    });

    // Memory: the heap a stored flow costs, rule and all, over 1M flows. Rules first (what a
    // rule costs), then their entries (what the table adds), then the rules' array is dropped.
    const stored = 1_000_000;
    const start = settledHeap();
    if (start === undefined) {
      ctx.progress("no global.gc (run node with --expose-gc): memory figures skipped");
      return;
    }
    ctx.progress(`memory: storing ${stored.toLocaleString("en-US")} flows`);
    let many: FlowRule[] | undefined = rules(stored);
    const withRules = settledHeap()!;
    const big = new FlowBucketTable({ deviceId: DEVICE, bucketCount: 1024 });
    for (let i = 0; i < stored; i++) {
      big.add(createFlowEntry(many[i]!, { created: T0 + i, state: "ADDED" }), TERM);
    }
    const withEntries = settledHeap()!;
    many = undefined;
    const end = settledHeap()!;
    if (big.size !== stored) throw new Error(`stored ${big.size} of ${stored} flows`);
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
  },
});
