import { createTcpCluster, freePorts, type NodeId, nodeId } from "@flowstore/cluster-messaging";
import {
  createFlowRuleStore,
  fromClusterMessaging,
  storeNamespace,
} from "@flowstore/ec-flow-store";
import { type DeviceId, deviceId, parseFlowRule } from "@flowstore/flow-bucket";
import { createEmbeddedCoordinator } from "@flowstore/mastership";
import { filter, firstValueFrom } from "rxjs";

const ports = await freePorts(2); // two nodes in this process, on loopback
const nodes = ports.map((port, i) => ({ id: nodeId(`n${i + 1}`), host: "127.0.0.1", port }));
const config = { name: "lab", nodes };
const coordinator = createEmbeddedCoordinator<DeviceId>(); // one process: embedded mastership
const device = deviceId("of:0000000000000001");

async function startNode(id: NodeId) {
  const node = await createTcpCluster({ config, local: id, namespace: storeNamespace });
  const mastership = coordinator.forNode(id, { backupCount: 1 });
  const store = createFlowRuleStore({
    messaging: fromClusterMessaging(node.messaging), // request/reply by subject
    mastership,
    membership: node.membership, // the cluster's nodes and which are alive
    config: { backupCount: 1, bucketCount: 128 },
  });
  store.events$.subscribe((event) => {
    // On the device's master: program the device, then report how it went.
    if (event.type !== "BATCH_REQUESTED") return;
    const { id: batchId, deviceId } = event.batch;
    store.batchOperationComplete({ batchId, deviceId, success: true, failed: [] });
  });
  await mastership.requestRoleFor(device); // the device is connected to this node
  return { node, mastership, store };
}

const n1 = await startNode(nodeId("n1")); // the device's master
const connected = firstValueFrom(
  n1.node.membership.events$.pipe(filter((e) => e.type === "NODE_ACTIVE")),
);
const n2 = await startNode(nodeId("n2")); // its backup
await connected;

const rule = parseFlowRule(
  {
    priority: 40000,
    isPermanent: true,
    selector: { criteria: [{ type: "IN_PORT", port: 1 }] },
    treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
  },
  { deviceId: device, appId: 1 },
);
await n2.store.storeBatch({ deviceId: device, operations: [{ operator: "ADD", rule }] }); // forwarded to n1
const entries = await n2.store.getFlowEntries(device); // read on the master
console.log(entries.map((entry) => `${entry.rule.id}: ${entry.state}`)); // [ "547670265897241: PENDING_ADD" ]

for (const { node, mastership, store } of [n2, n1]) {
  store.close();
  await mastership.close();
  await node.close();
}
coordinator.close();
