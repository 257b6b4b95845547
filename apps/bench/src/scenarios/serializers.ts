import { createNamespace } from "@flowstore/serializers";
import { z } from "zod";
import { defineScenario, timeOps } from "../harness.js";

/**
 * A flow-entry-shaped object as a controller stores it: 64-bit ids, a selector with 4–6
 * criteria, a treatment with 2–3 instructions, counters. Kept here, independent of the
 * flow-bucket model, so this scenario measures the codec layer alone.
 */
const Criterion = z.discriminatedUnion("type", [
  z.object({ type: z.literal("IN_PORT"), port: z.number().int() }),
  z.object({ type: z.literal("ETH_TYPE"), ethType: z.string() }),
  z.object({ type: z.literal("IPV4_SRC"), ip: z.string() }),
  z.object({ type: z.literal("IPV4_DST"), ip: z.string() }),
  z.object({ type: z.literal("IP_PROTO"), protocol: z.number().int() }),
  z.object({ type: z.literal("TCP_DST"), tcpPort: z.number().int() }),
]);
const Instruction = z.discriminatedUnion("type", [
  z.object({ type: z.literal("OUTPUT"), port: z.string() }),
  z.object({ type: z.literal("L2MODIFICATION"), subtype: z.string(), mac: z.string() }),
  z.object({ type: z.literal("QUEUE"), queueId: z.number().int() }),
]);
const Entry = z.object({
  id: z.bigint(),
  deviceId: z.string(),
  appId: z.number().int(),
  priority: z.number().int(),
  tableId: z.number().int(),
  timeout: z.number().int(),
  isPermanent: z.boolean(),
  state: z.enum(["PENDING_ADD", "ADDED", "PENDING_REMOVE", "REMOVED", "FAILED"]),
  selector: z.object({ criteria: z.array(Criterion) }),
  treatment: z.object({ instructions: z.array(Instruction) }),
  packets: z.number(),
  bytes: z.number(),
  life: z.number(),
  lastSeen: z.number(),
  created: z.number(),
});
type Entry = z.infer<typeof Entry>;

const namespace = createNamespace("bench")
  .register(1, "Entry", Entry)
  .register(2, "Entries", z.array(Entry))
  .build();

