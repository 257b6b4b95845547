import { setImmediate as nextTurn } from "node:timers/promises";
import type { DeviceId, FlowEntry, LogicalTimestamp, Term } from "@flowstore/flow-bucket";
import type { Database, DatabaseOptions, Key, RootDatabase } from "lmdb";
import { persistenceNamespace } from "./codecs.js";
import { corrupt, decodeRecord, describe, message, type RecordPlace } from "./internal/corrupt.js";
import { asHeadKey, deviceOfKey, flowIdOfKey, isEntryKey, V1_DATABASES } from "./layout.js";
import { PersistenceError } from "./persistenceError.js";
import { entryEncoding, type RecordCodec, UnreadableEntry } from "./recordCodec.js";

/*
 * Format 1, read to migrate it: a record per entry in `entries`, keyed
 * [device, bucket, hi, lo], and a stamp per bucket in `stamps`. Its header, meta values, terms
 * and shared shapes are those of format 2.
 */

/** A bucket read from a format 1 directory: its stamp and entries, by ascending flow id. */
export interface V1Bucket {
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  readonly entries: FlowEntry[];
}

/** Entries validated between two turns of the event loop. */
const SLICE = 50_000;

/**
 * Every bucket of a format 1 environment, validated as format 1's `load` did (every stamp and
 * entry decodes, sits under its own key, and every bucket with entries has a stamp).
 *
 * @throws {PersistenceError} `CORRUPT` naming the device and bucket of a record that does not.
 */
export async function readFormatV1(
  dir: string,
  root: RootDatabase<Uint8Array, Key>,
  codec: RecordCodec,
): Promise<Map<DeviceId, Map<number, V1Bucket>>> {
  const [stampsName, entriesName] = V1_DATABASES;
  const names = new Set([...root.getKeys()].map(String));
  const devices = new Map<DeviceId, Map<number, V1Bucket>>();
  if (!names.has(stampsName)) {
    if (names.has(entriesName)) throw corrupt(dir, "it holds entries but no stamps");
    return devices;
  }
  const stamps = root.openDB<Uint8Array, Key>(stampsName, { encoding: "binary" });
  const options: DatabaseOptions & { encoder: ReturnType<typeof entryEncoding> } = {
    encoder: entryEncoding(codec),
  };
  const entries = names.has(entriesName)
    ? root.openDB<unknown, Key>(entriesName, options)
    : undefined;
  const stampCodec = persistenceNamespace.serializer("FlowBucketDigest");
  const snapshot = root.useReadTransaction();
  try {
    for (const { key, value } of stamps.getRange({ transaction: snapshot })) {
      const parsed = asHeadKey(key);
      if (parsed === undefined) throw corrupt(dir, "a stamp has a malformed key");
      const [device, bucket] = parsed;
      const where = { device, bucket };
      const stamp = decodeRecord(dir, where, "stamp", () => stampCodec.decode(value));
      if (stamp.bucket !== bucket) {
        throw corrupt(dir, `the stamp of ${describe(where)} is of bucket ${stamp.bucket}`, where);
      }
      let buckets = devices.get(device);
      if (buckets === undefined) {
        buckets = new Map();
        devices.set(device, buckets);
      }
      buckets.set(bucket, { term: stamp.term, timestamp: stamp.timestamp, entries: [] });
    }
    if (entries !== undefined) await readEntries(dir, entries, snapshot, codec, devices);
  } catch (error) {
    if (PersistenceError.is(error)) throw error;
    throw corrupt(dir, `its format 1 records cannot be read: ${message(error)}`, { cause: error });
  } finally {
    snapshot.done();
  }
  return devices;
}

async function readEntries(
  dir: string,
  db: Database<unknown, Key>,
  snapshot: ReturnType<RootDatabase["useReadTransaction"]>,
  codec: RecordCodec,
  devices: Map<DeviceId, Map<number, V1Bucket>>,
): Promise<void> {
  // Entries come by key, so a bucket's are contiguous: validated a bucket at a time.
  let count = 0;
  let nextYield = SLICE;
  let deviceText = "";
  let where: RecordPlace | undefined;
  let loading: V1Bucket | undefined;
  let raws: unknown[] = [];
  let words: number[] = [];
  const finish = () => {
    if (where === undefined || loading === undefined) return;
    const place = where;
    let valid: FlowEntry[];
    try {
      valid = codec.validateAll(raws);
    } catch {
      valid = raws.map((raw) => decodeRecord(dir, place, "entry", () => codec.validate(raw)));
    }
    for (let i = 0; i < valid.length; i++) {
      const entry = valid[i]!;
      const id = flowIdOfKey([place.device, place.bucket, words[2 * i]!, words[2 * i + 1]!]);
      if (entry.rule.id !== id || entry.rule.deviceId !== place.device) {
        throw corrupt(
          dir,
          `the entry stored as flow ${id} of ${describe(place)} is flow ${entry.rule.id} of device ${entry.rule.deviceId}`,
          place,
        );
      }
      loading.entries.push(entry);
    }
    count += valid.length;
    raws = [];
    words = [];
  };
  for (const { key, value } of db.getRange({ transaction: snapshot })) {
    if (!isEntryKey(key)) throw corrupt(dir, "an entry has a malformed key");
    if (where === undefined || key[0] !== deviceText || key[1] !== where.bucket) {
      finish();
      const device = key[0] === deviceText ? where?.device : deviceOfKey(key[0]);
      if (device === undefined) throw corrupt(dir, "an entry has a malformed device id");
      deviceText = key[0];
      where = { device, bucket: key[1] };
      loading = devices.get(device)?.get(key[1]);
      if (loading === undefined) {
        throw corrupt(dir, `${describe(where)} has entries but no stamp`, where);
      }
      if (count >= nextYield) {
        nextYield = count + SLICE;
        await nextTurn();
      }
    }
    if (value instanceof UnreadableEntry) {
      throw corrupt(
        dir,
        `a stored entry of ${describe(where)} is unreadable: ${message(value.error)}`,
        { ...where, cause: value.error },
      );
    }
    raws.push(value);
    words.push(key[2], key[3]);
  }
  finish();
}
