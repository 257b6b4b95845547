import type { SchedulerLike, Subscription } from "rxjs";

/** Something that can time out: the queue sets `deadline`; the owner sets `settled`. */
export interface Expirable {
  deadline: number;
  settled: boolean;
}

interface Lane<T> {
  readonly timeoutMs: number;
  items: T[];
  head: number;
  timer: Subscription | undefined;
}

/**
 * Timeouts of many requests with one timer per distinct timeout value.
 *
 * @remarks Requests with the same timeout expire in the order they were sent, so each lane is
 * a FIFO whose head is the next to expire, and one scheduled action per lane suffices. A
 * settled request is skipped; settled requests at the head are dropped at once, so a lane
 * holds about as many entries as there are requests in flight. With a timer per request,
 * `asyncScheduler` would arm and clear an interval for every call.
 */
export class TimeoutQueue<T extends Expirable> {
  readonly #scheduler: SchedulerLike;
  readonly #expire: (item: T) => void;
  readonly #lanes = new Map<number, Lane<T>>();

  constructor(scheduler: SchedulerLike, expire: (item: T) => void) {
    this.#scheduler = scheduler;
    this.#expire = expire;
  }

  /** Starts `item`'s timeout of `timeoutMs`. */
  add(item: T, timeoutMs: number): void {
    item.deadline = this.#scheduler.now() + timeoutMs;
    let lane = this.#lanes.get(timeoutMs);
    if (lane === undefined) {
      lane = { timeoutMs, items: [], head: 0, timer: undefined };
      this.#lanes.set(timeoutMs, lane);
    }
    lane.items.push(item);
    if (lane.timer === undefined) this.#arm(lane, timeoutMs);
  }

  /** Call after setting `item.settled`: drops settled entries from the head of its lane. */
  settled(timeoutMs: number): void {
    const lane = this.#lanes.get(timeoutMs);
    if (lane === undefined) return;
    while (lane.head < lane.items.length && lane.items[lane.head]!.settled) lane.head++;
    if (lane.head === lane.items.length) this.#drop(lane);
  }

  /** Cancels every timer (the items are left to their owner). */
  close(): void {
    for (const lane of this.#lanes.values()) lane.timer?.unsubscribe();
    this.#lanes.clear();
  }

  #arm(lane: Lane<T>, delay: number): void {
    lane.timer = this.#scheduler.schedule(() => this.#check(lane), Math.max(0, delay));
  }

  #check(lane: Lane<T>): void {
    lane.timer = undefined;
    const now = this.#scheduler.now();
    while (lane.head < lane.items.length) {
      const item = lane.items[lane.head]!;
      if (!item.settled && item.deadline > now) break;
      lane.head++;
      if (!item.settled) this.#expire(item);
    }
    if (this.#lanes.get(lane.timeoutMs) !== lane) return;
    if (lane.head === lane.items.length) {
      this.#drop(lane);
      return;
    }
    if (lane.head > 1024 && lane.head * 2 > lane.items.length) {
      lane.items = lane.items.slice(lane.head);
      lane.head = 0;
    }
    this.#arm(lane, lane.items[lane.head]!.deadline - now);
  }

  #drop(lane: Lane<T>): void {
    lane.timer?.unsubscribe();
    this.#lanes.delete(lane.timeoutMs);
  }
}
