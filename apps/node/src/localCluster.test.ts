import { waitFor } from "@flowstore/cluster-messaging/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRunConfig } from "./config.js";
import { type LocalCluster, startLocalCluster } from "./localCluster.js";
import { createJsonLogger } from "./logger.js";

const DEVICE = "of:0000000000000001";
let cluster: LocalCluster;
const lines: string[] = [];

function url(node: string, path: string): string {
  const address = cluster.restAddress(node);
  if (address === undefined) throw new Error(`no node ${node}`);
  return `http://${address.host}:${address.port}${path}`;
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies of several shapes, checked by the assertions
type Body = any;

async function json(
  node: string,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: Body; headers: Headers }> {
  const response = await fetch(url(node, path), init);
  const text = await response.text();
  return {
    status: response.status,
    body: text === "" ? undefined : JSON.parse(text),
    headers: response.headers,
  };
}

const flow = (ip: string) => ({
  priority: 40000,
  isPermanent: true,
  selector: {
    criteria: [
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip },
    ],
  },
  treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
});

beforeAll(async () => {
  const run = parseRunConfig({
    local: 3,
    restPort: 0,
    devices: 4,
    statsPeriod: 200,
    logLevel: "info",
    store: { backupPeriod: 200, antiEntropyPeriod: 600, requestTimeout: 1000 },
  });
  if (run.mode !== "local") throw new Error("expected local mode");
  cluster = await startLocalCluster(
    run.config,
    createJsonLogger("info", (line) => lines.push(line)),
  );
});

afterAll(async () => {
  await cluster?.close();
});

