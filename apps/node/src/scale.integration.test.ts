import { waitFor } from "@flowstore/cluster-messaging/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalProcess, startLocalProcess } from "./testing/localProcess.js";

/**
 * The steady state at scale, on the real node: `flowstore-node --local 3`, 200,000 flows on
 * one device posted through REST, the simulated switch reporting counters every second. The
 * cluster must converge (every flow ADDED, backup lag 0) and then idle: counter reports keep
 * coming, and no backup is sent for them.
 */
const FLOWS = 200_000;
const DEVICE = "of:0000000000000001";
let node: LocalProcess | undefined;
let ports: readonly number[] = [];

async function metrics(port: number): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(10_000),
  });
  const out = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** The sum over every node of metric `name`'s samples whose labels include `label`. */
async function total(name: string, label = ""): Promise<number> {
  let sum = 0;
  for (const port of ports) {
    for (const [key, value] of await metrics(port)) {
      if ((key === name || key.startsWith(`${name}{`)) && key.includes(label)) sum += value;
    }
  }
  return sum;
}

beforeAll(async () => {
  node = await startLocalProcess(DEVICE, ["--stats-period", "1000", "--backup-period", "1000"]);
  ports = node.ports;
}, 90_000);

afterAll(async () => {
  await node?.stop();
});

describe("a device with 200,000 flows on flowstore-node --local 3", () => {
  it("converges after the last write and then sends no backup for counter reports", async () => {
    const flow = (i: number) => ({
      deviceId: DEVICE,
      appId: 7,
      priority: 40000,
      isPermanent: true,
      selector: {
        criteria: [
          { type: "ETH_TYPE", ethType: "0x800" },
          { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
        ],
      },
      treatment: { instructions: [{ type: "OUTPUT", port: String(1 + (i % 24)) }] },
    });
    // Two clients, batches of 1,000, through node 1 (which may or may not be the master).
    let next = 0;
    const client = async () => {
      while (next < FLOWS) {
        const from = next;
        next += 1000;
        const flows = Array.from({ length: 1000 }, (_, i) => flow(from + i));
        const response = await fetch(`http://127.0.0.1:${ports[0]}/onos/v1/flows`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ flows }),
        });
        expect(response.status, await response.text()).toBeLessThan(300);
      }
    };
    await Promise.all([client(), client()]);

    await waitFor(
      "every flow ADDED and backup lag 0",
      async () => {
        const added = await total("flowstore_flows", 'state="ADDED"');
        const lag = await total("flowstore_backup_lag_buckets");
        return added === FLOWS && lag === 0 ? true : undefined;
      },
      60_000,
      250,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nnode output:\n${node?.output()}`);
    });

    // Idle: three more stats periods of counter reports, and not one backup message.
    const sentBefore = await total("flowstore_backup_messages_total");
    const packetsBefore = await firstPackets(ports[0]!);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(await total("flowstore_backup_messages_total")).toBe(sentBefore);
    expect(await total("flowstore_backup_lag_buckets")).toBe(0);
    // …while the counters the device reports did move.
    expect(await firstPackets(ports[0]!)).toBeGreaterThan(packetsBefore);
  }, 240_000);
});

/** The packet counter of the first flow of the device, as GET shows it. */
async function firstPackets(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/onos/v1/flows/${DEVICE}`, {
    signal: AbortSignal.timeout(60_000),
  });
  const body = (await response.json()) as { flows: { packets: number; id: string }[] };
  expect(body.flows).toHaveLength(FLOWS);
  return Math.max(...body.flows.slice(0, 100).map((f) => f.packets));
}
