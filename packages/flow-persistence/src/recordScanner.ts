import type { EntryBytes } from "./recordCodec.js";

/**
 * Where each element of a bucket record's list lies, and each stored entry's flow id, found by
 * walking the msgpack bytes without unpacking them: what a compaction needs, at a fifth of the
 * cost of unpacking every entry with msgpackr. The walk knows the value kinds a `RecordCodec`
 * writes (records of the shared shapes, lists, maps, strings, binaries, numbers, bigints,
 * booleans, nil); anything else — an extension, a shape defined inside the record, a flow id
 * that is not a 64-bit integer, bytes that end early — makes it answer `undefined`, and the
 * caller unpacks the record with msgpackr, which decides (and names what is wrong).
 */
export class RecordScanner {
  readonly #structures: readonly (readonly string[])[];
  /** Per shape: its field count, and where its `rule` and `id` fields are (-1: none). */
  #shapes: readonly Shape[] = [];
  #bytes: Uint8Array = new Uint8Array(0);
  #view = new DataView(this.#bytes.buffer);
  #end = 0;
  /** Where the fields of the record `#record` last found start. */
  #body = 0;

  /** A scanner over `structures`, the list msgpackr keeps (shapes it adds are picked up). */
  constructor(structures: readonly (readonly string[])[]) {
    this.#structures = structures;
  }

