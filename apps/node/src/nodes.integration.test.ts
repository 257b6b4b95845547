import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "@flowstore/cluster-messaging";
import { waitFor } from "@flowstore/cluster-messaging/testing";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Three separate `flowstore-node` processes with a real etcd: 10,000 flows, then `kill -9`
 * of a device's master; every flow must still be listed, ADDED, once the new master is
 * active.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, "cli.ts");
const NODES = ["n1", "n2", "n3"];
const DEVICES = 8;
const FLOWS = 10_000;

interface NodeProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly rest: number;
  output: string;
}

let etcd: EtcdServer;
const processes = new Map<string, NodeProcess>();

function device(n: number): string {
  return `of:${n.toString(16).padStart(16, "0")}`;
}

async function get<T>(node: string, route: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`http://127.0.0.1:${processes.get(node)!.rest}${route}`, {
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: (await response.json()) as T };
}

beforeAll(async () => {
  etcd = await startEtcd();
  const ports = await freePorts(NODES.length * 2);
  const cluster = NODES.map((id, i) => ({ id, port: ports[i]!, rest: ports[NODES.length + i]! }));
  for (const node of cluster) {
    const peers = cluster
      .filter((other) => other.id !== node.id)
      .map((other) => `${other.id}=127.0.0.1:${other.port}`)
      .join(",");
    const child = spawn(
      process.execPath,
      [
        "--conditions=@flowstore/source",
        "--import",
        "tsx",
        cli,
        ...["--id", node.id, "--listen", `127.0.0.1:${node.port}`, "--peers", peers],
        ...["--etcd", etcd.endpoint, "--lease-ttl", "2", "--rest", `127.0.0.1:${node.rest}`],
        ...[
          "--devices",
          String(DEVICES),
          "--backup-period",
          "500",
          "--stats-period",
          "1000",
          "--log-level",
          "warn",
        ],
      ],
      { cwd: path.join(here, ".."), stdio: ["ignore", "pipe", "pipe"] },
    );
    const entry: NodeProcess = { id: node.id, child, rest: node.rest, output: "" };
    const keep = (chunk: Buffer) => {
      entry.output = (entry.output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    processes.set(node.id, entry);
  }
  for (const id of NODES) {
    await waitFor(
      `${id}'s REST API`,
      async () => ((await get(id, "/onos/v1/cluster")).status === 200 ? true : undefined),
      60_000,
    );
  }
  // Every device has a master, and balancing has settled (the same masters a second later).
  let previous = "";
  await waitFor(
    "a settled master for every device",
    async () => {
      const { body } = await get<{ devices: { master: string | null }[] }>(
        "n1",
        "/onos/v1/devices",
      );
      const masters = JSON.stringify(body.devices.map((d) => d.master));
      const settled = body.devices.every((d) => d.master !== null) && masters === previous;
      previous = masters;
      return settled ? true : undefined;
    },
    30_000,
    1000,
  );
}, 120_000);

afterAll(async () => {
  for (const node of processes.values()) {
    if (
      node.child.exitCode === null &&
      node.child.signalCode === null &&
      node.child.pid !== undefined
    ) {
      process.kill(node.child.pid, "SIGKILL");
      await new Promise((resolve) => node.child.once("exit", resolve));
    }
  }
  await etcd?.stop();
});

describe("three flowstore-node processes with etcd", () => {
  it("give an application name one id on every node, whichever node registers it", async () => {
    const names = ["org.example.one", "org.example.two", "org.example.three"];
    // Each node registers every name, the nodes at once: etcd's transaction picks one id each.
    await Promise.all(
      NODES.flatMap((node, n) =>
        names.map(async (name, i) => {
          const response = await fetch(
            `http://127.0.0.1:${processes.get(node)!.rest}/onos/v1/flows/${device(1 + i)}?appId=${name}`,
            {
              method: "POST",
              body: JSON.stringify({
                priority: 100 + n,
                isPermanent: true,
                selector: { criteria: [{ type: "ETH_TYPE", ethType: "0x806" }] },
              }),
            },
          );
          expect(response.status, await response.text()).toBe(201);
        }),
      ),
    );
    const tables = await Promise.all(
      NODES.map(async (node) => {
        const { body } = await get<{ applicationIds: { id: number; name: string }[] }>(
          node,
          "/onos/v1/applications/ids",
        );
        return body.applicationIds
          .filter((a) => names.includes(a.name))
          .sort((a, b) => a.id - b.id);
      }),
    );
    expect(tables[0]).toHaveLength(names.length);
    expect(new Set(tables[0]!.map((a) => a.id)).size).toBe(names.length);
    for (const table of tables) expect(table).toEqual(tables[0]);
    const { body } = await get<{ flows: { appId: unknown }[] }>(
      "n3",
      `/onos/v1/flows/${device(1)}`,
    );
    expect(body.flows.map((f) => f.appId)).toContain("org.example.one");
    // Leave the devices as the next test expects them.
    for (const name of names) {
      const response = await fetch(
        `http://127.0.0.1:${processes.get("n1")!.rest}/onos/v1/flows/application/${name}`,
        { method: "DELETE" },
      );
      expect(response.status).toBe(204);
    }
    await waitFor("the applications' flows to be gone", async () => {
      for (const name of names) {
        const { body } = await get<{ flows: unknown[] }>(
          "n2",
          `/onos/v1/flows/application/${name}`,
        );
        if (body.flows.length > 0) return undefined;
      }
      return true;
    });
  });

  it("keep every one of 10,000 flows, ADDED, after the master of a device is killed with SIGKILL", async () => {
    const flows = Array.from({ length: FLOWS }, (_, i) => ({
      deviceId: device(1 + (i % DEVICES)),
      appId: 5,
      priority: 40000,
      isPermanent: true,
      selector: {
        criteria: [
          { type: "ETH_TYPE", ethType: "0x800" },
          { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
        ],
      },
      treatment: { instructions: [{ type: "OUTPUT", port: String(1 + (i % 24)) }] },
    }));
    for (let i = 0; i < FLOWS; i += 1000) {
      const node = NODES[(i / 1000) % NODES.length]!;
      const response = await fetch(`http://127.0.0.1:${processes.get(node)!.rest}/onos/v1/flows`, {
        method: "POST",
        body: JSON.stringify({ flows: flows.slice(i, i + 1000) }),
      });
      expect(response.status, await response.text()).toBe(200);
    }
    type Flows = { flows: { id: string; state: string; deviceId: string }[] };
    const added = (list: Flows["flows"]) => list.filter((f) => f.state === "ADDED").length;
    await waitFor(
      "10,000 ADDED flows",
      async () => {
        const { body } = await get<Flows>("n2", "/onos/v1/flows");
        return added(body.flows) === FLOWS ? true : undefined;
      },
      60_000,
    );

    const target = device(1);
    const before = (await get<Flows>("n1", `/onos/v1/flows/${target}`)).body.flows
      .map((f) => f.id)
      .sort();
    expect(before).toHaveLength(FLOWS / DEVICES);
    const { body: master } = await get<{ nodeId: string }>(
      "n1",
      `/onos/v1/mastership/${target}/master`,
    );
    // One backup round, so that every flow is older than a round when the master dies.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const victim = processes.get(master.nodeId)!;
    process.kill(victim.child.pid!, "SIGKILL");
    await new Promise((resolve) => victim.child.once("exit", resolve));
    const survivor = NODES.find((n) => n !== master.nodeId)!;

    const after = await waitFor(
      "a new master that lists every flow of the device",
      async () => {
        const m = await get<{ nodeId?: string }>(survivor, `/onos/v1/mastership/${target}/master`);
        if (m.status !== 200 || m.body.nodeId === master.nodeId) return undefined;
        const { status, body } = await get<Flows>(survivor, `/onos/v1/flows/${target}`);
        return status === 200 ? body.flows : undefined;
      },
      30_000,
    );
    expect(after.map((f) => f.id).sort()).toEqual(before);
    expect(added(after)).toBe(before.length);
    const { body: all } = await get<Flows>(survivor, "/onos/v1/flows");
    expect(all.flows).toHaveLength(FLOWS);
    expect(added(all.flows)).toBe(FLOWS);
  }, 240_000);
});
