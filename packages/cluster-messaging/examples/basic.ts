import { createChannel, createTcpCluster, freePorts, nodeId } from "@flowstore/cluster-messaging";
import { createNamespace, createSerializer } from "@flowstore/serializers";
import { filter, firstValueFrom } from "rxjs";
import { z } from "zod";

const [port1, port2] = await freePorts(2); // two nodes in this process, on loopback
const config = {
  name: "lab",
  nodes: [
    { id: nodeId("n1"), host: "127.0.0.1", port: port1! },
    { id: nodeId("n2"), host: "127.0.0.1", port: port2! },
  ],
};
const namespace = createNamespace("lab").build(); // its fingerprint is checked in the handshake
const secret = process.env.CLUSTER_SECRET ?? "not a secret"; // the same on every node

const n1 = await createTcpCluster({ config, local: nodeId("n1"), namespace, secret });
const active = firstValueFrom(n1.membership.events$.pipe(filter((e) => e.type === "NODE_ACTIVE")));
const n2 = await createTcpCluster({ config, local: nodeId("n2"), namespace, secret });
console.log(await active); // { type: "NODE_ACTIVE", node: "n2" }: n1 heard n2's heartbeat

const add = {
  subject: "math.add",
  request: createSerializer("Add", z.object({ x: z.number(), y: z.number() })),
  reply: createSerializer("Sum", z.number()),
};
createChannel(n2.messaging, add).serve(({ x, y }) => x + y); // on every node that answers
const sum = await createChannel(n1.messaging, add).sendAndReceive(nodeId("n2"), { x: 2, y: 3 });
console.log(sum); // 5
await Promise.all([n1.close(), n2.close()]); // every socket, timer and subscription released
