import type { ReplyStatus } from "../frame.js";
import type { Link, LinkHandler } from "../link.js";
import type { NodeId } from "../node.js";

/**
 * The in-process path to the local node: asynchronous like a network (a microtask later),
 * with the payload copied so neither side sees the other's later mutations.
 */
export class LoopbackLink implements Link {
  constructor(
    readonly peer: NodeId,
    private readonly handler: LinkHandler,
  ) {}

  oneWay(subject: string, payload: Uint8Array): void {
    const copy = payload.slice();
    queueMicrotask(() => this.handler.oneWay(this, subject, copy));
  }

  request(id: number, subject: string, payload: Uint8Array): void {
    const copy = payload.slice();
    queueMicrotask(() => this.handler.request(this, id, subject, copy));
  }

  reply(id: number, status: ReplyStatus, payload: Uint8Array): void {
    const copy = payload.slice();
    queueMicrotask(() => this.handler.reply(this, id, status, copy));
  }

  heartbeat(): void {}
}