function entry(i: number): Entry {
  const criteria: Entry["selector"]["criteria"] = [
    { type: "IN_PORT", port: 1 + (i % 48) },
    { type: "ETH_TYPE", ethType: "0x800" },
    { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
    { type: "IP_PROTO", protocol: 6 },
  ];
  if (i % 2 === 0) criteria.push({ type: "IPV4_SRC", ip: `192.168.${(i >> 8) & 255}.0/24` });
  if (i % 3 === 0) criteria.push({ type: "TCP_DST", tcpPort: 80 + (i % 1000) });
  const instructions: Entry["treatment"]["instructions"] = [
    { type: "L2MODIFICATION", subtype: "ETH_DST", mac: "00:00:00:00:00:0A" },
    { type: "OUTPUT", port: String(1 + (i % 48)) },
  ];
  if (i % 4 === 0) instructions.push({ type: "QUEUE", queueId: i % 8 });
  return {
    id: (23n << 48n) | BigInt(i * 2654435761),
    deviceId: `of:${(1 + (i % 16)).toString(16).padStart(16, "0")}`,
    appId: 23,
    priority: 40000 + (i % 100),
    tableId: 0,
    timeout: 0,
    isPermanent: true,
    state: "ADDED",
    selector: { criteria },
    treatment: { instructions },
    packets: i * 17,
    bytes: i * 17 * 1500,
    life: 3600 + i,
    lastSeen: 1_700_000_000_000 + i,
    created: 1_699_999_000_000 + i,
  };
}

/** JSON has no bigint: the fairest JSON baseline writes them as strings, as ONOS's REST API does. */
const jsonReplacer = (_key: string, value: unknown) =>
  typeof value === "bigint" ? value.toString() : value;

const BATCH = 256;

export const serializersScenario = defineScenario({
  name: "serializers",
  description:
    "encode/decode of flow-entry-shaped objects, singly and in batches of 256, against JSON.stringify/parse of the same objects",
  async run(ctx) {
    const count = ctx.quick ? 50_000 : 200_000;
    const entries = Array.from({ length: count }, (_, i) => entry(i));
    const batches: Entry[][] = [];
    for (let i = 0; i < count; i += BATCH) batches.push(entries.slice(i, i + BATCH));
    const single = namespace.serializer("Entry");
    const batch = namespace.serializer("Entries");
    const encodedSingle = entries.map((e) => single.encode(e));
    const encodedBatches = batches.map((b) => batch.encode(b));
    const jsonSingle = entries.map((e) => JSON.stringify(e, jsonReplacer));
    const jsonBatches = batches.map((b) => JSON.stringify(b, jsonReplacer));
    const options = { runs: ctx.quick ? 5 : 9, warmup: 2, better: "higher" as const };

    ctx.record(
      "bytes per entry, msgpack (single)",
      "B",
      average(encodedSingle.map((b) => b.length)),
    );
    ctx.record(
      "bytes per entry, JSON (single)",
      "B",
      average(jsonSingle.map((s) => Buffer.byteLength(s))),
    );
    ctx.record(
      "bytes per entry, msgpack (batch of 256)",
      "B",
      sum(encodedBatches.map((b) => b.length)) / count,
    );
    ctx.record(
      "bytes per entry, JSON (batch of 256)",
      "B",
      sum(jsonBatches.map((s) => Buffer.byteLength(s))) / count,
    );

    let sink = 0;
    const measure = (name: string, body: () => void) =>
      ctx.sample(name, "entries/s", () => timeOps(count, body), options);

    ctx.progress("single entries");
    const encodeOne = await measure("encode single, flowstore", () => {
      for (const e of entries) sink += single.encode(e).length;
    });
    const encodeOneJson = await measure("encode single, JSON.stringify", () => {
      for (const e of entries) sink += JSON.stringify(e, jsonReplacer).length;
    });
    const decodeOne = await measure("decode single, flowstore (validated)", () => {
      for (const b of encodedSingle) sink += single.decode(b).priority;
    });
    const decodeOneJson = await measure("decode single, JSON.parse (not validated)", () => {
      for (const s of jsonSingle) sink += (JSON.parse(s) as Entry).priority;
    });

    ctx.progress("batches of 256");
    const encodeBatch = await measure("encode batch, flowstore", () => {
      for (const b of batches) sink += batch.encode(b).length;
    });
    const encodeBatchJson = await measure("encode batch, JSON.stringify", () => {
      for (const b of batches) sink += JSON.stringify(b, jsonReplacer).length;
    });
    const decodeBatch = await measure("decode batch, flowstore (validated)", () => {
      for (const b of encodedBatches) sink += batch.decode(b).length;
    });
    const decodeBatchJson = await measure("decode batch, JSON.parse (not validated)", () => {
      for (const s of jsonBatches) sink += (JSON.parse(s) as Entry[]).length;
    });
    const validatedJsonSchema = z.array(Entry.extend({ id: z.string().transform(BigInt) }));
    const decodeBatchJsonValidated = await measure(
      "decode batch, JSON.parse + zod (validated)",
      () => {
        for (const s of jsonBatches) sink += validatedJsonSchema.parse(JSON.parse(s)).length;
      },
    );

    ctx.ratio("encode single vs JSON", encodeOne, encodeOneJson);
    ctx.ratio("decode single vs JSON", decodeOne, decodeOneJson);
    ctx.ratio("encode batch vs JSON", encodeBatch, encodeBatchJson);
    ctx.ratio("decode batch vs JSON", decodeBatch, decodeBatchJson);
    ctx.ratio("decode batch vs JSON + zod (both validated)", decodeBatch, decodeBatchJsonValidated);
    if (sink === 0) throw new Error("nothing was measured");
  },
});

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function average(values: readonly number[]): number {
  return sum(values) / values.length;
}
