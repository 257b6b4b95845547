// ONOS's REST API as ONOS users script it: ONOS's own example bodies, every route's status
// and shape, refused bodies, auth, metrics and the OpenAPI document — on `--local 3`.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "@flowstore/cluster-messaging/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRunConfig } from "../config.js";
import { type LocalCluster, startLocalCluster } from "../localCluster.js";
import { createJsonLogger } from "../logger.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(here, "fixtures");
const D1 = "of:0000000000000001";
const D2 = "of:0000000000000002";
const D3 = "of:0000000000000003";
const D4 = "of:0000000000000004";

// biome-ignore lint/suspicious/noExplicitAny: response bodies of many shapes, checked by the assertions
type Body = any;

async function startCluster(size: number, extra: Record<string, unknown> = {}) {
  const run = parseRunConfig({
    local: size,
    restPort: 0,
    devices: 4,
    statsPeriod: 200,
    logLevel: "warn",
    store: { backupPeriod: 200, antiEntropyPeriod: 600, requestTimeout: 2000 },
    ...extra,
  });
  if (run.mode !== "local") throw new Error("expected local mode");
  return startLocalCluster(
    run.config,
    createJsonLogger("warn", () => {}),
  );
}

function client(cluster: () => LocalCluster) {
  const url = (node: string, route: string) => {
    const address = cluster().restAddress(node);
    if (address === undefined) throw new Error(`no node ${node}`);
    return `http://${address.host}:${address.port}${route}`;
  };
  const call = async (
    node: string,
    route: string,
    init: RequestInit = {},
  ): Promise<{ status: number; body: Body; headers: Headers; text: string }> => {
    const response = await fetch(url(node, route), {
      ...init,
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let body: Body;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body, headers: response.headers, text };
  };
  const send = (node: string, method: string, route: string, json: unknown, headers = {}) =>
    call(node, route, {
      method,
      body: typeof json === "string" ? json : JSON.stringify(json),
      headers,
    });
  return { url, call, send };
}

/** ONOS's reserved port numbers (as a Java int) and their names. */
const RESERVED_PORTS: Record<string, string> = {
  "-8": "IN_PORT",
  "-7": "TABLE",
  "-6": "NORMAL",
  "-5": "FLOOD",
  "-4": "ALL",
  "-3": "CONTROLLER",
  "-2": "LOCAL",
  "-1": "ANY",
};

/**
 * Whether ONOS would print `sent` as `got`: the same value, a number in another notation
 * (`2054` / `"0x806"`, `"false"` / `false`), a MAC in another case, a reserved port by name;
 * objects field by field (every field sent must come back).
 */
function sameValue(sent: unknown, got: unknown): boolean {
  if (sent === got) return true;
  if (typeof sent === "object" && sent !== null) {
    if (typeof got !== "object" || got === null) return false;
    if (Array.isArray(sent)) {
      return (
        Array.isArray(got) &&
        sent.length === got.length &&
        sent.every((v, i) => sameValue(v, got[i]))
      );
    }
    return Object.entries(sent).every(([k, v]) =>
      sameValue(v, (got as Record<string, unknown>)[k]),
    );
  }
  const number = (v: unknown) =>
    typeof v === "number"
      ? v
      : typeof v === "string" && /^(0x[0-9a-f]+|-?\d+)$/i.test(v)
        ? Number(v)
        : Number.NaN;
  if (!Number.isNaN(number(sent)) && number(sent) === number(got)) return true;
  if (String(sent) === String(got)) return true;
  if (typeof sent === "string" && typeof got === "string") {
    if (sent.toLowerCase() === got.toLowerCase()) return true;
  }
  return RESERVED_PORTS[String(sent)] === got;
}

/** Every rule field of an ONOS flow body, compared with the entry GET answered. */
function expectSameRule(sent: Body, got: Body, appId = "org.onosproject.rest") {
  expect(got.appId).toBe(appId);
  expect(got.priority).toBe(Number(sent.priority));
  expect(got.isPermanent).toBe(String(sent.isPermanent) === "true");
  if (String(sent.isPermanent) !== "true") expect(got.timeout).toBe(Number(sent.timeout));
  if (sent.deviceId !== undefined) expect(got.deviceId).toBe(sent.deviceId);
  expect(Number(got.tableId)).toBe(Number(sent.tableId ?? 0));
  expect(got.tableName).toBe(String(got.tableId));
  expect(got.groupId).toBe(0);
  expect(["PENDING_ADD", "ADDED"]).toContain(got.state);
  for (const field of ["life", "packets", "bytes", "lastSeen"])
    expect(typeof got[field]).toBe("number");
  expect(got.liveType).toBeTypeOf("string");
  // Criteria: ONOS prints a selector as a set ordered by type; each type once.
  const criteria = sent.selector?.criteria ?? [];
  expect(got.selector.criteria).toHaveLength(criteria.length);
  for (const criterion of criteria) {
    const back = got.selector.criteria.find((c: Body) => c.type === criterion.type);
    expect(back, `criterion ${criterion.type}`).toBeDefined();
    expect(
      sameValue(criterion, back),
      `${JSON.stringify(criterion)} → ${JSON.stringify(back)}`,
    ).toBe(true);
  }
  // Instructions keep their order.
  for (const list of ["instructions", "deferred"] as const) {
    const instructions = sent.treatment?.[list] ?? [];
    expect(got.treatment[list] ?? []).toHaveLength(instructions.length);
    instructions.forEach((instruction: Body, i: number) => {
      const back = got.treatment[list][i];
      expect(
        sameValue(instruction, back),
        `${JSON.stringify(instruction)} → ${JSON.stringify(back)}`,
      ).toBe(true);
    });
  }
}

function fixture(name: string): Body {
  return JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8"));
}

let cluster: LocalCluster;
const { call, send } = client(() => cluster);

beforeAll(async () => {
  cluster = await startCluster(3);
  await waitFor("every device to have a master", async () => {
    for (const d of [D1, D2, D3, D4]) {
      if ((await call("n1", `/onos/v1/mastership/${d}/master`)).status !== 200) return undefined;
    }
    return true;
  });
});

afterAll(async () => {
  await cluster?.close();
});

describe("ONOS's example bodies", () => {
  const singles = readdirSync(FIXTURES).filter(
    (f) => f.endsWith(".json") && f !== "flows-batch-post.json",
  );

  it.each(singles)(
    "POST /flows/{deviceId} with %s (no appId), read back field for field",
    async (name) => {
      const body = fixture(name);
      const device = body.deviceId ?? D1;
      const posted = await send("n2", "POST", `/onos/v1/flows/${device}`, body);
      expect(posted.status, posted.text).toBe(201);
      const id = posted.body.flows[0].flowId as string;
      expect(posted.headers.get("location")).toMatch(
        new RegExp(`^http://[^/]+/onos/v1/flows/${device}/${id}$`),
      );
      const read = await call("n3", `/onos/v1/flows/${device}/${id}`);
      expect(read.status).toBe(200);
      expect(read.body.flows).toHaveLength(1);
      expect(read.body.flows[0].id).toBe(id);
      expectSameRule(body, read.body.flows[0]);
    },
  );

  it("POST /flows with ONOS's batch example answers 200 with the flow ids, and every flow reads back", async () => {
    const body = fixture("flows-batch-post.json");
    body.flows.push({ ...body.flows[0], deviceId: D2, priority: 40001 });
    const posted = await send("n1", "POST", "/onos/v1/flows", body);
    expect(posted.status, posted.text).toBe(200);
    expect(posted.body.flows.map((f: Body) => f.deviceId)).toEqual([D1, D2]);
    for (const [i, ref] of posted.body.flows.entries()) {
      expect(ref.flowId).toMatch(/^\d+$/);
      const read = await call("n2", `/onos/v1/flows/${ref.deviceId}/${ref.flowId}`);
      expectSameRule(body.flows[i], read.body.flows[0]);
    }
  });

  it("accepts JSON sent as text/plain or with no content type at all", async () => {
    const body = { ...fixture("post-flow.json"), priority: 7 };
    const plain = await send("n1", "POST", `/onos/v1/flows/${D3}`, body, {
      "content-type": "text/plain",
    });
    expect(plain.status, plain.text).toBe(201);
    const bare = await call("n1", `/onos/v1/flows/${D3}`, {
      method: "POST",
      body: new Blob([JSON.stringify({ ...body, priority: 8 })]),
    });
    expect(bare.status, bare.text).toBe(201);
  });
});

describe("applications", () => {
  const rule = (priority: number) => ({ ...fixture("post-flow.json"), priority });

  it("takes appId as a name or a number, in the query or the body, and prints names", async () => {
    const byQuery = await send(
      "n1",
      "POST",
      `/onos/v1/flows/${D4}?appId=org.example.query`,
      rule(101),
    );
    const byBody = await send("n2", "POST", `/onos/v1/flows/${D4}`, {
      ...rule(102),
      appId: "org.onosproject.core",
    });
    const byNumber = await send("n3", "POST", `/onos/v1/flows/${D4}?appId=7`, rule(103));
    const byText = await send("n3", "POST", `/onos/v1/flows/${D4}`, { ...rule(104), appId: "7" });
    for (const r of [byQuery, byBody, byNumber, byText]) expect(r.status, r.text).toBe(201);
    const appOf = async (r: { body: Body }) =>
      (await call("n2", `/onos/v1/flows/${D4}/${r.body.flows[0].flowId}`)).body.flows[0].appId;
    expect(await appOf(byQuery)).toBe("org.example.query");
    expect(await appOf(byBody)).toBe("org.onosproject.core");
    expect(await appOf(byNumber)).toBe(await appOf(byText));
    // The query wins over the body, as in ONOS.
    const both = await send("n1", "POST", `/onos/v1/flows/${D4}?appId=org.example.query`, {
      ...rule(105),
      appId: "org.onosproject.core",
    });
    expect(await appOf(both)).toBe("org.example.query");
    // One id per name, the same on every node.
    const ids = await Promise.all(
      ["n1", "n2", "n3"].map(
        async (n) =>
          (await call(n, "/onos/v1/applications/ids/entry?name=org.example.query")).body.id,
      ),
    );
    expect(new Set(ids).size).toBe(1);
    const all = await call("n3", "/onos/v1/applications/ids");
    expect(all.body.applicationIds.map((a: Body) => a.name)).toEqual(
      expect.arrayContaining(["org.onosproject.rest", "org.onosproject.core", "org.example.query"]),
    );
  });

  it("GET and DELETE /flows/application/{appId}", async () => {
    const posted = await send("n1", "POST", "/onos/v1/flows?appId=org.example.app", {
      flows: [D1, D2, D3].map((deviceId) => ({ ...rule(201), deviceId })),
    });
    expect(posted.status).toBe(200);
    const listed = await call("n2", "/onos/v1/flows/application/org.example.app");
    expect(listed.status).toBe(200);
    expect(listed.body.flows.map((f: Body) => f.deviceId).sort()).toEqual([D1, D2, D3]);
    expect(listed.body.flows.every((f: Body) => f.appId === "org.example.app")).toBe(true);
    expect(
      (await call("n3", "/onos/v1/flows/application/org.example.app", { method: "DELETE" })).status,
    ).toBe(204);
    await waitFor("the application's flows to be gone", async () => {
      const { body } = await call("n1", "/onos/v1/flows/application/org.example.app");
      return body.flows.length === 0 ? true : undefined;
    });
    const unknown = await call("n1", "/onos/v1/flows/application/org.example.never");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ code: 404, message: "Application Id is not found" });
  });
});

