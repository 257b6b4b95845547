import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bucketOf,
  createFlowEntry,
  createFlowRule,
  type DeviceId,
  deviceId,
  type FlowEntry,
  type FlowEntryState,
} from "@flowstore/flow-bucket";

/** Test data for the persistence's tests, benchmark and crash writer. */

/** The `i`-th device id: `of:` and 16 hex digits. */
export function testDevice(i: number): DeviceId {
  return deviceId(`of:${i.toString(16).padStart(16, "0")}`);
}

/** The `i`-th flow of `device` (0 ≤ i < 2²⁴): a /32 destination each. */
export function testEntry(
  device: DeviceId,
  i: number,
  init: { created?: number; state?: FlowEntryState; packets?: number } = {},
): FlowEntry {
  const rule = createFlowRule({
    deviceId: device,
    appId: 7,
    priority: 1000 + (i % 7),
    criteria: [
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
    ],
    treatment: { instructions: [{ type: "OUTPUT", port: 1 + (i % 48) }] },
    permanent: true,
  });
  return createFlowEntry(rule, {
    created: init.created ?? 1_700_000_000_000 + i,
    ...(init.state === undefined ? {} : { state: init.state }),
    ...(init.packets === undefined ? {} : { packets: init.packets }),
  });
}

/** Entries `from` … `to − 1` of `device`, grouped by their bucket among `bucketCount`. */
export function testBuckets(
  device: DeviceId,
  from: number,
  to: number,
  bucketCount: number,
): Map<number, FlowEntry[]> {
  const buckets = new Map<number, FlowEntry[]>();
  for (let i = from; i < to; i++) {
    const entry = testEntry(device, i);
    const index = bucketOf(entry.rule.id, bucketCount);
    let list = buckets.get(index);
    if (list === undefined) {
      list = [];
      buckets.set(index, list);
    }
    list.push(entry);
  }
  return buckets;
}

/** A new empty directory under the system's temp directory, and a function removing it. */
export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "flowstore-persistence-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
