import type { NodeId } from "../cluster.js";
import type { StoreMessaging } from "../storeMessaging.js";

type Handler = (payload: Uint8Array, from: NodeId) => Promise<Uint8Array> | Uint8Array;

/**
 * Store messaging between nodes of one process with no transport at all: a request is a
 * call of the peer's handler on the next microtask. For fast unit tests of the store's
 * logic; the simulation tests use the cluster's in-memory transport with its faults.
 */
export class LocalHub {
  readonly #handlers = new Map<NodeId, Map<string, Handler>>();
  readonly #down = new Set<NodeId>();

  /** The messaging of `node`. */
  messaging(node: NodeId): StoreMessaging {
    const handlers = new Map<string, Handler>();
    this.#handlers.set(node, handlers);
    return {
      localNode: node,
      request: async (to, subject, payload) => {
        await Promise.resolve();
        if (this.#down.has(node) || this.#down.has(to))
          throw Object.assign(new Error(`${to} is unreachable`), { code: "UNREACHABLE" });
        const handler = this.#handlers.get(to)?.get(subject);
        if (handler === undefined)
          throw Object.assign(new Error(`no handler for ${subject} on ${to}`), {
            code: "NO_HANDLER",
          });
        const reply = await handler(Uint8Array.from(payload), node);
        if (this.#down.has(node) || this.#down.has(to))
          throw Object.assign(new Error(`${to} is unreachable`), { code: "UNREACHABLE" });
        return reply;
      },
      serve: (subject, handler) => {
        handlers.set(subject, handler);
        return () => {
          if (handlers.get(subject) === handler) handlers.delete(subject);
        };
      },
    };
  }

  /** Cuts `node` off (requests to and from it fail) or reconnects it. */
  setDown(node: NodeId, down: boolean): void {
    if (down) this.#down.add(node);
    else this.#down.delete(node);
  }
}