describe("flows", () => {
  const rule = (priority: number, deviceId = D1) => ({
    ...fixture("post-flow.json"),
    priority,
    deviceId,
  });

  it("batch DELETE /flows removes the listed flows, 204", async () => {
    const posted = await send("n1", "POST", "/onos/v1/flows", {
      flows: [rule(301), rule(302), rule(303, D2)],
    });
    const refs = posted.body.flows as { deviceId: string; flowId: string }[];
    const removed = await send("n2", "DELETE", "/onos/v1/flows", { flows: refs.slice(0, 2) });
    expect(removed.status).toBe(204);
    await waitFor("two flows gone, one kept", async () => {
      const states = await Promise.all(
        refs.map(
          async (r) =>
            (await call("n3", `/onos/v1/flows/${r.deviceId}/${r.flowId}`)).body.flows.length,
        ),
      );
      return states.join() === "0,0,1" ? true : undefined;
    });
  });

  it("an unknown flow on a known device: GET 200 with no flows, DELETE 204; an unknown device: 404", async () => {
    const get = await call("n1", `/onos/v1/flows/${D1}/12345`);
    expect(get.status).toBe(200);
    expect(get.body).toEqual({ flows: [] });
    expect((await call("n1", `/onos/v1/flows/${D1}/12345`, { method: "DELETE" })).status).toBe(204);
    const unknown = await call("n1", "/onos/v1/flows/of:00000000000000ff");
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe(404);
    expect(unknown.body.message).toContain("Device is not found");
    // A flow id as ONOS's Java long prints it (negative) is the same 64 bits.
    expect((await call("n1", `/onos/v1/flows/${D1}/-1`)).status).toBe(200);
    expect((await call("n1", `/onos/v1/flows/${D1}/banana`)).body).toMatchObject({
      code: 400,
      path: "flowId",
    });
  });

  it("GET /flows, /flows/{deviceId}, /flows/pending and /flows/table/{tableId}", async () => {
    const tabled = await send("n2", "POST", `/onos/v1/flows/${D2}`, {
      ...rule(401, D2),
      tableId: 2,
    });
    expect(tabled.status).toBe(201);
    const all = await call("n1", "/onos/v1/flows");
    expect(all.status).toBe(200);
    expect(all.headers.get("content-type")).toContain("application/json");
    expect(new Set(all.body.flows.map((f: Body) => f.deviceId))).toEqual(new Set([D1, D2, D3, D4]));
    const device = await call("n3", `/onos/v1/flows/${D2}`);
    expect(device.body.flows.every((f: Body) => f.deviceId === D2)).toBe(true);
    const table = await call("n3", "/onos/v1/flows/table/2");
    expect(table.body.flows.map((f: Body) => f.id)).toEqual([tabled.body.flows[0].flowId]);
    expect(table.body.flows[0]).toMatchObject({ tableId: 2, tableName: "2" });
    const pending = await call("n1", "/onos/v1/flows/pending");
    expect(pending.status).toBe(200);
    expect(
      pending.body.flows.every(
        (f: Body) => f.state === "PENDING_ADD" || f.state === "PENDING_REMOVE",
      ),
    ).toBe(true);
  });

  it("GET /flows/{deviceId} streams a large table in chunks, every flow once", async () => {
    const before = (await call("n1", `/onos/v1/flows/${D4}`)).body.flows.length;
    for (let batch = 0; batch < 5; batch++) {
      const flows = Array.from({ length: 1000 }, (_, i) => ({
        priority: 1000,
        isPermanent: true,
        deviceId: D4,
        selector: {
          criteria: [
            { type: "ETH_TYPE", ethType: "0x800" },
            { type: "IPV4_DST", ip: `10.9.${batch}.${i % 250}/32` },
            { type: "IP_PROTO", protocol: 6 + Math.floor(i / 250) },
          ],
        },
      }));
      expect((await send("n2", "POST", "/onos/v1/flows", { flows })).status).toBe(200);
    }
    const read = await call("n3", `/onos/v1/flows/${D4}`);
    expect(read.status).toBe(200);
    expect(read.headers.get("transfer-encoding")).toBe("chunked");
    expect(read.body.flows).toHaveLength(before + 5000);
    expect(new Set(read.body.flows.map((f: Body) => f.id)).size).toBe(before + 5000);
  });

  it("refuses bad bodies with a 4xx naming the field, stores nothing, and keeps serving", async () => {
    const count = async () => (await call("n1", "/onos/v1/flows")).body.flows.length;
    const before = await count();
    const bad: [string, string, unknown, string | undefined][] = [
      ["POST", `/onos/v1/flows/${D1}`, { isPermanent: true }, "priority"],
      [
        "POST",
        `/onos/v1/flows/${D1}`,
        { ...rule(501), selector: { criteria: [{ type: "ETH_TYPE", ethType: "banana" }] } },
        "selector.criteria[0].ethType",
      ],
      [
        "POST",
        "/onos/v1/flows",
        { flows: [rule(502), { ...rule(503), priority: "high" }] },
        "flows[1].priority",
      ],
      [
        "POST",
        "/onos/v1/flows",
        { flows: [rule(504), { ...rule(505), appId: { no: 1 } }] },
        "flows[1].appId",
      ],
      [
        "POST",
        "/onos/v1/flows",
        { flows: [rule(506, "of:00000000000000ff")] },
        "flows[0].deviceId",
      ],
      ["POST", "/onos/v1/flows", { flow: [] }, "flows"],
      ["POST", `/onos/v1/flows/${D1}?appId=70000`, rule(507), "appId"],
      ["POST", `/onos/v1/flows/${D1}`, "{nope", undefined],
      ["POST", `/onos/v1/flows/${D1}`, "", undefined],
      ["DELETE", "/onos/v1/flows", { flows: [{ deviceId: D1 }] }, "flows[0].flowId"],
      ["PUT", "/onos/v1/mastership", { deviceId: D1, nodeId: "n1", role: "BOSS" }, "role"],
    ];
    for (const [method, route, body, field] of bad) {
      const r = await send("n1", method, route, body);
      expect(
        r.status,
        `${method} ${route} ${JSON.stringify(body)}: ${r.text}`,
      ).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.body.code).toBe(r.status);
      expect(r.body.message).toBeTypeOf("string");
      if (field !== undefined) expect(r.body.path, r.text).toBe(field);
    }
    const huge = await send(
      "n1",
      "POST",
      "/onos/v1/flows",
      `{"flows":[${" ".repeat(17 * 1024 * 1024)}]}`,
    );
    expect(huge.status).toBe(413);
    expect(huge.body.code).toBe(413);
    expect(await count()).toBe(before);
    expect((await call("n1", "/onos/v1/cluster")).status).toBe(200);
  });

  it("an unknown route is a 404, a known path with another method a 405", async () => {
    expect((await call("n1", "/onos/v1/nothing")).body).toMatchObject({ code: 404 });
    const wrong = await call("n1", "/onos/v1/devices", { method: "DELETE" });
    expect(wrong.status).toBe(405);
    expect(wrong.body.code).toBe(405);
    expect(wrong.headers.get("allow")).toContain("GET");
  });
});

