import { z } from "zod";

/**
 * A Lamport timestamp: a non-negative safe integer. Plain `number` rather than `bigint`:
 * 2⁵³ ticks is more than any device table will ever take, and numbers are much faster.
 */
export type LogicalTimestamp = number;

/** Schema of a {@link LogicalTimestamp}. */
export const LogicalTimestampSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A value stamped with the logical time at which it was made or sent. */
export interface Timestamped<T> {
  readonly value: T;
  readonly timestamp: LogicalTimestamp;
}

/** Schema of a {@link Timestamped} value whose value has schema `value`. */
export function timestampedSchema<S extends z.ZodType>(value: S) {
  return z.object({ value, timestamp: LogicalTimestampSchema });
}

/**
 * A Lamport clock, one per device table: every local change takes {@link LogicalClock.next},
 * and every message about the device that arrives moves the clock past its timestamp
 * ({@link LogicalClock.observe}), so a later change always has a larger timestamp than anything
 * it could have seen.
 */
export class LogicalClock {
  #time: LogicalTimestamp;

  /** A clock whose last tick was `start` (default 0: the first tick is 1). */
  constructor(start: LogicalTimestamp = 0) {
    this.#time = checked(start);
  }

  /** The last timestamp given out or observed. */
  get current(): LogicalTimestamp {
    return this.#time;
  }

  /** A new timestamp, larger than every one before it. */
  next(): LogicalTimestamp {
    if (this.#time >= Number.MAX_SAFE_INTEGER) throw new RangeError("logical clock exhausted");
    this.#time += 1;
    return this.#time;
  }

  /**
   * Records a timestamp received from elsewhere: the clock moves to one past the larger of
   * its own time and `timestamp`, and returns that.
   */
  observe(timestamp: LogicalTimestamp): LogicalTimestamp {
    const seen = checked(timestamp);
    if (seen >= Number.MAX_SAFE_INTEGER) throw new RangeError("logical clock exhausted");
    this.#time = Math.max(this.#time, seen) + 1;
    return this.#time;
  }

  /** `value` stamped with {@link LogicalClock.next}. */
  stamp<T>(value: T): Timestamped<T> {
    return { value, timestamp: this.next() };
  }
}

function checked(timestamp: LogicalTimestamp): LogicalTimestamp {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`a logical timestamp is a non-negative safe integer, got ${timestamp}`);
  }
  return timestamp;
}
