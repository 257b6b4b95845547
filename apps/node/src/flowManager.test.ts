import type { EcFlowRuleStore, FlowStoreEvent } from "@flowstore/ec-flow-store";
import { createFlowRule, type DeviceId, type FlowRule } from "@flowstore/flow-bucket";
import { asyncScheduler, Subject } from "rxjs";
import { describe, expect, it } from "vitest";
import { DeviceFleet, simulatedDeviceIds } from "./deviceSimulator.js";
import { FlowManager } from "./flowManager.js";
import { createJsonLogger } from "./logger.js";

const [d1, d2] = simulatedDeviceIds(2) as [DeviceId, DeviceId];
const rule = (device: DeviceId, i: number): FlowRule =>
  createFlowRule({
    deviceId: device,
    appId: 1,
    priority: 100,
    criteria: [{ type: "IPV4_DST", ip: `10.0.0.${i}/32` }],
    treatment: { instructions: [{ type: "OUTPUT", port: 2 }] },
  });

/** A manager over a store that records what it is told. */
function setUp() {
  const events$ = new Subject<FlowStoreEvent>();
  const completed: number[] = [];
  const reports: { device: DeviceId; flows: number; complete: boolean }[] = [];
  const store = {
    events$,
    batchOperationComplete: async (result: { batchId: number }) => {
      completed.push(result.batchId);
    },
    updateFlowStatistics: async (
      device: DeviceId,
      flows: readonly unknown[],
      options?: { complete?: boolean },
    ) => {
      reports.push({ device, flows: flows.length, complete: options?.complete ?? true });
      return { extraneous: [], missing: [] };
    },
    isActiveMaster: () => false,
  } as unknown as EcFlowRuleStore;
  const fleet = new DeviceFleet([d1, d2]);
  const manager = new FlowManager({
    store,
    fleet,
    log: createJsonLogger("error", () => {}),
    statsPeriod: 60_000,
    scheduler: asyncScheduler,
  });
  const request = (id: number, device: DeviceId, rules: FlowRule[]) =>
    events$.next({
      type: "BATCH_REQUESTED",
      batch: { id, deviceId: device, operations: rules.map((r) => ({ operator: "ADD", rule: r })) },
    } as unknown as FlowStoreEvent);
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  return { manager, fleet, completed, reports, request, turn };
}

describe("FlowManager", () => {
  it("installs each batch, completes each, and reports the installed flows once per device per turn", async () => {
    const { manager, fleet, completed, reports, request, turn } = setUp();
    request(1, d1, [rule(d1, 1), rule(d1, 2)]);
    request(2, d1, [rule(d1, 3)]);
    request(3, d2, [rule(d2, 4)]);
    expect(await fleet.get(d1)?.report(0)).toHaveLength(3);
    expect(await fleet.get(d2)?.report(0)).toHaveLength(1);
    await turn();
    expect(completed).toEqual([1, 2, 3]);
    expect(reports).toEqual([
      { device: d1, flows: 3, complete: false },
      { device: d2, flows: 1, complete: false },
    ]);
    // The next turn's batches make the next report.
    request(4, d1, [rule(d1, 5)]);
    await turn();
    expect(reports.at(-1)).toEqual({ device: d1, flows: 1, complete: false });
    expect(reports).toHaveLength(3);
    manager.close();
  });

  it("reports nothing installed for a batch the device failed", async () => {
    const { manager, fleet, reports, request, turn } = setUp();
    fleet.get(d1)!.available = false;
    request(1, d1, [rule(d1, 1)]);
    await turn();
    expect(reports).toEqual([]);
    manager.close();
  });
});
