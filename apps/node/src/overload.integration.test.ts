import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalProcess, startLocalProcess } from "./testing/localProcess.js";

/**
 * Backpressure on the real node: `flowstore-node --local 3` with a small
 * `maxPendingOperations`, more concurrent batch POSTs through a non-master than it lets
 * through. The excess gets 503 with Retry-After; every acknowledged flow is stored, and no
 * flow of a refused batch is.
 */
const DEVICE = "of:0000000000000001";
const dir = mkdtempSync(path.join(tmpdir(), "flowstore-overload-"));
let node: LocalProcess | undefined;
let ports: readonly number[] = [];

const url = (port: number, route: string) => `http://127.0.0.1:${port}${route}`;

beforeAll(async () => {
  const config = path.join(dir, "node.json");
  writeFileSync(config, JSON.stringify({ store: { maxPendingOperations: 1500 } }));
  node = await startLocalProcess(DEVICE, ["--config", config]);
  ports = node.ports;
}, 90_000);

afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("overload", () => {
  it("answers 503 with Retry-After, and loses nothing it acknowledged", async () => {
    const master = (await (
      await fetch(url(ports[0]!, `/onos/v1/mastership/${DEVICE}/master`))
    ).json()) as { nodeId: string };
    const other = ports[master.nodeId === "n1" ? 1 : 0]!;
    const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;
    const body = (from: number) =>
      JSON.stringify({
        flows: Array.from({ length: 1000 }, (_, k) => ({
          deviceId: DEVICE,
          priority: 40000,
          isPermanent: true,
          selector: {
            criteria: [
              { type: "ETH_TYPE", ethType: "0x800" },
              { type: "IPV4_DST", ip: ip(from + k) },
            ],
          },
          treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
        })),
      });
    const acked = new Set<string>();
    const refused = new Set<string>();
    const retryAfter = new Set<string | null>();
    // 16 clients, 3 batches each, all at once: far more than 1,500 operations in flight.
    await Promise.all(
      Array.from({ length: 16 }, async (_, c) => {
        for (let b = 0; b < 3; b++) {
          const from = (c * 3 + b) * 1000;
          const response = await fetch(url(other, "/onos/v1/flows"), {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: body(from),
          });
          const text = await response.text();
          const target = response.status === 200 ? acked : refused;
          if (response.status === 503) retryAfter.add(response.headers.get("retry-after"));
          else expect(response.status, text).toBe(200);
          for (let k = 0; k < 1000; k++) target.add(ip(from + k));
        }
      }),
    );
    expect(refused.size).toBeGreaterThan(0);
    expect(acked.size).toBeGreaterThan(0);
    // Every 503 says when to come back (overload, or a master moving meanwhile).
    expect([...retryAfter]).toEqual(["1"]);
    const flows = (await (await fetch(url(other, `/onos/v1/flows/${DEVICE}`))).json()) as {
      flows: { selector: { criteria: { type: string; ip?: string }[] } }[];
    };
    const stored = new Set(
      flows.flows.map((f) => f.selector.criteria.find((c) => c.type === "IPV4_DST")?.ip),
    );
    expect(stored.size).toBe(acked.size);
    for (const flow of acked) expect(stored.has(flow)).toBe(true);
    for (const flow of refused) expect(stored.has(flow)).toBe(false);
  }, 120_000);
});
