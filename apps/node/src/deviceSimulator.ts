import { setImmediate as nextTurn } from "node:timers/promises";
import { type DeviceId, deviceId, type FlowId, type FlowRule } from "@flowstore/flow-bucket";

/** How many flows of a stats reply a simulated device gathers in one turn of the event loop. */
const REPORT_SLICE = 16_384;

/** One flow of a device's stats reply. */
export interface FlowReport {
  readonly rule: FlowRule;
  readonly packets: number;
  readonly bytes: number;
  readonly life: number;
}

/** A flow installed on a simulated switch, with the counters it reports. */
export interface InstalledFlow {
  readonly rule: FlowRule;
  readonly installedAt: number;
}

/**
 * A switch that accepts flow rules and reports their counters, standing in for a real
 * OpenFlow device: the state lives on the device, outside the controllers.
 *
 * @remarks Counters are a deterministic function of the time since installation (a steady
 * packet rate per flow), so a report is reproducible in tests.
 */
export class SimulatedDevice {
  readonly id: DeviceId;
  /** Whether the device is connected (an unavailable device is answered from local copies). */
  available = true;
  readonly #flows = new Map<FlowId, InstalledFlow>();

  constructor(id: DeviceId) {
    this.id = id;
  }

  /** Installs (or replaces) `rule`. */
  install(rule: FlowRule, now: number): void {
    const existing = this.#flows.get(rule.id);
    this.#flows.set(rule.id, { rule, installedAt: existing?.installedAt ?? now });
  }

  /** Removes the flow of `rule`; whether it was installed. */
  remove(rule: FlowRule): boolean {
    return this.#flows.delete(rule.id);
  }

  has(id: FlowId): boolean {
    return this.#flows.has(id);
  }

  get size(): number {
    return this.#flows.size;
  }

  /**
   * Every installed flow with its counters at `now`: one stats reply. It is gathered
   * `REPORT_SLICE` flows at a time with a turn of the event loop between, as a switch sends
   * a big table in many messages: in one piece, the reply of 600,000 flows held the node's
   * event loop for 35–40 ms every stats period. Flows installed meanwhile are in it.
   */
  async report(now: number): Promise<FlowReport[]> {
    const reports: FlowReport[] = [];
    for (const flow of this.#flows.values()) {
      const life = Math.max(0, Math.floor((now - flow.installedAt) / 1000));
      const packets = life * 10;
      reports.push({ rule: flow.rule, packets, bytes: packets * 64, life });
      if (reports.length % REPORT_SLICE === 0) await nextTurn();
    }
    return reports;
  }
}

/** The simulated devices `of:0000000000000001` … `of:<count in hex>`. */
export function simulatedDeviceIds(count: number): DeviceId[] {
  return Array.from({ length: count }, (_, i) =>
    deviceId(`of:${(i + 1).toString(16).padStart(16, "0")}`),
  );
}

/** A set of simulated devices, shared by every node that controls them. */
export class DeviceFleet {
  readonly #devices = new Map<DeviceId, SimulatedDevice>();

  constructor(ids: readonly DeviceId[]) {
    for (const id of ids) this.#devices.set(id, new SimulatedDevice(id));
  }

  get(id: DeviceId): SimulatedDevice | undefined {
    return this.#devices.get(id);
  }

  ids(): DeviceId[] {
    return [...this.#devices.keys()];
  }
}
