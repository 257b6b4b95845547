import { statSync } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { DeviceId, FlowEntry, Term } from "@flowstore/flow-bucket";
import { unpack } from "@flowstore/serializers";
import {
  type Database,
  type DatabaseOptions,
  type Key,
  open as openEnvironment,
  type RootDatabase,
} from "lmdb";
import {
  type BucketState,
  type Changes,
  foldById,
  headOf,
  isAscending,
  shouldCompact,
  stateOf,
} from "./bucketLog.js";
import { type BucketHead, FORMAT, type PersistenceHeader, persistenceNamespace } from "./codecs.js";
import { checkDataFile } from "./dataFile.js";
import { readFormatV1, type V1Bucket } from "./formatV1.js";
import { corrupt, decodeRecord, describe, message, type RecordPlace } from "./internal/corrupt.js";
import {
  asHeadKey,
  BASE_SEQ,
  DATA_FILE,
  DATABASES,
  type DatabaseName,
  deviceOfKey,
  HEADER_KEY,
  headKey,
  isRecordKey,
  LOCK_FILE,
  recordKey,
  STRUCTURES_KEY,
  V1_DATABASES,
} from "./layout.js";
import { LoadedBucket } from "./loadedBucket.js";
import { PersistenceError } from "./persistenceError.js";
import {
  BASE_TYPE_ID,
  type BucketRecord,
  CheckedRecord,
  type EntryBytes,
  type EntryStructures,
  RecordCodec,
  recordEncoding,
  type UnreadableEntry,
} from "./recordCodec.js";
import { type BucketChange, type StagedBucket, Staging } from "./staging.js";

/** Where the persistence reports what it did and what went wrong (a pino logger fits). */
export interface PersistenceLog {
  warn(message: string, fields?: object): void;
  info(message: string, fields?: object): void;
}

/** Options of {@link FlowPersistence.open}. */
export interface FlowPersistenceOptions {
  /** The data directory; created if missing. One node's, for one process at a time. */
  readonly dir: string;
  /** The cluster's name: a directory of another cluster is refused. */
  readonly cluster: string;
  /** This node's id: a directory of another node is refused. */
  readonly node: string;
  /**
   * How long staged changes wait before they are committed, in ms (default 100): the changes
   * staged in one interval are committed together. `Infinity`: no timer, changes are
   * committed by `flush()` and `close()` only (for a caller that runs its own interval).
   */
  readonly commitInterval?: number;
  /**
   * The most records one LMDB transaction takes (default 2,000), counting, as format 1 stored
   * them, each entry encoded (in a change record, or in a base a bucket is compacted into) and
   * each flow id removed as one, and each other record written or deleted (a bucket's head, a
   * change record a compaction deletes, a term, a meta value) as one. A larger commit is split
   * into several transactions, at bucket boundaries, with the event loop free between them; a
   * bucket's head and records are always in one transaction.
   */
  readonly maxRecordsPerTransaction?: number;
  readonly log?: PersistenceLog;
}

/** Everything on disk about one device. */
export interface PersistedDevice {
  readonly deviceId: DeviceId;
  /** The highest term this node saw for the device (0 if none was recorded). */
  readonly highestTerm: Term;
  /**
   * Its buckets, by ascending index, each with its stamp and size, and its entries (by
   * ascending flow id) decoded when first needed.
   */
  readonly buckets: readonly LoadedBucket[];
}

/** Figures for metrics and benchmarks. */
export interface PersistenceStats {
  /** Size of the data file, in bytes. */
  readonly fileBytes: number;
  /** Bytes of the data file in use (pages up to the last one written). */
  readonly usedBytes: number;
  /** Flows stored, over every bucket (each bucket's base with its changes applied). */
  readonly flows: number;
  /** Buckets stored (each has a head: its stamp). */
  readonly buckets: number;
  /** Records waiting for the next commit (staged entries, removals, stamps, meta values). */
  readonly staged: number;
  /** Commits completed since open. */
  readonly commits: number;
  /** Commits that failed since open (their changes were staged again). */
  readonly failedCommits: number;
  /** Records written or removed by the last commit (counted as `maxRecordsPerTransaction` counts). */
  readonly lastCommitRecords: number;
  /** Wall time of the last commit, from its start until it was durable, in ms. */
  readonly lastCommitMs: number;
  /** The longest the event loop was held by one slice of a commit since open, in ms. */
  readonly longestBlockMs: number;
}

const DEFAULT_COMMIT_INTERVAL = 100;
const DEFAULT_RECORDS_PER_TRANSACTION = 2_000;
/** Entries decoded by `load` between two turns of the event loop. */
const LOAD_SLICE = 50_000;

/**
 * The directories open in this process, resolved: lmdb keeps one environment per path, so a
 * second `FlowPersistence` on a directory would share it, and close it under the first.
 */
const openDirs = new Set<string>();

/** A database of encoded records, decoded by the caller. */
type RecordDatabase = Database<Uint8Array, Key>;

/** The environment's databases (see `layout.ts`). */
interface Databases extends Readonly<Record<Exclude<DatabaseName, "records">, RecordDatabase>> {
  /** Read as what its values unpack to (see `recordEncoding`). */
  readonly records: Database<StoredRecord, Key>;
}

/** The `records` database as it is written: the bytes `RecordCodec` made, as they are. */
function recordWriter(records: Database<StoredRecord, Key>): Writable & {
  putSync(key: Key, value: Uint8Array): void;
} {
  return records as unknown as Writable & { putSync(key: Key, value: Uint8Array): void };
}

/** A value of the `records` database (see `recordEncoding`), as read. */
type StoredRecord = BucketRecord | UnreadableEntry;

/** What a commit writes to. */
interface Writable {
  put(key: Key, value: Uint8Array): Promise<boolean>;
  remove(key: Key): Promise<boolean>;
}

/**
 * A part of a commit that is written whole or not at all: a bucket (its head and records), a
 * device's term, the metadata. `plan` reads what it needs and encodes.
 */
interface Unit {
  readonly device: DeviceId | undefined;
  readonly bucket: number | undefined;
  plan(): UnitWrites;
}

/** What a unit writes, how many records that counts for, and what it changes in memory once durable. */
interface UnitWrites {
  readonly writes: readonly Write[];
  readonly records: number;
  readonly done?: () => void;
}

/** A unit a commit left out because it could not be encoded. */
interface Skipped {
  readonly device: DeviceId | undefined;
  readonly bucket: number | undefined;
  readonly error: unknown;
}

