import {
  decodeCheckedEntries,
  type FlowEntry,
  FlowEntrySchema,
  type FlowId,
  flowBucketNamespace,
} from "@flowstore/flow-bucket";
import { createValidator, DecodeError, RecordWriter } from "@flowstore/serializers";
import { Packr } from "msgpackr";
import { z } from "zod";
import { crc32 } from "./internal/checksum.js";
import { listHeader, RecordScanner } from "./recordScanner.js";

/** The type id of `FlowEntry` in flow-bucket's namespace: format 1's entries. */
export const FLOW_ENTRY_TYPE_ID = 203;
/** The type id of `FlowEntries` in flow-bucket's namespace: a bucket's base record. */
export const BASE_TYPE_ID = 210;
/** The type id of `BucketChanges` in this package's namespace: a bucket's change record. */
export const CHANGES_TYPE_ID = 505;
/** A base record with a checksum (format 3): what is written now (see {@link RecordCodec}). */
export const CHECKED_BASE_TYPE_ID = 506;
/** A change record with a checksum (format 3). */
export const CHECKED_CHANGES_TYPE_ID = 507;

/** A format 2 record: its type id, then its list. */
const PLAIN_HEADER = 2;
/** A format 3 record: its type id, the CRC-32 of every byte after it, then its list. */
const CHECKED_HEADER = 6;

/** flow-bucket's schema of a list of entries (`FlowEntries`, id 210). */
const FlowEntriesSchema = (() => {
  const registration = flowBucketNamespace.registrations.find((r) => r.name === "FlowEntries");
  if (registration === undefined) throw new Error("flow-bucket registers no FlowEntries type");
  return registration.schema as z.ZodType<FlowEntry[]>;
})();

const MAX_FLOW_ID = 2n ** 64n - 1n;

/** A bucket record read from disk, decoded and validated (its entries' device is not checked). */
export type BucketRecord =
  | { readonly type: typeof BASE_TYPE_ID; readonly entries: readonly FlowEntry[] }
  | {
      readonly type: typeof CHANGES_TYPE_ID;
      readonly entries: readonly FlowEntry[];
      readonly removed: readonly FlowId[];
    };

/**
 * A checksummed record whose checksum matched, kept as its bytes (a copy) and not decoded yet:
 * how `load` reads a bucket whose entries are decoded only when first needed
 * ({@link RecordCodec.decodeChecked} decodes it then).
 */
export class CheckedRecord {
  constructor(
    readonly type: typeof BASE_TYPE_ID | typeof CHANGES_TYPE_ID,
    readonly bytes: Uint8Array,
  ) {}
}

/**
 * A stored entry's bytes (an element of a bucket record: `record[from, to)`) and its flow id.
 * The record is shared by its entries, so that scanning one makes no view per entry.
 */
export interface EntryBytes {
  readonly id: bigint;
  readonly record: Uint8Array;
  readonly from: number;
  readonly to: number;
}

/**
 * Entries unpacked before they are validated together: enough for one schema call to cost
 * little per entry, few enough that their unpacked form is garbage before the next scavenge
 * (a whole base unpacked at once survived it, and doubled the collector's work).
 */
const VALIDATION_CHUNK = 256;

/** The most object shapes an entry codec shares (msgpackr allows 8,160). */
const MAX_SHARED_STRUCTURES = 1024;

/** Schema of the shared structures record: per shape, its keys in order. */
export const EntryStructuresSchema = z.array(z.array(z.string())).max(MAX_SHARED_STRUCTURES);

/** The object shapes that stored entries refer to by number. */
export type EntryStructures = z.infer<typeof EntryStructuresSchema>;

