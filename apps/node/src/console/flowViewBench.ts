// How fast the console's flow view pages a device with a million flows: one node, one device,
// N synthetic flows (half of them ADDED), then pages asked over HTTP as the page asks them.
//
//   pnpm --filter @flowstore/node exec node --max-old-space-size=4096 \
//     --conditions=@flowstore/source --import tsx src/console/flowViewBench.ts [flows]
//
// Prints, per query, the node's own time (`tookMs`) and the round trip, first and repeated.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlowPage } from "./protocol.js";
import { startConsoleNode, storeSynthetic, syntheticRule } from "./testing/consoleNode.js";

const flows = Number(process.argv[2] ?? 1_000_000);
const dist = await mkdtemp(join(tmpdir(), "console-bench-"));
await writeFile(join(dist, "index.html"), "<!doctype html>");
const node = await startConsoleNode({ devices: 1, dist });
const device = node.devices[0]!;
for (let i = 0; i < 100 && !node.store.isActiveMaster(device); i++)
  await new Promise((resolve) => setTimeout(resolve, 50));

let started = performance.now();
await storeSynthetic(node.store, device, 0, flows, 20_000);
const storeSeconds = (performance.now() - started) / 1000;
started = performance.now();
const reports = [];
for (let i = 0; i < flows; i += 2)
  reports.push({ rule: syntheticRule(device, i), packets: 1, bytes: 64, life: 1 });
await node.store.updateFlowStatistics(device, reports);
reports.length = 0;
const addSeconds = (performance.now() - started) / 1000;
const counts = node.store.flowStateCounts(device);
process.stdout.write(
  `device ${device}: ${flows.toLocaleString("en-US")} flows stored in ${storeSeconds.toFixed(1)} s, ` +
    `half ADDED in ${addSeconds.toFixed(1)} s → ${JSON.stringify(counts)}\n` +
    `heap used ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB\n\n`,
);

async function ask(query: string): Promise<{ page: FlowPage; roundTrip: number }> {
  const begin = performance.now();
  const response = await fetch(`${node.url}/ui/api/devices/${device}/flows?${query}`);
  const page = (await response.json()) as FlowPage;
  if (!response.ok) throw new Error(`${query}: ${response.status} ${JSON.stringify(page)}`);
  return { page, roundTrip: performance.now() - begin };
}

const queries: [string, string][] = [
  ["first page, no filter", "limit=50"],
  ["middle page, no filter", `limit=50&offset=${Math.floor(flows / 2)}`],
  ["last page, no filter", `limit=50&offset=${flows - 50}`],
  ["state=ADDED, middle page", `state=ADDED&limit=50&offset=${Math.floor(flows / 4)}`],
  ["app=11, first page", "app=11&limit=50"],
  ["app=11, page 1,000", "app=11&limit=50&offset=50000"],
  ["priority=101 & app=10", "priority=101&app=10&limit=50"],
  ["selector text '10.3.'", "q=10.3.&limit=50"],
  ["selector text '10.3.', next page", "q=10.3.&limit=50&offset=50"],
  ["selector text 'ipv4_dst:10.7.200.1/'", "q=ipv4_dst:10.7.200.1/&limit=50"],
];
const rows: string[] = [];
let worstRepeat = 0;
for (const [name, query] of queries) {
  const first = await ask(query);
  // A filtered walk answers at once with what it has and goes on: ask until the count is final.
  const begin = performance.now();
  let complete = first.page.complete;
  let total = first.page.total;
  let worstWhileCounting = first.page.tookMs;
  for (let i = 0; i < 600 && !complete; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = await ask(query);
    complete = next.page.complete;
    total = next.page.total;
    worstWhileCounting = Math.max(worstWhileCounting, next.page.tookMs);
  }
  const counted = first.page.complete ? 0 : performance.now() - begin;
  const again = [];
  for (let i = 0; i < 5; i++) again.push((await ask(query)).page.tookMs);
  again.sort((a, b) => a - b);
  const median = again[2]!;
  worstRepeat = Math.max(worstRepeat, median, worstWhileCounting);
  rows.push(
    `| ${name} | ${total.toLocaleString("en-US")} | ${first.page.tookMs.toFixed(1)} | ${first.roundTrip.toFixed(1)} | ${worstWhileCounting.toFixed(1)} | ${counted === 0 ? "at once" : `${(counted / 1000).toFixed(1)} s`} | ${median.toFixed(1)} |`,
  );
}
process.stdout.write(
  "| query | matching | first page: node ms | first page: round trip ms | worst page while counting: node ms | count final after | repeated: node ms (median of 5) |\n" +
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
    `${rows.join("\n")}\n\n` +
    `slowest page answer: ${worstRepeat.toFixed(1)} ms (goal < 100 ms)\n`,
);
await node.close();
await rm(dist, { recursive: true, force: true });
process.exit(0);
