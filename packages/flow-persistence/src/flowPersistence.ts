import { statSync } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import type {
  DeviceId,
  FlowBucketSnapshot,
  FlowEntry,
  FlowId,
  LogicalTimestamp,
  Term,
} from "@flowstore/flow-bucket";
import { unpack } from "@flowstore/serializers";
import {
  type Database,
  type DatabaseOptions,
  type Key,
  open as openEnvironment,
  type RootDatabase,
} from "lmdb";
import { FORMAT, type PersistenceHeader, persistenceNamespace } from "./codecs.js";
import { checkDataFile } from "./dataFile.js";
import { EntryCodec, type EntryStructures, entryEncoding, UnreadableEntry } from "./entryCodec.js";
import {
  asStampKey,
  bucketRange,
  DATA_FILE,
  DATABASES,
  type DatabaseName,
  deviceOfKey,
  deviceRange,
  entryKey,
  flowIdOfKey,
  HEADER_KEY,
  isEntryKey,
  LOCK_FILE,
  STRUCTURES_KEY,
  stampKey,
} from "./layout.js";
import { PersistenceError } from "./persistenceError.js";
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
   * The most records (entries written or removed, stamps) one LMDB transaction takes
   * (default 2,000). A larger commit is split into several transactions, at bucket
   * boundaries, with the event loop free between them; a bucket's stamp and changes are
   * always in one transaction.
   */
  readonly maxRecordsPerTransaction?: number;
  readonly log?: PersistenceLog;
}

/** Everything on disk about one device. */
export interface PersistedDevice {
  readonly deviceId: DeviceId;
  /** The highest term this node saw for the device (0 if none was recorded). */
  readonly highestTerm: Term;
  /** Its buckets, by ascending index, each with its stamp and entries (by ascending flow id). */
  readonly buckets: readonly FlowBucketSnapshot[];
}

/** Figures for metrics and benchmarks. */
export interface PersistenceStats {
  /** Size of the data file, in bytes. */
  readonly fileBytes: number;
  /** Bytes of the data file in use (pages up to the last one written). */
  readonly usedBytes: number;
  /** Entries stored. */
  readonly flows: number;
  /** Bucket stamps stored. */
  readonly buckets: number;
  /** Records waiting for the next commit (staged entries, removals, stamps, meta values). */
  readonly staged: number;
  /** Commits completed since open. */
  readonly commits: number;
  /** Commits that failed since open (their changes were staged again). */
  readonly failedCommits: number;
  /** Records written or removed by the last commit. */
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

const EMPTY_ENTRIES: readonly FlowEntry[] = Object.freeze([]);

/**
 * The directories open in this process, resolved: lmdb keeps one environment per path, so a
 * second `FlowPersistence` on a directory would share it, and close it under the first.
 */
const openDirs = new Set<string>();

/** A database of encoded records, decoded by the caller. */
type RecordDatabase = Database<Uint8Array, Key>;

/** The environment's databases (see `layout.ts`). */
interface Databases extends Readonly<Record<Exclude<DatabaseName, "entries">, RecordDatabase>> {
  /** Written as the bytes `EntryCodec` made, read as what they decode to. */
  readonly entries: Database<StoredEntry, Key>;
}

/**
 * A value of the `entries` database (see `entryEncoding`): written as bytes, read as an
 * unpacked value to validate, or an {@link UnreadableEntry}.
 */
type StoredEntry = unknown;

/** What a commit writes to. */
interface Writable {
  put(key: Key, value: Uint8Array): Promise<boolean>;
  remove(key: Key): Promise<boolean>;
}

/**
 * A part of a commit that is written whole or not at all: a bucket (its stamp, entries and
 * removals), a device's term, the metadata. `writes` reads what it needs and encodes.
 */
interface Unit {
  readonly device: DeviceId | undefined;
  readonly bucket: number | undefined;
  writes(): readonly Write[];
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

/**
 * A node's device tables on disk, in one LMDB environment: each bucket's stamp and entries,
 * the highest term seen per device, and a few metadata values.
 *
 * @remarks Writes are staged in memory and committed once per `commitInterval`, so a busy
 * bucket costs one write per interval, not one per change, and a commit writes what changed
 * (one record per entry), not whole buckets. LMDB's copy-on-write B-tree makes each commit
 * atomic: after a crash, even `kill -9` in the middle of a commit, the directory holds the
 * state of the last completed commit. Entries, stamps and terms are encoded with the same
 * codecs as on the network and validated when read.
 */
export class FlowPersistence {
  readonly dir: string;
  readonly #root: RootDatabase<Uint8Array, Key>;
  readonly #dbs: Databases;
  readonly #interval: number;
  readonly #maxRecords: number;
  readonly #log: PersistenceLog | undefined;
  readonly #entryCodec: EntryCodec;
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
    entryCodec: EntryCodec,
    options: FlowPersistenceOptions,
  ) {
    this.dir = dir;
    this.#root = root;
    this.#dbs = dbs;
    this.#terms = terms;
    this.#meta = meta;
    this.#entryCodec = entryCodec;
    this.#interval = options.commitInterval ?? DEFAULT_COMMIT_INTERVAL;
    this.#maxRecords = options.maxRecordsPerTransaction ?? DEFAULT_RECORDS_PER_TRANSACTION;
    this.#log = options.log;
  }

