import { storeNamespace } from "@flowstore/ec-flow-store";
import {
  createFlowEntry,
  type DeviceId,
  FlowBucketTable,
  type FlowEntry,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { pack } from "@flowstore/serializers";
import { PeriodicDeviceBackup } from "../baselines/periodicDeviceBackup.js";
import { defineScenario } from "../harness.js";
import { benchDevice, benchRule } from "../workload.js";

/**
 * Bytes one backup round sends when 1 % of the flows change (their counters), on the same
 * flows: flowstore's deltas of the changed buckets, the 2018 reference's changed buckets sent
 * whole, and the 2015 design's changed devices sent whole.
 */
export const replicationBytesScenario = defineScenario({
  name: "replication-bytes",
  description:
    "bytes per backup round when 1% of the flows change: flowstore's bucket deltas against the 2018 reference's whole changed buckets and the 2015 design's whole dirty devices",
  async run(ctx) {
    const devicesCount = ctx.quick ? 100 : 1000;
    const perDevice = 1000;
    const total = devicesCount * perDevice;
    const changes = Math.round(total / 100);
    const devices: DeviceId[] = Array.from({ length: devicesCount }, (_, i) => benchDevice(i + 1));
    ctx.progress(
      `${total.toLocaleString("en-US")} flows over ${devicesCount} devices; ${changes} change per round`,
    );

    const tables = new Map(
      devices.map((d) => [d, new FlowBucketTable({ deviceId: d, bucketCount: 128 })]),
    );
    const baseline = new PeriodicDeviceBackup();
    const entries: FlowEntry[] = [];
    devices.forEach((d, di) => {
      for (let k = 0; k < perDevice; k++) {
        const i = di * perDevice + k;
        const rule = benchRule(d, i);
        const entry = createFlowEntry(rule, { created: 1, state: "ADDED" });
        entries.push(entry);
        tables.get(d)!.add(entry, 1);
        baseline.put(entry);
      }
    });
    // Both replicas start in sync: this round's sends cover only what changes next.
    baseline.takeBackup();
    // What the backup holds: the version of each bucket it was last sent.
    const stamped = new Map(
      [...tables].map(([d, t]) => [
        d,
        new Map(t.buckets().map((b) => [b.index, { term: b.term, timestamp: b.timestamp }])),
      ]),
    );

    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const backupRequest = storeNamespace.serializer("BackupRequest");
    type BackupDevices = ReturnType<typeof backupRequest.decode>["devices"];
    const rounds = ctx.quick ? 3 : 5;
    const ours: number[] = [];
    const buckets: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (let c = 0; c < changes; c++) {
        const entry = entries[Math.floor(random() * entries.length)]!;
        const updated = withFlowEntry(entry, {
          packets: entry.packets + 1,
          bytes: entry.bytes + 64,
          lastSeen: round + 2,
        });
        tables.get(entry.rule.deviceId)!.modify(entry.rule, () => updated, 1);
        baseline.put(updated);
      }
      // The buckets whose stamp moved since the last round, all devices in one message:
      // flowstore sends each as a delta from the version the backup holds (whole when the
      // delta would not be smaller); the 2018 reference sends each whole.
      const deltas: BackupDevices = [];
      const wholes: BackupDevices = [];
      for (const [d, table] of tables) {
        const last = stamped.get(d)!;
        const changed = table.buckets().filter((b) => b.timestamp !== last.get(b.index)?.timestamp);
        if (changed.length === 0) continue;
        const stamp = { deviceId: d, term: 1, clock: table.clock.current };
        const ourDeltas = changed.flatMap((b) => {
          const base = last.get(b.index);
          const delta = base === undefined ? undefined : b.delta(base.term, base.timestamp);
          return delta === undefined ? [] : [delta];
        });
        const sentAsDelta = new Set(ourDeltas.map((delta) => delta.bucket));
        deltas.push({
          ...stamp,
          buckets: changed.filter((b) => !sentAsDelta.has(b.index)).map((b) => b.snapshot()),
          deltas: ourDeltas,
        });
        wholes.push({ ...stamp, buckets: changed.map((b) => b.snapshot()), deltas: [] });
        for (const b of changed) last.set(b.index, { term: b.term, timestamp: b.timestamp });
      }
      ours.push(backupRequest.encode({ devices: deltas }).length);
      buckets.push(backupRequest.encode({ devices: wholes }).length);
      // 2015: every dirty device's whole table, in one message to the first standby.
      theirs.push(pack(baseline.takeBackup()).length);
      ctx.progress(
        `round ${round + 1}: flowstore ${ours.at(-1)} B, whole changed buckets ${buckets.at(-1)} B, 2015 design ${theirs.at(-1)} B`,
      );
    }
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const flowstore = median(ours);
    const wholeBuckets = median(buckets);
    const reference = median(theirs);
    ctx.record("flowstore: bytes per backup round, per backup", "B", flowstore, {
      better: "lower",
      note: `${changes} of ${total} flows changed; 128 buckets per device; changed buckets as deltas from the version the backup holds`,
    });
    ctx.record("2018 reference: bytes per backup round, per backup", "B", wholeBuckets, {
      better: "lower",
      note: "the same changed buckets, each sent whole",
    });
    ctx.record("2015 design: bytes per backup round, to its one standby", "B", reference, {
      better: "lower",
    });
    ctx.record("2015 design ÷ flowstore, bytes per copy", "×", reference / flowstore);
    ctx.record("2018 reference ÷ flowstore, bytes per copy", "×", wholeBuckets / flowstore);
    ctx.record(
      "2015 design ÷ flowstore, total (flowstore sends to 2 backups, 2015 to 1)",
      "×",
      reference / (2 * flowstore),
    );
  },
});
