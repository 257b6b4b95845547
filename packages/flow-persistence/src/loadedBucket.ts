import type {
  DeferredFlowBucket,
  FlowBucketSnapshot,
  FlowEntry,
  LogicalTimestamp,
  Term,
} from "@flowstore/flow-bucket";

/**
 * A bucket as `load` gives it: its stamp and size at once, its entries decoded when first
 * needed. It is a snapshot (reading {@link LoadedBucket.entries} decodes them, once) and a
 * `DeferredFlowBucket`: a flow table that merges it keeps the entries encoded until something
 * needs them, and a copy that the table replaces before then (a backup's, when its master
 * sends a newer one) is never decoded at all.
 *
 * @remarks Records are checked when loaded (each record's checksum, the count and order of a
 * bucket's records); what only decoding can find — an entry that does not decode, of another
 * device, out of order — is found by
 * {@link LoadedBucket.decode}, which throws `CORRUPT` naming the bucket. Records of format 2,
 * which have no checksum, are decoded when loaded, as before.
 */
export class LoadedBucket implements FlowBucketSnapshot, DeferredFlowBucket {
  readonly bucket: number;
  readonly term: Term;
  readonly timestamp: LogicalTimestamp;
  readonly size: number;
  readonly #decode: () => readonly FlowEntry[];
  #entries: readonly FlowEntry[] | undefined;

  constructor(
    stamp: { readonly bucket: number; readonly term: Term; readonly timestamp: LogicalTimestamp },
    size: number,
    entries: readonly FlowEntry[] | (() => readonly FlowEntry[]),
  ) {
    this.bucket = stamp.bucket;
    this.term = stamp.term;
    this.timestamp = stamp.timestamp;
    this.size = size;
    if (typeof entries === "function") this.#decode = entries;
    else {
      this.#entries = entries;
      this.#decode = () => entries;
    }
  }

  /** Whether the entries are still encoded (nothing has read {@link LoadedBucket.entries}). */
  get deferred(): boolean {
    return this.#entries === undefined;
  }

  /** The entries, by ascending flow id: decoded on first read, then kept. */
  get entries(): readonly FlowEntry[] {
    this.#entries ??= this.#decode();
    return this.#entries;
  }

  /** The bucket as plain data, its entries decoded (as {@link LoadedBucket.entries}). */
  snapshot(): FlowBucketSnapshot {
    return {
      bucket: this.bucket,
      term: this.term,
      timestamp: this.timestamp,
      entries: this.entries,
    };
  }

  /**
   * The entries decoded anew (or those already read), not kept here: for a table that keeps
   * them itself.
   *
   * @throws {PersistenceError} `CORRUPT` naming the bucket when they do not decode.
   */
  decode(): readonly FlowEntry[] {
    return this.#entries ?? this.#decode();
  }
}
