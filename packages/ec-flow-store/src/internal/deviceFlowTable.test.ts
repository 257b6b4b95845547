import { type NodeId, nodeId } from "@flowstore/cluster-messaging";
import {
  createFlowEntry,
  createFlowRule,
  deviceId,
  type FlowRule,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../logger.js";
import { testDeviceTable } from "../testing/deviceTable.js";
import type { DeviceFlowTable } from "./deviceFlowTable.js";

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

/** `device`'s table on `node`, in term 1 (master n1, backup n2). */
function tableOn(node: NodeId): DeviceFlowTable {
  const table = testDeviceTable(device, node);
  table.onLifecycle({ type: "TERM_START", info, previous: undefined });
  return table;
}

/** A master of `device` in term 1 with one backup, active, holding `count` flows. */
async function activeMaster(count: number): Promise<DeviceFlowTable> {
  const table = tableOn(n1);
  for (let i = 0; i < count; i++) {
    const r = rule(i);
    await table.write(table.table.bucketIndexOf(r.id), (t, term) =>
      t.add(createFlowEntry(r, { created: 1 }), term),
    );
  }
  expect(table.isActiveMaster).toBe(true);
  return table;
}

const accepted = { accepted: true, term: 1, missingBase: [] } as const;

describe("DeviceFlowTable backups", () => {
  it("sends changed buckets once acknowledged, then nothing until something changes", async () => {
    const table = await activeMaster(20);
    const first = table.takeBackups(n2);
    expect(first.length).toBeGreaterThan(0);
    expect(table.takeBackups(n2)).toEqual([]); // in flight
    table.backupDone(n2, 1, first, accepted);
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
    table.backupDone(n2, 1, first, undefined);
    expect(table.takeBackups(n2).map((b) => b.index)).toEqual(first.map((b) => b.index));
  });

  it("anti-entropy that finds a bucket missing on the backup makes a settled device send it", async () => {
    const table = await activeMaster(10);
    const first = table.takeBackups(n2);
    table.backupDone(n2, 1, first, accepted);
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

describe("DeviceFlowTable deltas", () => {
  /** One backup round from `master` to `backup`, answered; returns what was sent. */
  function round(master: DeviceFlowTable, backup: DeviceFlowTable) {
    const payloads = master.takeBackups(n2);
    const verdict = backup.receiveBackup(
      1,
      payloads.flatMap((p) => (p.kind === "whole" ? [p.snapshot] : [])),
      payloads.flatMap((p) => (p.kind === "delta" ? [p.delta] : [])),
    );
    master.backupDone(n2, 1, payloads, verdict);
    return payloads;
  }

  const contents = (table: DeviceFlowTable) =>
    new Map([...table.table.buckets()].map((b) => [b.index, new Set(b.entries())]));

  it("sends a bucket whole once, then only what changed in it, and the backup ends up equal", async () => {
    const master = await activeMaster(800);
    const backup = tableOn(n2);
    const first = round(master, backup);
    expect(first.every((p) => p.kind === "whole")).toBe(true);
    expect(first.reduce((n, p) => n + p.size, 0)).toBe(800);

    const [changed, removed, added] = [rule(3), rule(4), rule(500)];
    await master.write(master.table.bucketIndexOf(changed.id), (t, term) =>
      t.modify(changed, (e) => withFlowEntry(e, { packets: 9 }), term),
    );
    await master.write(master.table.bucketIndexOf(removed.id), (t, term) =>
      t.remove(removed, term),
    );
    await master.write(master.table.bucketIndexOf(added.id), (t, term) =>
      t.add(createFlowEntry(added, { created: 2 }), term),
    );
    const second = round(master, backup);
    expect(second.every((p) => p.kind === "delta")).toBe(true);
    expect(second.reduce((n, p) => n + p.size, 0)).toBe(3);
    expect(contents(backup)).toEqual(contents(master));
    expect(backup.table.summary()).toEqual(master.table.summary());
    expect(master.unackedBuckets()).toBe(0);
  });

  it("a backup whose copy is not the delta's base keeps it and gets the bucket whole next", async () => {
    const master = await activeMaster(800);
    const backup = tableOn(n2);
    round(master, backup);
    const r = rule(7);
    const index = master.table.bucketIndexOf(r.id);
    // The backup's copy of that bucket is lost (it restarted, say) without the master knowing.
    backup.table.bucket(index)?.clear();
    await master.write(index, (t, term) =>
      t.modify(r, (e) => withFlowEntry(e, { packets: 1 }), term),
    );
    const sent = round(master, backup);
    expect(sent.map((p) => [p.index, p.kind])).toEqual([[index, "delta"]]);
    expect(backup.table.bucket(index)?.size).toBe(0); // not half-applied
    const resent = round(master, backup);
    expect(resent.map((p) => [p.index, p.kind])).toEqual([[index, "whole"]]);
    expect(contents(backup)).toEqual(contents(master));
  });

  it("anti-entropy that finds a backup merely behind leaves it a delta, not the whole bucket", async () => {
    const master = await activeMaster(800);
    const backup = tableOn(n2);
    round(master, backup);
    const r = rule(9);
    await master.write(master.table.bucketIndexOf(r.id), (t, term) =>
      t.modify(r, (e) => withFlowEntry(e, { packets: 3 }), term),
    );
    // The backup holds every bucket at the version it acknowledged: behind by one change.
    expect(master.reconcile(n2, backup.digests())).toEqual([]);
    const sent = round(master, backup);
    expect(sent.map((p) => [p.index, p.kind, p.size])).toEqual([
      [master.table.bucketIndexOf(r.id), "delta", 1],
    ]);
    expect(contents(backup)).toEqual(contents(master));
  });
});

describe("the lease guard", () => {
  it("a master whose lease is not provably fresh applies no write, and writes again once it is", async () => {
    let fresh = true;
    const table = testDeviceTable(device, n1, { leaseFresh: () => fresh });
    table.onLifecycle({ type: "TERM_START", info, previous: undefined });
    const write = (i: number) =>
      table.write(table.table.bucketIndexOf(rule(i).id), (t, term) =>
        t.add(createFlowEntry(rule(i), { created: 1 }), term),
      );
    await write(0);
    expect(table.isActiveMaster).toBe(true);
    fresh = false; // a stall: the last keep-alive answer is older than the lease allows
    await expect(write(1)).rejects.toMatchObject({ code: "NOT_MASTER" });
    expect(table.table.size).toBe(1);
    fresh = true;
    await write(2);
    expect(table.table.size).toBe(2);
  });
});

describe("synchronization from a stalled master", () => {
  it("gives up a live but silent master of the last activated term after syncTimeout", async () => {
    const n3 = nodeId("n3");
    const warnings: string[] = [];
    let activated = false;
    const table = testDeviceTable(device, n2, {
      sync: {
        // n1 (the stalled master) never answers; n3 (a backup) does at once.
        digests: (node) =>
          node === n1
            ? new Promise(() => {})
            : Promise.resolve({
                digests: [],
                activated: { term: 1, master: n1, backups: [n2, n3] },
              }),
        buckets: async () => [],
      },
      activate: async () => {
        activated = true;
        return true;
      },
      log: { ...silentLogger, warn: (message) => warnings.push(message) },
      wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      isNodeAlive: () => true,
      syncTimeout: 300,
      retryDelay: 50,
      now: () => Date.now(),
    });
    table.onLifecycle({ type: "TERM_ACTIVE", info: { term: 1, master: n1, backups: [n2, n3] } });
    table.onLifecycle({
      type: "TERM_START",
      info: { term: 2, master: n2, backups: [n3] },
      previous: { term: 1, master: n1, backups: [n2, n3] },
    });
    // Its request to n1 never returns: before the fix the sync waited on it for good.
    for (let i = 0; i < 100 && !activated; i++) await new Promise((r) => setTimeout(r, 20));
    expect(activated).toBe(true);
    expect(warnings).toContain("previous master did not answer");
  });
});

describe("reads on a new master", () => {
  it("wait until the term is active, so they see what the previous master acknowledged", async () => {
    // n1 mastered term 1 and holds a flow; n2 becomes master in term 2 and synchronizes
    // from it. Before the fix a read on n2 during the sync answered from its empty copy: the
    // REST delete of that flow found nothing and answered 204, and the flow stayed.
    const previous = await activeMaster(1);
    const wanted = rule(0);
    let release = () => {};
    const answered = new Promise<void>((resolve) => {
      release = resolve;
    });
    const table = testDeviceTable(device, n2, {
      sync: {
        digests: async () => {
          await answered;
          return { digests: previous.digests(), activated: info };
        },
        buckets: async (_node, _device, _term, indices) => previous.snapshots(indices),
      },
    });
    table.onLifecycle({ type: "TERM_ACTIVE", info });
    table.onLifecycle({
      type: "TERM_START",
      info: { term: 2, master: n2, backups: [n1] },
      previous: info,
    });
    expect(table.isMaster).toBe(true);
    expect(table.isActiveMaster).toBe(false);
    const read = table.read((t) => t.find(wanted));
    let settled = false;
    void read.then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(settled).toBe(false); // still synchronizing
    release();
    expect((await read)?.rule.id).toBe(wanted.id);
    expect(table.isActiveMaster).toBe(true);
  });

  it("a sync answered a few buckets at a time still brings every bucket over", async () => {
    // A replica answers as many buckets as fit in one message (a large table passed the
    // cluster's 16 MiB frame limit in one answer); the new master asks again for the rest.
    const previous = await activeMaster(300);
    const within = previous.snapshotsWithin(
      Array.from({ length: 16 }, (_, i) => i),
      40,
    );
    expect(within.length).toBeGreaterThan(0);
    expect(within.length).toBeLessThan(16);
    expect(
      within.slice(1).reduce((n, b) => n + b.entries.length, within[0]!.entries.length),
    ).toBeLessThanOrEqual(Math.max(40, within[0]!.entries.length));
    let requests = 0;
    const table = testDeviceTable(device, n2, {
      sync: {
        digests: async () => ({ digests: previous.digests(), activated: info }),
        buckets: async (_node, _device, _term, indices) => {
          requests++;
          return previous.snapshotsWithin(indices, 40);
        },
      },
    });
    table.onLifecycle({ type: "TERM_ACTIVE", info });
    table.onLifecycle({
      type: "TERM_START",
      info: { term: 2, master: n2, backups: [n1] },
      previous: info,
    });
    expect(await table.read((t) => t.size)).toBe(300);
    expect(requests).toBeGreaterThan(1);
  });

  it("are refused on a node that is not the master", async () => {
    const backup = tableOn(n2);
    await expect(backup.read((t) => t.size)).rejects.toMatchObject({ code: "NOT_MASTER" });
  });
});
