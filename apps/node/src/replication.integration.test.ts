import { afterEach, describe, expect, it } from "vitest";
import { type LocalProcess, startLocalProcess } from "./testing/localProcess.js";

/**
 * `--replication sync` on the real node, through REST: a write is acknowledged once a backup
 * holds it; with too few backups alive the node serves and says so, or refuses and stores
 * nothing — as `--under-replicated` says.
 */
const DEVICE = "of:0000000000000001";
let node: LocalProcess | undefined;

afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const url = (port: number, route: string) => `http://127.0.0.1:${port}${route}`;
const flow = (i: number) =>
  JSON.stringify({
    priority: 40000,
    isPermanent: true,
    selector: { criteria: [{ type: "IN_PORT", port: i }] },
    treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
  });
const post = (port: number, i: number) =>
  fetch(url(port, `/onos/v1/flows/${DEVICE}`), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: flow(i),
  });

/** The REST port of `DEVICE`'s master, and the ids of the other nodes. */
async function roles(ports: readonly number[]) {
  const { nodeId } = (await (
    await fetch(url(ports[0]!, `/onos/v1/mastership/${DEVICE}/master`))
  ).json()) as { nodeId: string };
  const index = Number(nodeId.slice(1)) - 1;
  const others = ["n1", "n2", "n3"].filter((id) => id !== nodeId);
  return { master: ports[index]!, others };
}

/** Waits until `DEVICE`'s term has `count` backups. */
async function backups(port: number, count: number) {
  for (let i = 0; i < 100; i++) {
    const info = (await (await fetch(url(port, `/onos/v1/mastership/${DEVICE}`))).json()) as {
      backups: string[];
    };
    if (info.backups.length === count) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${DEVICE} did not get ${count} backups`);
}

/** Crashes `ids` through the admin API. */
async function crash(port: number, ids: readonly string[]) {
  for (const id of ids) {
    const answer = await fetch(url(port, `/onos/v1/admin/nodes/${id}/crash`), { method: "POST" });
    expect(answer.status).toBe(200);
  }
}

describe("--replication sync", () => {
  it("acknowledges with a backup holding the write; with none alive, serves and says so", async () => {
    node = await startLocalProcess(DEVICE, ["--replication", "sync"]);
    const { master, others } = await roles(node.ports);
    await backups(master, 2);
    const first = await post(master, 1);
    expect(first.status).toBe(201);
    expect(first.headers.get("x-flowstore-replication")).toBeNull();

    await crash(master, others);
    await backups(master, 0);
    const alone = await post(master, 2);
    expect(alone.status).toBe(201);
    expect(alone.headers.get("x-flowstore-replication")).toBe("under-replicated");
    const metrics = await (await fetch(url(master, "/metrics"))).text();
    expect(metrics).toMatch(/^flowstore_under_replicated_batches_total\{[^}]*\} 1$/m);
    expect(metrics).toMatch(/^flowstore_sync_batches_total\{[^}]*\} 2$/m);
  }, 90_000);

  it("--under-replicated refuse: too few backups alive → 503, nothing stored", async () => {
    node = await startLocalProcess(DEVICE, [
      ...["--replication", "sync", "--min-sync-backups", "2", "--under-replicated", "refuse"],
    ]);
    const { master, others } = await roles(node.ports);
    await backups(master, 2);
    expect((await post(master, 1)).status).toBe(201);
    await crash(master, others.slice(0, 1));
    await backups(master, 1);
    const refused = await post(master, 2);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { message: string }).message).toMatch(/minSyncBackups is 2/);
    const listed = (await (await fetch(url(master, `/onos/v1/flows/${DEVICE}`))).json()) as {
      flows: unknown[];
    };
    expect(listed.flows).toHaveLength(1);
  }, 90_000);
});
