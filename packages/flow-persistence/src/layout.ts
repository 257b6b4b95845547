import { type DeviceId, DeviceIdSchema, type FlowId } from "@flowstore/flow-bucket";
import type { Key } from "lmdb";

/*
 * The key layout of a data directory: one LMDB environment (`data.mdb`, `lock.mdb`) with five
 * named databases. Keys are lmdb's ordered-binary arrays, so a device's records, and a
 * bucket's entries, are each one contiguous key range; values are bytes of
 * `persistenceNamespace`.
 *
 *   header   "store"                       → PersistenceHeader
 *            "structures"                  → EntryStructures (the shapes entries share)
 *   meta     <key: string>                 → MetaValue
 *   terms    <device>                      → DeviceTerm
 *   stamps   [<device>, <bucket>]          → FlowBucketDigest (the bucket's term and timestamp)
 *   entries  [<device>, <bucket>, hi, lo]  → FlowEntry, by EntryCodec (hi, lo: the flow id's
 *                                            upper and lower 32 bits; lmdb's keys hold no exact
 *                                            64-bit integer)
 */

/** The LMDB data file in a data directory. */
export const DATA_FILE = "data.mdb";
/** LMDB's lock file beside it. */
export const LOCK_FILE = "lock.mdb";

/** The named databases of the environment. */
export const DATABASES = ["header", "meta", "terms", "stamps", "entries"] as const;

/** One of {@link DATABASES}. */
export type DatabaseName = (typeof DATABASES)[number];

/** The key of the meta record in `header`. */
export const HEADER_KEY = "store";
/** The key of the entries' shared shapes in `header`. */
export const STRUCTURES_KEY = "structures";

/** Above every bucket index, for ranges over a device. */
const END_BUCKET = Number.MAX_SAFE_INTEGER;

const LOW = 0xffffffffn;

/** The key of a bucket's stamp. */
export type StampKey = [DeviceId, number];
/** The key of a stored entry. */
export type EntryKey = [DeviceId, number, number, number];

/** A key range: `start` included, `end` excluded. */
export interface KeyRange {
  readonly start: Key;
  readonly end: Key;
}

/** The key of the stamp of `bucket` of `device`. */
export function stampKey(device: DeviceId, bucket: number): StampKey {
  return [device, bucket];
}

/** The key of entry `id` in `bucket` of `device`. */
export function entryKey(device: DeviceId, bucket: number, id: FlowId): EntryKey {
  return [device, bucket, Number(id >> 32n), Number(id & LOW)];
}

/** The flow id an entry key names. */
export function flowIdOfKey(key: EntryKey): FlowId {
  return ((BigInt(key[2]) << 32n) | BigInt(key[3])) as FlowId;
}

/** Every key of `device` in `stamps` or `entries`. */
export function deviceRange(device: DeviceId): KeyRange {
  return { start: [device, 0], end: [device, END_BUCKET] };
}

/** Every key of `bucket` of `device` in `entries`. */
export function bucketRange(device: DeviceId, bucket: number): KeyRange {
  return { start: [device, bucket], end: [device, bucket + 1] };
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

/** `key` as a stamp key, or undefined if it does not have that shape. */
export function asStampKey(key: unknown): StampKey | undefined {
  if (!Array.isArray(key) || key.length !== 2) return undefined;
  const device = deviceOfKey(key[0]);
  return device !== undefined && isIndex(key[1]) ? [device, key[1]] : undefined;
}

/** Whether `key` has the shape of an entry key (its device is checked by the caller). */
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
