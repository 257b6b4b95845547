// A one-node cluster with the console plugin on its own fastify app: for the console's tests
// and its flow-view measurement, without the rest of the node.
import { createTcpCluster, freePorts, nodeId } from "@flowstore/cluster-messaging";
import {
  createFlowRuleStore,
  type EcFlowRuleStore,
  fromClusterMessaging,
  storeNamespace,
} from "@flowstore/ec-flow-store";
import { createFlowRule, type DeviceId, type FlowRule } from "@flowstore/flow-bucket";
import {
  createEmbeddedApplicationRegistry,
  createEmbeddedCoordinator,
  type Mastership,
} from "@flowstore/mastership";
import Fastify, { type FastifyInstance } from "fastify";
import { DeviceFleet, simulatedDeviceIds } from "../../deviceSimulator.js";
import type { ConsoleContext } from "../consoleHub.js";
import { consolePlugin } from "../consolePlugin.js";

/** A running one-node console fixture. */
export interface ConsoleNode {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly store: EcFlowRuleStore;
  readonly mastership: Mastership<DeviceId>;
  readonly fleet: DeviceFleet;
  readonly devices: readonly DeviceId[];
  close(): Promise<void>;
}

/** Starts node `n1` alone with `devices` simulated devices and the console at `url/ui/`. */
export async function startConsoleNode(
  options: { devices?: number; dist?: string; admin?: ConsoleContext["admin"] } = {},
): Promise<ConsoleNode> {
  const id = nodeId("n1");
  const [port] = await freePorts(1);
  const cluster = await createTcpCluster({
    config: { name: "console-test", nodes: [{ id, host: "127.0.0.1", port: port! }] },
    local: id,
    namespace: storeNamespace,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const coordinator = createEmbeddedCoordinator<DeviceId>({ membership: cluster.membership });
  const mastership = coordinator.forNode(id, { backupCount: 2 });
  const devices = simulatedDeviceIds(options.devices ?? 2);
  const fleet = new DeviceFleet(devices);
  const store = createFlowRuleStore({
    messaging: fromClusterMessaging(cluster.messaging),
    mastership,
    membership: cluster.membership,
    isDeviceAvailable: () => true,
  });
  const applications = createEmbeddedApplicationRegistry();
  const app = Fastify();
  await app.register(consolePlugin, {
    nodeId: id,
    store,
    mastership,
    fleet,
    applications,
    cluster: {
      nodes: () => [{ id, host: "127.0.0.1", port: port!, status: "ACTIVE" as const }],
    },
    ...(options.dist === undefined ? {} : { dist: async () => options.dist! }),
    ...(options.admin === undefined ? {} : { admin: options.admin }),
  });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  for (const device of devices) await mastership.requestRoleFor(device);
  return {
    url: address,
    app,
    store,
    mastership,
    fleet,
    devices,
    close: async () => {
      await app.close();
      await applications.close();
      store.close();
      await mastership.close();
      coordinator.close();
      await cluster.close();
    },
  };
}

/** Rule `i` of a synthetic table: IPv4 destination 10.x.y.z/32, priority 100 + i % 3, app 10 + i % 2. */
export function syntheticRule(device: DeviceId, i: number): FlowRule {
  return createFlowRule({
    deviceId: device,
    appId: 10 + (i % 2),
    priority: 100 + (i % 3),
    criteria: [
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
    ],
    treatment: { instructions: [{ type: "OUTPUT", port: String(1 + (i % 4)) }] },
  });
}

/** Stores rules `from … to-1` on `device` in batches of `batch`. */
export async function storeSynthetic(
  store: EcFlowRuleStore,
  device: DeviceId,
  from: number,
  to: number,
  batch = 10_000,
): Promise<void> {
  for (let start = from; start < to; start += batch) {
    const operations = [];
    for (let i = start; i < Math.min(to, start + batch); i++)
      operations.push({ operator: "ADD" as const, rule: syntheticRule(device, i) });
    await store.storeBatch({ deviceId: device, operations });
  }
}
