// A process that commits batches to a data directory in a loop, for the crash test to kill.
//
//   node --conditions=@flowstore/source --import tsx src/testing/crashWriter.ts <dir> [records]
//     [whole|changes]
//
// Batch k replaces all CRASH_BUCKETS buckets of CRASH_DEVICE with the entries of variant
// k mod CRASH_VARIANTS, each carrying k in its `packets`, every stamp at timestamp k, and sets
// meta "batch" to k: one commit, one transaction (or, given `records`, transactions of at most
// that many records, split between buckets). `whole` (the default) stages each bucket whole;
// `changes` stages instead a tenth of each bucket's flows as upserts or removals
// (`crashChange`), so the buckets get change records and are compacted every few batches.
// After each flush it prints "committed k". It goes on from the batch after the last one on
// disk.
import { withFlowEntry } from "@flowstore/flow-bucket";
import { FlowPersistence } from "../flowPersistence.js";
import { crashBatch, crashChange, crashChangesAfter } from "./crashBatches.js";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: crashWriter.ts <dir> [records]");
const records = Number(process.argv[3] ?? 1_000_000);
const changes = process.argv[4] === "changes";
const persistence = await FlowPersistence.open({
  dir,
  cluster: "crash",
  node: "n1",
  commitInterval: 60_000, // committed by flush()
  maxRecordsPerTransaction: records,
});
let k =
  1 + Math.max(0, ...(await persistence.load()).flatMap((d) => d.buckets.map((b) => b.timestamp)));
for (;;) {
  const { device, buckets } = crashBatch(k);
  const changed = crashChange(k);
  const held = crashChangesAfter(k);
  for (const [bucket, entries] of buckets.entries()) {
    const change = changed[bucket]!;
    persistence.stageBucket(
      device,
      changes
        ? {
            bucket,
            term: 1,
            timestamp: k,
            upserts: change.upserts,
            removed: change.removed.map((entry) => entry.rule.id),
            flows: held[bucket]!.size,
          }
        : {
            bucket,
            term: 1,
            timestamp: k,
            upserts: entries.map((entry) => withFlowEntry(entry, { packets: k })),
            removed: [],
            flows: entries.length,
            whole: true,
          },
    );
  }
  persistence.setMeta("batch", k);
  await persistence.flush();
  process.stdout.write(`committed ${k}\n`);
  k++;
}
