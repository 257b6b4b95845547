import { type DeviceId, type FlowEntry, withFlowEntry } from "@flowstore/flow-bucket";
import { testDevice, testEntry } from "./tables.js";

/** The device the crash writer writes. */
export const CRASH_DEVICE: DeviceId = testDevice(1);
/** Buckets each batch replaces. */
export const CRASH_BUCKETS = 8;
/** Entries per bucket per batch. */
export const CRASH_ENTRIES = 150;
/** Batches cycle through this many sets of flows, so each batch removes and adds flows. */
export const CRASH_VARIANTS = 3;

const variants: FlowEntry[][][] = [];

/** The buckets of batch `k` (before its `packets` are set to k): the same for k mod VARIANTS. */
export function crashBatch(k: number): { device: DeviceId; buckets: readonly FlowEntry[][] } {
  const v = k % CRASH_VARIANTS;
  let buckets = variants[v];
  if (buckets === undefined) {
    buckets = Array.from({ length: CRASH_BUCKETS }, (_, b) =>
      Array.from({ length: CRASH_ENTRIES }, (_, i) =>
        testEntry(CRASH_DEVICE, (v * CRASH_BUCKETS + b) * CRASH_ENTRIES + i),
      ),
    );
    variants[v] = buckets;
  }
  return { device: CRASH_DEVICE, buckets };
}

/** In `changes` mode, batch k touches the flows i of each bucket with i ≡ k (mod this). */
const CHANGE_STRIDE = 10;

/** Flow `i` of bucket `bucket` in `changes` mode (0 ≤ i < CRASH_ENTRIES). */
function changeFlow(bucket: number, i: number): FlowEntry {
  return testEntry(CRASH_DEVICE, 100_000 + bucket * CRASH_ENTRIES + i);
}

/**
 * What batch k stages per bucket in `changes` mode: the flows i ≡ k (mod 10), stored with k in
 * their `packets` when k mod 20 < 10 and removed otherwise, so that each batch writes a tenth
 * of a bucket as a change record, and a bucket is compacted every few batches.
 */
export function crashChange(k: number): { upserts: FlowEntry[]; removed: FlowEntry[] }[] {
  return Array.from({ length: CRASH_BUCKETS }, (_, bucket) => {
    const touched = Array.from({ length: CRASH_ENTRIES }, (_, i) => i)
      .filter((i) => i % CHANGE_STRIDE === k % CHANGE_STRIDE)
      .map((i) => changeFlow(bucket, i));
    return k % (2 * CHANGE_STRIDE) < CHANGE_STRIDE
      ? { upserts: touched.map((entry) => withFlowEntry(entry, { packets: k })), removed: [] }
      : { upserts: [], removed: touched };
  });
}

/** What each bucket holds after batches 1 … k in `changes` mode, by flow id. */
export function crashChangesAfter(k: number): Map<bigint, number>[] {
  return Array.from({ length: CRASH_BUCKETS }, (_, bucket) => {
    const held = new Map<bigint, number>(); // flow id → packets
    for (let i = 0; i < CRASH_ENTRIES; i++) {
      // The last batch j ≤ k that touched flow i.
      const j = k - ((((k - i) % CHANGE_STRIDE) + CHANGE_STRIDE) % CHANGE_STRIDE);
      if (j >= 1 && j % (2 * CHANGE_STRIDE) < CHANGE_STRIDE) {
        held.set(changeFlow(bucket, i).rule.id, j);
      }
    }
    return held;
  });
}