describe("flowstore-node --local 3", () => {
  it("answers REST on every node: cluster, devices, mastership", async () => {
    for (const node of ["n1", "n2", "n3"]) {
      const { status, body } = await json(node, "/onos/v1/cluster");
      expect(status).toBe(200);
      expect(body.nodes.map((n: { id: string }) => n.id)).toEqual(["n1", "n2", "n3"]);
    }
    const devices = await json("n1", "/onos/v1/devices");
    expect(devices.body.devices).toHaveLength(4);
    const master = await waitFor(
      "a master",
      async () => (await json("n2", `/onos/v1/mastership/${DEVICE}/master`)).body.nodeId,
    );
    expect(["n1", "n2", "n3"]).toContain(master);
  });

  it("a flow posted on node 2 becomes ADDED and is listed on node 3", async () => {
    const posted = await json("n2", `/onos/v1/flows/${DEVICE}?appId=7`, {
      method: "POST",
      body: JSON.stringify(flow("10.0.0.1/32")),
    });
    expect(posted.status).toBe(201);
    const id = posted.body.flows[0].flowId as string;
    expect(posted.headers.get("location")).toBe(`${url("n2", "")}/onos/v1/flows/${DEVICE}/${id}`);
    const entry = await waitFor("the flow to be ADDED on node 3", async () => {
      const { body } = await json("n3", `/onos/v1/flows/${DEVICE}/${id}`);
      return body.flows?.[0]?.state === "ADDED" ? body.flows[0] : undefined;
    });
    expect(entry).toMatchObject({
      id,
      deviceId: DEVICE,
      appId: 7,
      priority: 40000,
      isPermanent: true,
    });
    expect(entry.selector.criteria).toEqual([
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip: "10.0.0.1/32" },
    ]);
    expect(entry.packets).toBeGreaterThanOrEqual(0);
  });

  it("refuses invalid bodies with 4xx naming the failing path, and stores nothing", async () => {
    const before = (await json("n1", `/onos/v1/flows/${DEVICE}`)).body.flows.length;
    const bad = await json("n1", `/onos/v1/flows/${DEVICE}?appId=7`, {
      method: "POST",
      body: JSON.stringify({
        ...flow("10.0.0.9/32"),
        selector: { criteria: [{ type: "ETH_TYPE", ethType: "banana" }] },
      }),
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 400, path: "selector.criteria[0].ethType" });
    const notJson = await json("n1", `/onos/v1/flows/${DEVICE}`, { method: "POST", body: "{nope" });
    expect(notJson.status).toBe(400);
    expect(notJson.body.message).toContain("not valid JSON");
    expect((await json("n1", "/onos/v1/flows/of:00000000000000ff")).status).toBe(404);
    expect((await json("n1", "/onos/v1/nothing")).status).toBe(404);
    expect((await json("n1", `/onos/v1/flows/${DEVICE}`)).body.flows.length).toBe(before);
  });

  it("a batch POST /flows stores every flow and DELETE removes one", async () => {
    const flows = [1, 2, 3].map((i) => ({ ...flow(`10.1.0.${i}/32`), deviceId: DEVICE, appId: 9 }));
    const posted = await json("n1", "/onos/v1/flows", {
      method: "POST",
      body: JSON.stringify({ flows }),
    });
    expect(posted.status).toBe(200);
    const ids = posted.body.flows.map((f: { flowId: string }) => f.flowId);
    await waitFor("three ADDED flows", async () => {
      const { body } = await json("n3", `/onos/v1/flows/${DEVICE}`);
      const added = body.flows.filter(
        (f: { id: string; state: string }) => ids.includes(f.id) && f.state === "ADDED",
      );
      return added.length === 3 ? added : undefined;
    });
    expect(
      (await json("n2", `/onos/v1/flows/${DEVICE}/${ids[0]}`, { method: "DELETE" })).status,
    ).toBe(204);
    await waitFor("the deleted flow to be gone", async () => {
      const { status, body } = await json("n1", `/onos/v1/flows/${DEVICE}/${ids[0]}`);
      return status === 200 && body.flows.length === 0 ? true : undefined;
    });
  });

  it("stopping a device's master keeps all its flows visible after failover", async () => {
    const { body: before } = await json("n1", `/onos/v1/flows/${DEVICE}`);
    expect(before.flows.length).toBeGreaterThan(0);
    const master = (await json("n1", `/onos/v1/mastership/${DEVICE}/master`)).body.nodeId as string;
    await new Promise((resolve) => setTimeout(resolve, 500)); // one backup round
    const survivor = ["n1", "n2", "n3"].find((n) => n !== master)!;
    expect(
      (await json(survivor, `/onos/v1/admin/nodes/${master}/stop`, { method: "POST" })).status,
    ).toBe(200);
    const after = await waitFor("a new master with every flow", async () => {
      const m = await json(survivor, `/onos/v1/mastership/${DEVICE}/master`);
      if (m.status !== 200 || m.body.nodeId === master) return undefined;
      const { status, body } = await json(survivor, `/onos/v1/flows/${DEVICE}`);
      return status === 200 ? body.flows : undefined;
    });
    const ids = (flows: { id: string }[]) => flows.map((f) => f.id).sort();
    expect(ids(after)).toEqual(ids(before.flows));
    await cluster.start(master);
    await waitFor("the restarted node to answer", async () =>
      (await json(master, "/onos/v1/cluster")).status === 200 ? true : undefined,
    );
  });

  it("crashing a device's master (no hand-over) also keeps all its flows after failover", async () => {
    const { body: before } = await json("n1", `/onos/v1/flows/${DEVICE}`);
    const master = (await json("n1", `/onos/v1/mastership/${DEVICE}/master`)).body.nodeId as string;
    await new Promise((resolve) => setTimeout(resolve, 500)); // one backup round
    const survivor = ["n1", "n2", "n3"].find((n) => n !== master)!;
    const crashed = await json(survivor, `/onos/v1/admin/nodes/${master}/crash`, {
      method: "POST",
    });
    expect(crashed).toMatchObject({ status: 200, body: { node: master, action: "crash" } });
    const after = await waitFor(
      "a new master with every flow",
      async () => {
        const m = await json(survivor, `/onos/v1/mastership/${DEVICE}/master`);
        if (m.status !== 200 || m.body.nodeId === master) return undefined;
        const { status, body } = await json(survivor, `/onos/v1/flows/${DEVICE}`);
        return status === 200 ? body.flows : undefined;
      },
      30_000,
    );
    const ids = (flows: { id: string }[]) => flows.map((f) => f.id).sort();
    expect(ids(after)).toEqual(ids(before.flows));
    await cluster.start(master);
    await waitFor("the restarted node to answer", async () =>
      (await json(master, "/onos/v1/cluster")).status === 200 ? true : undefined,
    );
  });

  it("serves Prometheus metrics", async () => {
    const response = await fetch(url("n1", "/metrics"));
    const text = await response.text();
    expect(response.headers.get("content-type")).toContain("text/plain");
    expect(text).toMatch(/^flowstore_flows\{state="ADDED",node="n1"\} \d+$/m);
    expect(text).toMatch(/^flowstore_backup_lag_buckets\{node="n1"\} \d+$/m);
  });

  it("logs JSON lines", () => {
    const parsed = lines
      .slice(0, 20)
      .map((line) => JSON.parse(line) as { level: string; msg: string });
    expect(parsed.some((l) => l.msg === "rest listening")).toBe(true);
  });
});
