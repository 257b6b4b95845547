import type { NodeId } from "@flowstore/cluster-messaging";
import { describe, expect, it } from "vitest";
import { type BenchCluster, startCluster, waitUntil } from "../cluster.js";
import { benchDevice, benchRules } from "../workload.js";
import { PeriodicBackupStore } from "./periodicDeviceBackup.js";

const device = benchDevice(7);

async function start(backupPeriod: number): Promise<BenchCluster<PeriodicBackupStore>> {
  return startCluster([device], {
    store: (parts) =>
      new PeriodicBackupStore({
        messaging: parts.messaging,
        mastership: parts.mastership,
        backupPeriod,
      }),
  });
}

function roles(cluster: BenchCluster<PeriodicBackupStore>) {
  const info = cluster.coordinator.mastership(device);
  const [first, second] = info.backups as NodeId[];
  const at = (node: NodeId | undefined) => cluster.stores.get(node!)!;
  return { master: info.master!, first: first!, second: second!, at };
}

describe("the 2015 design as a running baseline", () => {
  it("writes forwarded to the master reach its first standby only, whole, within a period", async () => {
    const cluster = await start(50);
    try {
      const { master, first, second, at } = roles(cluster);
      await at(second).storeBatch(device, benchRules(device, 300));
      expect(at(master).size(device)).toBe(300);
      await waitUntil(() => at(first).size(device) === 300, 5000, 5);
      // Only the first standby holds a copy; the second keeps nothing it could serve.
      expect(at(second).size(device)).toBe(0);
    } finally {
      await cluster.close();
    }
  });

  it("a new master serves at once from its copy: writes since the last backup are lost", async () => {
    const cluster = await start(60_000); // no periodic round during the test
    try {
      const { master, first, at } = roles(cluster);
      await at(master).storeBatch(device, benchRules(device, 100));
      await at(master).backupRound();
      expect(at(first).size(device)).toBe(100);
      await at(master).storeBatch(device, benchRules(device, 50, 100));
      await cluster.crash(master);
      expect(cluster.master(device)).toBe(first);
      expect(at(first).isActiveMaster(device)).toBe(true);
      expect(at(first).size(device)).toBe(100);
      const late = benchRules(device, 50, 100);
      expect(late.filter((rule) => at(first).has(rule))).toHaveLength(0);
    } finally {
      await cluster.close();
    }
  });

  it("losing the master and its first standby together loses the device's table", async () => {
    const cluster = await start(60_000);
    try {
      const { master, first, second, at } = roles(cluster);
      await at(master).storeBatch(device, benchRules(device, 100));
      await at(master).backupRound();
      await Promise.all([cluster.crash(master), cluster.crash(first)]);
      expect(cluster.master(device)).toBe(second);
      expect(at(second).size(device)).toBe(0);
    } finally {
      await cluster.close();
    }
  });
});
