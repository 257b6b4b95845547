import { type NodeId, nodeId } from "@flowstore/cluster-messaging";
import {
  createFlowEntry,
  createFlowRule,
  deviceId,
  type FlowRule,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { asyncScheduler, NEVER, queueScheduler, type SchedulerLike, Subscription } from "rxjs";
import { describe, expect, it } from "vitest";
import { parseStoreConfig } from "../config.js";
import { silentLogger } from "../logger.js";
import { storeNamespace } from "../messages.js";
import { StoreChannel, type StoreMessaging } from "../storeMessaging.js";
import { testDeviceTable } from "../testing/deviceTable.js";
import { Replicator } from "./replicator.js";

const device = deviceId("of:00000000000000bb");
const [n1, n2, n3] = [nodeId("n1"), nodeId("n2"), nodeId("n3")];

const rule = (i: number): FlowRule =>
  createFlowRule({
    deviceId: device,
    appId: 7,
    priority: 1000,
    criteria: [{ type: "IPV4_DST", ip: `10.0.${(i >> 8) & 255}.${i & 255}/32` }],
    treatment: { instructions: [{ type: "OUTPUT", port: 2 }] },
  });

interface Sent {
  readonly node: NodeId;
  /** The bytes sent. */
  readonly payload: Uint8Array;
  readonly entries: number;
  answer(): void;
  fail(): void;
}

/**
 * A master of `device` (term 1, backup n2) and a replicator whose backup sends wait for
 * `answer()` or `fail()`; anti-entropy requests are counted in `summaries` and never answered.
 */
async function setUp(
  flows: number,
  options: { maxEntriesPerMessage?: number; backups?: NodeId[]; scheduler?: SchedulerLike } = {},
) {
  const { backups = [n2], ...replicatorOptions } = options;
  const table = testDeviceTable(device, n1);
  table.onLifecycle({
    type: "TERM_START",
    info: { term: 1, master: n1, backups },
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
  let summaries = 0;
  const request = storeNamespace.serializer("BackupRequest");
  const reply = storeNamespace.serializer("BackupReply");
  const messaging: StoreMessaging = {
    localNode: n1,
    request: (node: NodeId, subject, payload) =>
      new Promise((resolve, reject) => {
        if (subject !== "flowstore.backup") {
          summaries++;
          return;
        }
        const { devices } = request.decode(payload);
        const entries =
          devices.flatMap((d) => d.buckets).reduce((n, b) => n + b.entries.length, 0) +
          devices
            .flatMap((d) => d.deltas)
            .reduce((n, d) => n + d.entries.length + d.removed.length, 0);
        sent.push({
          node,
          payload,
          entries,
          answer: () =>
            resolve(
              reply.encode({
                devices: devices.map(() => ({ accepted: true, term: 1, missingBase: [] })),
              }),
            ),
          fail: () => reject(new Error("timed out")),
        });
      }),
    serve: () => Subscription.EMPTY,
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
    ...replicatorOptions,
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { table, replicator, sent, write, settle, summaries: () => summaries };
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

  it("every round that ends with more owed starts the next, and every write is sent, with a scheduler that runs at once", async () => {
    const { table, replicator, sent, write, settle } = await setUp(10);
    replicator.backupRound();
    for (let round = 1; round <= 4; round++) {
      await write(10 * round, 1);
      sent[round - 1]!.answer();
      await settle();
      expect(sent).toHaveLength(round + 1);
      expect(sent[round]!.entries).toBeGreaterThan(0);
    }
    sent[4]!.answer();
    await settle();
    expect(sent).toHaveLength(5);
    expect(table.unackedBuckets()).toBe(0);
    // Writes after that go out on the scheduler's next turn, every time.
    for (let i = 1; i <= 2; i++) {
      await write(100 + i, 1);
      replicator.changed(table);
      expect(sent).toHaveLength(5 + i);
      sent[4 + i]!.answer();
      await settle();
    }
    expect(table.unackedBuckets()).toBe(0);
    replicator.close();
  });

  it("after a big backup, changes made meanwhile follow at once, as a delta of just those changes", async () => {
    const { replicator, sent, write, settle } = await setUp(2000);
    replicator.backupRound();
    expect(sent.map((s) => s.entries)).toEqual([2000]);
    await write(2000, 1);
    sent[0]!.answer();
    await settle();
    expect(sent.map((s) => s.entries)).toEqual([2000, 1]);
    replicator.close();
  });

  it("a round ending takes what the rest of its turn does: each flow once, as its device acknowledged it, one message for both backups", async () => {
    const { table, replicator, sent, write, settle } = await setUp(10, {
      backups: [n2, n3],
      scheduler: asyncScheduler,
    });
    replicator.backupRound();
    expect(sent.map((s) => [s.node, s.entries])).toEqual([
      [n2, 10],
      [n3, 10],
    ]);
    // Ten flows written while the round is out. Their device acknowledges them later in this
    // turn of the event loop, as the node's flow manager reports installed flows: ADDED.
    await write(10, 10);
    setImmediate(() => {
      for (let i = 10; i < 20; i++) {
        const r = rule(i);
        void table.write(table.table.bucketIndexOf(r.id), (t, term) =>
          t.modify(r, (stored) => withFlowEntry(stored, { state: "ADDED" }), term),
        );
      }
    });
    sent[0]!.answer();
    sent[1]!.answer();
    await settle();
    await settle();
    const followUps = sent.slice(2);
    expect(followUps.map((s) => s.node)).toEqual([n2, n3]);
    const late = new Set(Array.from({ length: 10 }, (_, i) => rule(10 + i).id));
    const written = (payload: Uint8Array) =>
      storeNamespace
        .serializer("BackupRequest")
        .decode(payload)
        .devices.flatMap((d) => [...d.buckets, ...d.deltas])
        .flatMap((b) => b.entries)
        .filter((e) => late.has(e.rule.id))
        .map((e) => `${e.rule.id}:${e.state}`)
        .sort();
    const expected = Array.from({ length: 10 }, (_, i) => `${rule(10 + i).id}:ADDED`).sort();
    expect(written(followUps[0]!.payload)).toEqual(expected);
    // Encoded once, for both.
    expect(followUps[1]!.payload).toBe(followUps[0]!.payload);
    replicator.close();
  });

  it("a write goes to the backups on the scheduler's next turn, not at the next period", async () => {
    const { table, replicator, sent, write, settle } = await setUp(10);
    replicator.changed(table); // the queue scheduler runs the next turn at once
    expect(sent.map((s) => s.entries)).toEqual([10]);
    // Writes while that message is out wait for its acknowledgement, then go together.
    await write(10, 2);
    replicator.changed(table);
    replicator.changed(table);
    expect(sent).toHaveLength(1);
    sent[0]!.answer();
    await settle();
    expect(sent.map((s) => s.entries)).toEqual([10, 2]);
    sent[1]!.answer();
    await settle();
    expect(sent).toHaveLength(2);
    expect(table.unackedBuckets()).toBe(0);
    replicator.close();
  });
});

describe("Replicator flow control", () => {
  it("sends a round bigger than one message one message at a time, each after the last is acknowledged", async () => {
    const { table, replicator, sent, settle } = await setUp(2000, { maxEntriesPerMessage: 500 });
    replicator.backupRound();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.entries).toBeLessThanOrEqual(500);
    // Another round while this one is going out adds nothing to the wire.
    replicator.backupRound();
    expect(sent).toHaveLength(1);
    for (let i = 0; i < sent.length; i++) {
      expect(sent).toHaveLength(i + 1);
      sent[i]!.answer();
      await settle();
    }
    expect(sent.length).toBeGreaterThanOrEqual(4);
    expect(sent.reduce((n, s) => n + s.entries, 0)).toBe(2000);
    expect(table.unackedBuckets()).toBe(0);
    replicator.close();
  });

  it("drops the rest of a round when a message fails, and the next round sends what is still owed", async () => {
    const { table, replicator, sent, settle } = await setUp(2000, { maxEntriesPerMessage: 500 });
    replicator.backupRound();
    sent[0]!.answer();
    await settle();
    expect(sent).toHaveLength(2);
    const acked = sent[0]!.entries;
    sent[1]!.fail();
    await settle();
    expect(sent).toHaveLength(2);
    expect(table.unackedBuckets()).toBeGreaterThan(0);
    replicator.backupRound();
    for (let i = 2; i < sent.length; i++) {
      sent[i]!.answer();
      await settle();
    }
    expect(sent.slice(2).reduce((n, s) => n + s.entries, 0)).toBe(2000 - acked);
    expect(table.unackedBuckets()).toBe(0);
    replicator.close();
  });

  it("leaves anti-entropy with a backup for later while a backlog is going out to it, not a single message", async () => {
    const { table, replicator, sent, write, settle, summaries } = await setUp(2000, {
      maxEntriesPerMessage: 500,
    });
    replicator.backupRound();
    replicator.antiEntropyRound();
    expect(summaries()).toBe(0);
    for (let i = 0; i < sent.length; i++) {
      sent[i]!.answer();
      await settle();
    }
    replicator.antiEntropyRound();
    expect(summaries()).toBe(1);
    // One small message out (as under a steady write load): anti-entropy goes ahead.
    await write(2000, 1);
    replicator.changed(table);
    expect(sent.at(-1)!.entries).toBe(1);
    replicator.antiEntropyRound();
    expect(summaries()).toBe(2);
    replicator.close();
  });
});

describe("Replicator rounds to several backups", () => {
  it("a change owed alike to two backups is encoded once and sent to both", async () => {
    const { table, replicator, sent, write, settle } = await setUp(10, { backups: [n2, n3] });
    replicator.backupRound();
    expect(sent.map((s) => [s.node, s.entries])).toEqual([
      [n2, 10],
      [n3, 10],
    ]);
    for (const s of sent) s.answer();
    await settle();
    await write(10, 5);
    replicator.changed(table);
    const [toN2, toN3] = sent.slice(2);
    expect([toN2?.node, toN3?.node]).toEqual([n2, n3]);
    // A delta: the buckets the new flows went to, not the table.
    expect(toN2?.entries).toBeGreaterThanOrEqual(5);
    expect(toN2?.entries).toBeLessThan(15);
    expect(toN3?.entries).toBe(toN2?.entries);
    expect(toN3?.payload).toBe(toN2?.payload);
    toN2?.answer();
    toN3?.answer();
    await settle();
    expect(table.unackedBuckets()).toBe(0);
    replicator.close();
  });

  it("backups owed different things each get their own", async () => {
    const { table, replicator, sent, write, settle } = await setUp(10, { backups: [n2, n3] });
    replicator.backupRound();
    sent[0]!.answer();
    sent[1]!.fail(); // n3 holds nothing: it is owed every bucket whole
    await settle();
    await write(10, 5);
    replicator.changed(table);
    const [toN2, toN3] = sent.slice(2);
    expect(toN2?.entries).toBeLessThan(15);
    expect(toN3?.entries).toBe(15);
    expect(toN3?.payload).not.toBe(toN2?.payload);
    toN2?.answer();
    toN3?.answer();
    await settle();
    expect(table.unackedBuckets()).toBe(0);
    replicator.close();
  });
});
