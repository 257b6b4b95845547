import type { FlowBucketDelta } from "./flowBucketDelta.js";
import { type FlowBucketDigest, isNewerThan, type Term } from "./flowBucketDigest.js";
import { FlowBucketError } from "./flowBucketError.js";
import {
  type DeferredFlowBucket,
  type FlowBucketSnapshot,
  isDeferred,
} from "./flowBucketSnapshot.js";
import {
  FLOW_ENTRY_STATES,
  type FlowCounters,
  type FlowEntry,
  type FlowEntryState,
  refreshCounters,
} from "./flowEntry.js";
import { type FlowRule, sameFlowRule } from "./flowRule.js";
import type { ApplicationId, FlowId } from "./ids.js";
import type { LogicalClock, LogicalTimestamp } from "./logicalClock.js";

/** Entries with one slot key: almost always one; a list only when two flow ids share the key. */
type Slot = FlowEntry | FlowEntry[];

const KEY_MASK = (1n << 30n) - 1n;

/**
 * @internal The key of flow id `id` in a bucket's slots: its low 30 bits, a small integer.
 *
 * @remarks A map keyed by small integers finds an entry two to three times faster than one
 * keyed by 64-bit `bigint`s (a device report looks up every flow). The low bits are hash bits
 * (the application id is in the top 16), so keys rarely collide; a slot shared by two flow ids
 * holds both, and every lookup compares the whole id. The bucket index is the low bits too.
 */
export function slotKey(id: FlowId): number {
  return Number(id & KEY_MASK);
}

/** Whether `entry` is of `rule`: the same flow id and the same identity. */
const isOf = (entry: FlowEntry, rule: FlowRule): boolean =>
  entry.rule.id === rule.id && sameFlowRule(entry.rule, rule);

/** Called after every change of a bucket's digest, with the digest it had before. */
export type BucketChangeListener = (
  bucket: FlowBucket,
  previousTerm: Term,
  previousTimestamp: LogicalTimestamp,
) => void;

/** How many changes a bucket logs beyond its size (see `#record`). */
const LOG_SLACK = 4;
/** A bucket smaller than twice this keeps no log: its deltas would save a flow or two. */
const MIN_LOGGED = 2;

/** Per state, its position in a bucket's state counts. */
const STATE_INDEX: Readonly<Record<FlowEntryState, number>> = {
  PENDING_ADD: 0,
  ADDED: 1,
  PENDING_REMOVE: 2,
  REMOVED: 3,
  FAILED: 4,
};

/** How many entries are in each state: maintained as entries change, never counted by a walk. */
export type FlowStateCounts = Record<FlowEntryState, number>;

/** Zero entries in every state. */
export function emptyStateCounts(): FlowStateCounts {
  return { PENDING_ADD: 0, ADDED: 0, PENDING_REMOVE: 0, REMOVED: 0, FAILED: 0 };
}

/** Which entries {@link FlowBucket.purge} removes. */
export type PurgeFilter =
  | { readonly appId: ApplicationId }
  | ((entry: FlowEntry) => boolean)
  | undefined;

/**
 * One bucket of a device's flow table: the entries whose flow id falls in it, and the
 * `(term, timestamp)` of its last change, which is what replicas compare.
 *
 * @remarks Every change that succeeds stamps the bucket with the caller's term and a new tick
 * of the caller's clock; a change that does nothing (an update of an absent flow, a refused
 * stale update) leaves the stamp alone. A change with a term older than the bucket's is
 * refused with `STALE_TERM`. Entries are immutable, so {@link FlowBucket.copy} shares them.
 * The bucket logs which rules each change touched (at most twice its size plus 4, then all
 * but the newest size plus 4 forgotten; none in a bucket under 4 entries, nor on a replica,
 * whose log restarts with each delta it applies), so {@link FlowBucket.delta} can tell a
 * replica what changed since the version it holds without sending the whole bucket.
 *
 * @example
 * const clock = new LogicalClock();
 * const bucket = new FlowBucket(5);
 * bucket.add(createFlowEntry(rule, { created: now }), term, clock);
 * bucket.digest(); // { bucket: 5, term, timestamp: 1 }
 */
