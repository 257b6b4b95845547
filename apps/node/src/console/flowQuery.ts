import type { FlowBucketView, FlowTableView } from "@flowstore/ec-flow-store";
import {
  type Criterion,
  criterionToJson,
  FLOW_ENTRY_STATES,
  type FlowEntry,
  type FlowEntryState,
  type Instruction,
  instructionToJson,
} from "@flowstore/flow-bucket";
import type { ConsoleError, ConsoleFlow } from "./protocol.js";

/** What the flow view filters on; every field is optional and they combine with "and". */
export interface FlowFilter {
  readonly state?: FlowEntryState;
  readonly appId?: number;
  readonly priority?: number;
  /** Case-insensitive text the selector must contain (`IPV4_DST:10.0.0.1/32`). */
  readonly text?: string;
}

/** A parsed flow-view query. */
export interface FlowQuery {
  readonly filter: FlowFilter;
  readonly offset: number;
  readonly limit: number;
}

/** The largest page the flow view asks for. */
export const MAX_PAGE = 500;

/**
 * Parses the flow view's query string (`state`, `app`, `priority`, `q`, `offset`, `limit`);
 * a bad value is a {@link ConsoleError} naming the field.
 */
export function parseFlowQuery(
  query: Readonly<Record<string, unknown>>,
  applicationId: (name: string) => number | undefined = () => undefined,
): FlowQuery | ConsoleError {
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (typeof value !== "string") return undefined;
    const trimmed = value.trim();
    return trimmed === "" ? undefined : trimmed;
  };
  const integer = (name: string, max: number): number | undefined | ConsoleError => {
    const value = text(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max) {
      return {
        code: "INVALID_QUERY",
        message: `${name} must be an integer 0–${max}, got ${JSON.stringify(value)}`,
        path: name,
      };
    }
    return n;
  };
  const state = text("state");
  if (state !== undefined && !(FLOW_ENTRY_STATES as readonly string[]).includes(state)) {
    return {
      code: "INVALID_QUERY",
      message: `state must be one of ${FLOW_ENTRY_STATES.join(", ")}`,
      path: "state",
    };
  }
  const app = text("app");
  let appId: number | undefined | ConsoleError;
  if (app !== undefined && !/^\d+$/.test(app)) {
    appId = applicationId(app);
    if (appId === undefined) {
      return {
        code: "INVALID_QUERY",
        message: `no application named ${JSON.stringify(app)}`,
        path: "app",
      };
    }
  } else appId = integer("app", 0xffff);
  const priority = integer("priority", 0xffff);
  const offset = integer("offset", Number.MAX_SAFE_INTEGER);
  const limit = integer("limit", MAX_PAGE);
  for (const value of [appId, priority, offset, limit]) if (typeof value === "object") return value;
  const q = text("q");
  return {
    filter: {
      ...(state === undefined ? {} : { state: state as FlowEntryState }),
      ...(appId === undefined ? {} : { appId: appId as number }),
      ...(priority === undefined ? {} : { priority: priority as number }),
      ...(q === undefined ? {} : { text: q.toLowerCase() }),
    },
    offset: (offset as number | undefined) ?? 0,
    limit: (limit as number | undefined) || 50,
  };
}

/** Whether a filter needs a walk over the entries (anything but the state alone). */
function needsScan(filter: FlowFilter): boolean {
  return filter.appId !== undefined || filter.priority !== undefined || filter.text !== undefined;
}

// Criteria and instructions shared between rules (interned, frozen) keep their text.
const texts = new WeakMap<object, string>();

function fieldsText(json: Record<string, unknown>): string {
  let out = "";
  for (const key in json) {
    if (key === "type") continue;
    out += out === "" ? String(json[key]) : `,${String(json[key])}`;
  }
  return `${String(json.type)}:${out}`;
}

/** `IPV4_DST:10.0.0.1/32`: a criterion as the flow view writes and searches it. */
export function criterionText(criterion: Criterion): string {
  const known = texts.get(criterion);
  if (known !== undefined) return known;
  const type = criterion.type;
  // Only these are written differently in JSON; the others' fields are their text as they are.
  const json =
    type === "ETH_TYPE" || type === "METADATA" || type === "TUNNEL_ID"
      ? criterionToJson(criterion)
      : (criterion as unknown as Record<string, unknown>);
  const text = fieldsText(json);
  if (Object.isFrozen(criterion)) texts.set(criterion, text);
  return text;
}

