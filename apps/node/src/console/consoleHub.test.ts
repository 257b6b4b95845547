import {
  type ClusterMembership,
  type MembershipEvent,
  type NodeId,
  type NodeState,
  nodeId,
} from "@flowstore/cluster-messaging";
import { waitFor } from "@flowstore/cluster-messaging/testing";
import type { EcFlowRuleStore } from "@flowstore/ec-flow-store";
import { type DeviceId, emptyStateCounts } from "@flowstore/flow-bucket";
import { createEmbeddedCoordinator, type EmbeddedCoordinator } from "@flowstore/mastership";
import { Subject } from "rxjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DeviceFleet, simulatedDeviceIds } from "../deviceSimulator.js";
import { ConsoleHub } from "./consoleHub.js";
import type { ConsoleEvent } from "./protocol.js";

const NODES = ["n1", "n2", "n3"].map(nodeId);

/** Liveness set by hand, as failure detectors would report it. */
function handMembership(): ClusterMembership & { set(node: NodeId, state: NodeState): void } {
  const states = new Map<NodeId, NodeState>(NODES.map((n) => [n, "ACTIVE"]));
  const events = new Subject<MembershipEvent>();
  const nodes = NODES.map((id, i) => ({ id, host: "127.0.0.1", port: 9000 + i }));
  return {
    localNode: nodes[0]!,
    nodes: () => nodes,
    state: (node) => states.get(node) ?? "INACTIVE",
    events$: events.asObservable(),
    set: (node, state) => {
      states.set(node, state);
      events.next({ type: state === "ACTIVE" ? "NODE_ACTIVE" : "NODE_INACTIVE", node });
    },
  };
}

/** The parts of a store the hub reads, for a node that holds no tables. */
function storeWithoutTables(): EcFlowRuleStore {
  return {
    events$: new Subject(),
    stats: () => ({
      replication: {},
      sent: new Map(),
      unackedBuckets: 0,
      masteredDevices: 0,
    }),
    localTable: () => undefined,
    flowStateCounts: () => emptyStateCounts(),
  } as unknown as EcFlowRuleStore;
}

let coordinator: EmbeddedCoordinator<DeviceId>;
let membership: ReturnType<typeof handMembership>;
/** Nodes the cluster view shows stopped (before or without the detectors' verdict). */
const stopped = new Set<string>();
let hub: ConsoleHub;
const events: ConsoleEvent[] = [];
const devices = simulatedDeviceIds(6);

beforeEach(async () => {
  membership = handMembership();
  coordinator = createEmbeddedCoordinator<DeviceId>({ membership, rebalanceDelay: 60_000 });
  const views = NODES.map((node) => coordinator.forNode(node, { backupCount: 2 }));
  for (const view of views) for (const device of devices) await view.requestRoleFor(device);
  await views[0]!.balance();
  hub = new ConsoleHub(
    {
      nodeId: "n1",
      store: storeWithoutTables(),
      mastership: views[0]!,
      fleet: new DeviceFleet(devices),
      cluster: {
        nodes: () =>
          NODES.map((id, i) => ({
            id,
            host: "127.0.0.1",
            port: 9000 + i,
            status: stopped.has(id) ? ("INACTIVE" as const) : membership.state(id),
          })),
      },
    },
    { devicePeriod: 20, metricsPeriod: 50 },
  );
  events.length = 0;
  stopped.clear();
  hub.listen((event) => events.push(event));
});

afterEach(() => {
  hub.close();
  coordinator.close();
});

