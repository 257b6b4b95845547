import type { DeviceId, FlowEntry } from "@flowstore/flow-bucket";
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
