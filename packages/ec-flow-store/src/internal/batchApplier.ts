import type { NodeId } from "@flowstore/cluster-messaging";
import {
  createFlowEntry,
  type DeviceId,
  type FlowBucketTable,
  type Term,
  withFlowEntry,
} from "@flowstore/flow-bucket";
import { FlowStoreError } from "../flowStoreError.js";
import type { BatchCompletion, FlowRuleBatch, FlowRuleOperation } from "../messages.js";
import type { MessageOf } from "../storeMessaging.js";
import { assertNever } from "./assertNever.js";
import type { BackedUp } from "./backupWaiters.js";
import type { ApplyResult, BatchForwarder } from "./batchForwarder.js";
import type { DeviceFlowTable } from "./deviceFlowTable.js";
import { checkTerm, type StoreContext } from "./storeContext.js";

/** How often a batch held for the disk or the backups looks whether they caught up, in ms. */
const LAG_POLL = 10;

/**
 * Batches held while something they must not outrun (the disk, a device's backups) is more
 * than `max` ms behind, each for at most `max` ms more: a batch is stored as soon as it
 * catches up, so a client waits rather than sleeping on a refusal while the node could take
 * its batch. Held batches leave in the order they came (one queue), and a batch that comes
 * meanwhile queues behind them.
 */
class LagHold {
  /** The batches held, in arrival order. */
  #queue: Promise<void> = Promise.resolve();
  held = 0;

  /**
   * Waits until `lag()` is at most `max`, behind the batches held before; rejects with
   * `refusal(lag)` if it is still above after another `max`.
   */
  turn(context: StoreContext, lag: () => number, max: number, refusal: (lag: number) => Error) {
    this.held++;
    const turn = this.#queue.then(async () => {
      const deadline = context.scheduler.now() + max;
      let behind = lag();
      while (behind > max && context.scheduler.now() < deadline) {
        await context.wait(LAG_POLL);
        behind = lag();
      }
      if (behind > max) throw refusal(behind);
    });
    const done = () => {
      this.held--;
    };
    this.#queue = turn.then(done, done);
    return turn;
  }
}

/**
 * The master's side of a batch: applies its operations bucket by bucket, asks the device for
 * it (`BATCH_REQUESTED`), waits for the backups with `replication: "sync"`, and sends the
 * device's outcome back to the node the batch came from (`BATCH_COMPLETED` there).
 */
export class BatchApplier {
  readonly #context: StoreContext;
  readonly #forwarder: BatchForwarder;
  /** How far the disk is behind, in ms (0 without persistence). */
  readonly #diskLag: () => number;
  /** Batches applied here as master, by id: the node to tell when the device completes them. */
  readonly #origins = new Map<string, NodeId>();
  /** Synchronous replication's figures (`replication: "sync"`), for metrics. */
  readonly syncStats = { syncBatches: 0, underReplicatedBatches: 0 };
  /** The batches held for the disk to catch up. */
  readonly #diskHold = new LagHold();
  /** Per device, the batches held for its backups to catch up. */
  readonly #backupHolds = new Map<DeviceId, LagHold>();

  constructor(context: StoreContext, forwarder: BatchForwarder, diskLag: () => number) {
    this.#context = context;
    this.#forwarder = forwarder;
    this.#diskLag = diskLag;
  }

