import { nodeId } from "@flowstore/cluster-messaging";
import { createEtcdMastership } from "@flowstore/mastership";

// One view per process, against etcd; the nodes share nothing but the endpoints.
const endpoints = (process.env.ETCD_ENDPOINTS ?? "http://127.0.0.1:2379").split(",");
const n1 = await createEtcdMastership<string>({ endpoints, node: nodeId("n1"), leaseTtl: 2 });

const device = "of:0000000000000001";
await n1.requestRoleFor(device); // a device connected: become a candidate
const { term, master } = n1.mastership(device); // term: the candidacy's etcd revision
console.log(master, await n1.activate(device, term)); // n1 true
await n1.close(); // candidacies withdrawn, lease revoked
