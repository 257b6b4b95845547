import type { DeviceId, FlowEntry, LogicalTimestamp, Term } from "@flowstore/flow-bucket";
import { type Key, open } from "lmdb";
import { persistenceNamespace } from "../codecs.js";
import { entryKey, HEADER_KEY, headKey, STRUCTURES_KEY } from "../layout.js";
import { RecordCodec } from "../recordCodec.js";

/** A bucket of a format 1 directory. */
export interface V1TestBucket {
  readonly device: DeviceId;
  readonly bucket: number;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  readonly entries: readonly FlowEntry[];
}

/**
 * Writes a data directory as format 1 left it (what the tests migrate): its meta record,
 * the entries' shared shapes, a stamp per bucket in `stamps`, a record per entry in
 * `entries` keyed [device, bucket, hi, lo], terms and meta values.
 */
export async function writeFormatV1Directory(
  dir: string,
  content: {
    readonly cluster: string;
    readonly node: string;
    readonly buckets: readonly V1TestBucket[];
    readonly terms?: ReadonlyMap<DeviceId, Term>;
    readonly meta?: ReadonlyMap<string, unknown>;
  },
): Promise<void> {
  const root = open<Uint8Array, Key>({ path: dir, overlappingSync: false });
  const db = (name: string) => root.openDB<Uint8Array, Key>(name, { encoding: "binary" });
  const [header, meta, terms, stamps, entries] = [
    db("header"),
    db("meta"),
    db("terms"),
    db("stamps"),
    db("entries"),
  ];
  const codec = new RecordCodec();
  await root.transaction(() => {
    const record = { format: 1, cluster: content.cluster, node: content.node, createdAt: 1 };
    void header.put(HEADER_KEY, persistenceNamespace.encode("PersistenceHeader", record));
    for (const { device, bucket, term, timestamp, entries: list } of content.buckets) {
      const stamp = { bucket, term, timestamp };
      void stamps.put(
        headKey(device, bucket),
        persistenceNamespace.encode("FlowBucketDigest", stamp),
      );
      for (const entry of list)
        void entries.put(entryKey(device, bucket, entry.rule.id), codec.encode(entry));
    }
    const shapes = codec.unsaved();
    if (shapes !== undefined) {
      void header.put(STRUCTURES_KEY, persistenceNamespace.encode("EntryStructures", shapes));
    }
    for (const [device, term] of content.terms ?? []) {
      void terms.put(device, persistenceNamespace.encode("DeviceTerm", term));
    }
    for (const [key, value] of content.meta ?? []) {
      void meta.put(key, persistenceNamespace.encode("MetaValue", value));
    }
  });
  await root.close();
}