/** One record to write (`value`) or remove (`value` undefined). */
interface Write {
  readonly db: Writable;
  readonly key: Key;
  readonly value: Uint8Array | undefined;
}

/** The flow id of an entry. */
const entryId = (entry: FlowEntry): bigint => entry.rule.id;

/** The flow id of an entry's bytes. */
const bytesId = (entry: EntryBytes): bigint => entry.id;

const byId = (a: FlowEntry, b: FlowEntry): number => (a.rule.id < b.rule.id ? -1 : 1);

/**
 * A node's device tables on disk, in one LMDB environment: each bucket's stamp and entries,
 * the highest term seen per device, and a few metadata values.
 *
 * @remarks Writes are staged in memory and committed once per `commitInterval`, so a busy
 * bucket costs one write per interval, not one per change. Each bucket is a log (see
 * `bucketLog.ts`): a base record and a change record per commit that changed it, so a commit
 * writes about one record per changed bucket, next to the bucket's others, rather than one per
 * flow scattered over the whole table; a bucket whose changes outweigh its base is compacted
 * into a new base. LMDB's copy-on-write B-tree makes each commit atomic: after a crash, even
 * `kill -9` in the middle of a commit, the directory holds the state of the last completed
 * commit. Entries, heads and terms are encoded with the same codecs as on the network and
 * validated when read.
 */
export class FlowPersistence {
  readonly dir: string;
  readonly #root: RootDatabase<Uint8Array, Key>;
  readonly #dbs: Databases;
  readonly #interval: number;
  readonly #maxRecords: number;
  readonly #log: PersistenceLog | undefined;
  readonly #codec: RecordCodec;
  /** Every bucket on disk, per device, as committed (updated once a commit is durable). */
  readonly #buckets: Map<DeviceId, Map<number, BucketState>>;
  /** The highest term seen per device, as staged (what is on disk once committed). */
  readonly #terms: Map<DeviceId, Term>;
  /** Meta values, as staged. */
  readonly #meta: Map<string, unknown>;
  #staging = new Staging();
  #timer: NodeJS.Timeout | undefined;
  /**
   * The last commit asked for: commits run one at a time, in the order asked, each taking
   * what is staged when it starts (so one asked for after a staging always includes it).
   */
  #commits$: Promise<void> = Promise.resolve();
  #closed = false;
  #commits = 0;
  #failedCommits = 0;
  #lastCommitRecords = 0;
  #lastCommitMs = 0;
  #longestBlockMs = 0;

  private constructor(
    dir: string,
    root: RootDatabase<Uint8Array, Key>,
    dbs: Databases,
    terms: Map<DeviceId, Term>,
    meta: Map<string, unknown>,
    buckets: Map<DeviceId, Map<number, BucketState>>,
    codec: RecordCodec,
    options: FlowPersistenceOptions,
  ) {
    this.dir = dir;
    this.#root = root;
    this.#dbs = dbs;
    this.#terms = terms;
    this.#meta = meta;
    this.#buckets = buckets;
    this.#codec = codec;
    this.#interval = options.commitInterval ?? DEFAULT_COMMIT_INTERVAL;
    this.#maxRecords = options.maxRecordsPerTransaction ?? DEFAULT_RECORDS_PER_TRANSACTION;
    this.#log = options.log;
  }

  /**
   * Opens the data directory of node `options.node` of cluster `options.cluster`, creating
   * and initialising it if it is missing or empty. A directory of format 1 is migrated to
   * format 2 in one transaction (see the README).
   *
   * @throws {PersistenceError} `FOREIGN_CLUSTER`, `FOREIGN_NODE`, `NEWER_FORMAT`, `CORRUPT`
   * or `NOT_A_DATA_DIR` for a directory that is not this node's in a format this code reads;
   * nothing in it is changed. `WRITE_FAILED` if the migration of a format 1 directory could not
   * be committed (nothing in it is changed either).
   */
  static async open(options: FlowPersistenceOptions): Promise<FlowPersistence> {
    const { dir, cluster, node } = options;
    const interval = options.commitInterval ?? DEFAULT_COMMIT_INTERVAL;
    if (!(interval >= 0 && (Number.isFinite(interval) || interval === Infinity))) {
      throw new RangeError(`commitInterval must be a non-negative number of ms, got ${interval}`);
    }
    const maxRecords = options.maxRecordsPerTransaction ?? DEFAULT_RECORDS_PER_TRANSACTION;
    if (!(Number.isSafeInteger(maxRecords) && maxRecords > 0)) {
      throw new RangeError(
        `maxRecordsPerTransaction must be a positive integer, got ${maxRecords}`,
      );
    }
    if (cluster === "" || node === "") {
      throw new RangeError("cluster and node must be non-empty");
    }
    const resolved = resolve(dir);
    if (openDirs.has(resolved)) {
      throw new PersistenceError("IN_USE", `${dir} is open already in this process`, { dir });
    }
    openDirs.add(resolved);
    try {
      const empty = await inspect(dir);
      let root: RootDatabase<Uint8Array, Key>;
      try {
        root = openEnvironment<Uint8Array, Key>({
          path: dir,
          maxDbs: DATABASES.length + 2,
          // lmdb's overlapping sync (a commit flushed to disk after its write lock, by another
          // thread) crashed the process, now and then, when an environment was closed and its
          // directory opened again at once: 4 of 7 runs of 400 seeds of the model test under
          // load, against 0 of 8 without it. A commit is flushed inside its transaction.
          overlappingSync: false,
        });
      } catch (cause) {
        throw corrupt(dir, `cannot open the LMDB environment: ${message(cause)}`, { cause });
      }
      return await FlowPersistence.#start(dir, root, empty, options);
    } catch (error) {
      openDirs.delete(resolved);
      throw error;
    }
  }

