import {
  type DeviceId,
  deviceId,
  FLOW_ENTRY_STATES,
  type FlowEntry,
  type FlowId,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlowPersistence, type PersistedDevice } from "./flowPersistence.js";
import { tempDir, testEntry } from "./testing/tables.js";

/** What `load` gave, its buckets as plain snapshots (their entries decoded). */
function plain(devices: readonly PersistedDevice[]) {
  return devices.map((device) => ({
    ...device,
    buckets: device.buckets.map((bucket) => bucket.snapshot()),
  }));
}

/*
 * Seeded runs of random stagings, drops, terms, flushes and reopens, checked against a model
 * of what the disk should hold: a map per bucket, changed as each staging says. Buckets are
 * small, so their logs are compacted every few commits. A failing seed is in the test's
 * name, and the run replays exactly.
 */

/** mulberry32: a small seeded generator, so a seed replays the same run. */
function random(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

// "of:1" and "of:12": one's keys sort right before the other's.
const DEVICES = [deviceId("of:1"), deviceId("of:12"), deviceId("of:2")];
const BUCKETS = 4;
const FLOWS = 6;

let pool: Map<DeviceId, FlowEntry[][]>;

beforeAll(() => {
  // Per device, FLOWS flows, each in every state (a newer version of the same flow).
  pool = new Map(
    DEVICES.map((device) => [
      device,
      Array.from({ length: FLOWS }, (_, i) =>
        FLOW_ENTRY_STATES.map((state) => withFlowEntry(testEntry(device, i), { state })),
      ),
    ]),
  );
});

interface ModelBucket {
  term: number;
  timestamp: number;
  entries: Map<FlowId, FlowEntry>;
}

interface Model {
  readonly terms: Map<DeviceId, number>;
  readonly buckets: Map<DeviceId, Map<number, ModelBucket>>;
}

function expected(model: Model) {
  const devices = [...new Set([...model.terms.keys(), ...model.buckets.keys()])].sort();
  return devices.flatMap((device) => {
    const buckets = [...(model.buckets.get(device) ?? new Map<number, ModelBucket>())]
      .sort(([a], [b]) => a - b)
      .map(([bucket, { term, timestamp, entries }]) => ({
        bucket,
        term,
        timestamp,
        entries: [...entries.values()].sort((x, y) => (x.rule.id < y.rule.id ? -1 : 1)),
      }));
    const highestTerm = model.terms.get(device) ?? 0;
    return buckets.length === 0 && highestTerm === 0
      ? []
      : [{ deviceId: device, highestTerm, buckets }];
  });
}

/** The flows and buckets the model holds, as `stats()` counts them. */
function counts(model: Model): { flows: number; buckets: number } {
  let flows = 0;
  let buckets = 0;
  for (const stored of model.buckets.values()) {
    buckets += stored.size;
    for (const { entries } of stored.values()) flows += entries.size;
  }
  return { flows, buckets };
}

async function run(seed: number, dir: string): Promise<void> {
  const next = random(seed);
  const open = () =>
    FlowPersistence.open({
      dir,
      cluster: "model",
      node: "n1",
      commitInterval: 1 + next(5),
      maxRecordsPerTransaction: 1 + next(12),
    });
  let store = await open();
  const model: Model = { terms: new Map(), buckets: new Map() };
  const note = (device: DeviceId, term: number) => {
    if (term > (model.terms.get(device) ?? 0)) model.terms.set(device, term);
  };
  let clock = 0;
  try {
    for (let step = 0; step < 60; step++) {
      const device = DEVICES[next(DEVICES.length)]!;
      const flows = pool.get(device)!;
      const roll = next(100);
      if (roll < 60) {
        const bucket = next(BUCKETS);
        const pick = () => {
          const chosen = new Map<FlowId, FlowEntry>();
          for (let n = next(4); n > 0; n--) {
            const versions = flows[next(FLOWS)]!;
            const entry = versions[next(versions.length)]!;
            chosen.set(entry.rule.id, entry);
          }
          return [...chosen.values()];
        };
        const upserts = pick();
        const removed = pick().map((entry) => entry.rule.id);
        const kind = next(10);
        const buckets = model.buckets.get(device) ?? new Map<number, ModelBucket>();
        model.buckets.set(device, buckets);
        if (kind === 0) {
          store.stageBucket(device, {
            bucket,
            term: 0,
            timestamp: 0,
            upserts: [],
            removed: [],
            flows: 0,
            whole: true,
          });
          buckets.delete(bucket);
        } else {
          const whole = kind < 3;
          const term = 1 + next(4);
          const timestamp = ++clock;
          let stored = buckets.get(bucket);
          if (stored === undefined || whole) {
            stored = { term, timestamp, entries: new Map() };
            buckets.set(bucket, stored);
          }
          stored.term = term;
          stored.timestamp = timestamp;
          for (const id of removed) stored.entries.delete(id);
          for (const entry of upserts) stored.entries.set(entry.rule.id, entry);
          store.stageBucket(device, {
            bucket,
            term,
            timestamp,
            upserts,
            removed,
            flows: stored.entries.size,
            ...(whole ? { whole } : {}),
          });
          note(device, term);
        }
      } else if (roll < 68) {
        store.stageDropDevice(device);
        model.buckets.delete(device);
      } else if (roll < 78) {
        const term = next(8);
        store.noteTerm(device, term);
        note(device, term);
      } else if (roll < 90) {
        await store.flush();
        expect(store.stats()).toMatchObject(counts(model));
      } else if (roll < 95) {
        await new Promise((resolve) => setTimeout(resolve, next(8))); // an interval commit
      } else {
        await store.close();
        store = await open();
        expect(store.stats()).toMatchObject(counts(model));
        // Without a load, the next change of a bucket reads the bucket's flow ids itself.
        if (next(2) === 0) expect(plain(await store.load())).toEqual(expected(model));
      }
    }
    await store.close();
    store = await open();
    expect(plain(await store.load())).toEqual(expected(model));
    for (const device of DEVICES) {
      expect(store.highestTermOf(device)).toBe(model.terms.get(device) ?? 0);
    }
  } finally {
    await store.close();
  }
}

describe("FlowPersistence against a model of the disk", () => {
  let cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const remove of cleanup) await remove();
    cleanup = [];
  });

  it.each(Array.from({ length: 40 }, (_, i) => i + 1))("seed %i", async (seed) => {
    const { dir, remove } = await tempDir();
    cleanup.push(remove);
    await run(seed, dir);
  });
});
