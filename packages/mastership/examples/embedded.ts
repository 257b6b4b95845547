import { nodeId } from "@flowstore/cluster-messaging";
import { createEmbeddedCoordinator } from "@flowstore/mastership";

// One coordinator per process (pass { membership } to follow a cluster's failure detector),
// one view per node.
const coordinator = createEmbeddedCoordinator<string>();
const n1 = coordinator.forNode(nodeId("n1"), { backupCount: 1 });
const n2 = coordinator.forNode(nodeId("n2"), { backupCount: 1 });

const device = "of:0000000000000001";
// MASTER_CHANGED of:0000000000000001 1 n1 [], then BACKUPS_CHANGED … 1 n1 [ 'n2' ]
n1.events$.subscribe(({ type, key, info }) =>
  console.log(type, key, info.term, info.master, info.backups),
);
await n1.requestRoleFor(device); // the device connected to n1: become a candidate
await n2.requestRoleFor(device); // and to n2
const { term, master } = n1.mastership(device);
if (master === n1.localNode) console.log(await n1.activate(device, term)); // true (after syncing)
console.log(n2.activeTerm(device)); // 1: every view sees the activated term
await Promise.all([n1.close(), n2.close()]);
coordinator.close();
