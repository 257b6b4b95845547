import { MessagingError } from "@flowstore/cluster-messaging";
import type { BatchReceipt, FlowRuleBatchInput } from "../ecFlowRuleStore.js";
import { FlowStoreError } from "../flowStoreError.js";
import type { FlowRuleBatch } from "../messages.js";
import type { BackedUp } from "./backupWaiters.js";
import type { BatchApplier } from "./batchApplier.js";
import { type ApplyResult, type BatchForwarder, refusalCode } from "./batchForwarder.js";
import type { StoreContext } from "./storeContext.js";

/** A master's answers that mean "not stored": the only ones a forwarded batch is retried after. */
const RETRIED_REFUSALS: ReadonlySet<string> = new Set(["NOT_MASTER", "STALE_TERM", "CLOSED"]);

/** How many times `storeBatch` tries the (current) master before failing the batch. */
const FORWARD_ATTEMPTS = 3;
/** The pause before the n-th retry is n times this, in ms. */
const RETRY_DELAY_MS = 100;

/**
 * The asking side of a batch: gives it an id and takes it to the device's master — applied
 * here when this node is the master, forwarded otherwise — retrying only after a genuine
 * refusal; a batch no master took is completed as failed.
 */
export class BatchSender {
  readonly #context: StoreContext;
  readonly #applier: BatchApplier;
  readonly #forwarder: BatchForwarder;
  #batches = 0;

  constructor(context: StoreContext, applier: BatchApplier, forwarder: BatchForwarder) {
    this.#context = context;
    this.#applier = applier;
    this.#forwarder = forwarder;
  }

  /** Resolves once the master stored the batch; rejects (the batch completed as failed) if none did. */
  async send(input: FlowRuleBatchInput): Promise<BatchReceipt> {
    const context = this.#context;
    const batch: FlowRuleBatch = {
      id: `${context.localNode}:${++this.#batches}`,
      deviceId: input.deviceId,
      operations: [...input.operations],
    };
    if (batch.operations.length === 0) {
      this.#applier.completed({
        batchId: batch.id,
        deviceId: batch.deviceId,
        success: true,
        failed: [],
      });
      return this.#receipt(batch, undefined);
    }
    const info = context.mastership.mastership(batch.deviceId);
    // Mastership moves (a rebalance, a failover) can make a forward meet a node that just
    // stopped being master and refuses it: look again and retry a few times.
    for (let attempt = 1; ; attempt++) {
      const current = attempt === 1 ? info : context.mastership.mastership(batch.deviceId);
      if (current.master === undefined) {
        // On a retry the last master just let the device go: its successor may not be named
        // yet.
        const error = new FlowStoreError("NO_MASTER", `no master for ${batch.deviceId}`);
        await this.#retry(batch, attempt, attempt > 1, error);
        continue;
      }
      let result: ApplyResult;
      const local = current.master === context.localNode;
      try {
        if (local) return this.#receipt(batch, await this.#applier.apply(batch, context.localNode));
        result = await this.#forwarder.forward(current.master, current.term, batch);
      } catch (error) {
        // After a timeout or a lost connection the master may have stored the batch, and a
        // late second copy could bring back a flow removed in between: no retry. A master
        // with no handler at all (its store is closing) did not take it; nor did this node
        // when it refused as a master would (its term ended while the batch waited for it to
        // be active, say): that is retried on the next master, as a forward's refusal is.
        const refused = local
          ? error instanceof FlowStoreError && RETRIED_REFUSALS.has(error.code)
          : MessagingError.is(error, "NO_HANDLER");
        await this.#retry(batch, attempt, refused, error);
        continue;
      }
      if (result.ok) {
        const { backedUpBy, degraded } = result;
        return this.#receipt(
          batch,
          backedUpBy === undefined ? undefined : { backedUpBy, degraded: degraded === true },
        );
      }
      // The master answered that it did not store the batch (it is not, or no longer, the
      // master): that, and only that, is safe to retry. Any other answer (a sync batch its
      // backups did not acknowledge, say) may have stored it.
      const refusal = new FlowStoreError(refusalCode(result.code), result.message);
      await this.#retry(batch, attempt, RETRIED_REFUSALS.has(result.code), refusal);
    }
  }

  // Methods rather than closures made per batch: run from source (tsx), every closure a call
  // makes is also named at run time, which cost single-flow POSTs 2–3 % of a node's time.

  #receipt(batch: FlowRuleBatch, backedUp: BackedUp | undefined): BatchReceipt {
    return {
      batchId: batch.id,
      replication: this.#context.config().replication,
      ...(backedUp === undefined ? { degraded: false } : backedUp),
    };
  }

  /**
   * Waits before attempt `attempt + 1` when `retriable`; fails the batch with `error`
   * otherwise, or once no attempt is left.
   */
  async #retry(
    batch: FlowRuleBatch,
    attempt: number,
    retriable: boolean,
    error: unknown,
  ): Promise<void> {
    const context = this.#context;
    if (!retriable || attempt >= FORWARD_ATTEMPTS || context.isClosed()) this.#fail(batch, error);
    context.log.debug("batch not taken; retrying", {
      batch: batch.id,
      attempt,
      error: String(error),
    });
    await context.wait(RETRY_DELAY_MS * attempt);
  }

  /** Completes the batch as failed and throws why. */
  #fail(batch: FlowRuleBatch, error: unknown): never {
    this.#context.log.warn("batch failed", {
      batch: batch.id,
      device: batch.deviceId,
      error: String(error),
    });
    this.#applier.completed({
      batchId: batch.id,
      deviceId: batch.deviceId,
      success: false,
      failed: batch.operations.map((op) => op.rule),
    });
    throw FlowStoreError.from(
      error,
      `the master of ${batch.deviceId} did not take batch ${batch.id}`,
    );
  }
}
