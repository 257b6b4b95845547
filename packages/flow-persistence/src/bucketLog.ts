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
 * sizes). The flow count after a change comes with the change (the caller's table knows it),
 * so nothing per flow is kept.
 */
export interface BucketState {
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  readonly flows: number;
  readonly baseBytes: number;
  readonly changes: number;
  readonly changeBytes: number;
  /**
   * Whether the counts its changes come with do not fit its records (the disk does not hold
   * what the caller's table does): its changes compact it, counting its records, until the
   * two agree again.
   */
  readonly recount: boolean;
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

/** A bucket's state as its head says. */
export function stateOf(head: BucketHead): BucketState {
  const { term, timestamp, flows, baseBytes, changes, changeBytes } = head;
  return { term, timestamp, flows, baseBytes, changes, changeBytes, recount: false };
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
