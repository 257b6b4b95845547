import type { LogicalTimestamp, Term } from "@flowstore/flow-bucket";
import type { BucketHead } from "./codecs.js";

/*
 * A bucket on disk is a log: a base record (every entry it held at its last compaction, by
 * ascending flow id) and the change records written since, one per commit that changed it.
 * This module owns the log's rules: when it is compacted, how its records fold into the
 * bucket's entries, and the bookkeeping kept in memory per bucket between commits.
 */

/** The most change records a bucket keeps before it is compacted. */
export const MAX_CHANGE_RECORDS = 64;

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
 * @remarks Compaction rewrites the base, so each byte of change is rewritten into a base about
 * once (write cost at most about twice what changed), and `load` reads at most twice the
 * bucket's size and a bounded number of records.
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

/** Whether the ascending `ids` hold `id`. */
function has(ids: BigUint64Array, id: bigint): boolean {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const at = ids[mid]!;
    if (at === id) return true;
    if (at < id) low = mid + 1;
    else high = mid;
  }
  return false;
}

/** The ascending `ids` with `removed` taken out, then `upserted` put in (an id in both stays). */
export function withChanges(
  ids: BigUint64Array,
  upserted: Iterable<bigint>,
  removed: Iterable<bigint>,
): BigUint64Array {
  const stored = new Set(upserted);
  const gone = new Set<bigint>();
  for (const id of removed) if (!stored.has(id) && has(ids, id)) gone.add(id);
  const kept: bigint[] = [];
  for (const id of stored) if (!has(ids, id)) kept.push(id);
  kept.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out = new BigUint64Array(ids.length - gone.size + kept.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < ids.length || j < kept.length) {
    const next = ids[i];
    const add = kept[j];
    if (next !== undefined && (add === undefined || next < add)) {
      i++;
      if (!gone.has(next)) out[k++] = next;
    } else {
      out[k++] = add as bigint;
      j++;
    }
  }
  return out;
}