export class FlowBucket {
  /** The bucket's index in its table (0 … bucketCount − 1). */
  readonly index: number;
  #term: Term = 0;
  #timestamp: LogicalTimestamp = 0;
  #slots = new Map<number, Slot>();
  #size = 0;
  /** Entries per state, by {@link STATE_INDEX}. */
  #states = [0, 0, 0, 0, 0];
  /** The version from which the change log is complete. */
  #logTerm: Term = 0;
  #logTimestamp: LogicalTimestamp = 0;
  /**
   * The change log, oldest first: per change, the rule it touched and the term and timestamp
   * it gave the bucket, three slots of one array (no object per change); none until needed.
   */
  #log: (FlowRule | number)[] | undefined;
  /** Entries not decoded yet ({@link FlowBucket.deferred}); the slots are empty meanwhile. */
  #deferred: DeferredFlowBucket | undefined;
  readonly #onChange: BucketChangeListener | undefined;
  readonly #logDeltas: boolean;

  /**
   * `options.logDeltas`: a replica logs the changes of the deltas it applies too (by default
   * it starts its log afresh at each, at no memory cost), so that it can give deltas from any
   * version it held — what a copy of the table kept elsewhere, on disk, needs.
   */
  constructor(
    index: number,
    onChange?: BucketChangeListener,
    options: { readonly logDeltas?: boolean } = {},
  ) {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new FlowBucketError("INVALID_BUCKET", `invalid bucket index ${index}`);
    }
    this.index = index;
    this.#onChange = onChange;
    this.#logDeltas = options.logDeltas === true;
  }

  /** A bucket holding a snapshot's entries and stamp (no listener). */
  static fromSnapshot(snapshot: FlowBucketSnapshot): FlowBucket {
    const bucket = new FlowBucket(snapshot.bucket);
    for (const entry of snapshot.entries) bucket.#put(entry);
    bucket.#term = snapshot.term;
    bucket.#timestamp = snapshot.timestamp;
    bucket.#resetLog();
    return bucket;
  }

  /** The term of the last change (0 if none). */
  get term(): Term {
    return this.#term;
  }

  /** The logical time of the last change (0 if none). */
  get timestamp(): LogicalTimestamp {
    return this.#timestamp;
  }

  /** The number of entries. */
  get size(): number {
    return this.#size;
  }

  /**
   * Whether the entries are still encoded (the bucket took a {@link DeferredFlowBucket}):
   * its stamp, digest and size are known; anything that needs an entry decodes them first.
   */
  get deferred(): boolean {
    return this.#deferred !== undefined;
  }

  /**
   * Decodes the entries of a {@link FlowBucket.deferred} bucket now (nothing otherwise). Not
   * a change: the stamp stays and no listener is told.
   *
   * @throws whatever the deferred bucket's `decode` throws (the bucket stays deferred).
   */
  decode(): void {
    const deferred = this.#deferred;
    if (deferred === undefined) return;
    const entries = deferred.decode();
    this.#slots = new Map();
    this.#size = 0;
    this.#states = [0, 0, 0, 0, 0];
    for (const entry of entries) this.#put(entry);
    this.#deferred = undefined;
  }

  /** How many entries are in `state` (maintained, not counted). */
  countOf(state: FlowEntryState): number {
    if (this.#deferred !== undefined) this.decode();
    return this.#states[STATE_INDEX[state]] ?? 0;
  }

  /** Adds this bucket's entries per state to `counts`. */
  addStateCounts(counts: FlowStateCounts): void {
    if (this.#deferred !== undefined) this.decode();
    for (let i = 0; i < FLOW_ENTRY_STATES.length; i++) {
      const state = FLOW_ENTRY_STATES[i] as FlowEntryState;
      counts[state] += this.#states[i] ?? 0;
    }
  }

  /** `(index, term, timestamp)`: what a replica compares to tell which copy is newer. */
  digest(): FlowBucketDigest {
    return { bucket: this.index, term: this.#term, timestamp: this.#timestamp };
  }

  /** The entry with flow id `id` (if two rules share an id, the first stored). */
  get(id: FlowId): FlowEntry | undefined {
    if (this.#deferred !== undefined) this.decode();
    const slot = this.#slots.get(slotKey(id));
    if (!Array.isArray(slot)) return slot?.rule.id === id ? slot : undefined;
    return slot.find((entry) => entry.rule.id === id);
  }

  /** The entry of a rule with the same identity as `rule` (and the same flow id). */
  find(rule: FlowRule): FlowEntry | undefined {
    return this.findKeyed(slotKey(rule.id), rule);
  }

  /** @internal {@link FlowBucket.find} with the rule's {@link slotKey} already worked out. */
  findKeyed(key: number, rule: FlowRule): FlowEntry | undefined {
    if (this.#deferred !== undefined) this.decode();
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (!Array.isArray(slot)) return isOf(slot, rule) ? slot : undefined;
    return slot.find((entry) => isOf(entry, rule));
  }

  /** Every entry, in no particular order. */
  *entries(): IterableIterator<FlowEntry> {
    if (this.#deferred !== undefined) this.decode();
    for (const slot of this.#slots.values()) {
      if (Array.isArray(slot)) yield* slot;
      else yield slot;
    }
  }

  /**
   * Stores `entry`, replacing the entry of the same rule if there is one (which it returns).
   * Always a change.
   */
  add(entry: FlowEntry, term: Term, clock: LogicalClock): FlowEntry | undefined {
    this.#checkTerm(term);
    if (this.#deferred !== undefined) this.decode();
    const previous = this.#put(entry);
    this.#stamp(term, clock, [entry.rule]);
    return previous;
  }

  /**
   * Replaces the stored entry of `entry`'s rule with `entry`, unless it is absent or newer
   * (its `created` is later). Returns whether it replaced it.
   */
  update(entry: FlowEntry, term: Term, clock: LogicalClock): boolean {
    this.#checkTerm(term);
    const stored = this.find(entry.rule);
    if (stored === undefined || entry.created < stored.created) return false;
    this.#put(entry);
    this.#stamp(term, clock, [entry.rule]);
    return true;
  }

  /**
   * Records counters the device reported for the stored entry of `rule` and returns the entry
   * as stored now (`undefined` if the rule is not stored). Counters are soft state: this is not
   * a change — the bucket's stamp, digest and change log stay as they are, so nothing is owed
   * to a backup and no term is needed. The stored entry takes the counters in place.
   */
  refresh(rule: FlowRule, counters: FlowCounters, key = slotKey(rule.id)): FlowEntry | undefined {
    const stored = this.findKeyed(key, rule);
    // In place: a report of a million flows every stats period would otherwise make a million
    // entries for the collector each time. Counters are the one mutable part of an entry.
    if (stored !== undefined) refreshCounters(stored, counters);
    return stored;
  }

  /**
   * Applies `change` to the stored entry of `rule`: it returns the replacement (same rule), or
   * `undefined` to change nothing. Returns the replacement, or `undefined` if the rule is not
   * stored or nothing changed.
   */
  modify(
    rule: FlowRule,
    change: (stored: FlowEntry) => FlowEntry | undefined,
    term: Term,
    clock: LogicalClock,
  ): FlowEntry | undefined {
    this.#checkTerm(term);
    const stored = this.find(rule);
    if (stored === undefined) return undefined;
    const replacement = change(stored);
    if (replacement === undefined) return undefined;
    if (replacement.rule.id !== stored.rule.id || !sameFlowRule(replacement.rule, stored.rule)) {
      throw new FlowBucketError(
        "RULE_CHANGED",
        `an update of flow ${stored.rule.id} returned an entry of flow ${replacement.rule.id}`,
      );
    }
    this.#put(replacement);
    this.#stamp(term, clock, [replacement.rule]);
    return replacement;
  }

  /**
   * Removes the entry of `target`'s rule and returns it. Given an entry, refuses (returns
   * `undefined`) when the stored entry is newer than it; given a rule, removes whatever is
   * stored.
   */
  remove(target: FlowEntry | FlowRule, term: Term, clock: LogicalClock): FlowEntry | undefined {
    this.#checkTerm(term);
    const rule = "rule" in target ? target.rule : target;
    const stored = this.find(rule);
    if (stored === undefined) return undefined;
    if ("rule" in target && target.created < stored.created) return undefined;
    this.#delete(stored);
    this.#stamp(term, clock, [stored.rule]);
    return stored;
  }

  /**
   * Removes every entry (or those of one application, or those `filter` accepts) and returns
   * them. A change only if something was removed.
   */
  purge(term: Term, clock: LogicalClock, filter?: PurgeFilter): FlowEntry[] {
    this.#checkTerm(term);
    const accepts =
      filter === undefined
        ? () => true
        : typeof filter === "function"
          ? filter
          : (entry: FlowEntry) => entry.rule.appId === filter.appId;
    if (this.#deferred !== undefined) this.decode();
    const removed = [...this.entries()].filter(accepts);
    if (removed.length === 0) return removed;
    for (const entry of removed) this.#delete(entry);
    this.#stamp(
      term,
      clock,
      removed.map((entry) => entry.rule),
    );
    return removed;
  }

  /**
   * Empties the bucket and resets its stamp to `(0, 0)`, as if it never changed: for a node
   * that drops its copy of a table it no longer replicates.
   */
  clear(): void {
    const previousTerm = this.#term;
    const previousTimestamp = this.#timestamp;
    this.#slots.clear();
    this.#deferred = undefined;
    this.#size = 0;
    this.#states = [0, 0, 0, 0, 0];
    this.#term = 0;
    this.#timestamp = 0;
    this.#resetLog();
    this.#notify(previousTerm, previousTimestamp);
  }

  /** An independent copy with the same entries and stamp (and no listener). */
  copy(): FlowBucket {
    const copy = new FlowBucket(this.index);
    copy.#adopt(this);
    return copy;
  }

  /** The bucket as plain data, for a codec. */
  snapshot(): FlowBucketSnapshot {
    if (this.#deferred !== undefined) this.decode();
    return {
      bucket: this.index,
      term: this.#term,
      timestamp: this.#timestamp,
      entries: [...this.entries()],
    };
  }

  /**
   * Takes `other`'s entries and stamp if `other` is newer (see {@link isNewerThan}); returns
   * whether it did. This is how a backup keeps the newer of two copies. A
   * {@link DeferredFlowBucket} is taken as it is: its entries are decoded when first needed.
   */
  mergeFrom(other: FlowBucket | FlowBucketSnapshot | DeferredFlowBucket): boolean {
    const theirs =
      other instanceof FlowBucket
        ? other.digest()
        : { bucket: other.bucket, term: other.term, timestamp: other.timestamp };
    if (theirs.bucket !== this.index) {
      throw new FlowBucketError(
        "INVALID_BUCKET",
        `cannot merge bucket ${theirs.bucket} into bucket ${this.index}`,
      );
    }
    if (!isNewerThan(theirs, this.digest())) return false;
    const previousTerm = this.#term;
    const previousTimestamp = this.#timestamp;
    // A live bucket's entries are copied; a snapshot's are placed once, in a bucket made for
    // them, whose slots this one then takes as they are.
    if (other instanceof FlowBucket) this.#adopt(other);
    else if (isDeferred(other)) this.#defer(other);
    else this.#take(FlowBucket.fromSnapshot(other));
    this.#notify(previousTerm, previousTimestamp);
    return true;
  }

  /**
   * What changed since version (`baseTerm`, `baseTimestamp`) of this bucket, for a replica
   * that holds exactly that version; `undefined` when the log no longer reaches back to it
   * (or never saw it), or when the delta would be no smaller than the whole bucket — send a
   * {@link FlowBucket.snapshot} then.
   */
  delta(baseTerm: Term, baseTimestamp: LogicalTimestamp): FlowBucketDelta | undefined {
    const start = this.#logIndexAfter(baseTerm, baseTimestamp);
    if (start === undefined) return undefined;
    const log = this.#log ?? [];
    const entries = new Set<FlowEntry>();
    const removed: FlowRule[] = [];
    const removedIds = new Map<FlowId, FlowRule[]>();
    for (let i = 3 * start; i < log.length; i += 3) {
      const rule = log[i] as FlowRule;
      const entry = this.find(rule);
      if (entry !== undefined) {
        entries.add(entry);
      } else {
        const same = removedIds.get(rule.id);
        if (same === undefined) removedIds.set(rule.id, [rule]);
        else if (same.some((other) => sameFlowRule(other, rule))) continue;
        else same.push(rule);
        removed.push(rule);
      }
      if (entries.size + removed.length >= this.#size && entries.size + removed.length > 0)
        return undefined;
    }
    return {
      bucket: this.index,
      baseTerm,
      baseTimestamp,
      term: this.#term,
      timestamp: this.#timestamp,
      entries: [...entries],
      removed,
    };
  }

  /**
   * Applies `delta` if this bucket is exactly its base version; returns whether it did. A
   * bucket at any other version is left alone: the sender has to send the whole bucket.
   */
  applyDelta(delta: FlowBucketDelta): boolean {
    if (delta.bucket !== this.index) {
      throw new FlowBucketError(
        "INVALID_BUCKET",
        `cannot apply a delta of bucket ${delta.bucket} to bucket ${this.index}`,
      );
    }
    if (this.#term !== delta.baseTerm || this.#timestamp !== delta.baseTimestamp) return false;
    const base = { bucket: this.index, term: delta.baseTerm, timestamp: delta.baseTimestamp };
    if (!isNewerThan(delta, base)) return false;
    const previousTerm = this.#term;
    const previousTimestamp = this.#timestamp;
    if (this.#deferred !== undefined) this.decode();
    for (const entry of delta.entries) this.#put(entry);
    for (const rule of delta.removed) {
      const stored = this.find(rule);
      if (stored !== undefined) this.#delete(stored);
    }
    this.#term = delta.term;
    this.#timestamp = delta.timestamp;
    if (this.#logDeltas) {
      // Logged with the delta's stamp: a delta from the version before it stays possible.
      this.#record([...delta.entries.map((entry) => entry.rule), ...delta.removed]);
    } else {
      // A replica starts its log afresh: it can give deltas from the version it holds (all
      // a new master needs from it after comparing digests), at no memory cost meanwhile.
      this.#resetLog();
    }
    this.#notify(previousTerm, previousTimestamp);
    return true;
  }

  /**
   * Where the changes after version (`term`, `timestamp`) start in the log (in changes, not
   * slots), if it has them.
   */
  #logIndexAfter(term: Term, timestamp: LogicalTimestamp): number | undefined {
    const log = this.#log ?? [];
    const count = log.length / 3;
    if (term === this.#term && timestamp === this.#timestamp) return count;
    if (term === this.#logTerm && timestamp === this.#logTimestamp) return 0;
    // The base must be a version this bucket had: the stamp of a logged change.
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((log[3 * middle + 2] as number) <= timestamp) low = middle + 1;
      else high = middle;
    }
    return low > 0 && log[3 * low - 1] === timestamp && log[3 * low - 2] === term ? low : undefined;
  }

  /**
   * Logs that `rules` changed, with the bucket's current stamp. Once the log is twice the
   * bucket (plus a few), it forgets all but the newest bucket's worth of changes.
   */
  #record(rules: readonly FlowRule[]): void {
    // A delta holds each flow changed since its base once, so it is never bigger than the
    // bucket; but a flow may change more than once, and every new flow does: stored
    // `PENDING_ADD`, then made `ADDED` by its device. Cut to half the bucket whenever it
    // outgrew it, the log reached back to as few as a quarter of the bucket's flows when
    // they were new, and a backup whose round trip saw a bucket grow by more than that got
    // it whole. Six clients posting 200,000 flows through a `--local 3` master sent its
    // backups 70–91 MB (up to 1.7 copies of each flow), against 56 MB now. Now the log keeps
    // at least the bucket's size in changes, at most twice that: up to 55 B per flow on the
    // master after each flow changed twice, against 22 B. Half the bucket was too short for
    // a disk too: a commit that fell behind a busy bucket found no delta and rewrote it
    // whole (385,000 of 626,000 entries written for 110,000 flows into `--local 3
    // --data-dir`, against 43,000 of 370,000 with the bucket).
    const limit = this.#size;
    if (limit < 2 * MIN_LOGGED) {
      this.#resetLog();
      return;
    }
    this.#log ??= [];
    const log = this.#log;
    for (const rule of rules) log.push(rule, this.#term, this.#timestamp);
    const keep = 3 * (limit + LOG_SLACK);
    if (log.length > 2 * keep) {
      // Every change after the new starting version stays logged (a few of its own may too,
      // which a delta sends again harmlessly).
      const cut = log.length - keep;
      this.#logTerm = log[cut - 2] as Term;
      this.#logTimestamp = log[cut - 1] as LogicalTimestamp;
      // In place: no new array for the collector each time.
      log.copyWithin(0, cut);
      log.length -= cut;
    }
  }

  #resetLog(): void {
    this.#logTerm = this.#term;
    this.#logTimestamp = this.#timestamp;
    this.#log = undefined;
  }

  /** Takes the slots of `other`, a bucket nobody else holds, without copying them. */
  #take(other: FlowBucket): void {
    this.#deferred = undefined;
    this.#slots = other.#slots;
    other.#slots = new Map();
    this.#size = other.#size;
    this.#states = [...other.#states];
    this.#term = other.#term;
    this.#timestamp = other.#timestamp;
    this.#resetLog();
  }

  #adopt(other: FlowBucket): void {
    if (other.#deferred !== undefined) other.decode();
    this.#deferred = undefined;
    this.#slots = new Map();
    for (const [key, slot] of other.#slots) {
      this.#slots.set(key, Array.isArray(slot) ? [...slot] : slot);
    }
    this.#size = other.#size;
    this.#states = [...other.#states];
    this.#term = other.#term;
    this.#timestamp = other.#timestamp;
    this.#resetLog();
  }

  /** Takes `deferred`'s stamp and size; its entries wait in it until first needed. */
  #defer(deferred: DeferredFlowBucket): void {
    this.#deferred = deferred;
    this.#slots = new Map();
    this.#size = deferred.size;
    this.#states = [0, 0, 0, 0, 0];
    this.#term = deferred.term;
    this.#timestamp = deferred.timestamp;
    this.#resetLog();
  }

  #checkTerm(term: Term): void {
    if (!Number.isSafeInteger(term) || term < 0) {
      throw new RangeError(`a term is a non-negative safe integer, got ${term}`);
    }
    if (term < this.#term) {
      throw new FlowBucketError(
        "STALE_TERM",
        `bucket ${this.index} was changed in term ${this.#term}; a change in term ${term} is stale`,
      );
    }
  }

  #stamp(term: Term, clock: LogicalClock, changed: readonly FlowRule[]): void {
    const previousTerm = this.#term;
    const previousTimestamp = this.#timestamp;
    this.#term = term;
    this.#timestamp = clock.next();
    this.#record(changed);
    this.#notify(previousTerm, previousTimestamp);
  }

  #notify(previousTerm: Term, previousTimestamp: LogicalTimestamp): void {
    if (previousTerm === this.#term && previousTimestamp === this.#timestamp) return;
    this.#onChange?.(this, previousTerm, previousTimestamp);
  }

  /** Stores `entry` in place of the entry of the same rule; returns the one replaced. */
  #put(entry: FlowEntry): FlowEntry | undefined {
    const previous = this.#place(entry);
    this.#count(entry.state, 1);
    if (previous !== undefined) this.#count(previous.state, -1);
    return previous;
  }

  #count(state: FlowEntryState, delta: number): void {
    const at = STATE_INDEX[state];
    this.#states[at] = (this.#states[at] ?? 0) + delta;
  }

  #place(entry: FlowEntry): FlowEntry | undefined {
    const key = slotKey(entry.rule.id);
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      this.#slots.set(key, entry);
      this.#size++;
      return undefined;
    }
    if (!Array.isArray(slot)) {
      if (isOf(slot, entry.rule)) {
        this.#slots.set(key, entry);
        return slot;
      }
      this.#slots.set(key, [slot, entry]);
      this.#size++;
      return undefined;
    }
    const at = slot.findIndex((stored) => isOf(stored, entry.rule));
    if (at < 0) {
      slot.push(entry);
      this.#size++;
      return undefined;
    }
    const previous = slot[at];
    slot[at] = entry;
    return previous;
  }

  /** Removes the stored entry `stored` (found by {@link FlowBucket.find}). */
  #delete(stored: FlowEntry): void {
    const key = slotKey(stored.rule.id);
    const slot = this.#slots.get(key);
    if (slot === stored) {
      this.#slots.delete(key);
      this.#size--;
      this.#count(stored.state, -1);
      return;
    }
    if (!Array.isArray(slot)) return;
    const at = slot.indexOf(stored);
    if (at < 0) return;
    slot.splice(at, 1);
    this.#size--;
    this.#count(stored.state, -1);
    const last = slot[0];
    if (slot.length === 1 && last !== undefined) this.#slots.set(key, last);
  }
}