function instructionText(instruction: Instruction): string {
  const known = texts.get(instruction);
  if (known !== undefined) return known;
  const text = fieldsText(instructionToJson(instruction));
  if (Object.isFrozen(instruction)) texts.set(instruction, text);
  return text;
}

/** A case-insensitive search for `text` in criteria, allocating nothing for most of them. */
interface TextSearch {
  readonly lower: string;
  readonly upper: string;
}

const LOWER_CASE = /[a-z]/;

function criterionContains(criterion: Criterion, search: TextSearch): boolean {
  const text = criterionText(criterion);
  // Types, addresses and numbers are upper case or digits: try the search's two cases first,
  // and lower-case the criterion only when it has lower-case letters (IPv6, say).
  if (text.includes(search.upper) || text.includes(search.lower)) return true;
  return LOWER_CASE.test(text) && text.toLowerCase().includes(search.lower);
}

/** Whether `entry` passes `filter`. */
export function matches(entry: FlowEntry, filter: FlowFilter): boolean {
  const rule = entry.rule;
  if (filter.state !== undefined && entry.state !== filter.state) return false;
  if (filter.appId !== undefined && rule.appId !== filter.appId) return false;
  if (filter.priority !== undefined && rule.priority !== filter.priority) return false;
  if (filter.text !== undefined) {
    const search = searchOf(filter.text);
    for (const criterion of rule.criteria) if (criterionContains(criterion, search)) return true;
    return false;
  }
  return true;
}

let lastSearch: TextSearch = { lower: "", upper: "" };

function searchOf(text: string): TextSearch {
  if (lastSearch.lower !== text) lastSearch = { lower: text, upper: text.toUpperCase() };
  return lastSearch;
}

/** A flow entry as the flow view lists it. */
export function toConsoleFlow(
  entry: FlowEntry,
  applicationName: (id: number) => string | undefined = () => undefined,
): ConsoleFlow {
  const rule = entry.rule;
  return {
    id: rule.id.toString(),
    state: entry.state,
    appId: rule.appId,
    appName: applicationName(rule.appId) ?? null,
    priority: rule.priority,
    tableId: rule.tableId,
    selector: rule.criteria.map(criterionText).join(" "),
    treatment: rule.treatment.instructions.map(instructionText).join(" "),
    packets: entry.packets,
    bytes: entry.bytes,
    life: entry.life,
    permanent: rule.permanent,
  };
}

/** A walk over one table for one filter, resumable: its matches so far and where it is. */
interface Scan {
  readonly table: FlowTableView;
  readonly version: number;
  readonly filter: FlowFilter;
  readonly matched: FlowEntry[];
  readonly buckets: readonly FlowBucketView[];
  bucket: number;
  inner: Iterator<FlowEntry> | undefined;
  done: boolean;
  /** Whether a background slice is scheduled. */
  running: boolean;
}

/** A page, how many entries match, and whether that count is final. */
export interface PagedEntries {
  readonly total: number;
  readonly entries: FlowEntry[];
  /** `false` while a filtered walk is still going on: `total` is a lower bound. */
  readonly complete: boolean;
}

/** Options of {@link FlowPager}. */
export interface FlowPagerOptions {
  /** Filtered walks kept (default 8). */
  readonly maxScans?: number;
  /** Longest a request walks before answering with what it has (ms, default 30). */
  readonly budgetMs?: number;
  /** Length of a background slice of a walk (ms, default 10). */
  readonly sliceMs?: number;
}

/**
 * Pages of one node's copy of device tables, filtered.
 *
 * @remarks Built for a million entries on a device. With no filter, or the state alone, a page
 * skips whole buckets by their (maintained) sizes and state counts, so it costs the page, not
 * the table. Any other filter needs a walk over the table: a request walks for at most
 * `budgetMs` and answers with the page if it has it (the count marked incomplete), and the
 * walk goes on in the background in slices of `sliceMs` that yield to the event loop; the
 * matches are kept while the table's version stays the same, so the next pages, and the same
 * query again, cost the page. Entries are looked up again by id when a page is served, so
 * counters are the newest.
 */
export class FlowPager {
  readonly #scans = new Map<string, Scan>();
  readonly #maxScans: number;
  readonly #budgetMs: number;
  readonly #sliceMs: number;
  #closed = false;