  /**
   * Opens the data directory of node `options.node` of cluster `options.cluster`, creating
   * and initialising it if it is missing or empty.
   *
   * @throws {PersistenceError} `FOREIGN_CLUSTER`, `FOREIGN_NODE`, `NEWER_FORMAT`, `CORRUPT`
   * or `NOT_A_DATA_DIR` for a directory that is not this node's in a format this code reads;
   * nothing in it is changed.
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

  /** Opens the databases of `root`, initialising a fresh directory, and reads what is kept in memory. */
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
      const fresh = empty || checkEnvironment(dir, root, cluster, node);
      const open = (name: DatabaseName) =>
        root.openDB<Uint8Array, Key>(name, { encoding: "binary" });
      const [header, meta, terms, stamps] = [
        open("header"),
        open("meta"),
        open("terms"),
        open("stamps"),
      ];
      if (fresh) {
        const record: PersistenceHeader = { format: FORMAT, cluster, node, createdAt: Date.now() };
        await header.put(HEADER_KEY, encode("PersistenceHeader", record));
        await root.flushed;
        options.log?.info("flow persistence: initialised a new data directory", { dir, node });
      }
      const entryCodec = new EntryCodec(readStructures(dir, header));
      // `encoder` is documented by lmdb but missing from its typings' `DatabaseOptions`.
      const entryOptions: DatabaseOptions & { encoder: ReturnType<typeof entryEncoding> } = {
        encoder: entryEncoding(entryCodec),
      };
      const entries = root.openDB<StoredEntry, Key>("entries", entryOptions);
      const dbs: Databases = { header, meta, terms, stamps, entries };
      return new FlowPersistence(
        dir,
        root,
        dbs,
        readTerms(dir, terms),
        readMeta(dir, meta),
        entryCodec,
        options,
      );
    } catch (error) {
      await root.close();
      if (PersistenceError.is(error)) throw error;
      throw corrupt(dir, `${DATA_FILE} cannot be read: ${message(error)}`, { cause: error });
    }
  }

  /**
   * Everything committed on disk, per device (by ascending id): its buckets (stamp and
   * entries) and the highest term this node saw for it. A device whose buckets were dropped
   * but whose term is recorded comes with no buckets. Changes still staged are not included.
   *
   * @throws {PersistenceError} `CORRUPT` naming the device and bucket of a record whose bytes
   * fail their codec or that sits under the wrong key; nothing partial is returned.
   */
  async load(): Promise<PersistedDevice[]> {
    this.#assertOpen();
    await this.#idle();
    const started = performance.now();
    let count = 0;
    let nextYield = LOAD_SLICE;
    const stampCodec = persistenceNamespace.serializer("FlowBucketDigest");
    type Loading = { stamp: { term: Term; timestamp: LogicalTimestamp }; entries: FlowEntry[] };
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
      for (const { key, value } of this.#dbs.stamps.getRange({ transaction: snapshot })) {
        const parsed = asStampKey(key);
        if (parsed === undefined) throw corrupt(this.dir, `a stamp has a malformed key`);
        const [device, bucket] = parsed;
        const where = { device, bucket };
        const stamp = decodeRecord(this.dir, where, "stamp", () => stampCodec.decode(value));
        if (stamp.bucket !== bucket) {
          throw corrupt(this.dir, `the stamp of ${describe(where)} is of bucket ${stamp.bucket}`, {
            ...where,
          });
        }
        bucketsOf(device).set(bucket, {
          stamp: { term: stamp.term, timestamp: stamp.timestamp },
          entries: [],
        });
      }

      // Entries come by key, so a bucket's are contiguous: they are gathered unpacked and
      // validated a bucket at a time, as a bucket from the network is.
      let deviceText = "";
      let where: RecordPlace | undefined;
      let loading: Loading | undefined;
      let raws: unknown[] = [];
      let words: number[] = []; // per entry, the flow id's two words from its key
      const finish = () => {
        if (where === undefined || loading === undefined) return;
        const entries = this.#validateBucket(where, raws, words);
        for (const entry of entries) loading.entries.push(entry);
        count += entries.length;
        raws = [];
        words = [];
      };
      for (const { key, value } of this.#dbs.entries.getRange({ transaction: snapshot })) {
        if (!isEntryKey(key)) throw corrupt(this.dir, "an entry has a malformed key");
        if (where === undefined || key[0] !== deviceText || key[1] !== where.bucket) {
          finish();
          const device = key[0] === deviceText ? where?.device : deviceOfKey(key[0]);
          if (device === undefined) throw corrupt(this.dir, "an entry has a malformed device id");
          deviceText = key[0];
          where = { device, bucket: key[1] };
          loading = devices.get(device)?.get(key[1]);
          if (loading === undefined) {
            throw corrupt(this.dir, `${describe(where)} has entries but no stamp`, where);
          }
          if (count >= nextYield) {
            nextYield = count + LOAD_SLICE;
            await nextTurn();
          }
        }
        if (value instanceof UnreadableEntry) {
          throw corrupt(
            this.dir,
            `a stored entry of ${describe(where)} is unreadable: ${message(value.error)}`,
            { ...where, cause: value.error },
          );
        }
        raws.push(value);
        words.push(key[2], key[3]);
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
      const snapshots: FlowBucketSnapshot[] = [];
      for (const [index, { stamp, entries }] of [...buckets].sort(([a], [b]) => a - b)) {
        if (stamp.term > highestTerm) highestTerm = stamp.term;
        snapshots.push({
          bucket: index,
          term: stamp.term,
          timestamp: stamp.timestamp,
          entries: entries.length === 0 ? EMPTY_ENTRIES : entries,
        });
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
   * Stages a bucket's new stamp and its changes: entries stored or replaced, flow ids
   * removed (an id in both is stored); `whole: true` means `upserts` is the bucket's entire
   * content (whatever else is stored for it is dropped), and a whole change with no entries
   * at term 0 and timestamp 0 clears the bucket, stamp and all. Committed at the next commit interval; several stagings of
   * one bucket coalesce into one write of their net effect. The stamp's term is noted as
   * seen for the device ({@link FlowPersistence.noteTerm}).
   *
   * @throws {RangeError} for a bucket index, term or timestamp that is not a non-negative
   * safe integer, or an entry of another device (nothing is staged).
   */
  stageBucket(device: DeviceId, change: BucketChange): void {
    this.#assertOpen();
    checkNat("bucket", change.bucket);
    checkNat("term", change.term);
    checkNat("timestamp", change.timestamp);
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
    const entries = this.#dbs.entries.getStats() as { entryCount: number };
    const stamps = this.#dbs.stamps.getStats() as { entryCount: number };
    return {
      fileBytes: fileSize(join(this.dir, DATA_FILE)),
      usedBytes: (env.lastPageNumber + 1) * env.pageSize,
      flows: entries.entryCount,
      buckets: stamps.entryCount,
      staged: this.#staging.size,
      commits: this.#commits,
      failedCommits: this.#failedCommits,
      lastCommitRecords: this.#lastCommitRecords,
      lastCommitMs: this.#lastCommitMs,
      longestBlockMs: this.#longestBlockMs,
    };
  }

  /**
   * The entries of one bucket from their unpacked values, validated together; each must be
   * the flow its key names, of the bucket's device. A `CORRUPT` error names the bucket.
   */
  #validateBucket(where: RecordPlace, raws: readonly unknown[], words: readonly number[]) {
    let entries: FlowEntry[];
    try {
      entries = this.#entryCodec.validateAll(raws);
    } catch {
      // Which one, and why: each on its own.
      entries = raws.map((raw) =>
        decodeRecord(this.dir, where, "entry", () => this.#entryCodec.validate(raw)),
      );
    }
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const id = flowIdOfKey([where.device, where.bucket, words[2 * i]!, words[2 * i + 1]!]);
      if (entry.rule.id !== id || entry.rule.deviceId !== where.device) {
        throw corrupt(
          this.dir,
          `the entry stored as flow ${id} of ${describe(where)} is flow ${entry.rule.id} of device ${entry.rule.deviceId}`,
          where,
        );
      }
    }
    return entries;
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
   * batch that lmdb's writer thread commits while the event loop goes on; a bucket (its
   * stamp, entries and removals) is never split. Resolves once all of it is durable, with
   * the number of records and the buckets left out because they could not be encoded (an
   * entry that is not a `FlowEntry`: a bug of the caller's), which stay as they were on disk.
   */
  async #write(work: Staging): Promise<{ records: number; skipped: Skipped[] }> {
    this.#root.resetReadTxn();
    const units = this.#plan(work);
    const batches: Promise<boolean>[] = [];
    const skipped: Skipped[] = [];
    let records = 0;
    let next = 0;
    let shapes = 0;
    while (next < units.length) {
      const started = performance.now();
      let inBatch = 0;
      batches.push(
        this.#root.batch(() => {
          while (next < units.length && inBatch < this.#maxRecords) {
            const unit = units[next++]!;
            let writes: readonly Write[];
            try {
              writes = unit.writes(); // reads and encodes the whole unit before writing any of it
            } catch (error) {
              skipped.push({ device: unit.device, bucket: unit.bucket, error });
              this.#log?.warn(
                "flow persistence: a bucket could not be encoded and was not written",
                {
                  dir: this.dir,
                  device: unit.device,
                  bucket: unit.bucket,
                  error: message(error),
                },
              );
              continue;
            }
            for (const { db, key, value } of writes) {
              if (value === undefined) void db.remove(key);
              else void db.put(key, value);
            }
            inBatch += writes.length;
          }
          // The shapes the entries above use, in their transaction.
          const structures = this.#entryCodec.unsaved();
          if (structures !== undefined) {
            void this.#dbs.header.put(STRUCTURES_KEY, encode("EntryStructures", structures));
            shapes = structures.length;
          }
        }),
      );
      records += inBatch;
      this.#longestBlockMs = Math.max(this.#longestBlockMs, performance.now() - started);
      if (next < units.length) await nextTurn();
    }
    await Promise.all(batches);
    await this.#root.flushed;
    this.#entryCodec.saved(shapes);
    return { records, skipped };
  }

  /** The commit of `work` as units, each written whole or not at all. */
  #plan(work: Staging): Unit[] {
    const { stamps, terms, meta } = this.#dbs;
    const units: Unit[] = [];
    for (const [device, staged] of work.devices) {
      if (staged.dropped) {
        for (const key of stamps.getKeys(deviceRange(device))) {
          const bucket = asStampKey(key)?.[1];
          if (bucket === undefined || staged.buckets.has(bucket)) continue;
          units.push({
            device,
            bucket,
            writes: () => [
              ...this.#removeEntries(device, bucket, undefined),
              { db: stamps, key: stampKey(device, bucket), value: undefined },
            ],
          });
        }
      }
      for (const [index, bucket] of staged.buckets) {
        units.push({
          device,
          bucket: index,
          writes: () => this.#bucketWrites(device, index, bucket),
        });
      }
      const term = staged.term;
      if (term !== undefined) {
        units.push({
          device,
          bucket: undefined,
          writes: () => [{ db: terms, key: device, value: encode("DeviceTerm", term) }],
        });
      }
    }
    if (work.meta.size > 0) {
      units.push({
        device: undefined,
        bucket: undefined,
        writes: () =>
          [...work.meta].map(([key, value]) => ({
            db: meta,
            key,
            value: value === undefined ? undefined : encode("MetaValue", value),
          })),
      });
    }
    return units;
  }

  #bucketWrites(device: DeviceId, index: number, bucket: StagedBucket): Write[] {
    const { stamps, entries } = this.#dbs;
    const writes: Write[] = bucket.whole
      ? this.#removeEntries(device, index, bucket.upserts)
      : [...bucket.removed].map((id) => ({
          db: entries,
          key: entryKey(device, index, id),
          value: undefined,
        }));
    for (const [id, entry] of bucket.upserts) {
      writes.push({
        db: entries,
        key: entryKey(device, index, id),
        value: this.#entryCodec.encode(entry),
      });
    }
    const stamp = { bucket: index, term: bucket.term, timestamp: bucket.timestamp };
    writes.push({
      db: stamps,
      key: stampKey(device, index),
      value: bucket.cleared ? undefined : encode("FlowBucketDigest", stamp),
    });
    return writes;
  }

  /** Removals of every stored entry of a bucket but those in `keep`. */
  #removeEntries(
    device: DeviceId,
    bucket: number,
    keep: ReadonlyMap<FlowId, FlowEntry> | undefined,
  ): Write[] {
    const { entries } = this.#dbs;
    const writes: Write[] = [];
    for (const key of entries.getKeys(bucketRange(device, bucket))) {
      if (!isEntryKey(key)) continue;
      if (keep?.has(flowIdOfKey([device, bucket, key[2], key[3]]))) continue;
      writes.push({ db: entries, key, value: undefined });
    }
    return writes;
  }
}

