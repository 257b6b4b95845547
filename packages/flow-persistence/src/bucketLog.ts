import type { LogicalTimestamp, Term } from "@flowstore/flow-bucket";
import type { BucketHead } from "./codecs.js";

/*
 * A bucket on disk is a log: a base record (every entry it held at its last compaction, by
 * ascending flow id) and the change records written since, one per commit that changed it.
 * This module owns the log's rules: when it is compacted, how its records fold into the
 * bucket's entries, and the bookkeeping kept in memory per bucket between commits.
 */

/**
 * The most change records a bucket keeps before it is compacted. A bucket of a large table
 * takes a few flows a commit: with 64, a bucket of 8,000 flows was rewritten for every 1,000
 * new ones, and a million-flow ingest spent a tenth more CPU.
 */
export const MAX_CHANGE_RECORDS = 256;

/**
 * What a node keeps in memory about each bucket on disk: its head (stamp, flow count, record
 * sizes), and the flow ids it holds once they are known (read by `load`, or from the bucket's
 * records at its first change), so that a change knows how many flows the bucket holds after it.
 */
export interface BucketState {
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  readonly flows: number;
  readonly baseBytes: number;
  readonly changes: number;
  readonly changeBytes: number;
  /** The bucket's flow ids, ascending; undefined until read. */
  readonly ids: BigUint64Array | undefined;
}

/**
 * Whether a bucket whose log is `state` is compacted rather than given a change record of
 * `bytes` bytes: when it would hold more than {@link MAX_CHANGE_RECORDS} change records, or
 * its change records would outweigh its base.
 *
 * @remarks Compaction rewrites the base (copying its entries' bytes, not decoding them), so
 * each byte of change is rewritten into a base about once or twice (a bucket growing from
 * nothing is rewritten each time its changes reach its size), and `load` reads at most twice
 * the bucket's size and a bounded number of records.
 */
export function shouldCompact(state: BucketState, bytes: number): boolean {
  return state.changes + 1 > MAX_CHANGE_RECORDS || state.changeBytes + bytes > state.baseBytes;
}

/** The head to write for `bucket` in `state`. */
export function headOf(bucket: number, state: BucketState): BucketHead {
  return {
    bucket,
    term: state.term,
    timestamp: state.timestamp,
    flows: state.flows,
    baseBytes: state.baseBytes,
    changes: state.changes,
    changeBytes: state.changeBytes,
  };
}

/** A bucket's state as its head says, its flow ids not read yet. */
export function stateOf(head: BucketHead): BucketState {
  const { term, timestamp, flows, baseBytes, changes, changeBytes } = head;
  return { term, timestamp, flows, baseBytes, changes, changeBytes, ids: undefined };
}

/** One change record's effect, as values of some kind with flow ids. */
export interface Changes<T> {
  readonly entries: readonly T[];
  readonly removed: readonly bigint[];
}

/**
 * The entries of a bucket whose base holds `base` (strictly ascending by id) after `changes`,
 * in order: each removes its ids, then stores its entries (an id in both is stored).
 * Ascending by id; `base` itself when there are no changes.
 *
 * @remarks The changes are few next to the base: their ids are sorted and merged with the
 * base in one pass, so the base's entries are neither hashed nor sorted.
 */