describe("devices, cluster, mastership, statistics", () => {
  it("devices with ONOS's device fields", async () => {
    const all = await call("n1", "/onos/v1/devices");
    expect(all.body.devices.map((d: Body) => d.id)).toEqual([D1, D2, D3, D4]);
    const one = await call("n2", `/onos/v1/devices/${D1}`);
    expect(one.status).toBe(200);
    expect(Object.keys(one.body).sort()).toEqual(
      [
        "id",
        "type",
        "available",
        "role",
        "mfr",
        "hw",
        "sw",
        "serial",
        "driver",
        "chassisId",
        "lastUpdate",
        "humanReadableLastUpdate",
        "annotations",
      ].sort(),
    );
    expect(one.body).toMatchObject({ id: D1, type: "SWITCH", available: true, chassisId: "1" });
    expect(["MASTER", "STANDBY", "NONE"]).toContain(one.body.role);
    const ports = await call("n2", `/onos/v1/devices/${D1}/ports`);
    expect(ports.body).toMatchObject({ id: D1, ports: [] });
    expect((await call("n2", "/onos/v1/devices/of:00000000000000ff")).body).toMatchObject({
      code: 404,
    });
  });

  it("cluster nodes, one node, an unknown node", async () => {
    const all = await call("n3", "/onos/v1/cluster");
    expect(all.body.nodes.map((n: Body) => n.id)).toEqual(["n1", "n2", "n3"]);
    const one = await call("n3", "/onos/v1/cluster/n2");
    expect(one.body).toMatchObject({ id: "n2", ip: "127.0.0.1", status: "ACTIVE" });
    expect(one.body.tcpPort).toBeTypeOf("number");
    expect(one.body.lastUpdate).toMatch(/^\d+$/);
    expect((await call("n3", "/onos/v1/cluster/n9")).status).toBe(404);
  });

  it("mastership: role info, local role, a node's devices, request, relinquish, set, balance", async () => {
    const role = (await call("n1", `/onos/v1/mastership/${D1}/role`)).body;
    expect(Object.keys(role).sort()).toEqual(["backups", "master"]);
    expect([role.master, ...role.backups].sort()).toEqual(["n1", "n2", "n3"]);
    const master = role.master as string;
    expect((await call(master, `/onos/v1/mastership/${D1}/local`)).body).toEqual({
      role: "MASTER",
    });
    const backup = role.backups[0] as string;
    expect((await call(backup, `/onos/v1/mastership/${D1}/local`)).body).toEqual({
      role: "STANDBY",
    });
    expect((await call(backup, `/onos/v1/mastership/${D1}/master`)).body).toEqual({
      nodeId: master,
    });
    const devices = (await call(backup, `/onos/v1/mastership/${master}/device`)).body;
    expect(devices.deviceIds).toContain(D1);
    expect((await call(backup, "/onos/v1/mastership/n9/device")).body).toEqual({ deviceIds: [] });

    const last = role.backups[role.backups.length - 1] as string;
    const relinquished = await call(last, `/onos/v1/mastership/${D1}/relinquish`);
    expect(relinquished.status).toBe(201);
    expect(relinquished.headers.get("location")).toBe(D1);
    await waitFor("the node to have no role", async () => {
      const { body } = await call(last, `/onos/v1/mastership/${D1}/local`);
      return body.role === "NONE" ? true : undefined;
    });
    const requested = await send(last, "PUT", `/onos/v1/mastership/${D1}/request`, "");
    expect(requested.status).toBe(200);
    expect(["MASTER", "STANDBY"]).toContain(requested.body.role);
    const set = await send(last, "PUT", "/onos/v1/mastership", {
      deviceId: D1,
      nodeId: last,
      role: "STANDBY",
    });
    expect(set.status).toBe(200);
    expect((await call("n1", "/onos/v1/mastership")).status).toBe(200);
    expect((await call("n1", "/onos/v1/mastership/of:00000000000000ff/request")).status).toBe(404);
  });

  it("statistics: active entries per device, flow tables", async () => {
    const posted = await send("n1", "POST", `/onos/v1/flows/${D3}`, {
      ...fixture("post-flow.json"),
      priority: 601,
      tableId: 1,
    });
    expect(posted.status).toBe(201);
    const active = await waitFor("an ADDED flow on D3", async () => {
      const { body } = await call("n2", "/onos/v1/statistics/flows/activeentries");
      const d3 = body.statistics.find((s: Body) => s.device === D3);
      return d3.activeEntries > 0 ? body : undefined;
    });
    expect(active.statistics.map((s: Body) => s.device)).toEqual([D1, D2, D3, D4]);
    const tables = (await call("n3", "/onos/v1/statistics/flows/tables")).body;
    expect(tables.statistics.map((s: Body) => s.device)).toEqual([D1, D2, D3, D4]);
    const one = (await call("n3", `/onos/v1/statistics/flows/tables/${D3}`)).body;
    expect(one.statistics).toHaveLength(1);
    const table1 = one.statistics[0].table.find((t: Body) => t.tableId === "1");
    expect(table1).toMatchObject({ deviceId: D3 });
    expect(Object.keys(table1).sort()).toEqual(
      ["tableId", "deviceId", "activeEntries", "packetsLookedUp", "packetsMatched"].sort(),
    );
  });
});

