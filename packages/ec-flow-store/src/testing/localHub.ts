import type { NodeId } from "@flowstore/cluster-messaging";
import type { SchedulerLike } from "rxjs";
import type { StoreMessaging } from "../storeMessaging.js";

type Handler = (payload: Uint8Array, from: NodeId) => Promise<Uint8Array> | Uint8Array;

/** Faults a {@link LocalHub} injects, driven by a seeded random source and virtual time. */
export interface HubFaults {
  /** Time source for delays and timeouts. Without it messages go on the next microtask and never time out. */
  readonly scheduler?: SchedulerLike;
  /** A random source in [0, 1) (seeded, for replayable runs). */
  readonly random?: () => number;
}

/** A transport failure, with the code the store maps (TIMEOUT vs. anything else). */
export class HubError extends Error {
  readonly code: "TIMEOUT" | "UNREACHABLE" | "NO_HANDLER";
  constructor(code: "TIMEOUT" | "UNREACHABLE" | "NO_HANDLER", message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Store messaging between nodes of one process: a request is a call of the peer's handler.
 * With a scheduler it also injects faults — per-message delay and loss, partitions and
 * crashed nodes — so a seeded simulation of several nodes is deterministic and replayable.
 */
export class LocalHub {
  /** Probability that a message (request or reply) is lost. */
  dropRate = 0;
  /** Delivery delay range in ms, [min, max]. */
  delay: readonly [number, number] = [0, 0];
  readonly #handlers = new Map<NodeId, Map<string, Handler>>();
  readonly #down = new Set<NodeId>();
  readonly #cut = new Set<string>();
  readonly #scheduler: SchedulerLike | undefined;
  readonly #random: () => number;
  /** Messages delivered, for tests that count traffic. */
  delivered = 0;

  constructor(faults: HubFaults = {}) {
    this.#scheduler = faults.scheduler;
    this.#random = faults.random ?? Math.random;
  }

  /** The messaging of `node` (replacing an earlier one, as a restarted process would). */
  messaging(node: NodeId): StoreMessaging {
    const handlers = new Map<string, Handler>();
    this.#handlers.set(node, handlers);
    return {
      localNode: node,
      request: (to, subject, payload, timeoutMs) =>
        this.#request(node, to, subject, payload, timeoutMs),
      serve: (subject, handler) => {
        handlers.set(subject, handler);
        return () => {
          if (handlers.get(subject) === handler) handlers.delete(subject);
        };
      },
    };
  }

  /** Crashes `node` (nothing reaches it or leaves it) or brings it back. */
  setDown(node: NodeId, down: boolean): void {
    if (down) this.#down.add(node);
    else this.#down.delete(node);
  }

  /** Cuts (or heals) the link between `a` and `b`, both ways. */
  setPartitioned(a: NodeId, b: NodeId, cut: boolean): void {
    for (const key of [`${a}|${b}`, `${b}|${a}`]) {
      if (cut) this.#cut.add(key);
      else this.#cut.delete(key);
    }
  }

  /** Heals every partition and resets loss and delay. */
  heal(): void {
    this.#cut.clear();
    this.dropRate = 0;
    this.delay = [0, 0];
  }

  #reachable(from: NodeId, to: NodeId): boolean {
    return !this.#down.has(from) && !this.#down.has(to) && !this.#cut.has(`${from}|${to}`);
  }

  #request(
    from: NodeId,
    to: NodeId,
    subject: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array> {
    const scheduler = this.#scheduler;
    return new Promise<Uint8Array>((resolve, reject) => {
      let done = false;
      const finish = (outcome: () => void) => {
        if (done) return;
        done = true;
        timeout?.unsubscribe();
        outcome();
      };
      const timeout = scheduler?.schedule(
        () =>
          finish(() =>
            reject(new HubError("TIMEOUT", `${subject} to ${to} timed out after ${timeoutMs} ms`)),
          ),
        timeoutMs,
      );
      const send = (deliver: () => void) => {
        if (scheduler === undefined) {
          queueMicrotask(deliver);
          return;
        }
        if (this.#random() < this.dropRate) return; // lost: the caller times out
        const [min, max] = this.delay;
        scheduler.schedule(deliver, min + Math.floor(this.#random() * (max - min + 1)));
      };
      send(() => {
        if (!this.#reachable(from, to)) {
          if (scheduler === undefined)
            finish(() => reject(new HubError("UNREACHABLE", `${to} is unreachable`)));
          return;
        }
        const handler = this.#handlers.get(to)?.get(subject);
        if (handler === undefined) {
          finish(() => reject(new HubError("NO_HANDLER", `no handler for ${subject} on ${to}`)));
          return;
        }
        this.delivered++;
        Promise.resolve()
          .then(() => handler(Uint8Array.from(payload), from))
          .then(
            (reply) =>
              send(() => {
                if (this.#reachable(to, from)) finish(() => resolve(reply));
                else if (scheduler === undefined)
                  finish(() => reject(new HubError("UNREACHABLE", `${from} is unreachable`)));
              }),
            (error: unknown) => send(() => finish(() => reject(error))),
          );
      });
    });
  }
}
