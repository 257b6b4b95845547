import {
  createFlowEntry,
  deviceId,
  FlowBucketTable,
  flowBucketNamespace,
  flowEntryToJson,
  parseFlowRule,
} from "@flowstore/flow-bucket";

const rule = parseFlowRule(
  {
    priority: 40000,
    isPermanent: true,
    selector: {
      criteria: [
        { type: "ETH_TYPE", ethType: "0x800" },
        { type: "IPV4_DST", ip: "10.0.0.1/32" },
      ],
    },
    treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
  },
  { deviceId: "of:0000000000000001", appId: 12 }, // from the URL and the caller
);
const table = new FlowBucketTable({ deviceId: deviceId("of:0000000000000001"), bucketCount: 1024 });
const term = 1; // the device's mastership term: a change in an older term is refused
table.add(createFlowEntry(rule, { created: Date.now() }), term); // stamps (term, clock.next())
console.log(table.summary()); // { deviceId, term: 1, timestamp: 1, buckets: 1, checksum: … }
const entry = table.find(rule);
if (entry !== undefined) console.log(flowEntryToJson(entry)); // ONOS REST: { id: "3455449622707804", … }
const bucket = table.bucket(table.bucketIndexOf(rule.id));
if (bucket !== undefined) {
  const bytes = flowBucketNamespace.encode("FlowBucket", bucket.snapshot()); // for a backup
  console.log(flowBucketNamespace.decode(bytes).type); // "FlowBucket"
}