  /**
   * Opens the databases of `root`, initialising a fresh directory or migrating one of format
   * 1, and reads what is kept in memory.
   */
  static async #start(
    dir: string,
    root: RootDatabase<Uint8Array, Key>,
    empty: boolean,
    options: FlowPersistenceOptions,
  ): Promise<FlowPersistence> {
    const { cluster, node } = options;
    try {
      // One environment per open: lmdb shares the native environment of a path within a
      // process, and LMDB forbids opening a file twice in one process.
      const found = empty ? undefined : checkEnvironment(dir, root, cluster, node);
      const open = (name: DatabaseName) =>
        root.openDB<Uint8Array, Key>(name, { encoding: "binary" });
      const [header, meta, terms] = [open("header"), open("meta"), open("terms")];
      if (found === undefined) {
        const record: PersistenceHeader = { format: FORMAT, cluster, node, createdAt: Date.now() };
        await header.put(HEADER_KEY, encode("PersistenceHeader", record));
        await root.flushed;
        options.log?.info("flow persistence: initialised a new data directory", { dir, node });
      }
      const codec = new RecordCodec(readStructures(dir, header));
      const termsRead = readTerms(dir, terms);
      const metaRead = readMeta(dir, meta);
      // Format 1 is read, and refused if it does not validate, before anything is written.
      const old =
        found !== undefined && found.format === 1
          ? await readFormatV1(dir, root, codec)
          : undefined;
      // `encoder` is documented by lmdb but missing from its typings' `DatabaseOptions`.
      const recordOptions: DatabaseOptions & { encoder: ReturnType<typeof recordEncoding> } = {
        encoder: recordEncoding(codec),
      };
      const dbs: Databases = {
        header,
        meta,
        terms,
        heads: open("heads"),
        records: root.openDB<StoredRecord, Key>("records", recordOptions),
      };
      if (found !== undefined && old !== undefined) {
        migrate(dir, root, dbs, codec, found, old, options.log);
      } else if (found !== undefined && found.format < FORMAT) {
        // Format 2's records stay readable as they are; from now on checked ones are written
        // beside them, which a version that knows only format 2 must refuse, not misread.
        await header.put(HEADER_KEY, encode("PersistenceHeader", { ...found, format: FORMAT }));
        await root.flushed;
        options.log?.info("flow persistence: marked the data directory as the current format", {
          dir,
          from: found.format,
          to: FORMAT,
        });
      }
      return new FlowPersistence(
        dir,
        root,
        dbs,
        termsRead,
        metaRead,
        readHeads(dir, dbs.heads),
        codec,
        options,
      );
    } catch (error) {
      await root.close();
      if (PersistenceError.is(error)) throw error;
      throw corrupt(dir, `${DATA_FILE} cannot be read: ${message(error)}`, { cause: error });
    }
  }

  /**
   * Everything committed on disk, per device (by ascending id): its buckets (stamp, size and
   * entries) and the highest term this node saw for it. A device whose buckets were dropped
   * but whose term is recorded comes with no buckets. Changes still staged are not included.
   * Each record's checksum is checked now; entries are decoded when first needed (see
   * {@link LoadedBucket}), so a node that only backs a bucket up may never decode it.
   *
   * @throws {PersistenceError} `CORRUPT` naming the device and bucket of a record whose bytes
   * fail their checksum or codec, or that does not fit its bucket's head; nothing partial is
   * returned. (A record that passes its checksum and still does not decode is reported by
   * its bucket's `decode`.)
   */
  async load(): Promise<PersistedDevice[]> {
    this.#assertOpen();
    await this.#idle();
    const started = performance.now();
    let count = 0;
    let nextYield = LOAD_SLICE;
    const headCodec = persistenceNamespace.serializer("BucketHead");
    type Loading = {
      head: BucketHead;
      records: (BucketRecord | CheckedRecord)[];
      loaded: LoadedBucket | undefined;
    };
    const devices = new Map<DeviceId, Map<number, Loading>>();
    const bucketsOf = (device: DeviceId): Map<number, Loading> => {
      let buckets = devices.get(device);
      if (buckets === undefined) {
        buckets = new Map();
        devices.set(device, buckets);
      }
      return buckets;
    };

    const snapshot = this.#root.useReadTransaction();
    try {
      for (const { key, value } of this.#dbs.heads.getRange({ transaction: snapshot })) {
        const parsed = asHeadKey(key);
        if (parsed === undefined) throw corrupt(this.dir, "a bucket head has a malformed key");
        const [device, bucket] = parsed;
        const where = { device, bucket };
        const head = decodeRecord(this.dir, where, "head", () => headCodec.decode(value));
        if (head.bucket !== bucket) {
          throw corrupt(this.dir, `the head of ${describe(where)} is of bucket ${head.bucket}`, {
            ...where,
          });
        }
        bucketsOf(device).set(bucket, { head, records: [], loaded: undefined });
      }

      // Records come by key, so a bucket's are contiguous, its base first: each bucket is
      // checked once its records are read; its entries are decoded and folded when first
      // needed (see LoadedBucket), as a bucket from the network is.
      let deviceText = "";
      let where: RecordPlace | undefined;
      let loading: Loading | undefined;
      const finish = () => {
        if (where === undefined || loading === undefined) return;
        loading.loaded = this.#loadedBucket(where, loading.head, loading.records);
        loading.records = [];
        count += loading.loaded.size;
      };
      const records = this.#dbs.records as unknown as {
        getKeys(options: { transaction: typeof snapshot }): Iterable<Key>;
        getBinary(key: Key, options: { transaction: typeof snapshot }): Uint8Array | undefined;
      };
      for (const key of records.getKeys({ transaction: snapshot })) {
        if (!isRecordKey(key)) throw corrupt(this.dir, "a bucket record has a malformed key");
        if (where === undefined || key[0] !== deviceText || key[1] !== where.bucket) {
          finish();
          const device = key[0] === deviceText ? where?.device : deviceOfKey(key[0]);
          if (device === undefined) {
            throw corrupt(this.dir, "a bucket record has a malformed device id");
          }
          deviceText = key[0];
          where = { device, bucket: key[1] };
          loading = devices.get(device)?.get(key[1]);
          if (loading === undefined) {
            throw corrupt(this.dir, `${describe(where)} has records but no head`, where);
          }
          if (count >= nextYield) {
            nextYield = count + LOAD_SLICE;
            await nextTurn();
          }
        }
        // A copy of the bytes, kept until the bucket is decoded (lmdb reuses its buffer).
        const bytes = records.getBinary(key, { transaction: snapshot });
        let value: BucketRecord | CheckedRecord;
        try {
          if (bytes === undefined) throw new Error("it vanished while being read");
          value = this.#codec.readRecord(bytes);
        } catch (error) {
          throw corrupt(
            this.dir,
            `record ${key[2]} of ${describe(where)} is unreadable: ${message(error)}`,
            { ...where, cause: error },
          );
        }
        const expected = loading!.records.length;
        if (key[2] !== expected) {
          throw corrupt(
            this.dir,
            `${describe(where)} has record ${key[2]} where record ${expected} should be`,
            where,
          );
        }
        loading!.records.push(value);
      }
      finish();
    } catch (error) {
      // LMDB's own errors (a damaged page) are the directory's damage too.
      if (PersistenceError.is(error)) throw error;
      throw corrupt(this.dir, `${DATA_FILE} cannot be read: ${message(error)}`, { cause: error });
    } finally {
      snapshot.done();
    }

    for (const device of this.#terms.keys()) bucketsOf(device);
    const result: PersistedDevice[] = [];
    for (const [deviceId, buckets] of [...devices].sort(([a], [b]) => compareText(a, b))) {
      let highestTerm = this.#terms.get(deviceId) ?? 0;
      const snapshots: LoadedBucket[] = [];
      for (const [index, { head, loaded }] of [...buckets].sort(([a], [b]) => a - b)) {
        if (loaded === undefined) {
          throw corrupt(
            this.dir,
            `${describe({ device: deviceId, bucket: index })} has a head but no base record`,
            { device: deviceId, bucket: index },
          );
        }
        if (head.term > highestTerm) highestTerm = head.term;
        snapshots.push(loaded);
      }
      result.push({ deviceId, highestTerm, buckets: snapshots });
    }
    this.#log?.info("flow persistence: loaded", {
      dir: this.dir,
      devices: result.length,
      flows: count,
      ms: Math.round(performance.now() - started),
    });
    return result;
  }

  /**
   * A bucket from its records as read: their count, kinds and order checked against its head
   * now; its entries folded now if every record was decoded (format 2), otherwise when first
   * needed (see {@link LoadedBucket}). A `CORRUPT` error names the bucket.
   */
  #loadedBucket(
    where: RecordPlace,
    head: BucketHead,
    records: readonly (BucketRecord | CheckedRecord)[],
  ): LoadedBucket {
    const [base, ...changes] = records;
    if (base === undefined || base.type !== BASE_TYPE_ID) {
      throw corrupt(this.dir, `${describe(where)} has no base record`, where);
    }
    if (changes.length !== head.changes) {
      throw corrupt(
        this.dir,
        `${describe(where)} has ${changes.length} change records, its head says ${head.changes}`,
        where,
      );
    }
    changes.forEach((change, i) => {
      if (change.type === BASE_TYPE_ID) {
        throw corrupt(this.dir, `record ${i + 1} of ${describe(where)} is a second base`, where);
      }
    });
    const stamp = { bucket: where.bucket, term: head.term, timestamp: head.timestamp };
    const read = records.filter(
      (record): record is BucketRecord => !(record instanceof CheckedRecord),
    );
    if (read.length === records.length) {
      return new LoadedBucket(stamp, head.flows, this.#foldBucket(where, head, read));
    }
    return new LoadedBucket(stamp, head.flows, () => {
      const decoded = records.map((record, i) => {
        if (!(record instanceof CheckedRecord)) return record;
        try {
          return this.#codec.decodeChecked(record);
        } catch (error) {
          throw corrupt(
            this.dir,
            `record ${i} of ${describe(where)} is unreadable: ${message(error)}`,
            { ...where, cause: error },
          );
        }
      });
      return this.#foldBucket(where, head, decoded);
    });
  }

  /**
   * The entries of a bucket from its records as read (decoded and validated), whose kinds and
   * count {@link #loadedBucket} checked: its base (record 0), then its changes, each entry of
   * the bucket's device, folded; the count must be the head's. A `CORRUPT` error names the
   * bucket.
   */
  #foldBucket(
    where: RecordPlace,
    head: BucketHead,
    records: readonly BucketRecord[],
  ): readonly FlowEntry[] {
    const [base, ...changes] = records as [BucketRecord, ...BucketRecord[]];
    const entries = base.entries;
    this.#checkDevice(where, entries, "base");
    if (!isAscending(entries, entryId)) {
      throw corrupt(
        this.dir,
        `the base of ${describe(where)} is not in ascending flow id order`,
        where,
      );
    }
    changes.forEach((change, i) => {
      this.#checkDevice(where, change.entries, `change record ${i + 1}`);
    });
    const folded = foldById(entries, changes as readonly Changes<FlowEntry>[], entryId);
    if (folded.length !== head.flows) {
      // The count is the caller's table's (see `stageBucket`), the records are what is on
      // disk, each checked: the records are the bucket, and its next change counts them.
      this.#log?.warn("flow persistence: a bucket holds another count of flows than its head", {
        dir: this.dir,
        device: where.device,
        bucket: where.bucket,
        stored: folded.length,
        head: head.flows,
      });
      const state = this.#buckets.get(where.device)?.get(where.bucket);
      const same =
        state !== undefined &&
        state.term === head.term &&
        state.timestamp === head.timestamp &&
        state.changes === head.changes;
      if (same) this.#setState(where.device, where.bucket, { ...state, recount: true });
    }
    return folded;
  }

  /** Refuses a record holding an entry of another device than its bucket's. */
  #checkDevice(where: RecordPlace, entries: readonly FlowEntry[], what: string): void {
    for (const entry of entries) {
      if (entry.rule.deviceId !== where.device) {
        throw corrupt(
          this.dir,
          `the ${what} of ${describe(where)} holds flow ${entry.rule.id} of device ${entry.rule.deviceId}`,
          where,
        );
      }
    }
  }

  /**
   * Stages a bucket's new stamp and its changes: entries stored or replaced, flow ids
   * removed (an id in both is stored), and how many flows the bucket holds after them (its
   * head keeps the count; `load` checks the records against it). `whole: true` means
   * `upserts` is the bucket's entire content (whatever else is stored for it is dropped), and
   * a whole change with no entries at term 0 and timestamp 0 clears the bucket, stamp and
   * all. Committed at the next commit interval; several stagings of one bucket coalesce into
   * one write of their net effect. The stamp's term is noted as seen for the device
   * ({@link FlowPersistence.noteTerm}).
   *
   * @throws {RangeError} for a bucket index, term, timestamp or flow count that is not a
   * non-negative safe integer, a whole change whose count is not its number of entries, or an
   * entry of another device (nothing is staged).
   */
  stageBucket(device: DeviceId, change: BucketChange): void {
    this.#assertOpen();
    checkNat("bucket", change.bucket);
    checkNat("term", change.term);
    checkNat("timestamp", change.timestamp);
    checkNat("flows", change.flows);
    if (change.whole === true && change.flows !== change.upserts.length) {
      throw new RangeError(
        `a whole change of ${change.upserts.length} entries says the bucket holds ${change.flows} flows`,
      );
    }
    for (const entry of change.upserts) {
      if (entry.rule.deviceId !== device) {
        throw new RangeError(
          `flow ${entry.rule.id} is of device ${entry.rule.deviceId}, staged for ${device}`,
        );
      }
    }
    this.#staging.stageBucket(device, change);
    this.noteTerm(device, change.term);
    this.#schedule();
  }

  /**
   * Stages dropping every bucket of `device` (this node no longer holds it); buckets staged
   * for it afterwards start from nothing. The device's highest term is kept.
   */
  stageDropDevice(device: DeviceId): void {
    this.#assertOpen();
    this.#staging.dropDevice(device);
    this.#schedule();
  }

  /**
   * Records `term` as seen for `device`, if it is higher than the highest recorded; committed
   * with the next commit. A lower or equal term is ignored.
   */
  noteTerm(device: DeviceId, term: Term): void {
    this.#assertOpen();
    checkNat("term", term);
    if (term <= (this.#terms.get(device) ?? 0)) return;
    this.#terms.set(device, term);
    this.#staging.noteTerm(device, term);
    this.#schedule();
  }

  /** The highest term seen for any device (0 if none), staged or committed. */
  highestTerm(): Term {
    let highest = 0;
    for (const term of this.#terms.values()) if (term > highest) highest = term;
    return highest;
  }

  /** The highest term seen for `device` (0 if none), staged or committed. */
  highestTermOf(device: DeviceId): Term {
    return this.#terms.get(device) ?? 0;
  }

  /** A metadata value (as last set, staged or committed), or undefined. */
  getMeta(key: string): unknown {
    return this.#meta.get(key);
  }

  /**
   * Sets a metadata value the node needs across restarts (e.g. the coordinator's cluster
   * id); `undefined` deletes it. Any value msgpack encodes; staged like the buckets.
   */
  setMeta(key: string, value: unknown): void {
    this.#assertOpen();
    if (value !== undefined) persistenceNamespace.encode("MetaValue", value); // throws early
    if (value === undefined) this.#meta.delete(key);
    else this.#meta.set(key, value);
    this.#staging.setMeta(key, value);
    this.#schedule();
  }

  /**
   * Commits what is staged now; resolves when it is durable.
   *
   * @throws {PersistenceError} `WRITE_FAILED` if the commit failed (its changes stay staged).
   */
  async flush(): Promise<void> {
    this.#assertOpen();
    await this.#commit();
  }

  /** Flushes, stops the commit timer and closes the environment. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#commit();
    } finally {
      this.#closed = true;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      try {
        await this.#root.close();
      } finally {
        openDirs.delete(resolve(this.dir));
      }
    }
  }

  /** Figures for metrics and benchmarks (reads the data file's size). */
  stats(): PersistenceStats {
    this.#assertOpen();
    const env = this.#root.getStats() as { pageSize: number; lastPageNumber: number };
    let flows = 0;
    let buckets = 0;
    for (const states of this.#buckets.values()) {
      buckets += states.size;
      for (const state of states.values()) flows += state.flows;
    }
    return {
      fileBytes: fileSize(join(this.dir, DATA_FILE)),
      usedBytes: (env.lastPageNumber + 1) * env.pageSize,
      flows,
      buckets,
      staged: this.#staging.size,
      commits: this.#commits,
      failedCommits: this.#failedCommits,
      lastCommitRecords: this.#lastCommitRecords,
      lastCommitMs: this.#lastCommitMs,
      longestBlockMs: this.#longestBlockMs,
    };
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new PersistenceError("CLOSED", `flow persistence of ${this.dir} is closed`, {
        dir: this.dir,
      });
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed || this.#interval === Infinity) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#commit().then(
        () => {
          if (!this.#staging.isEmpty) this.#schedule();
        },
        (error: unknown) => {
          this.#log?.warn("flow persistence: commit failed, retrying at the next interval", {
            dir: this.dir,
            error: message(error),
          });
          this.#schedule();
        },
      );
    }, this.#interval);
    this.#timer.unref();
  }

  /** Waits until every commit asked for so far has ended. */
  async #idle(): Promise<void> {
    await this.#commits$;
  }

  /** Commits everything staged, after the commits asked for before. */
  #commit(): Promise<void> {
    const commit = this.#commits$.then(() => this.#commitStaged());
    this.#commits$ = commit.catch(() => undefined);
    return commit;
  }

  async #commitStaged(): Promise<void> {
    if (this.#staging.isEmpty) return;
    const work = this.#staging;
    this.#staging = new Staging();
    const started = performance.now();
    let skipped: readonly Skipped[];
    try {
      const written = await this.#write(work);
      this.#lastCommitRecords = written.records;
      this.#lastCommitMs = performance.now() - started;
      this.#commits++;
      skipped = written.skipped;
    } catch (cause) {
      this.#failedCommits++;
      // What failed goes back in front of what was staged meanwhile; a retry is idempotent.
      work.absorb(this.#staging);
      this.#staging = work;
      throw new PersistenceError(
        "WRITE_FAILED",
        `commit to ${this.dir} failed: ${message(cause)}`,
        {
          dir: this.dir,
          cause,
        },
      );
    }
    const first = skipped[0];
    if (first !== undefined) {
      // Not staged again: it would fail the same way at every commit and hold up the rest.
      throw new PersistenceError(
        "WRITE_FAILED",
        `commit to ${this.dir} left out ${skipped.length} bucket(s) it could not encode, first bucket ${first.bucket} of device ${first.device}: ${message(first.error)}`,
        { dir: this.dir, device: first.device, bucket: first.bucket, cause: first.error },
      );
    }
  }

  /**
   * Writes `work` in as few transactions as `maxRecordsPerTransaction` allows, each one a
   * batch that lmdb's writer thread commits while the event loop goes on; a bucket (its head
   * and records) is never split. What a transaction changed is applied to the buckets kept in
   * memory once it is committed. Resolves once all of it is durable, with the number of
   * records and the buckets left out because they could not be encoded (an entry that is not
   * a `FlowEntry`: a bug of the caller's), which stay as they were on disk.
   */
  async #write(work: Staging): Promise<{ records: number; skipped: Skipped[] }> {
    this.#root.resetReadTxn();
    const units = this.#plan(work);
    const batches: Promise<void>[] = [];
    const skipped: Skipped[] = [];
    let records = 0;
    let next = 0;
    let shapes = 0;
    while (next < units.length) {
      const started = performance.now();
      let inBatch = 0;
      const done: (() => void)[] = [];
      const batch = this.#root.batch(() => {
        while (next < units.length && inBatch < this.#maxRecords) {
          const unit = units[next++]!;
          let planned: UnitWrites;
          try {
            planned = unit.plan(); // reads and encodes the whole unit before writing any of it
          } catch (error) {
            skipped.push({ device: unit.device, bucket: unit.bucket, error });
            this.#recount(unit.device, unit.bucket);
            this.#log?.warn("flow persistence: a bucket could not be encoded and was not written", {
              dir: this.dir,
              device: unit.device,
              bucket: unit.bucket,
              error: message(error),
            });
            continue;
          }
          for (const { db, key, value } of planned.writes) {
            if (value === undefined) void db.remove(key);
            else void db.put(key, value);
          }
          if (planned.done !== undefined) done.push(planned.done);
          inBatch += planned.records;
        }
        // The shapes the records above use, in their transaction.
        const structures = this.#codec.unsaved();
        if (structures !== undefined) {
          void this.#dbs.header.put(STRUCTURES_KEY, encode("EntryStructures", structures));
          shapes = structures.length;
        }
      });
      batches.push(
        batch.then(() => {
          for (const apply of done) apply();
        }),
      );
      records += inBatch;
      this.#longestBlockMs = Math.max(this.#longestBlockMs, performance.now() - started);
      if (next < units.length) await nextTurn();
    }
    await Promise.all(batches);
    await this.#root.flushed;
    this.#codec.saved(shapes);
    return { records, skipped };
  }

  /** The commit of `work` as units, each written whole or not at all. */
  #plan(work: Staging): Unit[] {
    const { terms, meta } = this.#dbs;
    const units: Unit[] = [];
    for (const [device, staged] of work.devices) {
      if (staged.dropped) {
        for (const bucket of this.#buckets.get(device)?.keys() ?? []) {
          if (staged.buckets.has(bucket)) continue;
          units.push({ device, bucket, plan: () => this.#clearBucket(device, bucket) });
        }
      }
      for (const [index, bucket] of staged.buckets) {
        units.push({
          device,
          bucket: index,
          plan: () => this.#bucketWrites(device, index, bucket),
        });
      }
      const term = staged.term;
      if (term !== undefined) {
        units.push({
          device,
          bucket: undefined,
          plan: () => ({
            writes: [{ db: terms, key: device, value: encode("DeviceTerm", term) }],
            records: 1,
          }),
        });
      }
    }
    if (work.meta.size > 0) {
      units.push({
        device: undefined,
        bucket: undefined,
        plan: () => ({
          writes: [...work.meta].map(([key, value]) => ({
            db: meta,
            key,
            value: value === undefined ? undefined : encode("MetaValue", value),
          })),
          records: work.meta.size,
        }),
      });
    }
    return units;
  }

  /**
   * The writes of a staged bucket: a new base when it is staged whole or new on disk, or when
   * its log is due for compaction (see `shouldCompact`); otherwise one change record.
   */
  #bucketWrites(device: DeviceId, index: number, bucket: StagedBucket): UnitWrites {
    if (bucket.cleared) return this.#clearBucket(device, index);
    const state = this.#buckets.get(device)?.get(index);
    const stamp = { term: bucket.term, timestamp: bucket.timestamp };
    if (bucket.whole || state === undefined) {
      // Nothing stored stays: the staged upserts are the bucket.
      const entries = [...bucket.upserts.values()].sort(byId);
      const bytes = this.#codec.encodeBase(entries);
      // Counted unless the caller's table holds what was not written (see `#recount`).
      const recount = entries.length !== bucket.flows;
      return this.#baseWrites(device, index, state, stamp, bytes, entries.length, recount);
    }
    const upserts = [...bucket.upserts.values()];
    const removed = [...bucket.removed];
    const bytes = this.#codec.encodeChanges(upserts, removed);
    if (state.recount || shouldCompact(state, bytes.length)) {
      // The bucket as it is on disk, with this change, as a new base: its entries' bytes are
      // copied as they are (the change's from the change record just encoded), and its change
      // records go.
      const change = this.#codec.scanRecord(bytes);
      const folded = foldById(this.#scanBucket(device, index, state.changes), [change], bytesId);
      const recount = folded.length !== bucket.flows;
      if (recount && !state.recount) {
        // The records are what is on disk: the base says so from now on.
        this.#log?.warn("flow persistence: a bucket holds another count of flows than staged", {
          dir: this.dir,
          device,
          bucket: index,
          stored: folded.length,
          staged: bucket.flows,
        });
      }
      const base = this.#codec.spliceBase(folded);
      return this.#baseWrites(device, index, state, stamp, base, folded.length, recount);
    }
    const after: BucketState = {
      ...stamp,
      flows: bucket.flows,
      baseBytes: state.baseBytes,
      changes: state.changes + 1,
      changeBytes: state.changeBytes + bytes.length,
      recount: false,
    };
    const { heads } = this.#dbs;
    const records = recordWriter(this.#dbs.records);
    return {
      writes: [
        { db: records, key: recordKey(device, index, after.changes), value: bytes },
        {
          db: heads,
          key: headKey(device, index),
          value: encode("BucketHead", headOf(index, after)),
        },
      ],
      records: 1 + upserts.length + removed.length,
      done: () => this.#setState(device, index, after),
    };
  }

  /**
   * The writes that make `bytes` (a base record holding `flows` flows) the bucket's base,
   * with its change records deleted; `recount` as the bucket's state keeps it.
   */
  #baseWrites(
    device: DeviceId,
    index: number,
    state: BucketState | undefined,
    stamp: { term: Term; timestamp: number },
    bytes: Uint8Array,
    flows: number,
    recount: boolean,
  ): UnitWrites {
    const { heads } = this.#dbs;
    const records = recordWriter(this.#dbs.records);
    const after: BucketState = {
      term: stamp.term,
      timestamp: stamp.timestamp,
      flows,
      baseBytes: bytes.length,
      changes: 0,
      changeBytes: 0,
      recount,
    };
    const writes: Write[] = [
      { db: records, key: recordKey(device, index, BASE_SEQ), value: bytes },
    ];
    for (let seq = 1; seq <= (state?.changes ?? 0); seq++) {
      writes.push({ db: records, key: recordKey(device, index, seq), value: undefined });
    }
    writes.push({
      db: heads,
      key: headKey(device, index),
      value: encode("BucketHead", headOf(index, after)),
    });
    return {
      writes,
      records: 1 + flows + (state?.changes ?? 0),
      done: () => this.#setState(device, index, after),
    };
  }

  /** The writes that delete a bucket: its head and every record. */
  #clearBucket(device: DeviceId, index: number): UnitWrites {
    const { heads } = this.#dbs;
    const records = recordWriter(this.#dbs.records);
    const state = this.#buckets.get(device)?.get(index);
    const writes: Write[] = [{ db: heads, key: headKey(device, index), value: undefined }];
    if (state !== undefined) {
      for (let seq = BASE_SEQ; seq <= state.changes; seq++) {
        writes.push({ db: records, key: recordKey(device, index, seq), value: undefined });
      }
    }
    return {
      writes,
      records: writes.length,
      done: () => this.#setState(device, index, undefined),
    };
  }

  /**
   * The entries of a bucket as its records hold them, as bytes with their flow ids, folded
   * (for a compaction); unpacked, not validated, so that a compaction copies them without
   * decoding them. A `DecodeError` or `TypeError` if a record does not unpack, which leaves
   * the bucket out of the commit.
   */
  #scanBucket(device: DeviceId, index: number, changes: number): readonly EntryBytes[] {
    const read = (seq: number) => {
      const bytes = this.#dbs.records.getBinary(recordKey(device, index, seq));
      if (bytes === undefined) throw new TypeError(`record ${seq} is missing`);
      const record = this.#codec.scanRecord(bytes);
      if ((record.type === BASE_TYPE_ID) !== (seq === BASE_SEQ)) {
        throw new TypeError(
          `record ${seq} is ${seq === BASE_SEQ ? "not a base" : "a second base"}`,
        );
      }
      return record;
    };
    const base = read(BASE_SEQ).entries;
    if (!isAscending(base, bytesId)) {
      throw new TypeError("the base record is not in ascending flow id order");
    }
    const folded: Changes<EntryBytes>[] = [];
    for (let seq = 1; seq <= changes; seq++) folded.push(read(seq));
    return foldById(base, folded, bytesId);
  }

  /**
   * Marks a bucket left out of a commit: its disk copy is no longer what its caller's table
   * holds, so the counts its changes come with do not fit its records. Each of its changes
   * then compacts it, and its head takes the count from its records, until the two agree
   * again. (So is a bucket marked whose compaction or decoding finds a count other than its
   * head's, or written as its whole content while the table held more: new on disk, or
   * staged after `stageDropDevice`, or holding two flows of one id, which the table keeps
   * apart and the disk by id.)
   */
  #recount(device: DeviceId | undefined, index: number | undefined): void {
    if (device === undefined || index === undefined) return;
    const state = this.#buckets.get(device)?.get(index);
    if (state !== undefined) this.#setState(device, index, { ...state, recount: true });
  }

  #setState(device: DeviceId, index: number, state: BucketState | undefined): void {
    let states = this.#buckets.get(device);
    if (state === undefined) {
      states?.delete(index);
      if (states?.size === 0) this.#buckets.delete(device);
      return;
    }
    if (states === undefined) {
      states = new Map();
      this.#buckets.set(device, states);
    }
    states.set(index, state);
  }
}