/** Which device and bucket a record is of. */
interface RecordPlace {
  readonly device: DeviceId;
  readonly bucket: number;
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
 * Whether the environment is new (no database in it yet); if not, refuses it unless its meta
 * record says it is this node's, in a format this code reads. Reads only: a named database is
 * opened only once it is known to exist, since opening a missing one creates it.
 */
function checkEnvironment(
  dir: string,
  root: RootDatabase<Uint8Array, Key>,
  cluster: string,
  node: string,
): boolean {
  try {
    const names = [...root.getKeys()];
    if (names.length === 0) return true; // an environment with nothing in it yet
    if (!names.includes("header")) {
      throw corrupt(dir, `${DATA_FILE} holds data but no meta record`);
    }
    const header = root.openDB<Uint8Array, Key>("header", { encoding: "binary" });
    checkHeader(dir, header.getBinary(HEADER_KEY), cluster, node);
    return false;
  } catch (error) {
    if (PersistenceError.is(error)) throw error;
    throw corrupt(dir, `${DATA_FILE} cannot be read: ${message(error)}`, { cause: error });
  }
}

/** Refuses a directory whose meta record is missing, invalid, newer, or another node's. */
function checkHeader(
  dir: string,
  bytes: Uint8Array | undefined,
  cluster: string,
  node: string,
): void {
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

/** Decodes one record of a bucket; a failure is a `CORRUPT` error naming where it is. */
function decodeRecord<T>(dir: string, where: RecordPlace, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (cause) {
    throw corrupt(dir, `a stored ${what} of ${describe(where)} is unreadable: ${message(cause)}`, {
      ...where,
      cause,
    });
  }
}

function corrupt(
  dir: string,
  detail: string,
  place: { device?: string; bucket?: number; cause?: unknown } = {},
): PersistenceError {
  return new PersistenceError("CORRUPT", `${dir} is unreadable: ${detail}`, { dir, ...place });
}

function describe(where: RecordPlace): string {
  return `bucket ${where.bucket} of device ${where.device}`;
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

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
