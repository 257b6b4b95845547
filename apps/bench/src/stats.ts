/** Summary statistics of repeated measurements. */
export interface Stats {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** (max − min) / median, as a fraction: 0.05 is a 5 % spread. */
  readonly spread: number;
  readonly samples: readonly number[];
}

/** The value below which `p` (0…1) of `values` fall, by linear interpolation. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError("percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * Math.min(1, Math.max(0, p));
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

/** Median, extremes and relative spread of `samples`. */
export function stats(samples: readonly number[]): Stats {
  const median = percentile(samples, 0.5);
  const min = Math.min(...samples);
  const max = Math.max(...samples);
  return { median, min, max, spread: median === 0 ? 0 : (max - min) / Math.abs(median), samples };
}