const encode: typeof persistenceNamespace.encode = (type, value) =>
  persistenceNamespace.encode(type, value);

/**
 * Checks a data directory before LMDB opens it: whether it is new (missing, empty, or with an
 * empty data file), or holds a data file LMDB can open (the environment's content is checked
 * next, by {@link checkEnvironment}). Anything else is refused with nothing changed.
 */
async function inspect(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw corrupt(dir, `cannot create the directory: ${message(cause)}`, { cause });
  }
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (cause) {
    throw corrupt(dir, `cannot read the directory: ${message(cause)}`, { cause });
  }
  if (!files.includes(DATA_FILE)) {
    const foreign = files.filter((file) => file !== LOCK_FILE);
    if (foreign.length > 0) {
      throw new PersistenceError(
        "NOT_A_DATA_DIR",
        `${dir} is not a flowstore data directory: it holds ${foreign.slice(0, 5).join(", ")}${foreign.length > 5 ? ", …" : ""} and no ${DATA_FILE}; use an empty or new directory`,
        { dir },
      );
    }
    return true;
  }
  const size = (await stat(join(dir, DATA_FILE))).size;
  if (size === 0) return true; // created, then the process stopped before LMDB wrote its header
  const damage = await checkDataFile(join(dir, DATA_FILE)).catch(
    (error: unknown) => `it cannot be read (${message(error)})`,
  );
  if (damage !== undefined) throw corrupt(dir, `${DATA_FILE}: ${damage}`);
  return false;
}

