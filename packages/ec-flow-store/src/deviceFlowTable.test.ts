import { nodeId } from "@flowstore/cluster-messaging";
import {
  createFlowEntry,
  createFlowRule,
  deviceId,
  type FlowBucket,
  type FlowRule,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { describe, expect, it } from "vitest";
import { DeviceFlowTable } from "./deviceFlowTable.js";
import { silentLogger } from "./logger.js";

const device = deviceId("of:00000000000000aa");
const [n1, n2] = [nodeId("n1"), nodeId("n2")];
const info = { term: 1, master: n1, backups: [n2] };

const rule = (i: number): FlowRule =>
  createFlowRule({
    deviceId: device,
    appId: 7,
    priority: 100 + i,
    criteria: [{ type: "IN_PORT", port: 1 + i }],
    treatment: { instructions: [{ type: "OUTPUT", port: 2 }] },
  });

/** A master of `device` in term 1 with one backup, active, holding `count` flows. */
async function activeMaster(count: number): Promise<DeviceFlowTable> {
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
  table.onLifecycle({ type: "TERM_START", info, previous: undefined });
  for (let i = 0; i < count; i++) {
    const r = rule(i);
    await table.write(table.table.bucketIndexOf(r.id), (t, term) =>
      t.add(createFlowEntry(r, { created: 1 }), term),
    );
  }
  expect(table.isActiveMaster).toBe(true);
  return table;
}

const sent = (buckets: readonly FlowBucket[]) =>
  new Map(buckets.map((b) => [b.index, b.timestamp]));
const accepted = { accepted: true, term: 1 } as const;

describe("DeviceFlowTable backups", () => {
  it("sends changed buckets once acknowledged, then nothing until something changes", async () => {
    const table = await activeMaster(20);
    const first = table.takeBackups(n2);
    expect(first.length).toBeGreaterThan(0);
    expect(table.takeBackups(n2)).toEqual([]); // in flight
    table.backupDone(n2, 1, sent(first), accepted);
    expect(table.takeBackups(n2)).toEqual([]);
    expect(table.unackedBuckets()).toBe(0);
    expect(table.hasUnackedChanges(n2)).toBe(false);

    const r = rule(3);
    await table.write(table.table.bucketIndexOf(r.id), (t, term) =>
      t.modify(r, (e) => withFlowEntry(e, { packets: 5 }), term),
    );
    expect(table.takeBackups(n2).map((b) => b.index)).toEqual([table.table.bucketIndexOf(r.id)]);
  });

  it("a failed send is sent again at the next round", async () => {
    const table = await activeMaster(10);
    const first = table.takeBackups(n2);
    table.backupDone(n2, 1, sent(first), undefined);
    expect(table.takeBackups(n2).map((b) => b.index)).toEqual(first.map((b) => b.index));
  });

  it("anti-entropy that finds a bucket missing on the backup makes a settled device send it", async () => {
    const table = await activeMaster(10);
    const first = table.takeBackups(n2);
    table.backupDone(n2, 1, sent(first), accepted);
    expect(table.takeBackups(n2)).toEqual([]);
    // The backup lost one bucket (it restarted, say): its digests lack it.
    const [lost, ...kept] = table.digests();
    table.reconcile(n2, kept);
    expect(table.takeBackups(n2).map((b) => b.index)).toEqual([lost!.bucket]);
  });

  it("a backup found in sync by its summary is owed nothing", async () => {
    const table = await activeMaster(10);
    expect(table.takeBackups(n2).length).toBeGreaterThan(0); // in flight, never acknowledged
    table.markInSync(n2, table.summary().checksum);
    expect(table.unackedBuckets()).toBe(0);
    expect(table.takeBackups(n2)).toEqual([]);
  });
});