  constructor(options: FlowPagerOptions = {}) {
    this.#maxScans = options.maxScans ?? 8;
    this.#budgetMs = options.budgetMs ?? 30;
    this.#sliceMs = options.sliceMs ?? 10;
  }

  /** The entries `offset … offset+limit` of `table` passing `filter`, and how many pass. */
  page(
    device: string,
    table: FlowTableView,
    filter: FlowFilter,
    offset: number,
    limit: number,
  ): PagedEntries {
    if (!needsScan(filter)) return walk(table, filter.state, offset, limit);
    const scan = this.#scan(device, table, filter);
    if (!scan.done) advance(scan, performance.now() + this.#budgetMs, offset + limit);
    if (!scan.done) this.#continue(scan);
    const entries: FlowEntry[] = [];
    for (let i = offset; i < scan.matched.length && entries.length < limit; i++) {
      const stored = scan.matched[i]!;
      entries.push(table.get(stored.rule.id) ?? stored);
    }
    return { total: scan.matched.length, entries, complete: scan.done };
  }

  /** Forgets every walk and stops the ones going on. */
  close(): void {
    this.#closed = true;
    this.#scans.clear();
  }

  #scan(device: string, table: FlowTableView, filter: FlowFilter): Scan {
    const key = `${device}|${filter.state ?? ""}|${filter.appId ?? ""}|${filter.priority ?? ""}|${filter.text ?? ""}`;
    const cached = this.#scans.get(key);
    this.#scans.delete(key);
    if (cached !== undefined && cached.table === table && cached.version === table.version) {
      this.#scans.set(key, cached); // most recently used last
      return cached;
    }
    const scan: Scan = {
      table,
      version: table.version,
      filter,
      matched: [],
      buckets: table.buckets(),
      bucket: 0,
      inner: undefined,
      done: false,
      running: false,
    };
    this.#scans.set(key, scan);
    while (this.#scans.size > this.#maxScans) {
      const oldest = this.#scans.keys().next().value;
      if (oldest === undefined) break;
      this.#scans.delete(oldest);
    }
    return scan;
  }

  /** Walks on in the background while the scan is still wanted and its table unchanged. */
  #continue(scan: Scan): void {
    if (scan.running) return;
    scan.running = true;
    const slice = () => {
      const wanted = [...this.#scans.values()].includes(scan);
      if (this.#closed || !wanted || scan.table.version !== scan.version) {
        scan.running = false;
        return;
      }
      advance(scan, performance.now() + this.#sliceMs, Number.POSITIVE_INFINITY);
      if (scan.done) scan.running = false;
      else setImmediate(slice);
    };
    setImmediate(slice);
  }
}

/** Walks `scan` on until it is done, `deadline` passes, or it has `enough` matches. */
function advance(scan: Scan, deadline: number, enough: number): void {
  const { filter, matched, buckets } = scan;
  let steps = 0;
  while (scan.bucket < buckets.length) {
    if (scan.inner === undefined) {
      const bucket = buckets[scan.bucket]!;
      if (filter.state !== undefined && bucket.countOf(filter.state) === 0) {
        scan.bucket++;
        continue;
      }
      scan.inner = bucket.entries();
    }
    for (let next = scan.inner.next(); !next.done; next = scan.inner.next()) {
      if (matches(next.value, filter)) matched.push(next.value);
      if (++steps % 1024 === 0 && (performance.now() > deadline || matched.length >= enough)) {
        return;
      }
    }
    scan.inner = undefined;
    scan.bucket++;
  }
  scan.done = true;
}

/** A page of `table` unfiltered, or in one state, skipping whole buckets by their counts. */
function walk(
  table: FlowTableView,
  state: FlowEntryState | undefined,
  offset: number,
  limit: number,
): PagedEntries {
  const total = state === undefined ? table.size : table.countOf(state);
  const entries: FlowEntry[] = [];
  let skip = offset;
  for (const bucket of table.buckets()) {
    if (entries.length >= limit) break;
    const size = state === undefined ? bucket.size : bucket.countOf(state);
    if (skip >= size) {
      skip -= size;
      continue;
    }
    for (const entry of bucket.entries()) {
      if (state !== undefined && entry.state !== state) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      entries.push(entry);
      if (entries.length >= limit) break;
    }
  }
  return { total, entries, complete: true };
}