/**
 * The meta record of the environment, or undefined if it is new (no database in it yet);
 * refuses it unless its meta record says it is this node's, in a format this code reads.
 * Reads only: a named database is opened only once it is known to exist, since opening a
 * missing one creates it.
 */
function checkEnvironment(
  dir: string,
  root: RootDatabase<Uint8Array, Key>,
  cluster: string,
  node: string,
): PersistenceHeader | undefined {
  try {
    const names = [...root.getKeys()];
    if (names.length === 0) return undefined; // an environment with nothing in it yet
    if (!names.includes("header")) {
      throw corrupt(dir, `${DATA_FILE} holds data but no meta record`);
    }
    const header = root.openDB<Uint8Array, Key>("header", { encoding: "binary" });
    return checkHeader(dir, header.getBinary(HEADER_KEY), cluster, node);
  } catch (error) {
    if (PersistenceError.is(error)) throw error;
    throw corrupt(dir, `${DATA_FILE} cannot be read: ${message(error)}`, { cause: error });
  }
}

/**
 * The meta record in `bytes`; refuses a directory whose meta record is missing, invalid,
 * newer, or another node's.
 */
function checkHeader(
  dir: string,
  bytes: Uint8Array | undefined,
  cluster: string,
  node: string,
): PersistenceHeader {
  if (bytes === undefined) throw corrupt(dir, `${DATA_FILE} holds data but no meta record`);
  // A newer format may have changed the record itself, so its format is looked at first.
  const format = peekFormat(bytes);
  if (format !== undefined && format > FORMAT) {
    throw new PersistenceError(
      "NEWER_FORMAT",
      `${dir} has on-disk format ${format}; this version reads format ${FORMAT} and older. Run a newer flowstore, or use another directory`,
      { dir },
    );
  }
  let header: PersistenceHeader;
  try {
    header = persistenceNamespace.serializer("PersistenceHeader").decode(bytes);
  } catch (cause) {
    throw corrupt(dir, `its meta record is invalid: ${message(cause)}`, { cause });
  }
  if (header.cluster !== cluster) {
    throw new PersistenceError(
      "FOREIGN_CLUSTER",
      `${dir} belongs to cluster ${JSON.stringify(header.cluster)}, not ${JSON.stringify(cluster)}; refusing to use another cluster's flow tables`,
      { dir },
    );
  }
  if (header.node !== node) {
    throw new PersistenceError(
      "FOREIGN_NODE",
      `${dir} belongs to node ${JSON.stringify(header.node)}, not ${JSON.stringify(node)}; refusing to use another node's flow tables`,
      { dir },
    );
  }
  return header;
}

