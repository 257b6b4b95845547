import type { Etcd3 } from "etcd3";
import type { NodeId } from "../../cluster.js";
import { MastershipError } from "../../mastership.js";

interface PendingWrite {
  readonly key: string;
  readonly resolve: (revision: number) => void;
  readonly reject: (error: unknown) => void;
}

/** Options of {@link CandidacyWriter}. */
export interface CandidacyWriterOptions {
  readonly client: Etcd3;
  /** The local node: the value of every candidacy. */
  readonly node: NodeId;
  /** The lease candidacies are written under, or `undefined` while there is no usable one. */
  readonly lease: () => string | undefined;
  /** Candidate writes per etcd transaction. */
  readonly batchSize: number;
  /** Transactions in flight at once. */
  readonly concurrency: number;
}

/**
 * Writes candidacy keys under the node's lease in batched transactions: up to `batchSize`
 * writes per transaction, up to `concurrency` transactions in flight. Each write resolves
 * with the revision of its transaction.
 */
export class CandidacyWriter {
  readonly #options: CandidacyWriterOptions;
  readonly #queue: PendingWrite[] = [];
  #inFlight = 0;

  constructor(options: CandidacyWriterOptions) {
    this.#options = options;
  }

  /** Queues a candidacy write of the etcd key `key`; writes go out in batched transactions. */
  write(key: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ key, resolve, reject });
      this.#pump();
    });
  }

  /** Rejects every queued write with `CLOSED`; transactions in flight finish. */
  close(): void {
    for (const write of this.#queue.splice(0))
      write.reject(new MastershipError("CLOSED", "closed"));
  }

  #pump(): void {
    while (this.#inFlight < this.#options.concurrency && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.batchSize);
      this.#inFlight++;
      void this.#commit(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #commit(batch: readonly PendingWrite[]): Promise<void> {
    try {
      const lease = this.#options.lease();
      if (lease === undefined) throw new MastershipError("UNAVAILABLE", "no lease");
      const value = Buffer.from(this.#options.node);
      const response = await this.#options.client.kv.txn({
        success: batch.map((write) => ({
          request_put: { key: Buffer.from(write.key), value, lease },
        })),
      });
      const revision = Number(response.header.revision);
      for (const write of batch) write.resolve(revision);
    } catch (error) {
      for (const write of batch) write.reject(error);
    }
  }
}
