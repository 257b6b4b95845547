import { BehaviorSubject, type Observable } from "rxjs";
import { z } from "zod";
import { FlowStoreError } from "./flowStoreError.js";

const positiveMs = (name: string) =>
  z
    .number({ error: `${name} must be a number of milliseconds` })
    .int(`${name} must be a whole number of milliseconds`)
    .min(10, `${name} must be at least 10 ms`)
    .max(3_600_000, `${name} must be at most one hour`);

/** The store's settings, with the defaults of the reference design. */
export const StoreConfigSchema = z
  .object({
    /** How often the master sends changed buckets to its backups, in ms. */
    backupPeriod: positiveMs("backupPeriod").default(2000),
    /** How often the master compares digests with its backups, in ms. */
    antiEntropyPeriod: positiveMs("antiEntropyPeriod").default(5000),
    /** How many backups hold a copy of each device's flow table. */
    backupCount: z.number().int().min(0).max(16).default(2),
    /**
     * Buckets per device table (a power of two). Only read when a device table is created:
     * changing it at run time applies to devices seen afterwards.
     */
    bucketCount: z
      .number()
      .int()
      .min(1)
      .max(65536)
      .refine((n) => (n & (n - 1)) === 0, "bucketCount must be a power of two")
      .default(128),
    /**
     * How long a new master waits for a live but silent master of the last activated term
     * (stalled, partitioned) before it activates with what the other replicas hold, in ms.
     * Safe to keep short where a master acknowledges only under a fresh lease.
     */
    syncTimeout: positiveMs("syncTimeout").default(500),
    /** How long a forwarded request waits for the master, in ms. */
    requestTimeout: positiveMs("requestTimeout").default(5000),
    /**
     * Replicate counter-only device reports like any change (ONOS's behaviour, kept as a
     * benchmark baseline). Off by default: counters are soft state, and a report that changes
     * only counters sends nothing to the backups.
     */
    replicateCounters: z.boolean().default(false),
    /**
     * How many operations this node's `storeBatch` calls may have on their way to masters at
     * once (stored locally or forwarded, not yet acknowledged). Past it a batch is refused at
     * once with `OVERLOADED` (REST: 503 with Retry-After) instead of queueing without bound;
     * a single batch larger than the limit is still taken when nothing else is pending.
     */
    maxPendingOperations: z.number().int().min(1).default(200_000),
    /**
     * When a batch is acknowledged (`storeBatch` resolves, REST answers): `async` (the
     * default) once its master applied it — a master that dies within a backup round trip
     * can lose it; `sync` once `minSyncBackups` backups also hold it. Writes arriving while a
     * backup round is out ride the next one (group commit).
     */
    replication: z.enum(["async", "sync"]).default("async"),
    /** `sync`: how many backups must hold a batch before it is acknowledged. */
    minSyncBackups: z.number().int().min(1).max(16).default(1),
    /**
     * `sync` with fewer live backups than `minSyncBackups` (or backups that do not answer
     * within `requestTimeout`): `serve` acknowledges once every live backup holds the batch
     * and reports it under-replicated; `refuse` fails it with `UNDER_REPLICATED`.
     */
    underReplicated: z.enum(["serve", "refuse"]).default("serve"),
    /**
     * With persistence: past this many ms between the oldest change not yet on disk and now,
     * a master refuses new batches with `OVERLOADED` (REST: 503 with Retry-After) until the
     * disk catches up — so the disk trails acknowledgements by about this much even when
     * writes come faster than it takes them. Not a hard bound: a commit already under way
     * when the lag passes it (a large one, or a process busy elsewhere) still has to finish.
     */
    maxDiskLag: positiveMs("maxDiskLag").default(1000),
    /**
     * Past this many ms between the oldest batch a master applied that no backup holds yet
     * and now, the master holds a device's new batches (in order) until its backups catch
     * up, and refuses one still held after another `maxBackupLag` with `OVERLOADED` (REST:
     * 503 with Retry-After). So what `replication: "async"` can lose when a master dies stays
     * about this much of its writes, also when writes come faster than backups take them.
     * A device without live backups is not held.
     */
    maxBackupLag: positiveMs("maxBackupLag").default(1000),
    /**
     * With persistence: how long the first master of a device after this node started waits
     * for every other node of the cluster to answer its synchronization before it activates
     * with the copies of those that did, in ms. After a full restart any node's disk may hold
     * writes the others lack (its own acknowledged last, or backed up last), and a master that
     * served first would write over them.
     */
    restartSyncTimeout: positiveMs("restartSyncTimeout").default(10_000),
  })
  .strict();

/** The store's settings. */
export type StoreConfig = z.output<typeof StoreConfigSchema>;
/** Settings as a caller gives them: every field optional. */
export type StoreConfigInput = z.input<typeof StoreConfigSchema>;

/** `input` validated, with defaults filled in; a bad value is an `INVALID_CONFIG` error naming it. */
export function parseStoreConfig(input: unknown): StoreConfig {
  const parsed = StoreConfigSchema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field =
    issue?.path.join(".") || (issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : "");
  throw new FlowStoreError(
    "INVALID_CONFIG",
    `invalid store configuration: ${field}: ${issue?.message}`,
    {
      cause: parsed.error,
    },
  );
}

/**
 * The store's current settings, changeable at run time.
 *
 * @remarks `update` validates the merged settings first; a refused change leaves every old
 * value in place. Components follow `config$` so a new period applies from the next round.
 */
export class StoreSettings {
  readonly #config$: BehaviorSubject<StoreConfig>;

  constructor(input: StoreConfigInput = {}) {
    this.#config$ = new BehaviorSubject(parseStoreConfig(input));
  }

  /** The settings now. */
  get current(): StoreConfig {
    return this.#config$.value;
  }

  /** The settings now, then each change. */
  get config$(): Observable<StoreConfig> {
    return this.#config$.asObservable();
  }

  /** Changes some settings; throws `INVALID_CONFIG` (and changes nothing) if any is bad. */
  update(changes: Partial<StoreConfigInput>): StoreConfig {
    const next = parseStoreConfig({ ...this.current, ...changes });
    this.#config$.next(next);
    return next;
  }

  /** Completes `config$`. */
  close(): void {
    this.#config$.complete();
  }
}