/**
 * The bytes of a bucket's records: a type id (two bytes: 506 for a base, 507 for a change),
 * the CRC-32 of the bytes after it (four, big-endian), then the value in msgpack with the same
 * settings as every flowstore codec, except that object shapes are shared: each shape (the
 * keys of an entry, of its rule, of each kind of criterion and instruction) is written once in
 * the environment's structures record, and a value refers to it by number.
 *
 * Reading checks the type id and the checksum (a record that fails it is corrupt, whichever
 * byte changed: a counter, a state, an action), then every field of every entry as
 * flow-bucket's `FlowEntries` fast path does, except that a rule's flow id is taken as stored
 * rather than hashed again from the rule: the checksum vouches for the bytes this codec wrote
 * from valid entries, and the hash was a tenth of a load. Format 2's records (type ids
 * flow-bucket's `FlowEntries`, 210, and `BucketChanges`, 505, no checksum) are still read,
 * their ids hashed and compared as entries from the network are; format 1's single entries
 * (`FlowEntry`) are read the same way, to migrate them.
 *
 * @remarks A self-describing msgpack value repeats some twenty key names per entry: 350 bytes
 * and 15 µs to decode, against 130 bytes and 4 µs with shared shapes. Shapes are only ever
 * added, so a record stays readable by any later structures record; the record is written in
 * the same transaction as the first records that use a new shape.
 */
export class RecordCodec {
  readonly #structures: EntryStructures;
  readonly #packr: Packr;
  /** msgpackr's bytes for values of known shapes, written faster (see `RecordWriter`). */
  readonly #writer: RecordWriter;
  /** Element bounds and flow ids of records, found without unpacking (see `RecordScanner`). */
  readonly #scanner: RecordScanner;
  readonly #check = createValidator("FlowEntry", FlowEntrySchema);
  readonly #checkAll = createValidator("FlowEntries", FlowEntriesSchema);
  /** The number of shapes known to be on disk. */
  #saved: number;