/**
 * Rewrites a format 1 directory, read and validated as `old`, in format 2, in one synchronous
 * transaction: each bucket becomes a base record and a head, format 1's databases are
 * dropped, and the meta record says format 2. A crash before its commit leaves format 1 as
 * it was, to be migrated at the next open.
 */
function migrate(
  dir: string,
  root: RootDatabase<Uint8Array, Key>,
  dbs: Databases,
  codec: RecordCodec,
  header: PersistenceHeader,
  old: Map<DeviceId, Map<number, V1Bucket>>,
  log: PersistenceLog | undefined,
): void {
  const started = performance.now();
  let flows = 0;
  let buckets = 0;
  try {
    root.transactionSync(() => {
      for (const [device, stored] of old) {
        for (const [index, { term, timestamp, entries }] of stored) {
          const bytes = codec.encodeBase(entries);
          recordWriter(dbs.records).putSync(recordKey(device, index, BASE_SEQ), bytes);
          const head = { bucket: index, term, timestamp, flows: entries.length };
          const sizes = { baseBytes: bytes.length, changes: 0, changeBytes: 0 };
          dbs.heads.putSync(headKey(device, index), encode("BucketHead", { ...head, ...sizes }));
          flows += entries.length;
          buckets++;
        }
      }
      const structures = codec.unsaved();
      if (structures !== undefined) {
        dbs.header.putSync(STRUCTURES_KEY, encode("EntryStructures", structures));
        codec.saved(structures.length);
      }
      const names = new Set([...root.getKeys()].map(String));
      for (const name of V1_DATABASES) {
        if (names.has(name)) root.openDB<Uint8Array, Key>(name, { encoding: "binary" }).dropSync();
      }
      dbs.header.putSync(HEADER_KEY, encode("PersistenceHeader", { ...header, format: FORMAT }));
    });
  } catch (cause) {
    throw new PersistenceError(
      "WRITE_FAILED",
      `${dir}: migrating format ${header.format} to format ${FORMAT} failed, nothing was changed: ${message(cause)}`,
      { dir, cause },
    );
  }
  log?.info("flow persistence: migrated the data directory to the current format", {
    dir,
    from: header.format,
    to: FORMAT,
    buckets,
    flows,
    ms: Math.round(performance.now() - started),
  });
}

