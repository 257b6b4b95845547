import type { NodeId } from "@flowstore/cluster-messaging";
import {
  applicationId,
  createFlowRule,
  type DeviceId,
  deviceId,
  type FlowRule,
} from "@flowstore/flow-bucket";
import { createEmbeddedCoordinator, type EmbeddedCoordinator } from "@flowstore/mastership";
import { VirtualTimeScheduler } from "rxjs";
import type { StoreConfigInput } from "../config.js";
import { EcFlowRuleStore } from "../ecFlowRuleStore.js";
import type { FlowStoreEvent } from "../flowStoreEvent.js";
import { LocalHub } from "./localHub.js";

/** Several stores in one process on a {@link LocalHub}, an embedded coordinator, and virtual time. */
export interface LocalCluster {
  readonly scheduler: VirtualTimeScheduler;
  readonly coordinator: EmbeddedCoordinator<DeviceId>;
  readonly hub: LocalHub;
  readonly nodes: readonly NodeId[];
  readonly stores: Map<NodeId, EcFlowRuleStore>;
  readonly events: Map<NodeId, FlowStoreEvent[]>;
  store(node: NodeId): EcFlowRuleStore;
  /** Advances virtual time by `ms`, letting promises settle every `step` ms. */
  advance(ms: number, step?: number): Promise<void>;
  /** Lets pending promises settle without moving time. */
  settle(): Promise<void>;
  close(): void;
}

/** Starts `size` nodes `n1…` and makes every one a candidate for `devices`. */
export async function startLocalCluster(
  size: number,
  devices: readonly DeviceId[],
  config: StoreConfigInput = {},
): Promise<LocalCluster> {
  const scheduler = new VirtualTimeScheduler();
  const coordinator = createEmbeddedCoordinator<DeviceId>({ scheduler });
  const hub = new LocalHub();
  const nodes = Array.from({ length: size }, (_, i) => `n${i + 1}` as NodeId);
  const stores = new Map<NodeId, EcFlowRuleStore>();
  const events = new Map<NodeId, FlowStoreEvent[]>();
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  const advance = async (ms: number, step = 10) => {
    const end = scheduler.now() + ms;
    while (scheduler.now() < end) {
      scheduler.maxFrames = Math.min(end, scheduler.now() + step);
      scheduler.flush();
      // flush() stops at the last action due; move the clock itself to the step's end.
      scheduler.frame = scheduler.maxFrames;
      await settle();
    }
  };
  for (const node of nodes) {
    const mastership = coordinator.forNode(node, {
      backupCount: (config.backupCount as number | undefined) ?? 2,
    });
    const store = new EcFlowRuleStore({
      messaging: hub.messaging(node),
      mastership,
      clusterSize: () => size,
      config,
      scheduler,
    });
    const log: FlowStoreEvent[] = [];
    store.events$.subscribe((event) => log.push(event));
    stores.set(node, store);
    events.set(node, log);
  }
  for (const device of devices) {
    for (const node of nodes) await coordinator.forNode(node).requestRoleFor(device);
  }
  await advance(50);
  return {
    scheduler,
    coordinator,
    hub,
    nodes,
    stores,
    events,
    store: (node) => {
      const store = stores.get(node);
      if (store === undefined) throw new Error(`no node ${node}`);
      return store;
    },
    advance,
    settle,
    close: () => {
      for (const store of stores.values()) store.close();
      coordinator.close();
    },
  };
}

/** Device `of:000…0n`. */
export function device(n: number): DeviceId {
  return deviceId(`of:${n.toString(16).padStart(16, "0")}`);
}

/** A distinct rule on `device` (by `n`) of application `app`. */
export function rule(on: DeviceId, n: number, app = 1): FlowRule {
  return createFlowRule({
    deviceId: on,
    appId: applicationId(app),
    priority: 40000,
    criteria: [
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/32` },
    ],
    treatment: { instructions: [{ type: "OUTPUT", port: String(1 + (n % 48)) }] },
  });
}
