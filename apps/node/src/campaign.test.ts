import type { DeviceId } from "@flowstore/flow-bucket";
import { type Mastership, MastershipError } from "@flowstore/mastership";
import { describe, expect, it } from "vitest";
import type { JsonLogger } from "./logger.js";
import { campaign } from "./node.js";

/** A coordinator that refuses the first `failures` candidacy writes, as a slow etcd would. */
function flakyMastership(
  failures: number,
  error = new MastershipError("UNAVAILABLE", "etcd slow"),
) {
  const asked: string[] = [];
  let left = failures;
  const mastership = {
    async requestRoleFor(device: DeviceId) {
      asked.push(device);
      if (left-- > 0) throw error;
      return { term: 1, master: undefined, backups: [] };
    },
  } as unknown as Mastership<DeviceId>;
  return { mastership, asked };
}

function recordingLog() {
  const warnings: string[] = [];
  const log = { warn: (message: string) => warnings.push(message) } as unknown as JsonLogger;
  return { log, warnings };
}

const devices = ["of:0000000000000001", "of:0000000000000002"] as DeviceId[];

describe("campaign", () => {
  it("asks again when the coordinator is briefly unavailable, instead of failing the start", async () => {
    const { mastership, asked } = flakyMastership(2);
    const { log, warnings } = recordingLog();
    await campaign(mastership, devices, log);
    expect(asked).toEqual([devices[0], devices[0], devices[0], devices[1]]);
    expect(warnings).toEqual([
      "could not campaign for a device; trying again",
      "could not campaign for a device; trying again",
    ]);
  });

  it("gives up after its time, and at once on an error that is not about availability", async () => {
    const { log } = recordingLog();
    await expect(
      campaign(flakyMastership(1_000).mastership, devices, log, 300),
    ).rejects.toMatchObject({
      code: "UNAVAILABLE",
    });
    const invalid = flakyMastership(1, new MastershipError("INVALID_ARGUMENT", "bad key"));
    await expect(campaign(invalid.mastership, devices, log)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(invalid.asked).toHaveLength(1);
  });
});
