// REST ingest: `flowstore-node --local 3` in a child process, then clients POSTing 1,000-flow
// batches to node 1's POST /onos/v1/flows. Prints flows per second, and the server process's
// CPU time per 1,000 flows (steadier than the rate on a shared machine); run it before and
// after a change of the REST layer:
//   pnpm --filter @flowstore/node exec tsx scripts/restIngest.ts [batches=60] [clients=2]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "@flowstore/cluster-messaging";

const here = path.dirname(fileURLToPath(import.meta.url));
const batches = Number(process.argv[2] ?? 60);
const clients = Number(process.argv[3] ?? 2);
const BATCH = 1000;
const DEVICES = 8;

const [port] = await freePorts(1);
const child = spawn(
  process.execPath,
  [
    "--conditions=@flowstore/source",
    "--import",
    "tsx",
    path.join(here, "../src/cli.ts"),
    ...["--local", "3", "--rest-port", String(port), "--devices", String(DEVICES)],
    ...["--log-level", "warn"],
  ],
  { stdio: ["ignore", "ignore", "inherit"] },
);
const base = `http://127.0.0.1:${port}/onos/v1`;
try {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/cluster`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error("the node did not answer in 30 s");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await new Promise((resolve) => setTimeout(resolve, 2000)); // masters elected

  const body = (n: number) =>
    JSON.stringify({
      flows: Array.from({ length: BATCH }, (_, i) => {
        const k = n * BATCH + i;
        return {
          priority: 40000,
          isPermanent: true,
          deviceId: `of:${((k % DEVICES) + 1).toString(16).padStart(16, "0")}`,
          selector: {
            criteria: [
              { type: "ETH_TYPE", ethType: "0x800" },
              { type: "IPV4_DST", ip: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}/32` },
            ],
          },
          treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
        };
      }),
    });
  const bodies = Array.from({ length: batches }, (_, n) => body(n));
  let next = 0;
  const cpuBefore = cpuSeconds(child.pid!);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < batches) {
        const n = next++;
        const response = await fetch(`${base}/flows?appId=1`, { method: "POST", body: bodies[n]! });
        if (!response.ok)
          throw new Error(`batch ${n}: ${response.status} ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(child.pid!) - cpuBefore;
  const flows = batches * BATCH;
  console.log(
    `${flows} flows in ${batches} batches of ${BATCH}, ${clients} clients: ${seconds.toFixed(2)} s, ` +
      `${Math.round(flows / seconds)} flows/s, server CPU ${((cpu * 1000 * BATCH) / flows).toFixed(0)} ms per 1,000 flows`,
  );
} finally {
  child.kill("SIGTERM");
}

/** User + system CPU seconds of process `pid` so far (Linux `/proc`, 100 ticks a second). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
