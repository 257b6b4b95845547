import type { DeviceId, FlowEntry, FlowId } from "@flowstore/flow-bucket";

/**
 * The 2015 design's replication, kept here as a baseline: the master owns each device's
 * flow table; a change marks the device dirty; every backup period the master sends every
 * dirty device's whole table to the device's first standby, in one message per standby.
 *
 * @remarks No terms, no digests, no anti-entropy: a lost message is healed only by the next
 * change of the device, and a standby that is not the next master has nothing to give it.
 */
export class PeriodicDeviceBackup {
  readonly #tables = new Map<DeviceId, Map<FlowId, FlowEntry>>();
  readonly #dirty = new Set<DeviceId>();

  /** Stores (or replaces) an entry on its device's table and marks the device for backup. */
  put(entry: FlowEntry): void {
    const device = entry.rule.deviceId;
    let table = this.#tables.get(device);
    if (table === undefined) {
      table = new Map();
      this.#tables.set(device, table);
    }
    table.set(entry.rule.id, entry);
    this.#dirty.add(device);
  }

  /** The entry with flow id `id` on `device`. */
  get(device: DeviceId, id: FlowId): FlowEntry | undefined {
    return this.#tables.get(device)?.get(id);
  }

  /**
   * One backup round: the message for the standby — every dirty device with its whole
   * table — and the dirty marks cleared (as the reference does once the send succeeds).
   */
  takeBackup(): { devices: { deviceId: DeviceId; entries: FlowEntry[] }[] } {
    const devices = [...this.#dirty].map((deviceId) => ({
      deviceId,
      entries: [...(this.#tables.get(deviceId)?.values() ?? [])],
    }));
    this.#dirty.clear();
    return { devices };
  }
}
