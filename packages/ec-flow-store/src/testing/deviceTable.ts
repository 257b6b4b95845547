import type { NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId } from "@flowstore/flow-bucket";
import { DeviceFlowTable, type DeviceFlowTableOptions } from "../internal/deviceFlowTable.js";
import { silentLogger } from "../logger.js";

/**
 * A device table on `localNode` for a unit test: 16 buckets, no replica to sync from,
 * activation always published, nothing dropped, no waiting — unless `overrides` says
 * otherwise.
 */
export function testDeviceTable(
  deviceId: DeviceId,
  localNode: NodeId,
  overrides: Partial<DeviceFlowTableOptions> = {},
): DeviceFlowTable {
  return new DeviceFlowTable({
    deviceId,
    localNode,
    bucketCount: 16,
    sync: { digests: async () => ({ digests: [], activated: null }), buckets: async () => [] },
    activate: async () => true,
    shouldDropCopies: () => false,
    log: silentLogger,
    wait: () => Promise.resolve(),
    ...overrides,
  });
}
