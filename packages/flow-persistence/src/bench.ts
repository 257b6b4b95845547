// The persistence's figures: stage+commit throughput, load time and disk bytes per flow.
//
//   node --expose-gc --conditions=@flowstore/source --import tsx src/bench.ts [--flows 1000000]
//     [--devices 8] [--buckets 128] [--updates 10000] [--ingest 100000] [--batch 2000]
//
// `pnpm --filter @flowstore/flow-persistence benchmark` runs it with the defaults. The flows
// are made first (not timed); then every bucket is staged whole, as a node does when it takes
// a device's table, in slices of 64 buckets per turn of the event loop, and committed by the
// persistence's own interval; then `ingest` new flows (random ids, as REST batches bring
// them) are committed in batches of `batch` flows, each batch one device's, spread over its
// buckets and staged as changes (not whole buckets), one flush per batch; then single-flow
// updates are staged at random; then the directory is reopened and loaded. The event loop's
// delays are sampled throughout.

import { monitorEventLoopDelay } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import { parseArgs } from "node:util";
import { type FlowEntry, withFlowEntry } from "@flowstore/flow-bucket";
import { FlowPersistence } from "./flowPersistence.js";
import { tempDir, testBuckets, testDevice } from "./testing/tables.js";

const { values } = parseArgs({
  options: {
    flows: { type: "string", default: "1000000" },
    devices: { type: "string", default: "8" },
    buckets: { type: "string", default: "128" },
    updates: { type: "string", default: "10000" },
    ingest: { type: "string", default: "100000" },
    batch: { type: "string", default: "2000" },
  },
});
const flows = Number(values.flows);
const deviceCount = Number(values.devices);
const bucketCount = Number(values.buckets);
const updates = Number(values.updates);
const perDevice = Math.ceil(flows / deviceCount);
const ingest = Number(values.ingest);
const batchSize = Number(values.batch);

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (start: number) => performance.now() - start;

const made = performance.now();
const tables = Array.from({ length: deviceCount }, (_, d) => {
  const device = testDevice(d + 1);
  const from = d * perDevice;
  return {
    device,
    buckets: testBuckets(device, from, Math.min(flows, from + perDevice), bucketCount),
  };
});
// The new flows of the ingest phase: batch k is device k mod deviceCount's, flows numbered
// after every table's (flow ids are hashes, so they fall at random among the stored ones).
const batches = Array.from({ length: Math.ceil(ingest / batchSize) }, (_, k) => {
  const d = k % deviceCount;
  const device = testDevice(d + 1);
  const from = flows + Math.floor(k / deviceCount) * batchSize;
  const size = Math.min(batchSize, ingest - k * batchSize);
  return { device, buckets: testBuckets(device, from, from + size, bucketCount), size };
});
console.log(
  `made ${fmt(flows)} flows on ${deviceCount} devices × ${bucketCount} buckets (~${fmt(flows / deviceCount / bucketCount)} flows a bucket) in ${fmt(ms(made) / 1000, 1)} s`,
);

