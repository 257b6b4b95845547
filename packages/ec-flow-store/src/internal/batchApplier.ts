import type { NodeId } from "@flowstore/cluster-messaging";
import {
  createFlowEntry,
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
import { checkTerm, type StoreContext } from "./storeContext.js";

/** How often a batch held for the disk looks whether it caught up, in ms. */
const DISK_POLL = 10;

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
  /** The batches held for the disk to catch up, in arrival order (see {@link #diskTurn}). */
  #diskQueue: Promise<void> = Promise.resolve();
  #diskHeld = 0;

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
    if (this.#diskHeld > 0 || this.#diskLag() > config.maxDiskLag) {
      await this.#diskTurn(batch.id, config.maxDiskLag);
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
    const changed = [...byBucket.keys()].filter((_, i) => (applied[i]?.length ?? 0) > 0);
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
   * Holds a batch while the disk is more than `maxDiskLag` behind, for at most `maxDiskLag`
   * more: it is stored as soon as the disk catches up, so a client waits for the disk rather
   * than sleeping on a refusal while the node could take its batch. Batches held leave in
   * the order they came (one queue), and a batch that comes meanwhile queues behind them.
   *
   * @throws {FlowStoreError} `OVERLOADED` if the disk is still behind after the hold.
   */
  #diskTurn(batchId: string, maxDiskLag: number): Promise<void> {
    const context = this.#context;
    this.#diskHeld++;
    const turn = this.#diskQueue.then(async () => {
      const deadline = context.scheduler.now() + maxDiskLag;
      let lag = this.#diskLag();
      while (lag > maxDiskLag && context.scheduler.now() < deadline) {
        await context.wait(DISK_POLL);
        lag = this.#diskLag();
      }
      if (lag > maxDiskLag) {
        throw new FlowStoreError(
          "OVERLOADED",
          `the disk of ${context.localNode} is ${Math.round(lag)} ms behind (maxDiskLag ${maxDiskLag}): batch ${batchId} was not stored; try again shortly`,
        );
      }
    });
    const done = () => {
      this.#diskHeld--;
    };
    this.#diskQueue = turn.then(done, done);
    return turn;
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