describe("metrics and docs", () => {
  it("/metrics is Prometheus text with process, REST, batch and store metrics", async () => {
    const response = await call("n1", "/metrics");
    expect(response.headers.get("content-type")).toContain("text/plain");
    const names = new Set<string>();
    for (const line of response.text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(
        line,
      );
      expect(sample, line).not.toBeNull();
      names.add(sample![1]!);
    }
    for (const name of [
      "process_cpu_user_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_heap_size_used_bytes",
      "flowstore_rest_request_duration_seconds_bucket",
      "flowstore_batch_duration_seconds_count",
      "flowstore_flows",
      "flowstore_mastered_devices",
      "flowstore_backup_lag_buckets",
      "flowstore_backup_messages_total",
      "flowstore_store_messages_total",
      "flowstore_device_term",
    ]) {
      expect(names, name).toContain(name);
    }
    expect(response.text).toMatch(/^flowstore_flows\{state="ADDED",node="n1"\} \d+$/m);
  });

  it("/onos/v1/docs serves the OpenAPI document and its page", async () => {
    const doc = await call("n2", "/onos/v1/docs/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    for (const route of [
      "/onos/v1/flows",
      "/onos/v1/flows/{deviceId}",
      "/onos/v1/flows/application/{appId}",
      "/onos/v1/devices/{deviceId}",
      "/onos/v1/mastership/{id}/role",
      "/onos/v1/statistics/flows/activeentries",
    ]) {
      expect(Object.keys(doc.body.paths)).toContain(route);
    }
    const post = doc.body.paths["/onos/v1/flows/{deviceId}"].post;
    expect(JSON.stringify(post.requestBody)).toContain("isPermanent");
    const page = await call("n2", "/onos/v1/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
  });
});

