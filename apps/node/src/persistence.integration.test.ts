import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "@flowstore/cluster-messaging";
import { waitFor } from "@flowstore/cluster-messaging/testing";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type LocalProcess, startLocalProcess } from "./testing/localProcess.js";

/**
 * `--data-dir`: kill -9 of every node at once, then a restart on the same directories, keeps
 * every flow acknowledged a commit interval before — with `--local 3`, and with three
 * processes and etcd. A directory of another cluster is refused and left as it was.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, "cli.ts");
const DEVICES = ["of:0000000000000001", "of:0000000000000002"];
const dirs: string[] = [];
let local: LocalProcess | undefined;

const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-data-"));
  dirs.push(dir);
  return dir;
};

afterEach(async () => {
  await local?.stop();
  local = undefined;
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const url = (port: number, route: string) => `http://127.0.0.1:${port}${route}`;

/**
 * Posts `count` flows over both devices through `port`, in batches of 500; their ids. A batch
 * answered 503 (a device's mastership moving as the nodes come up: "try again shortly") is
 * posted again, as a client does, a bounded number of times.
 */
async function postFlows(port: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 500) {
    const flows = Array.from({ length: Math.min(500, count - start) }, (_, j) => {
      const i = start + j;
      return {
        deviceId: DEVICES[i % 2],
        priority: 30000,
        isPermanent: true,
        selector: {
          criteria: [
            { type: "ETH_TYPE", ethType: "0x800" },
            { type: "IPV4_DST", ip: `10.0.${(i >> 8) & 255}.${i & 255}/32` },
          ],
        },
        treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
      };
    });
    const post = () =>
      fetch(url(port, "/onos/v1/flows"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ flows }),
      });
    let answer = await post();
    for (let attempt = 1; answer.status === 503 && attempt < 20; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await post();
    }
    expect(answer.status, await answer.clone().text()).toBe(200);
    const body = (await answer.json()) as { flows: { flowId: string }[] };
    ids.push(...body.flows.map((f) => f.flowId));
  }
  return ids;
}

/** The flow ids `port` lists for `devices`, or undefined while it cannot answer. */
async function listed(port: number, devices = DEVICES): Promise<Set<string> | undefined> {
  const ids = new Set<string>();
  for (const device of devices) {
    const answer = await fetch(url(port, `/onos/v1/flows/${device}`)).catch(() => undefined);
    if (answer?.status !== 200) return undefined;
    for (const f of ((await answer.json()) as { flows: { id: string }[] }).flows) ids.add(f.id);
  }
  return ids;
}

async function term(port: number, device: string): Promise<number> {
  return (
    (await (await fetch(url(port, `/onos/v1/mastership/${device}`))).json()) as { term: number }
  ).term;
}

describe("--data-dir", () => {
  it("--local 3: kill -9 and a restart on the same directory keep every acknowledged flow", async () => {
    const dir = tempDir();
    local = await startLocalProcess(DEVICES[0]!, ["--data-dir", dir]);
    const ids = await postFlows(local.ports[1]!, 4000);
    const termBefore = await term(local.ports[0]!, DEVICES[0]!);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few commit intervals
    await local.stop(); // SIGKILL
    local = await startLocalProcess(DEVICES[0]!, ["--data-dir", dir]);
    const started = Date.now();
    const port = local.ports[2]!;
    const after = await waitFor(
      "every flow listed again",
      async () => {
        const now = await listed(port);
        return now !== undefined && ids.every((id) => now.has(id)) ? now : undefined;
      },
      30_000,
    );
    expect(after.size).toBe(ids.length);
    expect(await term(port, DEVICES[0]!)).toBeGreaterThan(termBefore);
    process.stdout.write(
      `--local 3 served all ${ids.length} flows ${Date.now() - started} ms after the restart\n`,
    );
  }, 120_000);

  it("refuses a directory of another cluster, with exit code 2, and leaves it as it was", async () => {
    const dir = tempDir();
    local = await startLocalProcess(DEVICES[0]!, ["--data-dir", dir]);
    await postFlows(local.ports[0]!, 100);
    await local.stop();
    local = undefined;
    // The data files, by content (LMDB's lock file is only a reader table, rewritten by any open).
    const snapshot = () =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name !== "lock.mdb")
        .map((e) => {
          const file = path.join(e.parentPath, e.name);
          return `${file}:${createHash("sha256").update(readFileSync(file)).digest("hex")}`;
        })
        .sort();
    const before = snapshot();
    const child = spawn(
      process.execPath,
      ["--conditions=@flowstore/source", "--import", "tsx", cli, "--local", "3"].concat([
        "--rest-port",
        "0",
        "--data-dir",
        dir,
        "--cluster-name",
        "another",
      ]),
      { cwd: path.join(here, ".."), stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/belongs to cluster "flowstore", not "another"/);
    expect(snapshot()).toEqual(before);
  }, 120_000);
});

/**
 * Three nodes for `flowstore-node` processes on `etcd`, each on its own data directory under
 * one base: their ports, and how to start (into `children`) and SIGKILL them.
 */