const { dir, remove } = await tempDir();
try {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let persistence = await FlowPersistence.open({ dir, cluster: "bench", node: "n1" });

  // Stage every bucket whole, a slice per turn, and let the interval commit.
  delay.enable();
  let start = performance.now();
  let slice = 0;
  for (const { device, buckets } of tables) {
    for (const [bucket, upserts] of buckets) {
      persistence.stageBucket(device, {
        bucket,
        term: 1,
        timestamp: 1,
        upserts,
        removed: [],
        flows: upserts.length,
        whole: true,
      });
      if (++slice % 64 === 0) await nextTurn();
    }
  }
  await persistence.flush();
  const stageMs = ms(start);
  delay.disable();
  const written = persistence.stats();
  console.log(
    `stage+commit: ${fmt(flows)} flows in ${fmt(stageMs / 1000, 2)} s = ${fmt((flows * 1000) / stageMs)} flows/s; ${written.commits} commits; event loop delay p99 ${fmt(delay.percentile(99) / 1e6, 1)} ms, max ${fmt(delay.max / 1e6, 1)} ms; longest commit slice ${fmt(written.longestBlockMs, 1)} ms`,
  );

  // New flows at random ids, a batch per commit, each bucket staged as a change.
  delay.reset();
  delay.enable();
  let commitsBefore = persistence.stats().commits;
  let stamp = 2;
  /** Each bucket's flow count, for its changes. */
  const sizes = new Map<string, number>();
  for (const { device, buckets } of tables) {
    for (const [bucket, entries] of buckets) sizes.set(`${device}/${bucket}`, entries.length);
  }
  start = performance.now();
  for (const { device, buckets } of batches) {
    for (const [bucket, upserts] of buckets) {
      const key = `${device}/${bucket}`;
      const flows = (sizes.get(key) ?? 0) + upserts.length;
      sizes.set(key, flows);
      persistence.stageBucket(device, {
        bucket,
        term: 1,
        timestamp: stamp++,
        upserts,
        removed: [],
        flows,
      });
    }
    await persistence.flush();
  }
  const ingestMs = ms(start);
  delay.disable();
  const ingested = persistence.stats();
  console.log(
    `ingest: ${fmt(ingest)} new random-id flows in batches of ${fmt(batchSize)} in ${fmt(ingestMs / 1000, 2)} s = ${fmt((ingest * 1000) / ingestMs)} flows/s; ${ingested.commits - commitsBefore} commits, last ${fmt(ingested.lastCommitRecords)} records in ${fmt(ingested.lastCommitMs, 1)} ms; event loop delay p99 ${fmt(delay.percentile(99) / 1e6, 1)} ms, max ${fmt(delay.max / 1e6, 1)} ms`,
  );

  // Single-flow updates at random, staged a few per turn: what a busy node commits.
  const all = tables.flatMap(({ device, buckets }) =>
    [...buckets].map(([bucket, entries]) => ({ device, bucket, entries })),
  );
  delay.reset();
  delay.enable();
  commitsBefore = ingested.commits;
  start = performance.now();
  let random = 12345;
  const next = () => {
    random = (random * 1103515245 + 12345) & 0x7fffffff;
    return random;
  };
  for (let i = 0; i < (all.length === 0 ? 0 : updates); i++) {
    const target = all[next() % all.length]!;
    const entry = target.entries[next() % target.entries.length] as FlowEntry;
    const changed = withFlowEntry(entry, { state: "ADDED" });
    persistence.stageBucket(target.device, {
      bucket: target.bucket,
      term: 1,
      timestamp: stamp++,
      upserts: [changed],
      removed: [],
      flows: sizes.get(`${target.device}/${target.bucket}`)!,
    });
    // 100 changes every 10 ms: 10,000 changes a second.
    if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await persistence.flush();
  const updateMs = ms(start);
  delay.disable();
  const updated = persistence.stats();
  console.log(
    `updates: ${fmt(updates)} single-flow changes over ${fmt(updateMs / 1000, 2)} s in ${updated.commits - commitsBefore} commits; last commit ${fmt(updated.lastCommitRecords)} records in ${fmt(updated.lastCommitMs, 1)} ms; event loop delay p99 ${fmt(delay.percentile(99) / 1e6, 1)} ms, max ${fmt(delay.max / 1e6, 1)} ms (a million entries in the heap: major GCs)`,
  );
  await persistence.close();

  // A node loads at start, into an empty heap: the tables made above are let go first.
  tables.length = 0;
  all.length = 0;
  batches.length = 0;
  (globalThis as { gc?: () => void }).gc?.();
  persistence = await FlowPersistence.open({ dir, cluster: "bench", node: "n1" });
  start = performance.now();
  const loaded = await persistence.load();
  const loadMs = ms(start);
  // What a master does before it serves: every bucket's entries decoded (a backup may never).
  start = performance.now();
  let count = 0;
  for (const device of loaded) for (const bucket of device.buckets) count += bucket.decode().length;
  const decodeMs = ms(start);
  if (count !== flows + ingest) {
    throw new Error(`loaded ${count} flows, expected ${flows + ingest}`);
  }
  const stats = persistence.stats();
  console.log(
    `load: ${fmt(count)} flows in ${fmt(loadMs / 1000, 2)} s (records read, checksums checked), then decoded in ${fmt(decodeMs / 1000, 2)} s: ${fmt((loadMs + decodeMs) / 1000, 2)} s = ${fmt((count * 1000) / (loadMs + decodeMs))} flows/s`,
  );
  console.log(
    `disk: ${fmt(stats.fileBytes / 2 ** 20, 1)} MiB data file = ${fmt(stats.fileBytes / count)} bytes a flow (${fmt(stats.usedBytes / count)} in use)`,
  );
  await persistence.close();
} finally {
  await remove();
}
