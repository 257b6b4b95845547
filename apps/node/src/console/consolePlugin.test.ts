import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "@flowstore/cluster-messaging/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleEvent, ConsoleSnapshot, FlowPage } from "./protocol.js";
import { type ConsoleNode, startConsoleNode, storeSynthetic } from "./testing/consoleNode.js";

let node: ConsoleNode;
let dist: string;

beforeAll(async () => {
  dist = await mkdtemp(join(tmpdir(), "console-dist-"));
  await mkdir(join(dist, "assets"));
  await writeFile(join(dist, "index.html"), "<!doctype html><title>console</title>");
  await writeFile(join(dist, "assets", "app-1.js"), "export {};");
  node = await startConsoleNode({ devices: 2, dist });
  await waitFor("every device active", async () =>
    node.devices.every((device) => node.store.isActiveMaster(device)) ? true : undefined,
  );
});

afterAll(async () => {
  await node?.close();
  await rm(dist, { recursive: true, force: true });
});

async function get(path: string): Promise<{ status: number; body: unknown; type: string }> {
  const response = await fetch(`${node.url}${path}`, { redirect: "manual" });
  const type = response.headers.get("content-type") ?? "";
  const text = await response.text();
  return { status: response.status, body: type.includes("json") ? JSON.parse(text) : text, type };
}

describe("console plugin", () => {
  it("serves the page at /ui/, its assets, and the page again for its own routes", async () => {
    expect((await get("/ui")).status).toBe(302);
    const index = await get("/ui/");
    expect(index.status).toBe(200);
    expect(index.type).toContain("text/html");
    expect(index.body).toContain("<title>console</title>");
    const asset = await get("/ui/assets/app-1.js");
    expect(asset.type).toContain("javascript");
    expect((await get("/ui/devices")).body).toContain("<title>console</title>");
    expect((await get("/ui/..%2f..%2fetc%2fpasswd")).body).toContain("<title>console</title>");
    expect((await get("/ui/api/nothing")).status).toBe(404);
  });

  it("reports every device with its master, term and flow counts", async () => {
    const { body, status } = await get("/ui/api/state");
    expect(status).toBe(200);
    const state = body as ConsoleSnapshot;
    expect(state.self).toBe("n1");
    expect(state.nodes.map((n) => [n.id, n.status, n.self])).toEqual([["n1", "ACTIVE", true]]);
    expect(state.devices.map((d) => d.id)).toEqual(node.devices);
    for (const device of state.devices) {
      expect(device.master).toBe("n1");
      expect(device.termState).toBe("ACTIVE");
      expect(device.counts?.ADDED).toBe(0);
    }
  });

  it("pages and filters a device's flows by state, application, priority and selector text", async () => {
    const device = node.devices[0]!;
    await storeSynthetic(node.store, device, 0, 1000, 250);
    const page = async (query: string) => {
      const { body, status } = await get(`/ui/api/devices/${device}/flows?${query}`);
      expect(status).toBe(200);
      return body as FlowPage;
    };
    const first = await page("limit=100");
    expect(first.total).toBe(1000);
    expect(first.flows).toHaveLength(100);
    expect(first.source).toBe("master");
    const last = await page("limit=100&offset=950");
    expect(last.flows).toHaveLength(50);
    const ids = new Set<string>();
    for (let offset = 0; offset < 1000; offset += 100) {
      for (const flow of (await page(`limit=100&offset=${offset}`)).flows) ids.add(flow.id);
    }
    expect(ids.size).toBe(1000);
    expect((await page("state=PENDING_ADD")).total).toBe(1000);
    expect((await page("state=ADDED")).total).toBe(0);
    expect((await page("app=11")).total).toBe(500);
    expect((await page("priority=101&app=10")).total).toBe(166);
    const match = await page("q=ipv4_dst:10.0.3.23/");
    expect(match.total).toBe(1);
    expect(match.flows[0]!.selector).toBe("ETH_TYPE:0x800 IPV4_DST:10.0.3.23/32");
    expect((await page("q=10.0.3.2")).total).toBe(43);
  });

  it("refuses a bad query naming the field, and an unknown device", async () => {
    const device = node.devices[0]!;
    const bad = await get(`/ui/api/devices/${device}/flows?priority=high`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: "INVALID_QUERY", path: "priority" });
    const state = await get(`/ui/api/devices/${device}/flows?state=GONE`);
    expect(state.body).toMatchObject({ path: "state" });
    const app = await get(`/ui/api/devices/${device}/flows?app=no.such.app`);
    expect(app.body).toMatchObject({ path: "app" });
    expect((await get("/ui/api/devices/of:00000000000000ff/flows")).status).toBe(404);
  });

  it("streams a snapshot, then the device's new counts after a write", async () => {
    const controller = new AbortController();
    const response = await fetch(`${node.url}/ui/api/events`, { signal: controller.signal });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.getReader();
    const events: ConsoleEvent[] = [];
    let buffer = "";
    const device = node.devices[1]!;
    const readUntil = async (done: () => boolean) => {
      for (let i = 0; i < 200 && !done(); i++) {
        const { value } = await reader.read();
        buffer += new TextDecoder().decode(value);
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const data = buffer
            .slice(0, end)
            .split("\n")
            .find((line) => line.startsWith("data: "));
          if (data !== undefined) events.push(JSON.parse(data.slice(6)) as ConsoleEvent);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
        }
      }
    };
    await readUntil(() => events.length > 0);
    expect(events[0]!.type).toBe("snapshot");
    await storeSynthetic(node.store, device, 0, 3);
    await readUntil(() =>
      events.some(
        (e) =>
          e.type === "devices" &&
          e.devices.some((d) => d.id === device && d.counts?.PENDING_ADD === 3),
      ),
    );
    controller.abort();
    await reader.cancel().catch(() => undefined);
  });
});

describe("console plugin without --local", () => {
  it("offers no node actions, and refuses a crash", async () => {
    const state = (await get("/ui/api/state")).body as ConsoleSnapshot;
    expect(state.admin).toBe(false);
    expect(state.adminActions).toEqual([]);
    const response = await fetch(`${node.url}/ui/api/nodes/n1/crash`, { method: "POST" });
    expect(response.status).toBe(404);
  });
});

describe("console plugin with --local's node actions", () => {
  it("crashes a node through the node's admin, and says it can", async () => {
    const crashed: string[] = [];
    const local = await startConsoleNode({
      devices: 1,
      dist,
      admin: {
        stop: async () => undefined,
        start: async () => undefined,
        crash: async (id) => {
          crashed.push(id);
        },
      },
    });
    try {
      const state = (await (await fetch(`${local.url}/ui/api/state`)).json()) as ConsoleSnapshot;
      expect(state.adminActions).toEqual(["stop", "start", "crash"]);
      const response = await fetch(`${local.url}/ui/api/nodes/n3/crash`, { method: "POST" });
      expect(response.status).toBe(200);
      expect(crashed).toEqual(["n3"]);
    } finally {
      await local.close();
    }
  });
});
