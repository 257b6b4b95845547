import { z } from "zod";
import { isUint } from "./addresses.js";
import { decodeRule, type FlowRule, FlowRuleReferenceSchema } from "./flowRule.js";
import { flowRuleToJson } from "./flowRuleJson.js";
import { fastParser, isRecord } from "./internal/fastDecode.js";

/** Where a flow entry is in its life on the device. */
export const FLOW_ENTRY_STATES = [
  "PENDING_ADD",
  "ADDED",
  "PENDING_REMOVE",
  "REMOVED",
  "FAILED",
] as const;

/** Where a flow entry is in its life: requested, on the device, being removed, gone, or failed. */
export type FlowEntryState = (typeof FLOW_ENTRY_STATES)[number];

/** How often the device is polled for the entry's counters (ONOS's flow live type). */
export const FLOW_LIVE_TYPES = ["IMMEDIATE", "SHORT", "MID", "LONG", "UNKNOWN"] as const;

/** How often the device is polled for the entry's counters. */
export type FlowLiveType = (typeof FLOW_LIVE_TYPES)[number];

/**
 * A stored flow rule: the rule, its state and its counters.
 *
 * @remarks Immutable but for its counters: a change makes a new entry ({@link withFlowEntry}),
 * so a bucket copy may share entries with the original, and a caller that holds an entry never
 * sees its rule, state or `created` change. The counters (`packets`, `bytes`, `life`,
 * `lastSeen`, `liveType`) are soft state, taken in place from each device report
 * (`FlowBucket.refresh`), so a held entry shows the latest report. All
 * times are milliseconds since the epoch supplied by the caller (no clock is read here);
 * counters are numbers, exact up to 2⁵³.
 */
export interface FlowEntry {
  readonly rule: FlowRule;
  readonly state: FlowEntryState;
  /** Packets matched, as last reported by the device. */
  readonly packets: number;
  /** Bytes matched, as last reported by the device. */
  readonly bytes: number;
  /** Seconds the rule has been on the device. */
  readonly life: number;
  /** When the device last reported this entry (ms since the epoch). */
  readonly lastSeen: number;
  /**
   * When this version of the entry was made (ms since the epoch). An update or removal that
   * carries an older `created` than the stored entry's is refused.
   */
  readonly created: number;
  readonly liveType: FlowLiveType;
}

/** The fields of a new entry besides its rule; only `created` is required. */
export interface FlowEntryInit {
  readonly created: number;
  /** Default `PENDING_ADD`. */
  readonly state?: FlowEntryState;
  readonly packets?: number;
  readonly bytes?: number;
  readonly life?: number;
  /** Default: `created`. */
  readonly lastSeen?: number;
  /** Default `UNKNOWN`. */
  readonly liveType?: FlowLiveType;
}

/** A new entry for `rule` (default state `PENDING_ADD`, zero counters). */
export function createFlowEntry(rule: FlowRule, init: FlowEntryInit): FlowEntry {
  return makeEntry(
    rule,
    init.state ?? "PENDING_ADD",
    init.packets ?? 0,
    init.bytes ?? 0,
    init.life ?? 0,
    init.lastSeen ?? init.created,
    init.created,
    init.liveType ?? "UNKNOWN",
  );
}

/**
 * What a device reports of one flow every stats period: soft state. A counter-only report
 * does not change its bucket's version, digest or summary and is not replicated on its own
 * (see `FlowBucket.refresh`); backups see counters only when a bucket goes to them for a
 * replicated change, and a new master shows the counters of the next device report.
 */
export interface FlowCounters {
  readonly packets: number;
  readonly bytes: number;
  /** Seconds the rule has been on the device. */
  readonly life: number;
  /** When the device reported it (ms since the epoch). */
  readonly lastSeen: number;
  /** Default (absent or undefined): the stored entry's. */
  readonly liveType?: FlowLiveType | undefined;
}

/** Whether `entry` already holds exactly `counters` (a report that changes nothing). */
export function hasCounters(entry: FlowEntry, counters: FlowCounters): boolean {
  return (
    entry.packets === counters.packets &&
    entry.bytes === counters.bytes &&
    entry.life === counters.life &&
    entry.lastSeen === counters.lastSeen &&
    (counters.liveType === undefined || entry.liveType === counters.liveType)
  );
}

/**
 * Records a device report's counters on a stored `entry`, in place (counters are soft state:
 * see {@link FlowCounters}); nothing else of the entry changes, and no bucket is told. For a
 * caller that already found the entry in its bucket (`FlowBucket.refresh` finds it first).
 *
 * @throws {RangeError} for negative counters (the entry is left as it was).
 */
export function refreshCounters(entry: FlowEntry, counters: FlowCounters): void {
  if (hasCounters(entry, counters)) return;
  if (!(counters.packets >= 0 && counters.bytes >= 0 && counters.life >= 0)) {
    throw new RangeError(`flow ${entry.rule.id}: counters must not be negative`);
  }
  const live = entry as { -readonly [K in keyof FlowCounters]-?: FlowEntry[K] };
  live.packets = counters.packets;
  live.bytes = counters.bytes;
  live.life = counters.life;
  live.lastSeen = counters.lastSeen;
  if (counters.liveType !== undefined) live.liveType = counters.liveType;
}

