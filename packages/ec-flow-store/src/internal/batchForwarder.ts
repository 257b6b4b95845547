import type { NodeId } from "@flowstore/cluster-messaging";
import type { Term } from "@flowstore/flow-bucket";
import type { SchedulerLike } from "rxjs";
import { FlowStoreError, type FlowStoreErrorCode } from "../flowStoreError.js";
import type { Logger } from "../logger.js";
import type { BatchCompletion, FlowRuleBatch } from "../messages.js";
import { type MessageOf, type StoreChannel, SUBJECTS } from "../storeMessaging.js";
import { endOfTurn } from "./endOfTurn.js";

/** A forwarded batch's result from its master: stored, or refused with the master's reason. */
export type ApplyResult = MessageOf<"ApplyBatchesReply">["results"][number];

interface PendingForward {
  readonly term: Term;
  readonly batch: FlowRuleBatch;
  resolve(result: ApplyResult): void;
  reject(error: unknown): void;
}

/** What a {@link BatchForwarder} needs from its node. */
export interface BatchForwarderOptions {
  readonly channel: StoreChannel;
  readonly scheduler: SchedulerLike;
  readonly log: Logger;
  /** How long a forward waits for the master's answer, in ms (read at each send). */
  readonly requestTimeout: () => number;
}

/**
 * Where batches travel between nodes: a node's batches for a master, and a master's
 * completions for the node that asked, each coalesced per peer within a turn — one
 * message for every batch (of any device) or completion of that turn, one result each.
 */
export class BatchForwarder {
  readonly #options: BatchForwarderOptions;
  /** Batches to forward, per master, waiting for the end of the event loop's turn. */
  readonly #forwards = new Map<NodeId, PendingForward[]>();
  /** Completions to report, per asking node, waiting for the scheduler's next 0 ms action. */
  readonly #completions = new Map<
    NodeId,
    { readonly completions: BatchCompletion[]; readonly sent: Promise<void> }
  >();

  constructor(options: BatchForwarderOptions) {
    this.#options = options;
  }

  /**
   * Sends `batch` to `master` with every other batch forwarded to it in this turn (see
   * `endOfTurn`); resolves with the master's result for it, rejects if the message got no
   * answer.
   */
  forward(master: NodeId, term: Term, batch: FlowRuleBatch): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) => {
      let queue = this.#forwards.get(master);
      if (queue === undefined) {
        queue = [];
        this.#forwards.set(master, queue);
        endOfTurn(this.#options.scheduler, () => this.#flushForwards(master));
      }
      queue.push({ term, batch, resolve, reject });
    });
  }

  #flushForwards(master: NodeId): void {
    const queue = this.#forwards.get(master) ?? [];
    this.#forwards.delete(master);
    if (queue.length === 0) return;
    const { channel, requestTimeout } = this.#options;
    const request = {
      origin: channel.localNode,
      batches: queue.map(({ term, batch }) => ({ term, batch })),
    };
    channel.call(master, SUBJECTS.applyBatches, request, requestTimeout()).then(
      (reply) => {
        for (let i = 0; i < queue.length; i++) {
          const result = reply.results[i];
          const pending = queue[i]!;
          if (result === undefined) {
            pending.reject(new FlowStoreError("UNAVAILABLE", `${master} sent no result for it`));
          } else pending.resolve(result);
        }
      },
      (error: unknown) => {
        for (const pending of queue) pending.reject(error);
      },
    );
  }

  /** Reports `completion` to `origin` with every other completion for it in this turn. */
  complete(origin: NodeId, completion: BatchCompletion): Promise<void> {
    let pending = this.#completions.get(origin);
    if (pending === undefined) {
      pending = {
        completions: [],
        sent: new Promise<void>((resolve) =>
          this.#options.scheduler.schedule(() => resolve(this.#flushCompletions(origin)), 0),
        ),
      };
      this.#completions.set(origin, pending);
    }
    pending.completions.push(completion);
    return pending.sent;
  }

  async #flushCompletions(origin: NodeId): Promise<void> {
    const pending = this.#completions.get(origin);
    this.#completions.delete(origin);
    if (pending === undefined || pending.completions.length === 0) return;
    const completions = pending.completions;
    const { channel, requestTimeout, log } = this.#options;
    await channel
      .call(origin, SUBJECTS.batchesCompleted, { completions }, requestTimeout())
      .catch((error: unknown) =>
        log.warn("could not report completed batches", {
          origin,
          batches: completions.map((c) => c.batchId),
          error: String(error),
        }),
      );
  }
}

/** The code of a master's refusal, as this node's error code. */
export function refusalCode(code: string): FlowStoreErrorCode {
  return code === "NOT_MASTER" ||
    code === "STALE_TERM" ||
    code === "CLOSED" ||
    code === "NO_MASTER" ||
    code === "UNDER_REPLICATED" ||
    code === "OVERLOADED"
    ? code
    : "UNAVAILABLE";
}