  /**
   * The list in `bytes[start, end)`: a change record's removed ids (its first element, when
   * `changes`) and every entry's bytes with its flow id; undefined when unsure.
   */
  scan(
    bytes: Uint8Array,
    start: number,
    end: number,
    changes: boolean,
  ): { removed: bigint[]; entries: EntryBytes[] } | undefined {
    if (this.#shapes.length !== this.#structures.length) this.#learnShapes();
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#end = end;
    const list = listHeader(this.#bytes, start, end);
    if (list === undefined) return undefined;
    let { count, at } = list;
    let removed: bigint[] = [];
    if (changes) {
      if (count === 0) return undefined;
      const ids = this.#ids(at);
      if (ids === undefined) return undefined;
      removed = ids.values;
      at = ids.end;
      count--;
    }
    const entries: EntryBytes[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const id = this.#entryId(at);
      const next = this.#skip(at);
      if (id === undefined || next < 0) return undefined;
      entries[i] = { id, record: bytes, from: at, to: next };
      at = next;
    }
    return at === end ? { removed, entries } : undefined;
  }

  #learnShapes(): void {
    this.#shapes = this.#structures.map((keys) => ({
      fields: keys.length,
      rule: keys.indexOf("rule"),
      id: keys.indexOf("id"),
    }));
  }

  /** A list of non-negative 64-bit integers at `at`, and where it ends. */
  #ids(at: number): { values: bigint[]; end: number } | undefined {
    const list = listHeader(this.#bytes, at, this.#end);
    if (list === undefined) return undefined;
    const values: bigint[] = [];
    let next = list.at;
    for (let i = 0; i < list.count; i++) {
      const id = this.#uint64(next);
      if (id === undefined) return undefined;
      values.push(id);
      next += 9;
    }
    return { values, end: next };
  }

  /** The flow id of the stored entry at `at`: its `rule` record's `id`. */
  #entryId(at: number): bigint | undefined {
    const entry = this.#record(at);
    if (entry === undefined || entry.rule < 0) return undefined;
    const rule = this.#record(this.#field(this.#body, entry.rule));
    if (rule === undefined || rule.id < 0) return undefined;
    return this.#uint64(this.#field(this.#body, rule.id));
  }

  /** Where field `index` of a record whose fields start at `at` is (-1 if the bytes end). */
  #field(at: number, index: number): number {
    let next = at;
    for (let i = 0; i < index && next >= 0; i++) next = this.#skip(next);
    return next;
  }

  /** The shape of the record at `at`; where its fields start is left in `#body`. */
  #record(at: number): Shape | undefined {
    if (at < 0 || at >= this.#end) return undefined;
    const token = this.#bytes[at]!;
    if (token < 0x40 || token > 0x7f) return undefined;
    // Ids from 0x60 on take a second byte (see `RecordWriter`).
    let id = token;
    let body = at + 1;
    if (token >= 0x60) {
      if (body >= this.#end) return undefined;
      id = token + (this.#bytes[body]! << 5);
      body++;
    }
    this.#body = body;
    return this.#shapes[id - 0x40];
  }

  /** A 64-bit integer (as msgpackr writes a `bigint`) at `at`, if it is one and not negative. */
  #uint64(at: number): bigint | undefined {
    if (at < 0 || at + 9 > this.#end) return undefined;
    const token = this.#bytes[at];
    if (token === 0xcf) return this.#view.getBigUint64(at + 1);
    if (token === 0xd3) {
      const value = this.#view.getBigInt64(at + 1);
      return value >= 0n ? value : undefined;
    }
    return undefined;
  }

  /** Where the value at `at` ends; -1 if unsure. */
  #skip(at: number): number {
    if (at < 0 || at >= this.#end) return -1;
    const token = this.#bytes[at]!;
    if (token < 0x40 || token >= 0xe0) return at + 1; // fixints
    if (token < 0x80) {
      const shape = this.#record(at);
      return shape === undefined ? -1 : this.#skipMany(this.#body, shape.fields);
    }
    if (token < 0x90) return this.#skipMany(at + 1, 2 * (token & 0x0f));
    if (token < 0xa0) return this.#skipMany(at + 1, token & 0x0f);
    if (token < 0xc0) return this.#within(at + 1 + (token & 0x1f));
    const view = this.#view;
    switch (token) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return at + 1;
      case 0xcc:
      case 0xd0:
        return this.#within(at + 2);
      case 0xcd:
      case 0xd1:
        return this.#within(at + 3);
      case 0xca:
      case 0xce:
      case 0xd2:
        return this.#within(at + 5);
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return this.#within(at + 9);
      case 0xc4:
      case 0xd9:
        return at + 2 > this.#end ? -1 : this.#within(at + 2 + this.#bytes[at + 1]!);
      case 0xc5:
      case 0xda:
        return at + 3 > this.#end ? -1 : this.#within(at + 3 + view.getUint16(at + 1));
      case 0xc6:
      case 0xdb:
        return at + 5 > this.#end ? -1 : this.#within(at + 5 + view.getUint32(at + 1));
      case 0xdc:
        return at + 3 > this.#end ? -1 : this.#skipMany(at + 3, view.getUint16(at + 1));
      case 0xdd:
        return at + 5 > this.#end ? -1 : this.#skipMany(at + 5, view.getUint32(at + 1));
      case 0xde:
        return at + 3 > this.#end ? -1 : this.#skipMany(at + 3, 2 * view.getUint16(at + 1));
      case 0xdf:
        return at + 5 > this.#end ? -1 : this.#skipMany(at + 5, 2 * view.getUint32(at + 1));
      default:
        return -1; // extensions (msgpackr's record definitions among them), 0xc1
    }
  }

  #skipMany(at: number, count: number): number {
    let next = at;
    for (let i = 0; i < count && next >= 0; i++) next = this.#skip(next);
    return next;
  }

  #within(end: number): number {
    return end <= this.#end ? end : -1;
  }
}

interface Shape {
  readonly fields: number;
  readonly rule: number;
  readonly id: number;
}

/** The element count and first element of the msgpack list at `bytes[at]`, if one is there. */
export function listHeader(
  bytes: Uint8Array,
  at: number,
  end: number,
): { count: number; at: number } | undefined {
  if (at >= end) return undefined;
  const token = bytes[at]!;
  if (token >= 0x90 && token <= 0x9f) return { count: token & 0x0f, at: at + 1 };
  if (token === 0xdc && at + 3 <= end) {
    return { count: (bytes[at + 1]! << 8) | bytes[at + 2]!, at: at + 3 };
  }
  if (token === 0xdd && at + 5 <= end) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4);
    return { count: view.getUint32(0), at: at + 5 };
  }
  return undefined;
}
