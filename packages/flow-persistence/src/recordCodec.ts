import {
  type FlowEntry,
  FlowEntrySchema,
  type FlowId,
  flowBucketNamespace,
} from "@flowstore/flow-bucket";
import { createValidator, DecodeError } from "@flowstore/serializers";
import { Packr } from "msgpackr";
import { z } from "zod";

/** The type id of `FlowEntry` in flow-bucket's namespace: format 1's entries. */
export const FLOW_ENTRY_TYPE_ID = 203;
/** The type id of `FlowEntries` in flow-bucket's namespace: a bucket's base record. */
export const BASE_TYPE_ID = 210;
/** The type id of `BucketChanges` in this package's namespace: a bucket's change record. */
export const CHANGES_TYPE_ID = 505;

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
 * The bytes of a bucket's records: a type id (two bytes: flow-bucket's `FlowEntries` for a
 * base, `BucketChanges` for a change), then the value in msgpack with the same settings as
 * every flowstore codec, except that object shapes are shared: each shape (the keys of an
 * entry, of its rule, of each kind of criterion and instruction) is written once in the
 * environment's structures record, and a value refers to it by number. Reading checks the
 * type id, and validates the entries with flow-bucket's `FlowEntries` schema (its fast path),
 * exactly as entries from the network are validated. Format 1's single entries (`FlowEntry`)
 * are read the same way, to migrate them.
 *
 * @remarks A self-describing msgpack value repeats some twenty key names per entry: 350 bytes
 * and 15 µs to decode, against 130 bytes and 4 µs with shared shapes. Shapes are only ever
 * added, so a record stays readable by any later structures record; the record is written in
 * the same transaction as the first records that use a new shape.
 */
export class RecordCodec {
  readonly #structures: EntryStructures;
  readonly #packr: Packr;
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
    return this.#typed(BASE_TYPE_ID, entries);
  }

  /** The bytes of a change record: `entries` stored or replaced, then `removed` ids deleted. */
  encodeChanges(entries: readonly FlowEntry[], removed: readonly FlowId[]): Uint8Array {
    return this.#typed(CHANGES_TYPE_ID, { entries, removed });
  }

  /**
   * The record in the first `size` bytes of `bytes`, decoded and validated; a
   * {@link DecodeError} for bytes that are not a valid base or change record. Nothing of `bytes`
   * is kept, so it may be a buffer that is reused afterwards.
   */
  decodeRecord(bytes: Uint8Array, size = bytes.length): BucketRecord {
    const type = typeIdOf(bytes, size, "bucket record");
    if (type === BASE_TYPE_ID) return { type, entries: this.#decodeEntries(bytes, 2, size) };
    if (type === CHANGES_TYPE_ID) {
      const raw = this.#unpack(bytes, size, "BucketChanges") as { entries?: unknown } | null;
      if (typeof raw !== "object" || raw === null || !Array.isArray(raw.entries)) {
        throw new DecodeError("MALFORMED", "a change record holds no list of entries", {
          typeName: "BucketChanges",
        });
      }
      const { entries, removed } = raw as { entries: unknown[]; removed?: unknown };
      return { type, entries: this.validateAll(entries), removed: this.validateRemoved(removed) };
    }
    throw new DecodeError(
      "WRONG_TYPE",
      `expected type id ${BASE_TYPE_ID} or ${CHANGES_TYPE_ID}, got ${type}`,
      { typeName: "bucket record" },
    );
  }

  /**
   * The msgpack list of entries in `bytes[start, end)`, unpacked entry by entry and validated
   * a chunk at a time.
   */
  #decodeEntries(bytes: Uint8Array, start: number, end: number): FlowEntry[] {
    const malformed = (why: string) =>
      new DecodeError("MALFORMED", why, { typeName: "FlowEntries" });
    const head = bytes[start];
    let count: number;
    let offset: number;
    if (head !== undefined && head >= 0x90 && head <= 0x9f) {
      count = head & 0x0f;
      offset = start + 1;
    } else if (head === 0xdc && start + 3 <= end) {
      count = (bytes[start + 1]! << 8) | bytes[start + 2]!;
      offset = start + 3;
    } else if (head === 0xdd && start + 5 <= end) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + start + 1, 4);
      count = view.getUint32(0);
      offset = start + 5;
    } else {
      throw malformed("a base record is not a list of entries");
    }
    const entries: FlowEntry[] = [];
    if (count === 0) {
      if (offset !== end) throw malformed("a base record has bytes after its entries");
      return entries;
    }
    let chunk: unknown[] = [];
    const validate = () => {
      for (const entry of this.validateAll(chunk)) entries.push(entry);
      chunk = [];
    };
    try {
      this.#packr.unpackMultiple(bytes.subarray(offset, end), (raw: unknown) => {
        chunk.push(raw);
        if (chunk.length === VALIDATION_CHUNK) validate();
      });
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      const incomplete = (error as { incomplete?: boolean }).incomplete === true;
      throw new DecodeError(incomplete ? "TRUNCATED" : "MALFORMED", message(error), {
        typeName: "FlowEntries",
        cause: error,
      });
    }
    validate();
    if (entries.length !== count) {
      throw malformed(`a base record says ${count} entries and holds ${entries.length}`);
    }
    return entries;
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

  #typed(type: number, value: unknown): Uint8Array {
    const body = this.#packr.pack(value);
    const bytes = new Uint8Array(body.length + 2);
    bytes[0] = type >>> 8;
    bytes[1] = type & 0xff;
    bytes.set(body, 2);
    return bytes;
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
