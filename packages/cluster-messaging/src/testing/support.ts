// Helpers of this package's tests: free loopback ports, bounded polling, virtual time.
import type { VirtualTimeScheduler } from "rxjs";
import type { ClusterConfig } from "../clusterConfig.js";

export { freePorts } from "../freePorts.js";
export { waitFor } from "./waitFor.js";

import { type NodeId, nodeId } from "../node.js";

/** A loopback cluster configuration of nodes `n1…nK` on `ports`. */
export function loopbackConfig(name: string, ports: readonly number[]): ClusterConfig {
  return {
    name,
    nodes: ports.map((port, index) => ({ id: nodeId(`n${index + 1}`), host: "127.0.0.1", port })),
  };
}

/** The ids `n1…nK`. */
export function ids(count: number): NodeId[] {
  return Array.from({ length: count }, (_, index) => nodeId(`n${index + 1}`));
}

/**
 * Advances `scheduler` by `ms` of virtual time in `stepMs` steps, letting promise callbacks
 * run between steps (a real macrotask turn each), so async handlers interleave with timers.
 */
export async function advance(
  scheduler: VirtualTimeScheduler,
  ms: number,
  stepMs = 1,
): Promise<void> {
  const end = scheduler.frame + ms;
  while (scheduler.frame < end) {
    const next = Math.min(end, scheduler.frame + stepMs);
    scheduler.maxFrames = next;
    scheduler.flush();
    scheduler.frame = next;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Advances virtual time until `condition` holds, at most `limitMs`. */
export async function advanceUntil(
  scheduler: VirtualTimeScheduler,
  condition: () => boolean,
  what: string,
  limitMs = 60_000,
  stepMs = 1,
): Promise<number> {
  const start = scheduler.frame;
  while (!condition()) {
    if (scheduler.frame - start >= limitMs) {
      throw new Error(`${what} did not happen within ${limitMs} ms of virtual time`);
    }
    await advance(scheduler, stepMs, stepMs);
  }
  return scheduler.frame - start;
}

/** Bytes of a string. */
export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
/** The string in bytes. */
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
