import { type DeviceId, DeviceIdSchema, type FlowId } from "@flowstore/flow-bucket";
import type { Key } from "lmdb";

/*
 * The key layout of a data directory (format 2): one LMDB environment (`data.mdb`,
 * `lock.mdb`) with five named databases. Keys are lmdb's ordered-binary arrays, so a device's
 * records, and a bucket's, are each one contiguous key range.
 *
 *   header   "store"                  → PersistenceHeader
 *            "structures"             → EntryStructures (the shapes entries share)
 *   meta     <key: string>            → MetaValue
 *   terms    <device>                 → DeviceTerm
 *   heads    [<device>, <bucket>]     → BucketHead: the bucket's stamp, its flow count and
 *                                       the sizes of its records
 *   records  [<device>, <bucket>, 0]  → the bucket's base: every entry it had at its last
 *                                       compaction, by ascending flow id (FlowEntries)
 *            [<device>, <bucket>, n]  → its n-th change since (BucketChanges: upserts and
 *                                       removals), n = 1 … head.changes
 *
 * Format 1 (read only to migrate it) had, instead of `heads` and `records`:
 *
 *   stamps   [<device>, <bucket>]          → FlowBucketDigest
 *   entries  [<device>, <bucket>, hi, lo]  → FlowEntry (hi, lo: the flow id's 32-bit halves)
 */

/** The LMDB data file in a data directory. */
export const DATA_FILE = "data.mdb";
/** LMDB's lock file beside it. */
export const LOCK_FILE = "lock.mdb";

/** The named databases of the environment. */
export const DATABASES = ["header", "meta", "terms", "heads", "records"] as const;

/** One of {@link DATABASES}. */
export type DatabaseName = (typeof DATABASES)[number];

/** The databases of format 1 that format 2 replaced (see `formatV1.ts`). */
export const V1_DATABASES = ["stamps", "entries"] as const;

/** The key of the meta record in `header`. */
export const HEADER_KEY = "store";
/** The key of the entries' shared shapes in `header`. */
export const STRUCTURES_KEY = "structures";

/** The sequence number of a bucket's base record; its change records follow from 1. */
export const BASE_SEQ = 0;

/** Above every bucket index, for ranges over a device. */
const END_BUCKET = Number.MAX_SAFE_INTEGER;

const LOW = 0xffffffffn;

/** The key of a bucket's head (format 1: its stamp). */
export type HeadKey = [DeviceId, number];
/** The key of a bucket's base or change record. */
export type RecordKey = [DeviceId, number, number];
/** The key of a stored entry in format 1. */
export type EntryKey = [DeviceId, number, number, number];

/** A key range: `start` included, `end` excluded. */
export interface KeyRange {
  readonly start: Key;
  readonly end: Key;
}

/** The key of the head of `bucket` of `device`. */
export function headKey(device: DeviceId, bucket: number): HeadKey {
  return [device, bucket];
}

/** The key of record `seq` of `bucket` of `device` ({@link BASE_SEQ}: its base). */
export function recordKey(device: DeviceId, bucket: number, seq: number): RecordKey {
  return [device, bucket, seq];
}

/** The key of entry `id` in `bucket` of `device`, in format 1. */
export function entryKey(device: DeviceId, bucket: number, id: FlowId): EntryKey {
  return [device, bucket, Number(id >> 32n), Number(id & LOW)];
}

/** The flow id a format 1 entry key names. */
export function flowIdOfKey(key: EntryKey): FlowId {
  return ((BigInt(key[2]) << 32n) | BigInt(key[3])) as FlowId;
}

/** Every key of `device` in `heads` (or format 1's `stamps` and `entries`). */
export function deviceRange(device: DeviceId): KeyRange {
  return { start: [device, 0], end: [device, END_BUCKET] };
}

const isIndex = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 0;
const isWord = (value: unknown): value is number =>
  isIndex(value) && (value as number) <= 0xffffffff;

/** The device id of a key read from disk, or undefined if it is not a valid one. */
export function deviceOfKey(value: unknown): DeviceId | undefined {
  const parsed = DeviceIdSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** `key` as a head key (format 1: a stamp key), or undefined if it does not have that shape. */
export function asHeadKey(key: unknown): HeadKey | undefined {
  if (!Array.isArray(key) || key.length !== 2) return undefined;
  const device = deviceOfKey(key[0]);
  return device !== undefined && isIndex(key[1]) ? [device, key[1]] : undefined;
}

/** Whether `key` has the shape of a record key (its device is checked by the caller). */
export function isRecordKey(key: unknown): key is [string, number, number] {
  return (
    Array.isArray(key) &&
    key.length === 3 &&
    typeof key[0] === "string" &&
    isIndex(key[1]) &&
    isIndex(key[2])
  );
}

/** Whether `key` has the shape of a format 1 entry key (its device is checked by the caller). */
export function isEntryKey(key: unknown): key is [string, number, number, number] {
  return (
    Array.isArray(key) &&
    key.length === 4 &&
    typeof key[0] === "string" &&
    isIndex(key[1]) &&
    isWord(key[2]) &&
    isWord(key[3])
  );
}
