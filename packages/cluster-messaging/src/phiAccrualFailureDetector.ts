/** Settings of heartbeats and of the phi-accrual failure detector. */
export interface FailureDetectorOptions {
  /** How often every node sends a heartbeat to every peer. */
  readonly heartbeatIntervalMs: number;
  /** Suspicion level at which a peer is declared INACTIVE. */
  readonly phiThreshold: number;
  /** Floor of the standard deviation of heartbeat intervals, so a very regular history does not make the detector jumpy. */
  readonly minStdDeviationMs: number;
  /** A silence this much longer than the mean interval is still considered normal (GC, busy loop). */
  readonly acceptablePauseMs: number;
  /** How many recent intervals the detector remembers. */
  readonly windowSize: number;
}

/**
 * Defaults for a Node.js process: heartbeat every 500 ms, phi threshold 8, standard deviation
 * at least 200 ms, 2 s acceptable pause, 100 intervals.
 *
 * @remarks A Node event loop stalls for a full GC, a large synchronous JSON parse, or a busy
 * host; stalls of one to two seconds happen in healthy processes. The detector treats the
 * expected interval as mean + 2 s, so a 2 s stall of the peer yields phi ≈ 0.3 and never
 * convicts it. A peer that is really gone reaches phi 8 after about
 * 0.5 + 2 + 5.6 × 0.2 ≈ 3.6 s of silence. See the README for the arithmetic.
 */
export const DEFAULT_FAILURE_DETECTOR: FailureDetectorOptions = {
  heartbeatIntervalMs: 500,
  phiThreshold: 8,
  minStdDeviationMs: 200,
  acceptablePauseMs: 2000,
  windowSize: 100,
};

/**
 * The phi-accrual failure detector of Hayashibara et al.: instead of a yes/no timeout it
 * gives a suspicion level φ = −log10(P(a heartbeat comes later than now)), computed from the
 * distribution of recent heartbeat intervals (normal, logistic approximation of its CDF).
 *
 * @remarks φ = 1 means a 10 % chance that the peer is merely slow, φ = 8 one in 10⁸. Pure:
 * times are passed in, so it runs the same in real and in virtual time.
 */
export class PhiAccrualFailureDetector {
  readonly #options: FailureDetectorOptions;
  readonly #intervals: Float64Array;
  #count = 0;
  #next = 0;
  #sum = 0;
  #sumOfSquares = 0;
  #last: number | undefined;

  constructor(options: FailureDetectorOptions = DEFAULT_FAILURE_DETECTOR) {
    if (options.windowSize < 2) throw new RangeError("windowSize must be at least 2");
    this.#options = options;
    this.#intervals = new Float64Array(options.windowSize);
  }

  /** Whether any heartbeat arrived since the start or the last {@link reset}. */
  get started(): boolean {
    return this.#last !== undefined;
  }

  /** Records a heartbeat that arrived at `now` (ms). */
  heartbeat(now: number): void {
    if (this.#last === undefined) {
      // Seed the history with the expected interval, ± a quarter, as if two had been seen.
      const expected = this.#options.heartbeatIntervalMs;
      this.#add(expected - expected / 4);
      this.#add(expected + expected / 4);
    } else {
      this.#add(Math.max(0, now - this.#last));
    }
    this.#last = now;
  }

  /** The suspicion level at `now`: 0 before the first heartbeat. */
  phi(now: number): number {
    if (this.#last === undefined) return 0;
    const elapsed = now - this.#last;
    const mean = this.#sum / this.#count;
    const variance = Math.max(0, this.#sumOfSquares / this.#count - mean * mean);
    const deviation = Math.max(Math.sqrt(variance), this.#options.minStdDeviationMs);
    return phiOf(elapsed, mean + this.#options.acceptablePauseMs, deviation);
  }

  /** Forgets the history (after a peer was declared INACTIVE: its next life starts afresh). */
  reset(): void {
    this.#count = 0;
    this.#next = 0;
    this.#sum = 0;
    this.#sumOfSquares = 0;
    this.#last = undefined;
  }

  #add(interval: number): void {
    const size = this.#intervals.length;
    if (this.#count === size) {
      const old = this.#intervals[this.#next]!;
      this.#sum -= old;
      this.#sumOfSquares -= old * old;
    } else {
      this.#count++;
    }
    this.#intervals[this.#next] = interval;
    this.#next = (this.#next + 1) % size;
    this.#sum += interval;
    this.#sumOfSquares += interval * interval;
  }
}

/** φ of a silence of `elapsed` ms given intervals with `mean` and `deviation`. */
export function phiOf(elapsed: number, mean: number, deviation: number): number {
  const y = (elapsed - mean) / deviation;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  return elapsed > mean ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
}