async function etcdTrio(etcd: EtcdServer, children: Map<string, ChildProcess>) {
  const base = tempDir();
  const ports = await freePorts(6);
  const nodes = ["n1", "n2", "n3"].map((id, i) => ({ id, port: ports[i]!, rest: ports[3 + i]! }));
  const launch = (node: { id: string; port: number; rest: number }, devices = 2) => {
    const peers = nodes
      .filter((o) => o !== node)
      .map((o) => `${o.id}=127.0.0.1:${o.port}`)
      .join(",");
    const child = spawn(
      process.execPath,
      ["--conditions=@flowstore/source", "--import", "tsx", cli]
        .concat(["--id", node.id, "--listen", `127.0.0.1:${node.port}`, "--peers", peers])
        .concat(["--etcd", etcd.endpoint, "--lease-ttl", "2", "--rest", `127.0.0.1:${node.rest}`])
        .concat(["--devices", String(devices), "--log-level", "warn"])
        .concat(["--data-dir", path.join(base, node.id)]),
      { cwd: path.join(here, ".."), stdio: ["ignore", "ignore", "inherit"] },
    );
    children.set(node.id, child);
  };
  const kill = (ids: readonly string[]) =>
    Promise.all(
      ids.map((id) => {
        const child = children.get(id)!;
        return new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
          child.once("exit", resolve);
          child.kill("SIGKILL");
        });
      }),
    );
  return { nodes, launch, kill };
}

/** Waits until the node at `node.rest` answers with a master for `device`; that master. */
function masterOf(node: { rest: number }, device: string): Promise<string> {
  return waitFor(
    `a master of ${device} on port ${node.rest}`,
    async () => {
      const answer = await fetch(url(node.rest, `/onos/v1/mastership/${device}/master`)).catch(
        () => undefined,
      );
      return answer?.status === 200
        ? ((await answer.json()) as { nodeId: string }).nodeId
        : undefined;
    },
    60_000,
  );
}

describe("--data-dir with etcd", () => {
  let etcd: EtcdServer | undefined;
  const children = new Map<string, ChildProcess>();
  afterEach(async () => {
    for (const child of children.values()) if (child.exitCode === null) child.kill("SIGKILL");
    children.clear();
    await etcd?.stop();
    etcd = undefined;
  });

  it("three processes killed at once and restarted keep every acknowledged flow, in higher terms", async () => {
    etcd = await startEtcd();
    const trio = await etcdTrio(etcd, children);
    const nodes = trio.nodes;
    const allUp = async () => {
      for (const node of nodes) await masterOf(node, DEVICES[1]!);
    };
    for (const node of nodes) trio.launch(node);
    await allUp();
    const ids = await postFlows(nodes[0]!.rest, 3000);
    const termBefore = await term(nodes[0]!.rest, DEVICES[0]!);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await trio.kill(nodes.map((n) => n.id));
    for (const node of nodes) trio.launch(node);
    await allUp();
    for (const node of nodes) {
      const after = await waitFor(
        `every flow listed by ${node.id}`,
        async () => {
          const now = await listed(node.rest);
          return now !== undefined && ids.every((id) => now.has(id)) ? now : undefined;
        },
        30_000,
      );
      expect(after.size).toBe(ids.length);
    }
    expect(await term(nodes[1]!.rest, DEVICES[0]!)).toBeGreaterThan(termBefore);
  }, 180_000);

  it("the first nodes back wait for the last one: writes only its disk holds are kept", async () => {
    etcd = await startEtcd();
    const trio = await etcdTrio(etcd, children);
    const nodes = trio.nodes;
    const device = DEVICES[0]!;
    for (const node of nodes) trio.launch(node, 1);
    for (const node of nodes) await masterOf(node, device);
    const masterId = await masterOf(nodes[0]!, device);
    const master = nodes.find((n) => n.id === masterId)!;
    const others = nodes.filter((n) => n !== master);
    const early = await postOne(master.rest, device, 0, 200);
    // The backups die; the master goes on acknowledging writes only its disk then holds.
    await trio.kill(others.map((n) => n.id));
    const solo = await postOne(master.rest, device, 200, 200);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few commit intervals
    await trio.kill([master.id]);
    // The two others come back first and a client writes through one of them; the old
    // master comes back three seconds later.
    for (const node of others) trio.launch(node, 1);
    await masterOf(others[0]!, device);
    const late = postOne(others[0]!.rest, device, 400, 200);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    trio.launch(master, 1);
    const lateIds = await late;
    const acknowledged = [...early, ...solo, ...lateIds];
    for (const node of nodes) {
      const after = await waitFor(
        `every acknowledged flow listed by ${node.id}`,
        async () => {
          const now = await listed(node.rest, [device]);
          return now !== undefined && acknowledged.every((id) => now.has(id)) ? now : undefined;
        },
        60_000,
      );
      expect(acknowledged.filter((id) => !after.has(id))).toEqual([]);
    }
  }, 180_000);
});

/**
 * Posts flows `from` … `from + count − 1` of `device` through `port` as one batch, again after
 * any answer but 200 (a node still starting, a master still synchronizing; adding the same
 * flows again is harmless) for up to 60 s; their ids.
 */
async function postOne(port: number, device: string, from: number, count: number) {
  const flows = Array.from({ length: count }, (_, j) => ({
    deviceId: device,
    priority: 31000,
    isPermanent: true,
    selector: {
      criteria: [
        { type: "ETH_TYPE", ethType: "0x800" },
        { type: "IPV4_DST", ip: `10.1.${((from + j) >> 8) & 255}.${(from + j) & 255}/32` },
      ],
    },
    treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
  }));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await fetch(url(port, "/onos/v1/flows"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ flows }),
    }).catch(() => undefined);
    if (answer?.status === 200) {
      return ((await answer.json()) as { flows: { flowId: string }[] }).flows.map((f) => f.flowId);
    }
    if (Date.now() > deadline) throw new Error(`POST through ${port}: ${answer?.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
