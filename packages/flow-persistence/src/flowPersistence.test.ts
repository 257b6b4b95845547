import { createHash } from "node:crypto";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type DeviceId,
  deviceId,
  type FlowEntry,
  flowBucketNamespace,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { pack } from "@flowstore/serializers";
import { type Key, open } from "lmdb";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_CHANGE_RECORDS } from "./bucketLog.js";
import { persistenceNamespace } from "./codecs.js";
import { FlowPersistence, type PersistedDevice } from "./flowPersistence.js";
import { headKey, recordKey } from "./layout.js";
import { PersistenceError } from "./persistenceError.js";
import { BASE_TYPE_ID, RecordCodec } from "./recordCodec.js";
import { writeFormatV1Directory } from "./testing/formatV1Directory.js";
import { tempDir, testDevice, testEntry } from "./testing/tables.js";

/** What `load` gave, its buckets as plain snapshots (their entries decoded). */
function plain(devices: readonly PersistedDevice[]) {
  return devices.map((device) => ({
    ...device,
    buckets: device.buckets.map((bucket) => bucket.snapshot()),
  }));
}

const d1 = testDevice(1);
const d2 = testDevice(2);
const e = (device: DeviceId, i: number): FlowEntry => testEntry(device, i);

let dir = "";
let remove: () => Promise<void> = async () => {};
const opened: FlowPersistence[] = [];

beforeEach(async () => {
  ({ dir, remove } = await tempDir());
});

afterEach(async () => {
  for (const persistence of opened.splice(0)) await persistence.close();
  await remove();
});

async function openStore(
  options: {
    cluster?: string;
    node?: string;
    maxRecordsPerTransaction?: number;
    warnings?: string[];
  } = {},
): Promise<FlowPersistence> {
  const warnings = options.warnings;
  const persistence = await FlowPersistence.open({
    dir,
    cluster: options.cluster ?? "lab",
    node: options.node ?? "n1",
    commitInterval: 10_000, // the tests flush; one test checks the interval itself
    ...(options.maxRecordsPerTransaction === undefined
      ? {}
      : { maxRecordsPerTransaction: options.maxRecordsPerTransaction }),
    ...(warnings === undefined
      ? {}
      : { log: { warn: (message: string) => warnings.push(message), info: () => {} } }),
  });
  opened.push(persistence);
  return persistence;
}

/** Closes `persistence`, reopens the directory and loads it. */
async function reopen(persistence: FlowPersistence): Promise<[FlowPersistence, PersistedDevice[]]> {
  await persistence.close();
  opened.splice(opened.indexOf(persistence), 1);
  const again = await openStore();
  return [again, await again.load()];
}

/** The flow ids of each bucket of `device`, as loaded. */
function contents(loaded: readonly PersistedDevice[], device: DeviceId) {
  const found = loaded.find((d) => d.deviceId === device);
  return Object.fromEntries(
    (found?.buckets ?? []).map((b) => [b.bucket, b.entries.map((entry) => entry.rule.id).sort()]),
  );
}

const ids = (...entries: FlowEntry[]) => entries.map((entry) => entry.rule.id).sort();

/** A hash of every file in the directory: to show a refused directory is left as it was. */
async function fingerprint(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of (await readdir(path)).sort()) {
    if (file === "lock.mdb") continue; // LMDB's reader table, not data
    const bytes = await readFile(join(path, file));
    out[file] = createHash("sha256").update(bytes).digest("hex");
  }
  return out;
}