  /**
   * Applies `batch` on this master and asks the device for it. With `replication: "sync"`,
   * resolves only once enough backups hold it (see {@link DeviceFlowTable.backedUp}).
   */
  async apply(batch: FlowRuleBatch, origin: NodeId): Promise<BackedUp | undefined> {
    const context = this.#context;
    const table = context.tables.table(batch.deviceId);
    const config = context.config();
    const { replication, minSyncBackups, underReplicated, requestTimeout } = config;
    const sync = replication === "sync";
    if (this.#diskHold.held > 0 || this.#diskLag() > config.maxDiskLag) {
      await this.#diskHold.turn(
        context,
        this.#diskLag,
        config.maxDiskLag,
        (lag) =>
          new FlowStoreError(
            "OVERLOADED",
            `the disk of ${context.localNode} is ${Math.round(lag)} ms behind (maxDiskLag ${config.maxDiskLag}): batch ${batch.id} was not stored; try again shortly`,
          ),
      );
    }
    // Checked at once, not awaited when nothing holds: the batches of one forwarded message
    // start in order, each as far as its write before the next begins.
    if (
      this.#backupHolds.has(batch.deviceId) ||
      table.backupLag(context.scheduler.now()) > config.maxBackupLag
    ) {
      await this.#backupTurn(batch, table, config.maxBackupLag);
    }
    if (
      sync &&
      underReplicated === "refuse" &&
      table.isMaster &&
      table.backups.length < minSyncBackups
    ) {
      throw new FlowStoreError(
        "UNDER_REPLICATED",
        `${batch.deviceId} has ${table.backups.length} live backups, minSyncBackups is ${minSyncBackups}: batch ${batch.id} was not stored`,
      );
    }
    const now = context.scheduler.now();
    const byBucket = new Map<number, FlowRuleOperation[]>();
    for (const op of batch.operations) {
      const index = table.table.bucketIndexOf(op.rule.id);
      const list = byBucket.get(index);
      if (list === undefined) byBucket.set(index, [op]);
      else list.push(op);
    }
    const applied = await Promise.all(
      [...byBucket].map(([index, ops]) =>
        table.write(index, (t, term) => ops.filter((op) => applyOperation(t, term, op, now))),
      ),
    );
    const operations = applied.flat();
    const changed = [...byBucket.keys()].filter((_, i) => (applied[i]?.length ?? 0) > 0);
    table.noteWrite(now, changed);
    if (operations.length === 0) {
      await this.complete({
        batchId: batch.id,
        deviceId: batch.deviceId,
        success: true,
        failed: [],
      });
      return undefined;
    }
    this.#origins.set(batch.id, origin);
    context.events.next({ type: "BATCH_REQUESTED", batch: { ...batch, operations }, origin });
    if (!sync) return undefined;
    const backedUp = await table.backedUp(
      changed,
      { minimum: minSyncBackups, mode: underReplicated },
      requestTimeout,
    );
    this.syncStats.syncBatches++;
    if (backedUp.degraded) {
      this.syncStats.underReplicatedBatches++;
      context.log.warn("batch acknowledged under-replicated", {
        batch: batch.id,
        device: batch.deviceId,
        backedUpBy: backedUp.backedUpBy,
        minSyncBackups,
      });
    }
    return backedUp;
  }

  /**
   * Holds a batch while its device's backups are more than `maxBackupLag` behind (no backup
   * holds a write this master applied that long ago), for at most `maxBackupLag` more, so
   * what an asynchronous acknowledgement can lose stays about that much; in order, behind
   * the device's batches held before it.
   *
   * @throws {FlowStoreError} `OVERLOADED` if the backups are still behind after the hold.
   */
  async #backupTurn(batch: FlowRuleBatch, table: DeviceFlowTable, max: number): Promise<void> {
    const context = this.#context;
    const device = batch.deviceId;
    let hold = this.#backupHolds.get(device);
    const lag = () => table.backupLag(context.scheduler.now());
    if (hold === undefined) {
      hold = new LagHold();
      this.#backupHolds.set(device, hold);
    }
    try {
      await hold.turn(
        context,
        lag,
        max,
        (behind) =>
          new FlowStoreError(
            "OVERLOADED",
            `the backups of ${device} are ${Math.round(behind)} ms behind (maxBackupLag ${max}): batch ${batch.id} was not stored; try again shortly`,
          ),
      );
    } finally {
      if (hold.held === 0 && this.#backupHolds.get(device) === hold) {
        this.#backupHolds.delete(device);
      }
    }
  }

  /**
   * Applies every batch of a coalesced forward, in order; each gets its own result, so one
   * refused batch (a device this node no longer masters) does not fail the others.
   */
  async onApplyBatches(
    request: MessageOf<"ApplyBatchesRequest">,
  ): Promise<MessageOf<"ApplyBatchesReply">> {
    // Started in order, so batches of one device apply in the order they were forwarded.
    const results = await Promise.all(
      request.batches.map(async ({ term, batch }): Promise<ApplyResult> => {
        try {
          checkTerm(this.#context, batch.deviceId, term);
          const backedUp = await this.apply(batch, request.origin);
          return backedUp === undefined ? { ok: true } : { ok: true, ...backedUp };
        } catch (error) {
          const refusal = FlowStoreError.from(error, `batch ${batch.id}`);
          return { ok: false, code: refusal.code, message: refusal.message };
        }
      }),
    );
    return { results };
  }

  /** The device's outcome of a batch applied here: `BATCH_COMPLETED` on the node it came from. */
  async complete(completion: BatchCompletion): Promise<void> {
    const localNode = this.#context.localNode;
    const origin = this.#origins.get(completion.batchId) ?? localNode;
    this.#origins.delete(completion.batchId);
    if (origin === localNode) {
      this.completed(completion);
      return;
    }
    // Every completion for one node within a scheduler turn goes in one message.
    await this.#forwarder.complete(origin, completion);
  }

  onBatchesCompleted(request: MessageOf<"BatchesCompleted">): MessageOf<"Ack"> {
    for (const completion of request.completions) this.completed(completion);
    return { ok: true };
  }

  /** Emits `BATCH_COMPLETED` here, on the node that stored the batch. */
  completed(completion: BatchCompletion): void {
    this.#context.events.next({
      type: "BATCH_COMPLETED",
      ...completion,
      failed: [...completion.failed],
    });
  }
}

/** Applies one batch operation in `term`; returns whether it changed anything. */
function applyOperation(
  table: FlowBucketTable,
  term: Term,
  op: FlowRuleOperation,
  now: number,
): boolean {
  switch (op.operator) {
    case "ADD":
      table.add(createFlowEntry(op.rule, { created: now }), term);
      return true;
    case "MODIFY":
      return table.update(createFlowEntry(op.rule, { created: now }), term);
    case "REMOVE":
      return (
        table.modify(
          op.rule,
          (stored) => withFlowEntry(stored, { state: "PENDING_REMOVE" }),
          term,
        ) !== undefined
      );
    default:
      return assertNever(op.operator);
  }
}
