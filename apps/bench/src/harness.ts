import { performance } from "node:perf_hooks";
import { type Stats, stats } from "./stats.js";

/** Whether a bigger or a smaller figure is the better one. */
export type Better = "higher" | "lower";

/** One figure of a scenario: a repeated measurement, a single reading, or a ratio of two. */
export interface Figure {
  readonly name: string;
  readonly unit: string;
  readonly kind: "sample" | "single" | "ratio";
  readonly value: number;
  readonly better?: Better;
  /** Present for repeated measurements. */
  readonly stats?: Stats;
  readonly note?: string;
}

/** One line of a chart: a name and its points in x order. */
export interface Series {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

/** A curve of a scenario: how a figure moves as the workload grows, drawn as an SVG chart. */
export interface Curve {
  /** The chart's title; also names its file (`<scenario>-<slug of name>.svg`). */
  readonly name: string;
  readonly x: { readonly label: string; readonly scale?: "linear" | "log" };
  readonly y: {
    readonly label: string;
    readonly unit: string;
    readonly scale?: "linear" | "log";
  };
  readonly series: readonly Series[];
  readonly better?: Better;
  readonly note?: string;
}

/** The result of a repeated measurement, as returned by {@link BenchContext.sample}. */
export interface Summary extends Stats {
  readonly name: string;
  readonly unit: string;
}

/** Options of one repeated measurement. */
export interface SampleOptions {
  /** Measured runs (default: 3 in the quick suite, 5 with `--full`). */
  readonly runs?: number;
  /** Discarded runs before the measured ones (default 2). */
  readonly warmup?: number;
  readonly better?: Better;
  readonly note?: string;
}

/** What a scenario uses to measure and report. */
export interface BenchContext {
  /** True for the quick suite (`pnpm bench`), false with `--full`. */
  readonly quick: boolean;
  /** Prints a progress line on the terminal. */
  progress(message: string): void;
  /**
   * Runs `body` `warmup` times (discarded), then `runs` times; each run returns its own
   * figure (ops/s, ms, bytes…). Records and returns the median and spread.
   */
  sample(
    name: string,
    unit: string,
    body: () => number | Promise<number>,
    options?: SampleOptions,
  ): Promise<Summary>;
  /**
   * {@link sample} for several measurements at once, run in turns (a, b, a, b…), so that the
   * machine's load drifting over the run touches each alike: for a ratio of two of them.
   * Returns one summary per entry, in order.
   */
  interleave(
    entries: readonly {
      readonly name: string;
      readonly unit: string;
      readonly body: () => number | Promise<number>;
      readonly better?: Better;
      readonly note?: string;
    }[],
    options?: { readonly runs?: number; readonly warmup?: number },
  ): Promise<Summary[]>;
  /** Records one measured figure. */
  record(
    name: string,
    unit: string,
    value: number,
    options?: { better?: Better; note?: string },
  ): void;
  /** Records `of.median / to.median`: how many times `of` is `to`. */
  ratio(name: string, of: Summary, to: Summary, note?: string): number;
  /** Records a curve; the report draws it as an SVG chart beside the figures. */
  curve(curve: Curve): void;
}

/** A named benchmark. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  run(context: BenchContext): Promise<void>;
}

/** Declares a scenario (an identity function that gives the object its type). */
export function defineScenario(scenario: Scenario): Scenario {
  return scenario;
}

/** Runs `body` once and returns `count / seconds`: operations per second. */
export async function timeOps(count: number, body: () => unknown): Promise<number> {
  const start = performance.now();
  await body();
  const seconds = (performance.now() - start) / 1000;
  return count / seconds;
}

/** Everything one scenario measured. */
export interface ScenarioResult {
  readonly scenario: string;
  readonly description: string;
  /** `quick` for `pnpm bench`, `full` with `--full`. */
  readonly suite: "quick" | "full";
  readonly startedAt: string;
  readonly durationMs: number;
  readonly figures: readonly Figure[];
  readonly curves: readonly Curve[];
}

/** Options of a run of one scenario. */
export interface RunOptions {
  readonly quick: boolean;
  /** Overrides every measurement's run count. */
  readonly runs?: number;
  readonly log: (line: string) => void;
}

/** Runs `scenario`, printing progress, and returns its figures. */
export async function runScenario(
  scenario: Scenario,
  options: RunOptions,
): Promise<ScenarioResult> {
  const figures: Figure[] = [];
  const curves: Curve[] = [];
  const startedAt = new Date();
  const start = performance.now();
  const say = (line: string) => options.log(`[${scenario.name}] ${line}`);

  const context: BenchContext = {
    quick: options.quick,
    progress: say,
    async sample(name, unit, body, sampleOptions = {}) {
      const [summary] = await context.interleave([{ name, unit, body, ...sampleOptions }], {
        ...(sampleOptions.runs === undefined ? {} : { runs: sampleOptions.runs }),
        ...(sampleOptions.warmup === undefined ? {} : { warmup: sampleOptions.warmup }),
      });
      return summary!;
    },
    async interleave(entries, interleaveOptions = {}) {
      const runs = options.runs ?? interleaveOptions.runs ?? (options.quick ? 3 : 5);
      const warmup = interleaveOptions.warmup ?? 2;
      for (let i = 0; i < warmup; i++) for (const entry of entries) await entry.body();
      const samples = entries.map(() => [] as number[]);
      for (let i = 0; i < runs; i++) {
        for (const [k, entry] of entries.entries()) {
          const value = await entry.body();
          samples[k]!.push(value);
          say(`${entry.name}: run ${i + 1}/${runs}: ${formatNumber(value)} ${entry.unit}`);
        }
      }
      return entries.map(({ name, unit, better, note }, k) => {
        const summary: Summary = { name, unit, ...stats(samples[k]!) };
        figures.push({
          name,
          unit,
          kind: "sample",
          value: summary.median,
          stats: stats(samples[k]!),
          ...(better === undefined ? {} : { better }),
          ...(note === undefined ? {} : { note }),
        });
        return summary;
      });
    },
    record(name, unit, value, recordOptions = {}) {
      figures.push({ name, unit, kind: "single", value, ...recordOptions });
      say(`${name}: ${formatNumber(value)} ${unit}`);
    },
    ratio(name, of, to, note) {
      const value = of.median / to.median;
      figures.push({
        name,
        unit: "×",
        kind: "ratio",
        value,
        note: note ?? `${of.name} / ${to.name}`,
      });
      say(`${name}: ${value.toFixed(2)}×`);
      return value;
    },
    curve(curve) {
      curves.push(curve);
      say(`curve ${curve.name}: ${curve.series.map((s) => s.name).join(", ")}`);
    },
  };

  await scenario.run(context);
  return {
    scenario: scenario.name,
    description: scenario.description,
    suite: options.quick ? "quick" : "full",
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - start),
    figures,
    curves,
  };
}

/** 1234567.8 → "1,234,568"; 0.01234 → "0.0123". */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return Number(value.toPrecision(3)).toString();
}