  /** A codec over the shapes already on disk (none for a new directory). */
  constructor(structures: EntryStructures = []) {
    this.#structures = structures.map((keys) => [...keys]);
    this.#saved = this.#structures.length;
    this.#packr = new Packr({
      useRecords: true,
      mapsAsObjects: false,
      int64AsType: "bigint",
      moreTypes: false,
      structures: this.#structures,
      maxSharedStructures: MAX_SHARED_STRUCTURES,
      // New shapes are written with the commit that first uses them (see `unsaved`).
      saveStructures: () => true,
    });
    this.#writer = new RecordWriter(this.#structures);
    this.#scanner = new RecordScanner(this.#structures);
  }

  /** Format 1's bytes for one `entry` (to make a format 1 directory in tests). */
  encode(entry: FlowEntry): Uint8Array {
    return this.#typed(FLOW_ENTRY_TYPE_ID, entry);
  }

  /**
   * The bytes of a base record holding `entries` (by ascending flow id): entries as the
   * caller has them, or raw values unpacked from records this codec wrote (compaction).
   */
  encodeBase(entries: readonly unknown[]): Uint8Array {
    return this.#checked(CHECKED_BASE_TYPE_ID, entries);
  }

  /**
   * The bytes of a change record: `removed` ids deleted, then `entries` stored or replaced; a
   * list whose first element is the removed ids and whose others are the entries, so that a
   * compaction finds each entry's bytes as it finds a base's.
   */
  encodeChanges(entries: readonly FlowEntry[], removed: readonly FlowId[]): Uint8Array {
    return this.#checked(CHECKED_CHANGES_TYPE_ID, [removed, ...entries]);
  }

  /**
   * Format 2's bytes of a base or change record, with no checksum (to make a format 2
   * directory in tests).
   */
  encodeUnchecked(
    type: typeof BASE_TYPE_ID | typeof CHANGES_TYPE_ID,
    entries: readonly FlowEntry[],
    removed: readonly FlowId[] = [],
  ): Uint8Array {
    return this.#typed(type, type === BASE_TYPE_ID ? entries : [removed, ...entries]);
  }

  /**
   * The record in the first `size` bytes of `bytes`, decoded and validated; a
   * {@link DecodeError} for bytes that are not a valid base or change record. Nothing of `bytes`
   * is kept, so it may be a buffer that is reused afterwards.
   */
  decodeRecord(bytes: Uint8Array, size = bytes.length): BucketRecord {
    const { type, start, checked } = envelopeOf(bytes, size);
    return this.#decodeBody(bytes, type, start, size, checked);
  }

  /**
   * A record {@link RecordCodec.readRecord} checked and kept, decoded and validated (its
   * checksum is not computed again); a {@link DecodeError} for a list that does not validate.
   */
  decodeChecked(record: CheckedRecord): BucketRecord {
    return this.#decodeBody(record.bytes, record.type, CHECKED_HEADER, record.bytes.length, true);
  }

  #decodeBody(
    bytes: Uint8Array,
    type: typeof BASE_TYPE_ID | typeof CHANGES_TYPE_ID,
    start: number,
    size: number,
    checked: boolean,
  ): BucketRecord {
    if (type === BASE_TYPE_ID) {
      return {
        type,
        entries: this.#decodeList(bytes, start, size, "FlowEntries", checked).entries,
      };
    }
    const { entries, head } = this.#decodeList(bytes, start, size, "BucketChanges", checked);
    return { type, entries, removed: this.validateRemoved(head) };
  }

  /**
   * The record in `bytes` (a copy the caller keeps) as `load` reads it: a checksummed record
   * whose checksum matches, kept as its bytes; a record of format 2 (no checksum), decoded
   * and validated. A {@link DecodeError} for bytes that are neither.
   */
  readRecord(bytes: Uint8Array): BucketRecord | CheckedRecord {
    const { type, checked } = envelopeOf(bytes, bytes.length);
    return checked ? new CheckedRecord(type, bytes) : this.decodeRecord(bytes);
  }

  /**
   * The msgpack list in `bytes[start, end)` — a base's entries, or a change record's removed
   * ids (its first element, `head`) and entries — unpacked element by element and its entries
   * validated a chunk at a time.
   */
  #decodeList(
    bytes: Uint8Array,
    start: number,
    end: number,
    typeName: "FlowEntries" | "BucketChanges",
    checked: boolean,
  ): { entries: FlowEntry[]; head: unknown } {
    const entries: FlowEntry[] = [];
    let head: unknown;
    let chunk: unknown[] = [];
    const validate = () => {
      const valid = (checked ? decodeCheckedEntries(chunk) : undefined) ?? this.validateAll(chunk);
      for (const entry of valid) entries.push(entry);
      chunk = [];
    };
    const first = typeName === "BucketChanges";
    const count = this.#scan(bytes, start, end, typeName, (raw, index) => {
      if (first && index === 0) head = raw;
      else {
        chunk.push(raw);
        if (chunk.length === VALIDATION_CHUNK) validate();
      }
    });
    validate();
    if (first && count === 0) {
      throw new DecodeError("MALFORMED", "a change record has no list of removed ids", {
        typeName,
      });
    }
    return { entries, head };
  }

  /**
   * Unpacks the msgpack list in `bytes[start, end)` element by element, giving each with its
   * index and where its bytes are in `bytes`; its element count.
   */
  #scan(
    bytes: Uint8Array,
    start: number,
    end: number,
    typeName: string,
    each: (raw: unknown, index: number, from: number, to: number) => void,
  ): number {
    const malformed = (why: string) => new DecodeError("MALFORMED", why, { typeName });
    const list = listHeader(bytes, start, end);
    if (list === undefined) throw malformed("a bucket record is not a list");
    const { count, at: offset } = list;
    if (count === 0) {
      if (offset !== end) throw malformed("a bucket record has bytes after its list");
      return 0;
    }
    let index = 0;
    try {
      this.#packr.unpackMultiple(
        bytes.subarray(offset, end),
        (raw: unknown, from?: number, to?: number) => {
          if (index >= count) throw malformed(`a bucket record has more than ${count} elements`);
          each(raw, index++, offset + (from ?? 0), offset + (to ?? 0));
        },
      );
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      const incomplete = (error as { incomplete?: boolean }).incomplete === true;
      throw new DecodeError(incomplete ? "TRUNCATED" : "MALFORMED", message(error), {
        typeName,
        cause: error,
      });
    }
    if (index !== count)
      throw malformed(`a bucket record says ${count} elements and holds ${index}`);
    return count;
  }

  /**
   * A bucket record's entries as byte segments with their flow ids, and (a change record's)
   * removed ids, unpacked but not validated: what a compaction copies into a new base without
   * decoding the entries. A `DecodeError` for bytes that do not unpack, or an entry without a
   * flow id.
   */
  scanRecord(bytes: Uint8Array): {
    readonly type: typeof BASE_TYPE_ID | typeof CHANGES_TYPE_ID;
    readonly removed: readonly bigint[];
    readonly entries: readonly EntryBytes[];
  } {
    // The checksum too: a compaction must not copy a corrupt entry into a base it seals anew.
    const { type, start } = envelopeOf(bytes, bytes.length);
    const changes = type === CHANGES_TYPE_ID;
    const fast = this.#scanner.scan(bytes, start, bytes.length, changes);
    if (fast !== undefined) return { type, ...fast };
    let removed: readonly bigint[] = [];
    const entries: EntryBytes[] = [];
    this.#scan(bytes, start, bytes.length, "bucket record", (raw, index, from, to) => {
      if (changes && index === 0) {
        removed = this.validateRemoved(raw);
        return;
      }
      const id = (raw as { rule?: { id?: unknown } } | null)?.rule?.id;
      if (typeof id !== "bigint") {
        throw new DecodeError("MALFORMED", "a stored entry has no flow id", {
          typeName: "FlowEntry",
        });
      }
      entries.push({ id, record: bytes, from, to });
    });
    return { type, removed, entries };
  }

  /** A base record of the entries whose bytes are `entries` (ascending by flow id). */
  spliceBase(entries: readonly EntryBytes[]): Uint8Array {
    return seal(spliceList(CHECKED_BASE_TYPE_ID, CHECKED_HEADER, entries));
  }

  /** The removed flow ids of a change record, checked; a {@link DecodeError} if one is not. */
  validateRemoved(raw: unknown): FlowId[] {
    if (!Array.isArray(raw)) {
      throw new DecodeError("MALFORMED", "removed is not a list", { typeName: "BucketChanges" });
    }
    for (const id of raw) {
      if (typeof id !== "bigint" || id < 0n || id > MAX_FLOW_ID) {
        throw new DecodeError("MALFORMED", `removed holds ${String(id)}, not a flow id`, {
          typeName: "BucketChanges",
        });
      }
    }
    return raw as FlowId[];
  }

  #typed(type: number, value: unknown, header = PLAIN_HEADER): Uint8Array {
    this.#assertRoom();
    const fast = this.#writer.write(type, value, header);
    if (fast !== undefined) return fast;
    const body = this.#packr.pack(value);
    this.#assertRoom();
    const bytes = new Uint8Array(body.length + header);
    bytes[0] = type >>> 8;
    bytes[1] = type & 0xff;
    bytes.set(body, header);
    return bytes;
  }

  /** A checked record of `value`: its type id, its checksum, then the value. */
  #checked(type: number, value: unknown): Uint8Array {
    return seal(this.#typed(type, value, CHECKED_HEADER));
  }

  /**
   * Refuses to encode once every shared shape is taken: msgpackr would define further shapes
   * inside the record, which it then fails to read back with this many shared ones, and an
   * entry's bytes could no longer be copied on their own. (A directory holds a few dozen.)
   */
  #assertRoom(): void {
    if (this.#structures.length >= MAX_SHARED_STRUCTURES) {
      throw new RangeError(
        `all ${MAX_SHARED_STRUCTURES} shared shapes of the data directory are taken: no more records can be written`,
      );
    }
  }

  #unpack(bytes: Uint8Array, size: number, typeName: string): unknown {
    try {
      return this.#packr.unpack(bytes.subarray(2, size));
    } catch (error) {
      const incomplete = (error as { incomplete?: boolean }).incomplete === true;
      throw new DecodeError(
        incomplete ? "TRUNCATED" : "MALFORMED",
        error instanceof Error ? error.message : String(error),
        { typeName, cause: error },
      );
    }
  }

  /**
   * The entry in the first `size` bytes of `bytes` (default: all of them), validated; a
   * {@link DecodeError} for anything else. Nothing of `bytes` is kept, so it may be a buffer
   * that is reused afterwards.
   */
  decode(bytes: Uint8Array, size = bytes.length): FlowEntry {
    return this.validate(this.unpack(bytes, size));
  }

  /**
   * The value in the first `size` bytes of `bytes`, not validated yet ({@link validate} or
   * {@link validateAll} does that); a {@link DecodeError} for bytes that are not a `FlowEntry`
   * value.
   */
  unpack(bytes: Uint8Array, size = bytes.length): unknown {
    const id = typeIdOf(bytes, size, "FlowEntry");
    if (id !== FLOW_ENTRY_TYPE_ID) {
      throw new DecodeError("WRONG_TYPE", `expected type id ${FLOW_ENTRY_TYPE_ID}, got ${id}`, {
        typeName: "FlowEntry",
      });
    }
    return this.#unpack(bytes, size, "FlowEntry");
  }

  /** `raw` as a {@link FlowEntry}, checked by `FlowEntrySchema`; a {@link DecodeError} if not. */
  validate(raw: unknown): FlowEntry {
    return this.#check(raw);
  }

  /**
   * Every value of `raws` as a {@link FlowEntry}, checked together as flow-bucket's
   * `FlowEntries` (the same per-entry checks, with one schema call for all of them, which is
   * what a bucket from the network gets); a {@link DecodeError} if any fails, naming the
   * first that does.
   */
  validateAll(raws: readonly unknown[]): FlowEntry[] {
    try {
      return this.#checkAll(raws);
    } catch (error) {
      // Which one, and why: each on its own.
      for (const raw of raws) this.validate(raw);
      throw error;
    }
  }

  /** The shapes to write with the next commit, if any were added since the last one saved. */
  unsaved(): EntryStructures | undefined {
    if (this.#structures.length === this.#saved) return undefined;
    return this.#structures.map((keys) => [...keys]);
  }

  /** Records that shapes up to `count` are on disk. */
  saved(count: number): void {
    if (count > this.#saved) this.#saved = count;
  }
}

/** A typed list record of `entries`' bytes, its list after `prefix` bytes (checksum left 0). */
function spliceList(type: number, prefix: number, entries: readonly EntryBytes[]): Uint8Array {
  const count = entries.length;
  const header = count < 16 ? 1 : count < 0x10000 ? 3 : 5;
  let size = prefix + header;
  for (const entry of entries) size += entry.to - entry.from;
  const out = new Uint8Array(size);
  out[0] = type >>> 8;
  out[1] = type & 0xff;
  if (header === 1) out[prefix] = 0x90 | count;
  else if (header === 3) {
    out[prefix] = 0xdc;
    out[prefix + 1] = count >>> 8;
    out[prefix + 2] = count & 0xff;
  } else {
    out[prefix] = 0xdd;
    new DataView(out.buffer).setUint32(prefix + 1, count);
  }
  // Entries that lie one after another in one record are copied together.
  let at = prefix + header;
  let i = 0;
  while (i < entries.length) {
    const { record, from } = entries[i]!;
    let to = entries[i]!.to;
    for (i++; i < entries.length && entries[i]!.record === record && entries[i]!.from === to; i++) {
      to = entries[i]!.to;
    }
    out.set(record.subarray(from, to), at);
    at += to - from;
  }
  return out;
}

function wrongType(type: number): DecodeError {
  return new DecodeError(
    "WRONG_TYPE",
    `expected type id ${CHECKED_BASE_TYPE_ID}, ${CHECKED_CHANGES_TYPE_ID}, ${BASE_TYPE_ID} or ${CHANGES_TYPE_ID}, got ${type}`,
    { typeName: "bucket record" },
  );
}

/** Writes the CRC-32 of a checked record's bytes after its header into the header. */
function seal(bytes: Uint8Array): Uint8Array {
  checksumView(bytes).setUint32(0, crc32(bytes.subarray(CHECKED_HEADER)));
  return bytes;
}

/** The four bytes of a checked record's checksum (big-endian, after its type id). */
function checksumView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset + PLAIN_HEADER, CHECKED_HEADER - PLAIN_HEADER);
}

