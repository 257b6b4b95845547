import type { EcFlowRuleStore } from "@flowstore/ec-flow-store";
import type { Subscription } from "rxjs";
import type { NodeFigures } from "./protocol.js";

/**
 * One node's live figures, sampled once a second by whoever asks: rates are the change of the
 * store's counters since the previous sample.
 */
export class NodeSampler {
  readonly #store: EcFlowRuleStore;
  readonly #subscription: Subscription;
  #writes = 0;
  #previous: { t: number; writes: number; messages: number; bytes: number } | undefined;
  #latest: NodeFigures | undefined;

  constructor(store: EcFlowRuleStore) {
    this.#store = store;
    this.#subscription = store.events$.subscribe((event) => {
      if (event.type === "BATCH_REQUESTED") this.#writes += event.batch.operations.length;
    });
  }

  /** Takes a sample at `now` (ms): the figures since the previous sample. */
  sample(now: number): NodeFigures {
    const stats = this.#store.stats();
    let messages = 0;
    let bytes = 0;
    for (const sent of stats.sent.values()) {
      messages += sent.messages;
      bytes += sent.bytes;
    }
    const previous = this.#previous;
    const seconds = previous === undefined ? 0 : Math.max(0.001, (now - previous.t) / 1000);
    const rate = (current: number, before: number | undefined) =>
      before === undefined || seconds === 0 ? 0 : Math.max(0, (current - before) / seconds);
    this.#latest = {
      heapUsed: process.memoryUsage().heapUsed,
      backupLag: stats.unackedBuckets,
      messagesPerSecond: round(rate(messages, previous?.messages)),
      bytesPerSecond: round(rate(bytes, previous?.bytes)),
      writesPerSecond: round(rate(this.#writes, previous?.writes)),
    };
    this.#previous = { t: now, writes: this.#writes, messages, bytes };
    return this.#latest;
  }

  /** The last sample, if any was taken. */
  get latest(): NodeFigures | undefined {
    return this.#latest;
  }

  close(): void {
    this.#subscription.unsubscribe();
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * The nodes running in this process (`--local N` runs several), each with its sampler, so
 * any node's console can show every local node's figures. Nodes in other processes have none.
 */
const localNodes = new Map<string, NodeSampler>();

/** Registers node `id`'s sampler for the process; the returned function removes it. */
export function registerLocalNode(id: string, sampler: NodeSampler): () => void {
  localNodes.set(id, sampler);
  return () => {
    if (localNodes.get(id) === sampler) localNodes.delete(id);
  };
}

/** The sampler of node `id`, if it runs in this process. */
export function localNode(id: string): NodeSampler | undefined {
  return localNodes.get(id);
}