/** A copy of `entry` with some fields changed (the rule stays). */
export function withFlowEntry(
  entry: FlowEntry,
  changes: Partial<Omit<FlowEntry, "rule">>,
): FlowEntry {
  return makeEntry(
    entry.rule,
    changes.state ?? entry.state,
    changes.packets ?? entry.packets,
    changes.bytes ?? entry.bytes,
    changes.life ?? entry.life,
    changes.lastSeen ?? entry.lastSeen,
    changes.created ?? entry.created,
    changes.liveType ?? entry.liveType,
  );
}

// Every entry is built here, with the same fields in the same order, so all entries share one
// hidden class and stay as small as the engine can make them.
function makeEntry(
  rule: FlowRule,
  state: FlowEntryState,
  packets: number,
  bytes: number,
  life: number,
  lastSeen: number,
  created: number,
  liveType: FlowLiveType,
): FlowEntry {
  if (!(packets >= 0 && bytes >= 0 && life >= 0)) {
    throw new RangeError(`flow ${rule.id}: counters must not be negative`);
  }
  if (!Number.isFinite(created) || !Number.isFinite(lastSeen)) {
    throw new RangeError(`flow ${rule.id}: created and lastSeen must be finite times`);
  }
  return { rule, state, packets, bytes, life, lastSeen, created, liveType };
}

const counter = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const time = z.number().refine(Number.isFinite, "expected a finite time");

// The constants themselves, so that a decoded entry holds the one shared string rather than a
// copy of it per entry.
const STATES: ReadonlyMap<unknown, FlowEntryState> = new Map(FLOW_ENTRY_STATES.map((s) => [s, s]));
const LIVE_TYPES: ReadonlyMap<unknown, FlowLiveType> = new Map(FLOW_LIVE_TYPES.map((t) => [t, t]));

const isCounter = (value: unknown): value is number => isUint(value, Number.MAX_SAFE_INTEGER);
const isTime = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);

/**
 * @internal An entry decoded from its canonical wire form without zod (see {@link decodeRule});
 * undefined when unsure, and then the full {@link FlowEntrySchema} decides.
 */
export function decodeEntry(raw: unknown, verifyId = true): FlowEntry | undefined {
  if (!isRecord(raw)) return undefined;
  const { packets, bytes, life, lastSeen, created } = raw;
  const state = STATES.get(raw.state);
  const liveType = LIVE_TYPES.get(raw.liveType);
  if (
    state === undefined ||
    liveType === undefined ||
    !isCounter(packets) ||
    !isCounter(bytes) ||
    !isTime(life) ||
    !(life >= 0) ||
    !isTime(lastSeen) ||
    !isTime(created)
  ) {
    return undefined;
  }
  const rule = decodeRule(raw.rule, verifyId);
  if (rule === undefined) return undefined;
  // One boxed number for both times when they are equal, as for an entry created locally.
  const seen = Object.is(lastSeen, created) ? created : lastSeen;
  return makeEntry(rule, state, packets, bytes, life, seen, created, liveType);
}

/** @internal A list of entries decoded like {@link decodeEntry}: all of them, or undefined. */
export function decodeEntries(raw: unknown): FlowEntry[] | undefined {
  return decodeList(raw, true);
}

/**
 * @internal Entries in this package's own form from bytes whose integrity the caller checked
 * (a data directory's checksummed record, written from entries that were valid): decoded like
 * {@link decodeEntries}, every field checked, except that each rule's id is taken as stored
 * instead of hashed again from the rule — the hash is most of the cost. Undefined when
 * unsure, and then the full {@link FlowEntrySchema} decides.
 */
export function decodeCheckedEntries(raw: unknown): FlowEntry[] | undefined {
  return decodeList(raw, false);
}

function decodeList(raw: unknown, verifyIds: boolean): FlowEntry[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const decoded = new Array<FlowEntry>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const entry = decodeEntry(raw[i], verifyIds);
    if (entry === undefined) return undefined;
    decoded[i] = entry;
  }
  return decoded;
}

/** @internal {@link FlowEntrySchema} without its fast path (see `FlowRuleReferenceSchema`). */
export const FlowEntryReferenceSchema = z
  .object({
    rule: FlowRuleReferenceSchema,
    state: z.enum(FLOW_ENTRY_STATES),
    packets: counter,
    bytes: counter,
    life: z.number().min(0),
    lastSeen: time,
    created: time,
    liveType: z.enum(FLOW_LIVE_TYPES),
  })
  .transform(
    (e): FlowEntry =>
      makeEntry(e.rule, e.state, e.packets, e.bytes, e.life, e.lastSeen, e.created, e.liveType),
  );

/**
 * Schema of a stored or replicated {@link FlowEntry} (its rule checked by {@link FlowRuleSchema}).
 *
 * @remarks Decodes an entry in this package's own form without zod, like {@link FlowRuleSchema};
 * the full schema decides anything else.
 */
export const FlowEntrySchema = z.withParser(FlowEntryReferenceSchema, fastParser(decodeEntry));

/**
 * An entry in the shape ONOS's REST API returns from `GET /flows`: `id` as a decimal string,
 * `deviceId`, `state`, `priority`, `isPermanent`, `timeout`, `tableId`, `appId`,
 * `selector.criteria`, `treatment.instructions`, `packets`, `bytes`, `life`, `lastSeen`,
 * `liveType`.
 */
export function flowEntryToJson(entry: FlowEntry): Record<string, unknown> {
  return {
    ...flowRuleToJson(entry.rule),
    state: entry.state,
    life: entry.life,
    liveType: entry.liveType,
    lastSeen: entry.lastSeen,
    packets: entry.packets,
    bytes: entry.bytes,
  };
}