/** Every bucket's head, as the state kept in memory. */
function readHeads(
  dir: string,
  db: Database<Uint8Array, Key>,
): Map<DeviceId, Map<number, BucketState>> {
  const codec = persistenceNamespace.serializer("BucketHead");
  const buckets = new Map<DeviceId, Map<number, BucketState>>();
  for (const { key, value } of db.getRange()) {
    const parsed = asHeadKey(key);
    if (parsed === undefined) throw corrupt(dir, "a bucket head has a malformed key");
    const [device, bucket] = parsed;
    const where = { device, bucket };
    const head = decodeRecord(dir, where, "head", () => codec.decode(value));
    if (head.bucket !== bucket) {
      throw corrupt(dir, `the head of ${describe(where)} is of bucket ${head.bucket}`, where);
    }
    let states = buckets.get(device);
    if (states === undefined) {
      states = new Map();
      buckets.set(device, states);
    }
    states.set(bucket, stateOf(head));
  }
  return buckets;
}

/** The `format` field of an encoded meta record, if it has one, whatever else it holds. */
function peekFormat(bytes: Uint8Array): number | undefined {
  try {
    const raw = unpack(bytes.subarray(2));
    if (typeof raw !== "object" || raw === null) return undefined;
    const format = (raw as { format?: unknown }).format;
    return typeof format === "number" ? format : undefined;
  } catch {
    return undefined;
  }
}