describe("FlowPersistence", () => {
  it("loads what was staged and flushed, after a reopen", async () => {
    const store = await openStore();
    expect(plain(await store.load())).toEqual([]);
    const a = [e(d1, 1), e(d1, 2)];
    const b = [e(d2, 3)];
    store.stageBucket(d1, { bucket: 3, term: 2, timestamp: 7, upserts: a, removed: [], flows: 2 });
    store.stageBucket(d2, { bucket: 0, term: 4, timestamp: 1, upserts: b, removed: [], flows: 1 });
    await store.flush();
    expect(store.stats()).toMatchObject({ flows: 3, buckets: 2, staged: 0, commits: 1 });

    const [, loaded] = await reopen(store);
    a.sort((x, y) => (x.rule.id < y.rule.id ? -1 : 1)); // a bucket's entries come by flow id
    expect(loaded.map((d) => d.buckets.map((bucket) => bucket.size))).toEqual([[2], [1]]);
    expect(plain(loaded)).toEqual([
      { deviceId: d1, highestTerm: 2, buckets: [{ bucket: 3, term: 2, timestamp: 7, entries: a }] },
      { deviceId: d2, highestTerm: 4, buckets: [{ bucket: 0, term: 4, timestamp: 1, entries: b }] },
    ]);
  });

  it("keeps an entry's state and counters as staged", async () => {
    const store = await openStore();
    const entry = withFlowEntry(e(d1, 1), { state: "ADDED", packets: 10, bytes: 2 ** 40, life: 3 });
    store.stageBucket(d1, {
      bucket: 1,
      term: 1,
      timestamp: 1,
      upserts: [entry],
      removed: [],
      flows: 1,
    });
    const [, loaded] = await reopen(store);
    expect(loaded[0]?.buckets[0]?.entries[0]).toEqual(entry);
  });

  it("coalesces several stagings of a bucket into their net effect", async () => {
    const store = await openStore();
    const [a, b, c] = [e(d1, 1), e(d1, 2), e(d1, 3)];
    store.stageBucket(d1, {
      bucket: 0,
      term: 1,
      timestamp: 1,
      upserts: [a, b],
      removed: [],
      flows: 2,
    });
    store.stageBucket(d1, {
      bucket: 0,
      term: 1,
      timestamp: 2,
      upserts: [c],
      removed: [a.rule.id],
      flows: 2,
    });
    const b2 = withFlowEntry(b, { state: "ADDED" });
    store.stageBucket(d1, {
      bucket: 0,
      term: 2,
      timestamp: 3,
      upserts: [b2],
      removed: [],
      flows: 2,
    });
    expect(store.stats().staged).toBe(1 + 2 + 1); // the stamp, b and c, a's removal
    await store.flush();
    // A new bucket: its head and a base of b and c (a's removal is moot), and the term.
    expect(store.stats().lastCommitRecords).toBe(1 + 2 + 1);

    const [, loaded] = await reopen(store);
    const bucket = loaded[0]?.buckets[0];
    expect(bucket).toMatchObject({ bucket: 0, term: 2, timestamp: 3 });
    expect(bucket?.entries).toEqual([b2, c].sort((x, y) => (x.rule.id < y.rule.id ? -1 : 1)));
  });

  it("removes flows from a bucket stored by an earlier commit", async () => {
    const store = await openStore();
    const [a, b] = [e(d1, 1), e(d1, 2)];
    store.stageBucket(d1, {
      bucket: 5,
      term: 1,
      timestamp: 1,
      upserts: [a, b],
      removed: [],
      flows: 2,
    });
    await store.flush();
    store.stageBucket(d1, {
      bucket: 5,
      term: 1,
      timestamp: 2,
      upserts: [],
      removed: [a.rule.id],
      flows: 1,
    });
    await store.flush();
    const [, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual({ 5: ids(b) });
    expect(loaded[0]?.buckets[0]?.timestamp).toBe(2);
  });

  it("replaces a whole bucket, and keeps the stamp of a bucket left empty", async () => {
    const store = await openStore();
    const [a, b, c, d] = [e(d1, 1), e(d1, 2), e(d1, 3), e(d1, 4)];
    store.stageBucket(d1, {
      bucket: 2,
      term: 1,
      timestamp: 1,
      upserts: [a, b, c],
      removed: [],
      flows: 3,
    });
    store.stageBucket(d1, {
      bucket: 3,
      term: 1,
      timestamp: 1,
      upserts: [d],
      removed: [],
      flows: 1,
    });
    await store.flush();
    const c2 = withFlowEntry(c, { state: "ADDED" });
    store.stageBucket(d1, {
      bucket: 2,
      term: 3,
      timestamp: 9,
      upserts: [c2, d],
      removed: [],
      flows: 2,
      whole: true,
    });
    store.stageBucket(d1, {
      bucket: 3,
      term: 3,
      timestamp: 9,
      upserts: [],
      removed: [],
      flows: 0,
      whole: true,
    });
    await store.flush();
    const [, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual({ 2: ids(c2, d), 3: [] });
    expect(loaded[0]?.buckets.find((bucket) => bucket.bucket === 2)?.entries).toContainEqual(c2);
    expect(loaded[0]?.buckets.map(({ term, timestamp }) => [term, timestamp])).toEqual([
      [3, 9],
      [3, 9],
    ]);
  });

  it("a partial change after a whole one stays whole, and a later whole one discards the earlier", async () => {
    const store = await openStore();
    const [a, b, c] = [e(d1, 1), e(d1, 2), e(d1, 3)];
    store.stageBucket(d1, {
      bucket: 0,
      term: 1,
      timestamp: 1,
      upserts: [a],
      removed: [],
      flows: 1,
    });
    await store.flush();
    store.stageBucket(d1, {
      bucket: 0,
      term: 1,
      timestamp: 2,
      upserts: [b],
      removed: [],
      flows: 1,
      whole: true,
    });
    store.stageBucket(d1, {
      bucket: 0,
      term: 1,
      timestamp: 3,
      upserts: [c],
      removed: [b.rule.id],
      flows: 1,
    });
    await store.flush();
    const [, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual({ 0: ids(c) }); // a went with the whole replacement
  });

  it("drops every bucket of a device, and only of that device, keeping its term", async () => {
    const store = await openStore();
    const short = deviceId("of:1");
    const long = deviceId("of:12"); // its keys sort right after of:1's
    store.stageBucket(short, {
      bucket: 0,
      term: 5,
      timestamp: 1,
      upserts: [e(short, 1)],
      removed: [],
      flows: 1,
    });
    store.stageBucket(short, {
      bucket: 7,
      term: 5,
      timestamp: 1,
      upserts: [e(short, 2)],
      removed: [],
      flows: 1,
    });
    store.stageBucket(long, {
      bucket: 0,
      term: 2,
      timestamp: 1,
      upserts: [e(long, 3)],
      removed: [],
      flows: 1,
    });
    await store.flush();
    store.stageDropDevice(short);
    await store.flush();
    const [again, loaded] = await reopen(store);
    expect(
      loaded.map(({ deviceId, highestTerm, buckets }) => [deviceId, highestTerm, buckets.length]),
    ).toEqual([
      [short, 5, 0],
      [long, 2, 1],
    ]);
    expect(contents(loaded, long)).toEqual({ 0: ids(e(long, 3)) });
    expect(again.stats()).toMatchObject({ flows: 1, buckets: 1 });
  });

  it("after a drop, a bucket staged again starts from nothing", async () => {
    const store = await openStore();
    const [a, b, c] = [e(d1, 1), e(d1, 2), e(d1, 3)];
    store.stageBucket(d1, {
      bucket: 4,
      term: 1,
      timestamp: 1,
      upserts: [a, b],
      removed: [],
      flows: 2,
    });
    store.stageBucket(d1, {
      bucket: 5,
      term: 1,
      timestamp: 1,
      upserts: [c],
      removed: [],
      flows: 1,
    });
    await store.flush();
    store.stageBucket(d1, {
      bucket: 5,
      term: 1,
      timestamp: 2,
      upserts: [],
      removed: [c.rule.id],
      flows: 0,
    });
    store.stageDropDevice(d1); // discards the staged removal too
    store.stageBucket(d1, {
      bucket: 4,
      term: 2,
      timestamp: 1,
      upserts: [b],
      removed: [],
      flows: 1,
    });
    await store.flush();
    const [, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual({ 4: ids(b) });
  });

  it("clears a bucket given whole and empty at term 0, keeping the device's term", async () => {
    const store = await openStore();
    store.stageBucket(d1, {
      bucket: 1,
      term: 4,
      timestamp: 3,
      upserts: [e(d1, 1)],
      removed: [],
      flows: 1,
    });
    store.stageBucket(d1, {
      bucket: 2,
      term: 4,
      timestamp: 3,
      upserts: [e(d1, 2)],
      removed: [],
      flows: 1,
    });
    await store.flush();
    const clear = { term: 0, timestamp: 0, upserts: [], removed: [], flows: 0, whole: true };
    store.stageBucket(d1, { bucket: 1, ...clear });
    store.stageBucket(d1, { bucket: 3, ...clear }); // never stored: nothing to do
    await store.flush();
    const [again, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual({ 2: ids(e(d1, 2)) });
    expect(again.stats()).toMatchObject({ flows: 1, buckets: 1 });
    expect(again.highestTermOf(d1)).toBe(4);
  });

  it("stores a flow that one change both removes and upserts", async () => {
    const store = await openStore();
    const a = e(d1, 1);
    store.stageBucket(d1, {
      bucket: 0,
      term: 1,
      timestamp: 1,
      upserts: [a],
      removed: [a.rule.id],
      flows: 1,
    });
    const [, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual({ 0: ids(a) });
  });

  it("splits a large commit at bucket boundaries and loses nothing", async () => {
    const store = await openStore({ maxRecordsPerTransaction: 7 });
    const expected: Record<number, bigint[]> = {};
    for (let bucket = 0; bucket < 20; bucket++) {
      const entries = [0, 1, 2, 3, 4].map((i) => e(d1, bucket * 5 + i));
      store.stageBucket(d1, {
        bucket,
        term: 1,
        timestamp: bucket,
        upserts: entries,
        removed: [],
        flows: entries.length,
      });
      expected[bucket] = ids(...entries);
    }
    await store.flush();
    expect(store.stats().lastCommitRecords).toBe(20 * 6 + 1); // buckets, and the term
    const [, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual(expected);
  });

  it("commits staged changes at the commit interval without a flush", async () => {
    const store = await FlowPersistence.open({
      dir,
      cluster: "lab",
      node: "n1",
      commitInterval: 20,
    });
    opened.push(store);
    store.stageBucket(d1, {
      bucket: 0,
      term: 1,
      timestamp: 1,
      upserts: [e(d1, 1)],
      removed: [],
      flows: 1,
    });
    expect(store.stats().commits).toBe(0);
    await vi.waitFor(() => expect(store.stats()).toMatchObject({ commits: 1, flows: 1 }), {
      timeout: 5_000,
    });
  });

  it("with commitInterval Infinity, commits only on flush", async () => {
    const store = await FlowPersistence.open({
      dir,
      cluster: "lab",
      node: "n1",
      commitInterval: Infinity,
    });
    opened.push(store);
    store.stageBucket(d1, {
      bucket: 0,
      term: 1,
      timestamp: 1,
      upserts: [e(d1, 1)],
      removed: [],
      flows: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(store.stats()).toMatchObject({ commits: 0, staged: 2 });
    await store.flush();
    expect(store.stats()).toMatchObject({ commits: 1, staged: 0, flows: 1 });
  });

  it("a flush waits for everything staged before it, while interval commits come and go", async () => {
    const store = await FlowPersistence.open({
      dir,
      cluster: "lab",
      node: "n1",
      commitInterval: 1,
      maxRecordsPerTransaction: 40,
    });
    opened.push(store);
    const expected: Record<number, bigint[]> = {};
    for (let bucket = 0; bucket < 60; bucket++) {
      const entries = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => e(d1, bucket * 8 + i));
      store.stageBucket(d1, {
        bucket,
        term: 1,
        timestamp: 1,
        upserts: entries,
        removed: [],
        flows: entries.length,
      });
      expected[bucket] = ids(...entries);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await store.flush();
    expect(store.stats()).toMatchObject({ flows: 60 * 8, staged: 0 });
    const [, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual(expected);
  });

  it("keeps the highest term per device, ignores lower ones, and keeps it across a reopen", async () => {
    const store = await openStore();
    expect(store.highestTerm()).toBe(0);
    store.noteTerm(d1, 5);
    store.noteTerm(d1, 3);
    expect(store.highestTermOf(d1)).toBe(5);
    store.stageBucket(d2, { bucket: 0, term: 8, timestamp: 1, upserts: [], removed: [], flows: 0 });
    expect(store.highestTermOf(d2)).toBe(8); // a stamp's term was seen too
    expect(store.highestTerm()).toBe(8);
    const [again, loaded] = await reopen(store);
    expect([again.highestTermOf(d1), again.highestTermOf(d2), again.highestTerm()]).toEqual([
      5, 8, 8,
    ]);
    expect(loaded.map((d) => [d.deviceId, d.highestTerm])).toEqual([
      [d1, 5],
      [d2, 8],
    ]);
    again.noteTerm(d1, 4);
    const [third] = await reopen(again);
    expect(third.highestTermOf(d1)).toBe(5);
  });

  it("keeps metadata across a reopen, and deletes a key set to undefined", async () => {
    const store = await openStore();
    store.setMeta("etcdClusterId", "14841639068965178418");
    store.setMeta("seen", { revision: 42n, nodes: ["n1", "n2"] });
    store.setMeta("gone", 1);
    expect(store.getMeta("etcdClusterId")).toBe("14841639068965178418"); // before the commit
    const [again] = await reopen(store);
    expect(again.getMeta("seen")).toEqual({ revision: 42n, nodes: ["n1", "n2"] });
    again.setMeta("gone", undefined);
    const [third] = await reopen(again);
    expect(third.getMeta("gone")).toBeUndefined();
    expect(third.getMeta("etcdClusterId")).toBe("14841639068965178418");
  });

  it("refuses an entry of another device, bad stamps and bad counts, staging nothing", async () => {
    const store = await openStore();
    expect(() =>
      store.stageBucket(d1, {
        bucket: 0,
        term: 1,
        timestamp: 1,
        upserts: [e(d2, 1)],
        removed: [],
        flows: 1,
      }),
    ).toThrow(RangeError);
    expect(() =>
      store.stageBucket(d1, {
        bucket: -1,
        term: 1,
        timestamp: 1,
        upserts: [],
        removed: [],
        flows: 0,
      }),
    ).toThrow(/bucket/);
    expect(() =>
      store.stageBucket(d1, {
        bucket: 0,
        term: 1,
        timestamp: 1,
        upserts: [],
        removed: [],
        flows: -1,
      }),
    ).toThrow(/flows/);
    expect(() =>
      store.stageBucket(d1, {
        bucket: 0,
        term: 1,
        timestamp: 1,
        upserts: [e(d1, 1)],
        removed: [],
        flows: 2,
        whole: true,
      }),
    ).toThrow(/a whole change of 1 entries says the bucket holds 2 flows/);
    expect(() => store.noteTerm(d1, 1.5)).toThrow(/term/);
    expect(store.stats().staged).toBe(0);
  });

  it("leaves out a bucket it cannot encode, commits the others, and says which", async () => {
    const store = await openStore();
    const good = e(d1, 1);
    const old = e(d1, 2);
    store.stageBucket(d1, {
      bucket: 4,
      term: 1,
      timestamp: 1,
      upserts: [old],
      removed: [],
      flows: 1,
    });
    await store.flush();
    const bad = { ...e(d1, 3), packets: 2n ** 70n } as unknown as FlowEntry; // not a FlowEntry
    store.stageBucket(d1, {
      bucket: 3,
      term: 1,
      timestamp: 2,
      upserts: [good],
      removed: [],
      flows: 1,
    });
    store.stageBucket(d1, {
      bucket: 4,
      term: 1,
      timestamp: 2,
      upserts: [bad],
      removed: [],
      flows: 1,
    });
    const error = await store.flush().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toMatchObject({
      name: "PersistenceError",
      code: "WRITE_FAILED",
      device: d1,
      bucket: 4,
    });
    expect(String((error as Error).message)).toContain("could not encode");
    expect(store.stats().staged).toBe(0); // not retried at every commit
    await store.flush(); // and nothing holds up the next commit
    const [, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual({ 3: ids(good), 4: ids(old) }); // bucket 4 as it was
  });

  it("keeps a bucket's flow count right on disk after a change of it was left out of a commit", async () => {
    const store = await openStore();
    // `flows`: the count the caller's table has after the change.
    const stage = (timestamp: number, flows: number, upserts: number[], removed: number[] = []) =>
      store.stageBucket(d1, {
        bucket: 2,
        term: 1,
        timestamp,
        upserts: upserts.map((i) => e(d1, i)),
        removed: removed.map((i) => e(d1, i).rule.id),
        flows,
      });
    stage(1, 4, [1, 2, 3, 4]);
    await store.flush(); // a base
    stage(2, 5, [5]);
    await store.flush(); // a change record
    // The bucket's next change is left out of its commit (its head cannot be encoded).
    const encode = persistenceNamespace.encode.bind(persistenceNamespace);
    let failed = false;
    const spy = vi.spyOn(persistenceNamespace, "encode").mockImplementation(((
      type: string,
      value: unknown,
    ) => {
      if (type === "BucketHead" && !failed) {
        failed = true;
        throw new Error("no room for the head");
      }
      return encode(type as never, value as never);
    }) as typeof persistenceNamespace.encode);
    stage(3, 7, [6, 7]);
    const error = await store.flush().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    spy.mockRestore();
    expect(PersistenceError.is(error, "WRITE_FAILED")).toBe(true);
    // Every flow stored so far goes, and one comes. The table counts 6 and 7, which the disk
    // never got: the head counts what the records hold, or the next load refuses the bucket.
    stage(4, 3, [8], [1, 2, 3, 4, 5]);
    await store.flush();
    stage(5, 4, [9]);
    await store.flush();
    expect(store.stats().flows).toBe(2);
    const [again, loaded] = await reopen(store);
    expect(contents(loaded, d1)).toEqual({ 2: ids(e(d1, 8), e(d1, 9)) });
    expect(again.stats().flows).toBe(2);
    // Staged whole, the bucket is the table's again, and its changes are records again.
    again.stageBucket(d1, {
      bucket: 2,
      term: 1,
      timestamp: 6,
      upserts: [6, 7, 8, 9].map((i) => e(d1, i)),
      removed: [],
      flows: 4,
      whole: true,
    });
    await again.flush();
    again.stageBucket(d1, {
      bucket: 2,
      term: 1,
      timestamp: 7,
      upserts: [e(d1, 10)],
      removed: [],
      flows: 5,
    });
    await again.flush();
    expect(again.stats().flows).toBe(5);
    const [, reloaded] = await reopen(again);
    expect(contents(reloaded, d1)).toEqual({ 2: ids(...[6, 7, 8, 9, 10].map((i) => e(d1, i))) });
  });

  describe("when the disk holds other flows than the caller's table, the head counts the records", () => {
    /** Stages a change of bucket 4 at `timestamp`, the table holding `flows` after it. */
    const stage = (
      store: FlowPersistence,
      timestamp: number,
      flows: number,
      upserts: FlowEntry[],
      whole = false,
    ) =>
      store.stageBucket(d1, {
        bucket: 4,
        term: 1,
        timestamp,
        upserts,
        removed: [],
        flows,
        ...(whole ? { whole } : {}),
      });
    const [a, b, c, d] = [e(d1, 1), e(d1, 2), e(d1, 3), e(d1, 4)];
    // Enough flows in the base that a change of one flow is a change record, not a compaction.
    const many = Array.from({ length: 20 }, (_, i) => e(d1, 100 + i));

    /** After a reopen the disk holds `held`, and `stats` counts them before and after. */
    async function expectHolds(store: FlowPersistence, held: FlowEntry[]) {
      expect(store.stats().flows).toBe(held.length);
      const [again, loaded] = await reopen(store);
      expect(contents(loaded, d1)).toEqual({ 4: ids(...held) });
      expect(again.stats().flows).toBe(held.length);
    }

    it("after a bucket's first write was left out of a commit", async () => {
      const store = await openStore();
      const bad = { ...e(d1, 9), packets: 2n ** 70n } as unknown as FlowEntry; // not a FlowEntry
      stage(store, 1, 2, [bad, a], true);
      await expect(store.flush()).rejects.toMatchObject({ code: "WRITE_FAILED" });
      stage(store, 2, 23, [b, ...many]); // the table holds bad and a too; the disk gets these
      await store.flush();
      stage(store, 3, 24, [c]);
      await store.flush();
      await expectHolds(store, [b, ...many, c]);
    });

    it("after a device's buckets were dropped", async () => {
      const store = await openStore();
      stage(store, 1, 2, [a, b]);
      await store.flush();
      store.stageDropDevice(d1);
      stage(store, 2, 23, [c, ...many]); // the table still holds a and b
      await store.flush();
      stage(store, 3, 24, [d]);
      await store.flush();
      await expectHolds(store, [c, ...many, d]);
    });

    it("with two flows of one id, which the table keeps apart", async () => {
      const store = await openStore();
      const twin = withFlowEntry(a, { state: "ADDED" }); // a's id, as a colliding rule's would be
      stage(store, 1, 22, [a, twin, ...many], true);
      await store.flush();
      stage(store, 2, 23, [b]);
      await store.flush();
      await expectHolds(store, [a, ...many, b]);
    });

    it("after a change that came with a wrong count, found by a load", async () => {
      const warnings: string[] = [];
      const store = await openStore();
      stage(store, 1, 22, [a, b, ...many]);
      await store.flush();
      stage(store, 2, 29, [c]); // a caller's bug: its head says 29
      await store.flush();
      await store.close();
      opened.splice(opened.indexOf(store), 1);
      const again = await openStore({ warnings });
      expect(contents(await again.load(), d1)).toEqual({ 4: ids(a, b, ...many, c) });
      expect(warnings).toEqual([expect.stringMatching(/another count of flows than its head/)]);
      stage(again, 3, 30, [d]);
      await again.flush();
      await expectHolds(again, [a, b, ...many, c, d]);
    });
  });

  it("refuses to be used once closed", async () => {
    const store = await openStore();
    await store.close();
    expect(() => store.noteTerm(d1, 1)).toThrow(
      expect.objectContaining({ name: "PersistenceError", code: "CLOSED" }),
    );
    await store.close(); // twice is harmless
  });
});

describe("opening a data directory", () => {
  it("initialises a missing directory, and reopens it", async () => {
    const nested = join(dir, "a", "b");
    const store = await FlowPersistence.open({ dir: nested, cluster: "lab", node: "n1" });
    await store.close();
    expect((await readdir(nested)).sort()).toEqual(["data.mdb", "lock.mdb"]);
    const again = await FlowPersistence.open({ dir: nested, cluster: "lab", node: "n1" });
    await again.close();
  });

  /** A directory of node n1 of cluster lab holding one flow. */
  async function populated(): Promise<Record<string, string>> {
    const store = await openStore();
    store.stageBucket(d1, {
      bucket: 0,
      term: 3,
      timestamp: 1,
      upserts: [e(d1, 1)],
      removed: [],
      flows: 1,
    });
    await store.close();
    opened.length = 0;
    return fingerprint(dir);
  }

  async function refusal(options: { cluster?: string; node?: string } = {}) {
    const error = await openStore(options).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(PersistenceError.is(error)).toBe(true);
    return error as PersistenceError;
  }

  it("refuses a directory open already in this process, and opens it once it is closed", async () => {
    const store = await openStore();
    const error = await refusal();
    expect(error.code).toBe("IN_USE");
    await store.close();
    await openStore();
  });

  it("refuses another cluster's directory and leaves it as it was", async () => {
    const before = await populated();
    const error = await refusal({ cluster: "other" });
    expect(error.code).toBe("FOREIGN_CLUSTER");
    expect(error.message).toContain(dir);
    expect(error.message).toContain('"lab"');
    expect(await fingerprint(dir)).toEqual(before);
    const store = await openStore(); // still this node's, with its flow
    expect(contents(await store.load(), d1)).toEqual({ 0: ids(e(d1, 1)) });
  });

  it("refuses another node's directory and leaves it as it was", async () => {
    const before = await populated();
    const error = await refusal({ node: "n2" });
    expect(error.code).toBe("FOREIGN_NODE");
    expect(error.message).toMatch(/belongs to node "n1", not "n2"/);
    expect(await fingerprint(dir)).toEqual(before);
  });

  /** Replaces the meta record with `value` as a `PersistenceHeader` (id 500), unchecked. */
  async function writeHeader(value: unknown): Promise<void> {
    const body = pack(value);
    const bytes = new Uint8Array([0x01, 0xf4, ...body]);
    const root = open({ path: dir, overlappingSync: false });
    await root.openDB("header", { encoding: "binary" }).put("store", bytes);
    await root.close();
  }

  it("refuses a directory of a newer format and leaves it as it was", async () => {
    await populated();
    // A newer format may change the record too: only its `format` is read.
    await writeHeader({ format: 4, layout: "next" });
    const before = await fingerprint(dir);
    const error = await refusal();
    expect(error.code).toBe("NEWER_FORMAT");
    expect(error.message).toContain("format 4");
    expect(await fingerprint(dir)).toEqual(before);
  });

  it("marks a format 2 directory as format 3 when it opens, so that a version reading only format 2 refuses it", async () => {
    await populated();
    await writeHeader({ format: 2, cluster: "lab", node: "n1", createdAt: 5 });
    const store = await openStore();
    expect(contents(await store.load(), d1)).toEqual({ 0: ids(e(d1, 1)) });
    await store.close();
    const root = open({ path: dir, overlappingSync: false, readOnly: true });
    const bytes = root.openDB("header", { encoding: "binary" }).getBinary("store");
    await root.close();
    expect(persistenceNamespace.decode(bytes!)).toMatchObject({
      value: { format: 3, createdAt: 5 },
    });
  });

  it("refuses a directory whose meta record does not validate", async () => {
    await populated();
    await writeHeader({ format: 2, cluster: 7, node: "n1", createdAt: 0 });
    const before = await fingerprint(dir);
    const error = await refusal();
    expect(error.code).toBe("CORRUPT");
    expect(error.message).toMatch(/meta record is invalid: .*cluster/);
    expect(await fingerprint(dir)).toEqual(before);
  });

  // The lmdb package crashes the process on a data file whose meta pages are not LMDB's, so
  // these also show that the check before opening catches each of them.
  it.each([
    ["garbage over both meta pages", (b: Buffer) => b.fill(0x5a, 0, 8192), /no LMDB magic/],
    ["zeros over the first page", (b: Buffer) => b.fill(0, 0, 4096), /no LMDB magic/],
    ["garbage over the second meta page", (b: Buffer) => b.fill(0x5a, 4096, 8192), /second/],
    ["another file", () => Buffer.from("not a database\n"), /no LMDB magic/],
  ])("refuses a data file with %s and leaves it as it was", async (_, damage, why) => {
    await populated();
    const file = join(dir, "data.mdb");
    await writeFile(file, damage(await readFile(file)));
    const before = await fingerprint(dir);
    const size = (await stat(file)).size;
    const error = await refusal();
    expect(error.code).toBe("CORRUPT");
    expect(error.message).toContain(dir);
    expect(error.message).toMatch(why);
    expect(await fingerprint(dir)).toEqual(before);
    expect((await stat(file)).size).toBe(size);
  });

  it("refuses a directory holding other files and no data", async () => {
    await writeFile(join(dir, "notes.txt"), "mine");
    const error = await refusal();
    expect(error.code).toBe("NOT_A_DATA_DIR");
    expect(error.message).toContain("notes.txt");
    expect(await readdir(dir)).toEqual(["notes.txt"]);
  });
});

describe("loading records that do not decode", () => {
  /** Writes one record straight into a database of the closed directory. */
  async function poke(db: string, key: Key, bytes: Uint8Array): Promise<void> {
    const root = open({ path: dir, overlappingSync: false });
    await root.openDB(db, { encoding: "binary" }).put(key, bytes);
    await root.close();
  }

  /**
   * The error of opening and loading the directory and decoding its buckets, which must be
   * `CORRUPT`.
   */
  async function loadError(): Promise<PersistenceError> {
    let error: unknown;
    try {
      const store = await FlowPersistence.open({ dir, cluster: "lab", node: "n1" });
      const loaded = await store.load().finally(() => store.close());
      for (const device of loaded) for (const bucket of device.buckets) bucket.decode();
    } catch (thrown) {
      error = thrown;
    }
    expect(PersistenceError.is(error, "CORRUPT")).toBe(true);
    return error as PersistenceError;
  }

  /**
   * Writes a record made by a `RecordCodec` that knows the directory's shapes (and saves the
   * shapes it adds), as a commit would.
   */
  async function pokeRecord(key: Key, make: (codec: RecordCodec) => Uint8Array): Promise<void> {
    const root = open({ path: dir, overlappingSync: false });
    const header = root.openDB("header", { encoding: "binary" });
    const saved = header.getBinary("structures");
    const codec = new RecordCodec(
      saved === undefined ? [] : persistenceNamespace.serializer("EntryStructures").decode(saved),
    );
    const bytes = make(codec);
    await root.openDB("records", { encoding: "binary" }).put(key, bytes);
    const shapes = codec.unsaved();
    if (shapes !== undefined) {
      await header.put("structures", persistenceNamespace.encode("EntryStructures", shapes));
    }
    await root.close();
  }
  const base = (entries: readonly unknown[]) => (codec: RecordCodec) => codec.encodeBase(entries);
  const changes = (entries: readonly FlowEntry[]) => (codec: RecordCodec) =>
    codec.encodeChanges(entries, []);
  const head = (value: object) =>
    persistenceNamespace.encode("BucketHead", {
      bucket: 6,
      term: 1,
      timestamp: 1,
      flows: 1,
      baseBytes: 100,
      changes: 0,
      changeBytes: 0,
      ...value,
    });

  beforeEach(async () => {
    const store = await openStore();
    store.stageBucket(d1, {
      bucket: 6,
      term: 1,
      timestamp: 1,
      upserts: [e(d1, 1)],
      removed: [],
      flows: 1,
    });
    await store.close();
    opened.length = 0;
  });

  it("names the device and bucket of a record whose bytes are garbage", async () => {
    await poke("records", recordKey(d1, 6, 0), new Uint8Array([0, 210, 0xc1, 0xc1, 0xc1]));
    const error = await loadError();
    expect(error).toMatchObject({ device: d1, bucket: 6 });
    expect(error.message).toContain(`record 0 of bucket 6 of device ${d1}`);
    expect(error.message).toContain("unreadable");
  });

  it("refuses a record whose bytes changed after they were written, by its checksum", async () => {
    const root = open({ path: dir, overlappingSync: false });
    const stored = root.openDB("records", { encoding: "binary" }).getBinary(recordKey(d1, 6, 0));
    await root.close();
    // One bit of the entry's last byte (its creation time): still a valid entry, but not the
    // one written.
    const bytes = Uint8Array.from(stored!);
    bytes[bytes.length - 1]! ^= 1;
    await poke("records", recordKey(d1, 6, 0), bytes);
    const error = await loadError();
    expect(error).toMatchObject({ device: d1, bucket: 6 });
    expect(error.message).toMatch(/record 0 of bucket 6 .*checksum/);
  });

  it("reads a format 2 record (no checksum), still checking that each flow id is its rule's", async () => {
    const entry = e(d1, 1);
    await pokeRecord(recordKey(d1, 6, 0), (codec) => codec.encodeUnchecked(BASE_TYPE_ID, [entry]));
    const store = await FlowPersistence.open({ dir, cluster: "lab", node: "n1" });
    const loaded = await store.load().finally(() => store.close());
    expect(loaded[0]?.buckets.find((b) => b.bucket === 6)?.entries).toEqual([entry]);
    // A rule whose id is not the hash of its fields is refused, as from the network.
    const forged = { ...entry, rule: { ...entry.rule, priority: entry.rule.priority + 1 } };
    await pokeRecord(recordKey(d1, 6, 0), (codec) =>
      codec.encodeUnchecked(BASE_TYPE_ID, [forged as FlowEntry]),
    );
    expect((await loadError()).message).toMatch(/record 0 of bucket 6 .*id/);
  });

  it("checks every checksum when it loads, and what only decoding finds when a bucket is decoded", async () => {
    const entry = e(d1, 1);
    await pokeRecord(recordKey(d1, 6, 0), base([{ ...entry, state: "LOST" }]));
    const store = await FlowPersistence.open({ dir, cluster: "lab", node: "n1" });
    const loaded = await store.load().finally(() => store.close());
    const bucket = loaded[0]?.buckets[0];
    // Its stamp and size come from its head; its checksummed record is read, not decoded.
    expect(bucket).toMatchObject({ bucket: 6, term: 1, timestamp: 1, size: 1, deferred: true });
    let error: unknown;
    try {
      bucket?.decode();
    } catch (thrown) {
      error = thrown;
    }
    expect(PersistenceError.is(error, "CORRUPT")).toBe(true);
    expect(error).toMatchObject({ device: d1, bucket: 6 });
    expect((error as Error).message).toMatch(/record 0 of bucket 6 .*FlowEntry: state/);
    expect(bucket?.deferred).toBe(true);
  });

  it("names the field of an entry that does not validate", async () => {
    const entry = e(d1, 1);
    await pokeRecord(recordKey(d1, 6, 0), base([{ ...entry, state: "LOST" }]));
    const error = await loadError();
    expect(error).toMatchObject({ device: d1, bucket: 6 });
    expect(error.message).toMatch(/FlowEntry: state/);
  });

  it("names the field of an entry in a change record that does not validate", async () => {
    const entry = { ...e(d1, 2), state: "LOST" } as unknown as FlowEntry;
    await pokeRecord(recordKey(d1, 6, 1), changes([entry]));
    await poke("heads", headKey(d1, 6), head({ flows: 2, changes: 1, changeBytes: 50 }));
    const error = await loadError();
    expect(error).toMatchObject({ device: d1, bucket: 6 });
    expect(error.message).toMatch(/record 1 of bucket 6 .*FlowEntry: state/);
  });

  it("refuses a base holding another device's flow", async () => {
    await pokeRecord(recordKey(d1, 6, 0), base([e(d2, 1)]));
    const error = await loadError();
    expect(error.message).toMatch(/base of bucket 6 .* holds flow \d+ of device of:0+2/);
  });

  it("refuses a base whose flows are out of order", async () => {
    const [a, b] = [e(d1, 1), e(d1, 2)].sort((x, y) => (x.rule.id < y.rule.id ? -1 : 1));
    await pokeRecord(recordKey(d1, 6, 0), base([b, a]));
    expect((await loadError()).message).toMatch(/not in ascending flow id order/);
  });

  it("takes a bucket holding another count of flows than its head says as its records hold it, and counts them at its next change", async () => {
    const [a, b] = [e(d1, 1), e(d1, 2)].sort((x, y) => (x.rule.id < y.rule.id ? -1 : 1)) as [
      FlowEntry,
      FlowEntry,
    ];
    await pokeRecord(recordKey(d1, 6, 0), base([a, b])); // the head says 1
    const warnings: string[] = [];
    const store = await openStore({ warnings });
    const loaded = await store.load();
    expect(contents(loaded, d1)).toEqual({ 6: ids(a, b) });
    expect(warnings).toEqual([expect.stringMatching(/another count of flows than its head/)]);
    const c = e(d1, 3);
    store.stageBucket(d1, {
      bucket: 6,
      term: 1,
      timestamp: 2,
      upserts: [c],
      removed: [],
      flows: 3,
    });
    await store.flush();
    expect(store.stats().flows).toBe(3);
    const [again, reloaded] = await reopen(store);
    expect(contents(reloaded, d1)).toEqual({ 6: ids(a, b, c) });
    expect(again.stats().flows).toBe(3);
  });

  it("refuses change records the head does not count, or with a gap", async () => {
    await pokeRecord(recordKey(d1, 6, 1), changes([e(d1, 2)]));
    expect((await loadError()).message).toMatch(/has 1 change records, its head says 0/);
    await pokeRecord(recordKey(d1, 6, 3), changes([e(d1, 3)]));
    expect((await loadError()).message).toMatch(/has record 3 where record 2 should be/);
  });

  it("refuses a bucket whose head has no base record", async () => {
    const root = open({ path: dir, overlappingSync: false });
    await root.openDB("records", { encoding: "binary" }).remove(recordKey(d1, 6, 0));
    await root.close();
    const error = await loadError();
    expect(error).toMatchObject({ device: d1, bucket: 6 });
    expect(error.message).toMatch(/bucket 6 .* has a head but no base record/);
  });

  it("refuses records of a bucket with no head", async () => {
    await pokeRecord(recordKey(d1, 7, 0), base([]));
    const error = await loadError();
    expect(error).toMatchObject({ device: d1, bucket: 7 });
    expect(error.message).toMatch(/bucket 7 .* has records but no head/);
  });

  it("names the bucket of a head that does not decode, when the directory opens", async () => {
    await poke("heads", headKey(d1, 6), flowBucketNamespace.encode("DeviceId", d1));
    const error = await loadError();
    expect(error).toMatchObject({ device: d1, bucket: 6 });
    expect(error.message).toMatch(/head of bucket 6 .*WRONG|expected type id/);
  });
});

describe("bucket logs", () => {
  /** How many records each bucket of the closed directory has (base and changes). */
  async function recordCounts(): Promise<Map<string, number>> {
    const root = open({ path: dir, overlappingSync: false, readOnly: true });
    const counts = new Map<string, number>();
    for (const key of root.openDB("records", { encoding: "binary" }).getKeys()) {
      const [device, bucket] = key as [string, number, number];
      counts.set(`${device}/${bucket}`, (counts.get(`${device}/${bucket}`) ?? 0) + 1);
    }
    await root.close();
    return counts;
  }

  it("loads change records over a base, with a flow removed, replaced and added", async () => {
    const store = await openStore();
    const [a, b, c] = [e(d1, 1), e(d1, 2), e(d1, 3)];
    const many = Array.from({ length: 40 }, (_, i) => e(d1, 100 + i));
    store.stageBucket(d1, {
      bucket: 2,
      term: 1,
      timestamp: 1,
      upserts: [a, b, ...many],
      removed: [],
      flows: 42,
    });
    await store.flush();
    const b2 = withFlowEntry(b, { state: "ADDED", packets: 5 });
    store.stageBucket(d1, {
      bucket: 2,
      term: 1,
      timestamp: 2,
      upserts: [b2],
      removed: [a.rule.id],
      flows: 41,
    });
    await store.flush();
    store.stageBucket(d1, {
      bucket: 2,
      term: 2,
      timestamp: 3,
      upserts: [c],
      removed: [],
      flows: 42,
    });
    await store.flush();
    expect(store.stats()).toMatchObject({ flows: 42, buckets: 1 });
    await store.close();
    opened.length = 0;
    expect(await recordCounts()).toEqual(new Map([[`${d1}/2`, 3]])); // the base and two changes

    const again = await openStore();
    const loaded = await again.load();
    const bucket = loaded[0]?.buckets[0];
    expect(bucket).toMatchObject({ bucket: 2, term: 2, timestamp: 3 });
    expect(bucket?.entries).toEqual(
      [b2, c, ...many].sort((x, y) => (x.rule.id < y.rule.id ? -1 : 1)),
    );
  });

  it("compacts each bucket's log, and the disk holds exactly the staged history", async () => {
    // Seeded: upserts of new and known flows, updates and removals over 4 buckets, 300
    // commits, reopening (sometimes without a load) every 50; checked against a model.
    let state = 7;
    const next = (below: number) => {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return state % below;
    };
    const model = new Map<number, Map<bigint, FlowEntry>>();
    let store = await openStore();
    let timestamp = 0;
    for (let commit = 1; commit <= 300; commit++) {
      for (let n = 1 + next(3); n > 0; n--) {
        const bucket = next(4);
        const held = model.get(bucket) ?? new Map<bigint, FlowEntry>();
        model.set(bucket, held);
        const upserts = Array.from({ length: next(6) }, () =>
          withFlowEntry(e(d1, bucket * 1000 + next(120)), { packets: commit }),
        );
        const known = [...held.keys()];
        const removed = Array.from({ length: next(3) }, () => known[next(known.length + 1)])
          .filter((id): id is bigint => id !== undefined)
          .filter((id) => !upserts.some((entry) => entry.rule.id === id));
        for (const id of removed) held.delete(id);
        for (const entry of upserts) held.set(entry.rule.id, entry);
        store.stageBucket(d1, {
          bucket,
          term: 1,
          timestamp: ++timestamp,
          upserts,
          removed: removed as never,
          flows: held.size,
        });
      }
      await store.flush();
      const flows = [...model.values()].reduce((sum, held) => sum + held.size, 0);
      expect(store.stats().flows).toBe(flows);
      if (commit % 50 === 0) {
        await store.close();
        opened.splice(opened.indexOf(store), 1);
        for (const count of (await recordCounts()).values()) {
          expect(count).toBeLessThanOrEqual(1 + MAX_CHANGE_RECORDS);
        }
        store = await openStore();
        if (commit % 100 === 0) {
          const loaded = await store.load();
          expect(contents(loaded, d1)).toEqual(
            Object.fromEntries(
              [...model].map(([bucket, held]) => [bucket, [...held.keys()].sort()]),
            ),
          );
          const entries = loaded[0]!.buckets.flatMap((bucket) => bucket.entries);
          const want = [...model.values()].flatMap((held) => [...held.values()]);
          expect(new Set(entries)).toEqual(new Set(want));
        }
      }
    }
    // Compacted along the way: far fewer records than commits per bucket.
    const [, loaded] = await reopen(store);
    expect(
      loaded[0]?.buckets
        .map((bucket) => bucket.timestamp)
        .sort((x, y) => x - y)
        .at(-1),
    ).toBe(timestamp);
  });
});

describe("when every shared shape is taken", () => {
  it("refuses to write a bucket (WRITE_FAILED), and keeps what is on disk readable", async () => {
    const store = await openStore();
    store.stageBucket(d1, {
      bucket: 1,
      term: 1,
      timestamp: 1,
      upserts: [e(d1, 1)],
      removed: [],
      flows: 1,
    });
    await store.close();
    opened.length = 0;
    const root = open({ path: dir, overlappingSync: false });
    const header = root.openDB("header", { encoding: "binary" });
    const codec = persistenceNamespace.serializer("EntryStructures");
    const shapes = codec.decode(header.getBinary("structures")!);
    const taken = [...shapes, ...Array.from({ length: 1024 - shapes.length }, (_, i) => [`x${i}`])];
    await header.put("structures", persistenceNamespace.encode("EntryStructures", taken));
    await root.close();

    const again = await openStore();
    again.stageBucket(d1, {
      bucket: 1,
      term: 1,
      timestamp: 2,
      upserts: [e(d1, 2)],
      removed: [],
      flows: 2,
    });
    const error = await again.flush().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(PersistenceError.is(error, "WRITE_FAILED")).toBe(true);
    expect((error as PersistenceError).message).toMatch(/shared shapes .* are taken/);
    const [, loaded] = await reopen(again);
    expect(contents(loaded, d1)).toEqual({ 1: ids(e(d1, 1)) });
  });
});

describe("a format 1 directory", () => {
  const buckets = [
    { device: d1, bucket: 0, term: 2, timestamp: 5, entries: [e(d1, 1), e(d1, 2)] },
    { device: d1, bucket: 3, term: 1, timestamp: 1, entries: [] },
    { device: d2, bucket: 1, term: 4, timestamp: 9, entries: [e(d2, 7)] },
  ].map((bucket) => ({
    ...bucket,
    entries: [...bucket.entries].sort((x, y) => (x.rule.id < y.rule.id ? -1 : 1)),
  }));

  async function databases(): Promise<string[]> {
    const root = open({ path: dir, overlappingSync: false, readOnly: true });
    const names = [...root.getKeys()].map(String).sort();
    await root.close();
    return names;
  }

  it("is migrated when opened: the same buckets, terms and metadata, in the current format", async () => {
    await writeFormatV1Directory(dir, {
      cluster: "lab",
      node: "n1",
      buckets,
      terms: new Map([[d1, 6]]),
      meta: new Map([["etcdClusterId", "42"]]),
    });
    expect(await databases()).toEqual(["entries", "header", "meta", "stamps", "terms"]);
    const store = await openStore();
    expect(store.stats()).toMatchObject({ flows: 3, buckets: 3 });
    expect(store.getMeta("etcdClusterId")).toBe("42");
    const expected = [
      {
        deviceId: d1,
        highestTerm: 6,
        buckets: buckets.filter((b) => b.device === d1).map(({ device: _, ...bucket }) => bucket),
      },
      {
        deviceId: d2,
        highestTerm: 4,
        buckets: buckets.filter((b) => b.device === d2).map(({ device: _, ...bucket }) => bucket),
      },
    ];
    expect(plain(await store.load())).toEqual(expected);
    // Changed as format 2 is, and still the same after a reopen (not migrated twice).
    store.stageBucket(d1, {
      bucket: 0,
      term: 2,
      timestamp: 6,
      upserts: [e(d1, 3)],
      removed: [],
      flows: 3,
    });
    const [again, loaded] = await reopen(store);
    expect(contents(loaded, d1)[0]).toEqual(ids(e(d1, 1), e(d1, 2), e(d1, 3)));
    await again.close();
    opened.length = 0;
    expect(await databases()).toEqual(["header", "heads", "meta", "records", "terms"]);
  });

  it("that does not validate is refused and left as it was", async () => {
    const bad = { ...e(d1, 9), state: "LOST" } as unknown as FlowEntry;
    await writeFormatV1Directory(dir, {
      cluster: "lab",
      node: "n1",
      buckets: [...buckets, { device: d1, bucket: 5, term: 1, timestamp: 1, entries: [bad] }],
    });
    const before = await fingerprint(dir);
    const error = await openStore().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(PersistenceError.is(error, "CORRUPT")).toBe(true);
    expect((error as PersistenceError).message).toMatch(/bucket 5 of device .*FlowEntry: state/);
    expect(await fingerprint(dir)).toEqual(before);
    expect(await databases()).toEqual(["entries", "header", "meta", "stamps", "terms"]);
  });

  it("of another node is refused before anything is read or written", async () => {
    await writeFormatV1Directory(dir, { cluster: "lab", node: "n2", buckets });
    const before = await fingerprint(dir);
    const error = await openStore().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(PersistenceError.is(error, "FOREIGN_NODE")).toBe(true);
    expect(await fingerprint(dir)).toEqual(before);
  });
});
