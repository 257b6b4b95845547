import { createFlowRule, type DeviceId } from "@flowstore/flow-bucket";
import { describe, expect, it } from "vitest";
import { SimulatedDevice, simulatedDeviceIds } from "./deviceSimulator.js";

const [d1] = simulatedDeviceIds(1) as [DeviceId];

describe("SimulatedDevice", () => {
  it("answers a big table's stats request over several turns of the event loop, every flow in it", async () => {
    const device = new SimulatedDevice(d1);
    for (let i = 0; i < 40_000; i++) {
      device.install(
        createFlowRule({
          deviceId: d1,
          appId: 1,
          priority: 100,
          criteria: [{ type: "IPV4_DST", ip: `10.0.${(i >> 8) & 255}.${i & 255}/32` }],
        }),
        1_000,
      );
    }
    let servedMeanwhile = false;
    const gathering = device.report(6_000);
    setImmediate(() => {
      servedMeanwhile = true;
    });
    const reports = await gathering;
    // Other work had a turn while the reply was gathered, and the reply is whole.
    expect(servedMeanwhile).toBe(true);
    expect(reports).toHaveLength(40_000);
    expect(new Set(reports.map((r) => r.rule.id)).size).toBe(40_000);
    expect(reports[0]).toMatchObject({ life: 5, packets: 50, bytes: 3_200 });
  });
});