function readTerms(dir: string, db: Database<Uint8Array, Key>): Map<DeviceId, Term> {
  const codec = persistenceNamespace.serializer("DeviceTerm");
  const terms = new Map<DeviceId, Term>();
  for (const { key, value } of db.getRange()) {
    const device = deviceOfKey(key);
    if (device === undefined) throw corrupt(dir, "a term has a malformed device id");
    try {
      terms.set(device, codec.decode(value));
    } catch (cause) {
      throw corrupt(dir, `the term of device ${device} is unreadable: ${message(cause)}`, {
        device,
        cause,
      });
    }
  }
  return terms;
}

function readStructures(dir: string, db: Database<Uint8Array, Key>): EntryStructures {
  const bytes = db.getBinary(STRUCTURES_KEY);
  if (bytes === undefined) return [];
  try {
    return persistenceNamespace.serializer("EntryStructures").decode(bytes);
  } catch (cause) {
    throw corrupt(dir, `the entries' shared shapes are unreadable: ${message(cause)}`, { cause });
  }
}

function readMeta(dir: string, db: Database<Uint8Array, Key>): Map<string, unknown> {
  const codec = persistenceNamespace.serializer("MetaValue");
  const meta = new Map<string, unknown>();
  for (const { key, value } of db.getRange()) {
    if (typeof key !== "string") throw corrupt(dir, "a meta value has a malformed key");
    try {
      meta.set(key, codec.decode(value));
    } catch (cause) {
      throw corrupt(dir, `meta value ${JSON.stringify(key)} is unreadable: ${message(cause)}`, {
        cause,
      });
    }
  }
  return meta;
}

function checkNat(what: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