export function foldById<T>(
  base: readonly T[],
  changes: readonly Changes<T>[],
  idOf: (value: T) => bigint,
): readonly T[] {
  if (changes.length === 0) return base;
  const latest = new Map<bigint, T | undefined>(); // undefined: removed
  for (const change of changes) {
    for (const id of change.removed) latest.set(id, undefined);
    for (const value of change.entries) latest.set(idOf(value), value);
  }
  const changed = [...latest.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: T[] = [];
  let j = 0;
  const take = () => {
    const value = latest.get(changed[j++]!);
    if (value !== undefined) out.push(value);
  };
  for (const value of base) {
    const id = idOf(value);
    while (j < changed.length && changed[j]! < id) take();
    if (j < changed.length && changed[j] === id) take();
    else out.push(value);
  }
  while (j < changed.length) take();
  return out;
}

/** Whether `values` are in strictly ascending id order. */
export function isAscending<T>(values: readonly T[], idOf: (value: T) => bigint): boolean {
  for (let i = 1; i < values.length; i++) {
    if (!(idOf(values[i - 1]!) < idOf(values[i]!))) return false;
  }
  return true;
}

/** The ids of `values` (ascending by id), as an array. */
export function idsOf<T>(values: readonly T[], idOf: (value: T) => bigint): BigUint64Array {
  const ids = new BigUint64Array(values.length);
  for (let i = 0; i < values.length; i++) ids[i] = idOf(values[i]!);
  return ids;
}

/** Where the high and low 32 bits of each id are in a `Uint32Array` over a `BigUint64Array`. */
const [HIGH, LOW] = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? [1, 0] : [0, 1];

/**
 * Where `id` is in the ascending ids whose 32-bit halves are `words` (a view of the
 * `BigUint64Array`): its index, or `-1 - index` of where it would go. Compares the halves as
 * numbers: each read of a `BigUint64Array` would make a `bigint`.
 */
function search(words: Uint32Array, id: bigint): number {
  const high = Number(id >> 32n);
  const low = Number(BigInt.asUintN(32, id));
  let from = 0;
  let to = words.length >>> 1;
  while (from < to) {
    const mid = (from + to) >>> 1;
    const h = words[2 * mid + HIGH]!;
    const l = words[2 * mid + LOW]!;
    if (h === high && l === low) return mid;
    if (h < high || (h === high && l < low)) from = mid + 1;
    else to = mid;
  }
  return -1 - from;
}

/**
 * The ascending `ids` with `removed` taken out, then `upserted` put in (an id in both stays);
 * `ids` itself if that changes nothing.
 *
 * @remarks Each read of a `BigUint64Array` makes a `bigint`: only the changed ids are looked
 * up (a binary search each), and the runs between them are moved as they are. Arrays are
 * made with room to grow, and ids that are only added go into that room in place, so that a
 * bucket that grows by a few flows a commit is not copied whole each time: **then `ids` no
 * longer holds what it did** (the caller keeps one array per bucket, and forgets it if the
 * change does not happen after all).
 */
export function withChanges(
  ids: BigUint64Array,
  upserted: Iterable<bigint>,
  removed: Iterable<bigint>,
): BigUint64Array {
  const words = new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
  const stored = [...upserted];
  const drops = new Set<number>();
  // A set of the upserted ids only when a removal needs it (a write adds, mostly).
  let kept: Set<bigint> | undefined;
  for (const id of removed) {
    kept ??= new Set(stored);
    if (kept.has(id)) continue;
    const at = search(words, id);
    if (at >= 0) drops.add(at);
  }
  const added: { id: bigint; at: number }[] = [];
  for (const id of stored) {
    const at = search(words, id);
    if (at < 0) added.push({ id, at: -1 - at });
  }
  if (drops.size === 0 && added.length === 0) return ids;
  added.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)); // and so by `at`
  const adds: bigint[] = [];
  const addAt: number[] = [];
  for (const { id, at } of added) {
    if (adds.length > 0 && adds[adds.length - 1] === id) continue; // upserted twice
    adds.push(id);
    addAt.push(at);
  }
  const length = ids.length - drops.size + adds.length;
  const room = (ids.buffer.byteLength - ids.byteOffset) / 8;
  if (drops.size === 0 && length <= room) {
    // In place, from the end: each run of stored ids moves up once, past the ids added below it.
    const all = new BigUint64Array(ids.buffer, ids.byteOffset, room);
    let src = ids.length;
    let dst = length;
    for (let a = adds.length - 1; a >= 0; a--) {
      const at = addAt[a]!;
      all.copyWithin(dst - (src - at), at, src);
      dst -= src - at;
      src = at;
      all[--dst] = adds[a]!;
    }
    return all.subarray(0, length);
  }
  const drop = [...drops].sort((a, b) => a - b);
  const out = withRoom(length);
  let src = 0;
  let dst = 0;
  let d = 0;
  let a = 0;
  while (src < ids.length || a < adds.length) {
    const nextDrop = d < drop.length ? drop[d]! : ids.length;
    const nextAdd = a < adds.length ? addAt[a]! : ids.length;
    const stop = Math.min(nextDrop, nextAdd);
    if (stop > src) {
      out.set(ids.subarray(src, stop), dst);
      dst += stop - src;
      src = stop;
    }
    if (a < adds.length && nextAdd === src) {
      out[dst++] = adds[a++]!; // before ids[src], which is above it
    } else if (d < drop.length && nextDrop === src) {
      src++;
      d++;
    }
  }
  return out;
}

/** An array of `length` ids (zeros) with room for a quarter more after them. */
function withRoom(length: number): BigUint64Array {
  return new BigUint64Array(length + (length >>> 2) + 16).subarray(0, length);
}
