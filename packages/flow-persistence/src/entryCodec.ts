import { type FlowEntry, FlowEntrySchema, flowBucketNamespace } from "@flowstore/flow-bucket";
import { createValidator, DecodeError } from "@flowstore/serializers";
import { Packr } from "msgpackr";
import { z } from "zod";

/** The type id of `FlowEntry` in flow-bucket's namespace, in front of every stored entry. */
export const FLOW_ENTRY_TYPE_ID = 203;

/** flow-bucket's schema of a list of entries (`FlowEntries`, id 210). */
const FlowEntriesSchema = (() => {
  const registration = flowBucketNamespace.registrations.find((r) => r.name === "FlowEntries");
  if (registration === undefined) throw new Error("flow-bucket registers no FlowEntries type");
  return registration.schema as z.ZodType<FlowEntry[]>;
})();

/** The most object shapes an entry codec shares (msgpackr allows 8,160). */
const MAX_SHARED_STRUCTURES = 1024;

/** Schema of the shared structures record: per shape, its keys in order. */
export const EntryStructuresSchema = z.array(z.array(z.string())).max(MAX_SHARED_STRUCTURES);

/** The object shapes that stored entries refer to by number. */
export type EntryStructures = z.infer<typeof EntryStructuresSchema>;

/**
 * The bytes of a stored flow entry: flow-bucket's `FlowEntry` type id (two bytes), then the
 * entry in msgpack with the same settings as every flowstore codec, except that object shapes
 * are shared: each shape (the keys of an entry, of its rule, of each kind of criterion and
 * instruction) is written once in the environment's structures record, and an entry refers to
 * it by number. Decoding checks the type id and validates with `FlowEntrySchema`, exactly as a
 * `FlowEntry` from the network is validated.
 *
 * @remarks A self-describing msgpack record per entry repeats some twenty key names in every
 * value: 350 bytes and 15 µs to decode, against 130 bytes and 4 µs with shared shapes — the
 * difference between loading a million flows in four seconds or in twenty. Shapes are only
 * ever added, so an entry stays readable by any later structures record; the record is written
 * in the same transaction as the first entries that use a new shape.
 */
export class EntryCodec {
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

  /** Bytes for `entry`. */
  encode(entry: FlowEntry): Uint8Array {
    const body = this.#packr.pack(entry);
    const bytes = new Uint8Array(body.length + 2);
    bytes[0] = FLOW_ENTRY_TYPE_ID >>> 8;
    bytes[1] = FLOW_ENTRY_TYPE_ID & 0xff;
    bytes.set(body, 2);
    return bytes;
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
    if (size < 3) {
      throw new DecodeError("TRUNCATED", `${size} bytes is too short for a typed value`, {
        typeName: "FlowEntry",
      });
    }
    const id = (bytes[0]! << 8) | bytes[1]!;
    if (id !== FLOW_ENTRY_TYPE_ID) {
      throw new DecodeError("WRONG_TYPE", `expected type id ${FLOW_ENTRY_TYPE_ID}, got ${id}`, {
        typeName: "FlowEntry",
      });
    }
    try {
      return this.#packr.unpack(bytes.subarray(2, size));
    } catch (error) {
      const incomplete = (error as { incomplete?: boolean }).incomplete === true;
      throw new DecodeError(
        incomplete ? "TRUNCATED" : "MALFORMED",
        error instanceof Error ? error.message : String(error),
        { typeName: "FlowEntry", cause: error },
      );
    }
  }

  /** `raw` as a {@link FlowEntry}, checked by `FlowEntrySchema`; a {@link DecodeError} if not. */
  validate(raw: unknown): FlowEntry {
    return this.#check(raw);
  }

  /**
   * Every value of `raws` as a {@link FlowEntry}, checked together as flow-bucket's
   * `FlowEntries` (the same per-entry checks, with one schema call for all of them, which is
   * what a bucket from the network gets); a {@link DecodeError} if any fails.
   */
  validateAll(raws: readonly unknown[]): FlowEntry[] {
    return this.#checkAll(raws);
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

/** What reading a stored entry gave when its bytes did not decode: the error, to report. */
export class UnreadableEntry {
  constructor(readonly error: unknown) {}
}

/**
 * The value encoding of the `entries` database: values are written as the bytes
 * {@link EntryCodec.encode} made (so a bad entry fails before anything of its bucket is
 * written) and read straight from lmdb's buffer, without a copy, as unpacked values that the
 * reader validates a bucket at a time ({@link EntryCodec.validateAll}). A value that does not
 * unpack is read as an {@link UnreadableEntry}, so that the reader, which knows its key, can
 * say which device and bucket it is in.
 */
export function entryEncoding(codec: EntryCodec) {
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