/**
 * What kind of bucket record the first `size` bytes of `bytes` are, where its list starts, and
 * whether it carries a checksum (which must match); a {@link DecodeError} if not a record.
 */
function envelopeOf(
  bytes: Uint8Array,
  size: number,
): {
  readonly type: typeof BASE_TYPE_ID | typeof CHANGES_TYPE_ID;
  readonly start: number;
  readonly checked: boolean;
} {
  const id = typeIdOf(bytes, size, "bucket record");
  if (id === BASE_TYPE_ID || id === CHANGES_TYPE_ID) {
    return { type: id, start: PLAIN_HEADER, checked: false };
  }
  if (id !== CHECKED_BASE_TYPE_ID && id !== CHECKED_CHANGES_TYPE_ID) throw wrongType(id);
  if (size < CHECKED_HEADER + 1) {
    throw new DecodeError("TRUNCATED", `${size} bytes is too short for a checked record`, {
      typeName: "bucket record",
    });
  }
  const stored = checksumView(bytes).getUint32(0);
  const actual = crc32(bytes.subarray(CHECKED_HEADER, size));
  if (stored !== actual) {
    throw new DecodeError(
      "MALFORMED",
      `the record's checksum is ${hex(actual)}, its header says ${hex(stored)}: its bytes changed since they were written`,
      { typeName: "bucket record" },
    );
  }
  return {
    type: id === CHECKED_BASE_TYPE_ID ? BASE_TYPE_ID : CHANGES_TYPE_ID,
    start: CHECKED_HEADER,
    checked: true,
  };
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The type id in front of a typed value; a {@link DecodeError} if there is no room for one. */
function typeIdOf(bytes: Uint8Array, size: number, typeName: string): number {
  if (size < 3) {
    throw new DecodeError("TRUNCATED", `${size} bytes is too short for a typed value`, {
      typeName,
    });
  }
  return (bytes[0]! << 8) | bytes[1]!;
}

/** What reading a stored value gave when its bytes did not decode: the error, to report. */
export class UnreadableEntry {
  constructor(readonly error: unknown) {}
}

/**
 * The value encoding of format 1's `entries` database: values are written as the bytes
 * {@link RecordCodec.encode} made and read straight from lmdb's buffer, without a copy, as
 * unpacked values that the reader validates a bucket at a time ({@link RecordCodec.validateAll}).
 * A value that does not unpack is read as an {@link UnreadableEntry}, so that the reader, which
 * knows its key, can say which device and bucket it is in.
 */
export function entryEncoding(codec: RecordCodec) {
  return {
    encode: (bytes: Uint8Array): Uint8Array => bytes,
    decode: (bytes: Uint8Array, size?: number): unknown => {
      try {
        return codec.unpack(bytes, size);
      } catch (error) {
        return new UnreadableEntry(error);
      }
    },
    needsStableBuffer: false,
  };
}

/**
 * The value encoding of the `records` database: written as the bytes {@link RecordCodec} made
 * (so a bad entry fails before anything of its bucket is written), read straight from lmdb's
 * buffer, without a copy, as a {@link BucketRecord} decoded and validated, or an
 * {@link UnreadableEntry} that the reader reports with the record's key.
 */
export function recordEncoding(codec: RecordCodec) {
  return {
    encode: (bytes: Uint8Array): Uint8Array => bytes,
    decode: (bytes: Uint8Array, size?: number): BucketRecord | UnreadableEntry => {
      try {
        return codec.decodeRecord(bytes, size);
      } catch (error) {
        return new UnreadableEntry(error);
      }
    },
    needsStableBuffer: false,
  };
}
