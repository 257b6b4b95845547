// GET /onos/v1/flows/{deviceId} of a big table while another client polls GET /cluster:
// `flowstore-node --local 3` in a child process, N flows posted on one device, then the
// time to stream them and the slowest /cluster answer meanwhile (the node's longest stall):
//   pnpm --filter @flowstore/node exec tsx scripts/restStream.ts [flows=100000]
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "@flowstore/cluster-messaging";

const here = path.dirname(fileURLToPath(import.meta.url));
const FLOWS = Number(process.argv[2] ?? 100_000);
const DEVICE = "of:0000000000000001";

const [port] = await freePorts(1);
const child = spawn(
  process.execPath,
  [
    "--conditions=@flowstore/source",
    "--import",
    "tsx",
    path.join(here, "../src/cli.ts"),
    ...["--local", "3", "--rest-port", String(port), "--devices", "1", "--log-level", "warn"],
  ],
  { stdio: ["ignore", "ignore", "inherit"] },
);
const base = `http://127.0.0.1:${port}/onos/v1`;
try {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/mastership/${DEVICE}/master`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error("the node did not answer in 30 s");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  for (let at = 0; at < FLOWS; at += 1000) {
    const flows = Array.from({ length: Math.min(1000, FLOWS - at) }, (_, i) => {
      const k = at + i;
      return {
        priority: 40000,
        isPermanent: true,
        deviceId: DEVICE,
        selector: {
          criteria: [
            { type: "ETH_TYPE", ethType: "0x800" },
            { type: "IPV4_DST", ip: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}/32` },
          ],
        },
      };
    });
    const response = await fetch(`${base}/flows`, {
      method: "POST",
      body: JSON.stringify({ flows }),
    });
    if (!response.ok) throw new Error(`POST: ${response.status} ${await response.text()}`);
  }
  let streaming = true;
  let slowest = 0;
  let polls = 0;
  const poller = (async () => {
    while (streaming) {
      const t = performance.now();
      await (await fetch(`${base}/cluster`)).arrayBuffer();
      slowest = Math.max(slowest, performance.now() - t);
      polls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  // Read through the device's master (no forwarding) or through another node (pages come
  // over the cluster messaging): `READ_FROM=master` or `READ_FROM=other` (default n1).
  let master: string | undefined;
  while (master === undefined) {
    const answer = await fetch(`${base}/mastership/${DEVICE}/master`);
    if (answer.ok) master = ((await answer.json()) as { nodeId: string }).nodeId;
    else await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const readFrom = process.env.READ_FROM;
  const nodeIndex = (id: string) => Number(id.slice(1)) - 1;
  const reader =
    readFrom === "master"
      ? nodeIndex(master)
      : readFrom === "other"
        ? (nodeIndex(master) + 1) % 3
        : 0;
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port! + reader}/onos/v1/flows/${DEVICE}`);
  const text = await response.text();
  const seconds = (performance.now() - started) / 1000;
  streaming = false;
  await poller;
  const count = (JSON.parse(text) as { flows: unknown[] }).flows.length;
  console.log(
    `GET ${count} flows (${(text.length / 1e6).toFixed(1)} MB) through n${reader + 1} ` +
      `(master ${master}) in ${seconds.toFixed(2)} s; ` +
      `slowest of ${polls} GET /cluster meanwhile: ${slowest.toFixed(0)} ms`,
  );
} finally {
  child.kill("SIGTERM");
}
