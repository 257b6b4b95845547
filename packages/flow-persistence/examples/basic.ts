import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bucketOf, createFlowEntry, deviceId, parseFlowRule } from "@flowstore/flow-bucket";
import { FlowPersistence } from "@flowstore/flow-persistence";

const dir = await mkdtemp(join(tmpdir(), "flowstore-example-"));
const device = deviceId("of:0000000000000001");
const rule = parseFlowRule(
  {
    priority: 40000,
    isPermanent: true,
    selector: { criteria: [{ type: "ETH_TYPE", ethType: "0x800" }] },
    treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
  },
  { deviceId: "of:0000000000000001", appId: 12 },
);

const disk = await FlowPersistence.open({ dir, cluster: "lab", node: "n1" }); // creates the dir
disk.stageBucket(device, {
  bucket: bucketOf(rule.id, 128),
  term: 3, // the bucket's stamp: (term, timestamp)
  timestamp: 1,
  upserts: [createFlowEntry(rule, { created: Date.now() })],
  removed: [],
  flows: 1, // how many flows the bucket holds after this change
});
disk.setMeta("etcdClusterId", "14841639068965178418");
await disk.close(); // commits what is staged (otherwise: within commitInterval, 100 ms)

const again = await FlowPersistence.open({ dir, cluster: "lab", node: "n1" });
for (const { deviceId, highestTerm, buckets } of await again.load()) {
  console.log(
    deviceId,
    highestTerm,
    buckets.map((b) => `${b.bucket}: ${b.entries.length}`),
  );
}
console.log(again.highestTerm(), again.getMeta("etcdClusterId"));
await again.close();
await rm(dir, { recursive: true });
