import type { FlowRuleBatchInput, FlowRuleOperation } from "@flowstore/ec-flow-store";
import {
  createFlowEntry,
  type DeviceId,
  DeviceIdSchema,
  type FlowEntry,
  type FlowRule,
  flowBucketNamespace,
} from "@flowstore/flow-bucket";
import { Etcd3, type IOptions, type IRequestOp } from "etcd3";

/** etcd's default `--max-txn-ops`: the most operations one transaction may carry. */
export const ETCD_MAX_TXN_OPS = 128;

/** What went wrong in an {@link EtcdFlowStore} call. */
export type EtcdFlowStoreErrorCode = "INVALID_ARGUMENT" | "UNAVAILABLE" | "CLOSED";

/** An error of {@link EtcdFlowStore}, with the etcd client's error as `cause`. */
export class EtcdFlowStoreError extends Error {
  override readonly name = "EtcdFlowStoreError";
  readonly code: EtcdFlowStoreErrorCode;

  constructor(code: EtcdFlowStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Options of {@link createEtcdFlowStore}. */
export interface EtcdFlowStoreOptions {
  /** etcd client URLs, e.g. `["http://127.0.0.1:2379"]`. */
  readonly endpoints: readonly string[];
  /** Key prefix, without a trailing slash; default `/flowstore/flows`. */
  readonly prefix?: string;
  /** Operations per transaction, 1 … {@link ETCD_MAX_TXN_OPS}; default 128. */
  readonly txnOps?: number;
  /** Transactions of one batch in flight at once; default 8. */
  readonly concurrency?: number;
  /** Deadline of every etcd call, in ms; default 5000. */
  readonly callTimeoutMs?: number;
  /** Keys per page of a device read; default 5000 (keeps a reply well under gRPC's 4 MiB). */
  readonly pageSize?: number;
  /** The time stamped on new entries as `created` (ms since the epoch); default `Date.now`. */
  readonly now?: () => number;
  /** Extra options of the `etcd3` client (its default retry and circuit-breaker policies stay unless set). */
  readonly clientOptions?: Omit<IOptions, "hosts">;
}

/** What {@link EtcdFlowStore.storeBatch} wrote. */
export interface EtcdBatchResult {
  /** Operations written (after keeping only the last operation on each rule). */
  readonly operations: number;
  /** Transactions committed. */
  readonly transactions: number;
  /** The etcd revision of the last committed transaction. */
  readonly revision: bigint;
}

/**
 * A flow rule store kept directly in etcd: the strongly consistent design a user might pick
 * instead of flowstore. It is a baseline for the `etcd-store` benchmark.
 *
 * Layout: **one key per flow**, `<prefix>/<deviceId>/<flowId as 16 hex digits>`, whose value
 * is the entry encoded as flowstore encodes it (`flowBucketNamespace`'s `FlowEntry`), so the
 * bytes per flow match what flowstore ships. A batch's operations become blind puts and
 * deletes, in transactions of at most 128 operations (etcd's default `--max-txn-ops`), several
 * in flight; a device's table is one prefix range read, paged at a fixed revision so the pages
 * form one consistent snapshot — what a new master does when it takes a device over.
 *
 * @remarks Why one key per flow and not one per bucket: it is the layout that suits etcd
 * best, so the comparison does not handicap it. A write is a single put with no read; a
 * transaction carries 128 flows; the etcd client's default retries are safe because a put of
 * the same value is idempotent. One key per bucket would need read-modify-write with
 * compare-and-swap on the bucket's mod revision: every batch of 1000 rules touches nearly
 * every one of 128 buckets, so it would rewrite the whole table (about 100× the bytes at
 * 100,000 flows per device), bucket values would near etcd's 1.5 MiB request limit, and
 * concurrent writers would conflict and retry.
 *
 * Semantics against flowstore's `storeBatch`: ADD and MODIFY put a fresh entry
 * (`PENDING_ADD`, `created` now), the last operation on a rule wins, and a batch above 128
 * operations is not atomic (neither is flowstore's). Where this store is simpler: REMOVE
 * deletes the key at once (flowstore marks the entry `PENDING_REMOVE` until the device
 * confirms), and MODIFY of an absent rule creates it (flowstore ignores it) — both would need
 * a read or a per-key compare per operation, and neither changes the cost of an ADD workload.
 * A write is acknowledged once etcd has committed it (fsync on the member's disk), with no
 * device-side completion loop.
 */
export class EtcdFlowStore {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #txnOps: number;
  readonly #concurrency: number;
  readonly #timeoutMs: number;
  readonly #pageSize: number;
  readonly #now: () => number;
  readonly #codec = flowBucketNamespace.serializer("FlowEntry");
  #closed = false;

  constructor(options: EtcdFlowStoreOptions) {
    this.#prefix = options.prefix ?? "/flowstore/flows";
    this.#txnOps = options.txnOps ?? ETCD_MAX_TXN_OPS;
    this.#concurrency = options.concurrency ?? 8;
    this.#timeoutMs = options.callTimeoutMs ?? 5000;
    this.#pageSize = options.pageSize ?? 5000;
    this.#now = options.now ?? Date.now;
    if (options.endpoints.length === 0) invalid("at least one endpoint is needed");
    if (!Number.isInteger(this.#txnOps) || this.#txnOps < 1 || this.#txnOps > ETCD_MAX_TXN_OPS)
      invalid(`txnOps must be a whole number in 1…${ETCD_MAX_TXN_OPS}, not ${this.#txnOps}`);
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1)
      invalid(`concurrency must be a whole number ≥ 1, not ${this.#concurrency}`);
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1)
      invalid(`pageSize must be a whole number ≥ 1, not ${this.#pageSize}`);
    if (!(this.#timeoutMs > 0)) invalid(`callTimeoutMs must be > 0, not ${this.#timeoutMs}`);
    this.#client = new Etcd3({ ...options.clientOptions, hosts: [...options.endpoints] });
  }

  /**
   * Writes a batch of operations on one device's flow rules: transactions of at most
   * `txnOps` operations, up to `concurrency` in flight. Resolves once every transaction is
   * committed.
   *
   * @throws {@link EtcdFlowStoreError} `INVALID_ARGUMENT` (nothing written) for a bad device
   * id or an operation on another device's rule; `UNAVAILABLE` when a transaction fails —
   * transactions committed before it stay written.
   */
  async storeBatch(batch: FlowRuleBatchInput): Promise<EtcdBatchResult> {
    this.#assertOpen();
    const device = this.#validDevice(batch.deviceId);
    const last = new Map<string, FlowRuleOperation>();
    for (const op of batch.operations) {
      if (op.rule.deviceId !== device)
        invalid(`operation on ${op.rule.deviceId}'s rule ${op.rule.id} in a batch of ${device}`);
      switch (op.operator) {
        case "ADD":
        case "MODIFY":
        case "REMOVE":
          break;
        default:
          invalid(`unknown operator ${(op as { operator: unknown }).operator}`);
      }
      const key = this.#key(op.rule);
      // A key may appear once per transaction, and two transactions in flight have no order:
      // keep only the last operation on each rule, as applying them in order would leave.
      last.delete(key);
      last.set(key, op);
    }
    const now = this.#now();
    const requests: IRequestOp[] = [];
    for (const [key, op] of last) requests.push(this.#request(key, op, now));
    const chunks: IRequestOp[][] = [];
    for (let i = 0; i < requests.length; i += this.#txnOps)
      chunks.push(requests.slice(i, i + this.#txnOps));
    let next = 0;
    let revision = 0n;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < chunks.length) {
        const success = chunks[next++]!;
        try {
          const response = await this.#client.kv.txn({ success }, this.#callOptions());
          const committed = BigInt(response.header.revision);
          if (committed > revision) revision = committed;
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.#concurrency, chunks.length) }, () => worker()),
    );
    if (failure !== undefined)
      throw new EtcdFlowStoreError("UNAVAILABLE", `batch on ${device} not fully written`, {
        cause: failure,
      });
    return { operations: requests.length, transactions: chunks.length, revision };
  }

  /**
   * Every stored entry of `device`: one prefix range read, in pages of `pageSize` keys at the
   * first page's revision, each value decoded.
   */
  async getFlowEntries(device: DeviceId): Promise<FlowEntry[]> {
    this.#assertOpen();
    const start = Buffer.from(this.#devicePrefix(this.#validDevice(device)));
    const end = prefixEnd(start);
    const entries: FlowEntry[] = [];
    let key = start;
    let revision: string | undefined;
    try {
      for (;;) {
        const page = await this.#client.kv.range(
          {
            key,
            range_end: end,
            limit: this.#pageSize,
            ...(revision === undefined ? {} : { revision }),
          },
          this.#callOptions(),
        );
        revision ??= page.header.revision;
        for (const kv of page.kvs) entries.push(this.#codec.decode(kv.value));
        const lastKey = page.kvs.at(-1)?.key;
        if (!page.more || lastKey === undefined) return entries;
        key = Buffer.concat([lastKey, Buffer.from([0])]);
      }
    } catch (error) {
      throw new EtcdFlowStoreError("UNAVAILABLE", `cannot read the flows of ${device}`, {
        cause: error,
      });
    }
  }

  /** Deletes the stored entry of `rule`; resolves to whether there was one. */
  async removeFlowRule(rule: FlowRule): Promise<boolean> {
    this.#assertOpen();
    this.#validDevice(rule.deviceId);
    try {
      const response = await this.#client.kv.deleteRange(
        { key: Buffer.from(this.#key(rule)) },
        this.#callOptions(),
      );
      return BigInt(response.deleted) > 0n;
    } catch (error) {
      throw new EtcdFlowStoreError("UNAVAILABLE", `cannot remove rule ${rule.id}`, {
        cause: error,
      });
    }
  }

  /** Closes the etcd client; later calls fail with `CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  #request(key: string, op: FlowRuleOperation, now: number): IRequestOp {
    switch (op.operator) {
      case "ADD":
      case "MODIFY": {
        const bytes = this.#codec.encode(createFlowEntry(op.rule, { created: now }));
        return {
          request_put: {
            key: Buffer.from(key),
            value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          },
        };
      }
      case "REMOVE":
        return { request_delete_range: { key: Buffer.from(key) } };
      default:
        return unreachable(op.operator);
    }
  }

  #callOptions(): { deadline: number } {
    return { deadline: Date.now() + this.#timeoutMs };
  }

  #validDevice(device: DeviceId): DeviceId {
    if (!DeviceIdSchema.safeParse(device).success) invalid(`bad device id ${String(device)}`);
    return device;
  }

  #devicePrefix(device: DeviceId): string {
    // A device id may hold '/', so it is escaped: one device's prefix never covers another's.
    return `${this.#prefix}/${device.replace(/%/g, "%25").replace(/\//g, "%2F")}/`;
  }

  #key(rule: FlowRule): string {
    return this.#devicePrefix(rule.deviceId) + rule.id.toString(16).padStart(16, "0");
  }

  #assertOpen(): void {
    if (this.#closed) throw new EtcdFlowStoreError("CLOSED", "the etcd flow store is closed");
  }
}

/** Creates a flow store kept in etcd (see {@link EtcdFlowStore}). */
export function createEtcdFlowStore(options: EtcdFlowStoreOptions): EtcdFlowStore {
  return new EtcdFlowStore(options);
}

function invalid(message: string): never {
  throw new EtcdFlowStoreError("INVALID_ARGUMENT", message);
}

function unreachable(value: never): never {
  throw new Error(`unexpected ${String(value)}`);
}

/** The smallest key above every key that starts with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