describe("--auth", () => {
  let secured: LocalCluster;
  const api = client(() => secured);
  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
  });

  beforeAll(async () => {
    secured = await startCluster(1, { auth: "admin:s3cret:x" });
  });
  afterAll(async () => {
    await secured?.close();
  });

  it("requires Basic credentials — the configured ones or ONOS's onos:rocks — on /onos/v1", async () => {
    const none = await api.call("n1", "/onos/v1/devices");
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 401 });
    expect(none.headers.get("www-authenticate")).toMatch(/^Basic /);
    expect(
      (await api.call("n1", "/onos/v1/devices", { headers: basic("admin", "nope") })).status,
    ).toBe(401);
    expect(
      (await api.call("n1", "/onos/v1/devices", { headers: basic("admin", "s3cret:x") })).status,
    ).toBe(200);
    expect(
      (await api.call("n1", "/onos/v1/devices", { headers: basic("onos", "rocks") })).status,
    ).toBe(200);
    const posted = await api.send(
      "n1",
      "POST",
      `/onos/v1/flows/${D1}`,
      fixture("post-flow.json"),
      basic("onos", "rocks"),
    );
    expect(posted.status).toBe(201);
    expect((await api.call("n1", "/ui/")).status).toBe(401);
    expect((await api.call("n1", "/metrics")).status).toBe(200);
    expect((await api.call("n1", "/onos/v1/docs/openapi.json")).status).toBe(200);
  });

  it("without --auth no credentials are needed", async () => {
    expect((await call("n1", "/onos/v1/devices")).status).toBe(200);
  });
});