describe("console hub", () => {
  it("shows every device's master and backups, and the nodes' masters", () => {
    const snapshot = hub.snapshot();
    expect(snapshot.devices.map((d) => d.id)).toEqual(devices);
    for (const device of snapshot.devices) {
      expect(device.master).not.toBeNull();
      expect(device.backups).toHaveLength(2);
      expect(device.termState).toBe("SYNCHRONIZING");
    }
    expect(snapshot.nodes.map((n) => [n.id, n.status, n.masters])).toEqual([
      ["n1", "ACTIVE", 2],
      ["n2", "ACTIVE", 2],
      ["n3", "ACTIVE", 2],
    ]);
  });

  it("records a failover: the term change from the stopped node, then its activation", async () => {
    const moving = devices.filter((d) => coordinator.mastership(d).master === "n2");
    // n2 crashes: it stops running at once, and the detectors convict it.
    stopped.add("n2");
    membership.set(nodeId("n2"), "INACTIVE");
    const changes = () =>
      events.flatMap((e) =>
        e.type === "term" && moving.includes(e.change.device as DeviceId) ? [e.change] : [],
      );
    await waitFor("term changes of n2's devices", async () =>
      changes().length >= moving.length ? true : undefined,
    );
    for (const change of changes()) {
      expect(change.previousMaster).toBe("n2");
      expect(change.master).not.toBe("n2");
      expect(change.failover).toBe(true);
      expect(change.previousTerm).toBeLessThan(change.term);
      expect(change.activatedAt).toBeNull();
    }
    expect(hub.snapshot().devices.find((d) => d.id === moving[0])?.lastFailoverAt).not.toBeNull();
    const first = changes()[0]!;
    const master = coordinator.forNode(nodeId(first.master!));
    expect(await master.activate(first.device as DeviceId, first.term)).toBe(true);
    await waitFor(
      "the activation",
      async () =>
        hub.snapshot().timeline.find((c) => c.device === first.device && c.term === first.term)
          ?.activatedAt ?? undefined,
    );
    const row = hub.snapshot().devices.find((d) => d.id === first.device)!;
    expect(row.termState).toBe("ACTIVE");
    await waitFor("n2 shown down", async () =>
      events.some(
        (e) => e.type === "nodes" && e.nodes.find((n) => n.id === "n2")?.status === "DOWN",
      )
        ? true
        : undefined,
    );
  });

  it("counts the moves of a node that stops gracefully as hand-overs", async () => {
    // As a graceful stop does: give every device up while running, then stop.
    const moving = devices.filter((d) => coordinator.mastership(d).master === "n3");
    for (const device of moving) await coordinator.forNode(nodeId("n3")).relinquish(device);
    await waitFor("the hand-overs", async () =>
      moving.every((device) => events.some((e) => e.type === "term" && e.change.device === device))
        ? true
        : undefined,
    );
    stopped.add("n3");
    membership.set(nodeId("n3"), "INACTIVE");
    for (const device of moving) {
      const change = hub.snapshot().timeline.findLast((c) => c.device === device)!;
      expect(change.previousMaster).toBe("n3");
      expect(change.failover).toBe(false);
    }
  });

  it("marks a term that a newer one replaced before it became active", async () => {
    const device = devices[1]!;
    const first = coordinator.mastership(device);
    await coordinator.forNode(first.master!).relinquish(device);
    const second = coordinator.mastership(device);
    await coordinator.forNode(second.master!).relinquish(device);
    const third = coordinator.mastership(device);
    expect(third.term).toBeGreaterThan(second.term);
    await waitFor(
      "the superseded term",
      async () =>
        hub.snapshot().timeline.find((c) => c.device === device && c.term === second.term)
          ?.supersededAt ?? undefined,
    );
    const last = hub.snapshot().timeline.find((c) => c.device === device && c.term === third.term)!;
    expect(last.supersededAt).toBeNull();
  });

  it("counts a move from a running node as a hand-over, not a failover", async () => {
    const device = devices[0]!;
    const before = coordinator.mastership(device).master!;
    await coordinator.forNode(before).relinquish(device);
    await waitFor("the hand-over", async () =>
      events.find((e) => e.type === "term" && e.change.device === device),
    );
    const change = hub.snapshot().timeline.find((c) => c.device === device)!;
    expect(change.previousMaster).toBe(before);
    expect(change.failover).toBe(false);
  });
});
