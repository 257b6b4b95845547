import { type NodeId, nodeId } from "@flowstore/cluster-messaging";
import { createFlowEntry, createFlowRule, deviceId, type FlowRule } from "@flowstore/flow-bucket";
import { NEVER, queueScheduler } from "rxjs";
import { describe, expect, it } from "vitest";
import { parseStoreConfig } from "./config.js";
import { DeviceFlowTable } from "./deviceFlowTable.js";
import { silentLogger } from "./logger.js";
import { storeNamespace } from "./messages.js";
import { Replicator } from "./replicator.js";
import { StoreChannel, type StoreMessaging } from "./storeMessaging.js";

const device = deviceId("of:00000000000000bb");
const [n1, n2] = [nodeId("n1"), nodeId("n2")];

const rule = (i: number): FlowRule =>
  createFlowRule({
    deviceId: device,
    appId: 7,
    priority: 1000,
    criteria: [{ type: "IPV4_DST", ip: `10.0.${(i >> 8) & 255}.${i & 255}/32` }],
    treatment: { instructions: [{ type: "OUTPUT", port: 2 }] },
  });

interface Sent {
  readonly entries: number;
  answer(): void;
}

/** A master of `device` (term 1, backup n2) and a replicator whose backup sends wait for `answer()`. */
async function setUp(flows: number) {
  const table = new DeviceFlowTable({
    deviceId: device,
    localNode: n1,
    bucketCount: 16,
    sync: { digests: async () => [], buckets: async () => [] },
    activate: async () => true,
    shouldDropCopies: () => false,
    log: silentLogger,
    wait: () => Promise.resolve(),
  });
  table.onLifecycle({
    type: "TERM_START",
    info: { term: 1, master: n1, backups: [n2] },
    previous: undefined,
  });
  const write = async (from: number, count: number) => {
    for (let i = from; i < from + count; i++) {
      const r = rule(i);
      await table.write(table.table.bucketIndexOf(r.id), (t, term) =>
        t.add(createFlowEntry(r, { created: 1 }), term),
      );
    }
  };
  await write(0, flows);
  const sent: Sent[] = [];
  const request = storeNamespace.serializer("BackupRequest");
  const reply = storeNamespace.serializer("BackupReply");
  const messaging: StoreMessaging = {
    localNode: n1,
    request: (_node: NodeId, _subject, payload) =>
      new Promise((resolve) => {
        const { devices } = request.decode(payload);
        const entries = devices.flatMap((d) => d.buckets).reduce((n, b) => n + b.entries.length, 0);
        sent.push({
          entries,
          answer: () =>
            resolve(reply.encode({ devices: devices.map(() => ({ accepted: true, term: 1 })) })),
        });
      }),
    serve: () => () => {},
  };
  const config = parseStoreConfig({});
  const replicator = new Replicator({
    channel: new StoreChannel(messaging),
    tables: () => [table],
    table: () => table,
    config$: NEVER, // no periodic rounds: the test calls them
    config: () => config,
    scheduler: queueScheduler,
    log: silentLogger,
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { table, replicator, sent, write, settle };
}

describe("Replicator follow-up sends", () => {
  it("changes made while a small backup was in flight are sent as soon as it is acknowledged", async () => {
    const { replicator, sent, write, settle } = await setUp(10);
    replicator.backupRound();
    expect(sent.map((s) => s.entries)).toEqual([10]);
    await write(10, 1);
    sent[0]!.answer();
    await settle();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.entries).toBeGreaterThan(0);
    replicator.close();
  });

  it("after a big backup, changes wait for the next round instead of resending at once", async () => {
    const { replicator, sent, write, settle } = await setUp(2000);
    replicator.backupRound();
    expect(sent.map((s) => s.entries)).toEqual([2000]);
    await write(2000, 1);
    sent[0]!.answer();
    await settle();
    expect(sent).toHaveLength(1);
    replicator.backupRound();
    expect(sent).toHaveLength(2);
    replicator.close();
  });
});
