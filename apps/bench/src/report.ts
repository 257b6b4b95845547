import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { renderSvgChart } from "./charts.js";
import { type Curve, type Figure, formatNumber, type ScenarioResult } from "./harness.js";

/** The machine a run measured, printed beside every result. */
export interface MachineInfo {
  readonly node: string;
  readonly platform: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly loadAverage: readonly number[];
}

/** Facts about this machine and runtime. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

/**
 * Writes `<scenario>.json`, `<scenario>.md` and one `<scenario>-<slug>.svg` chart per curve
 * under `directory`; returns their paths (JSON, Markdown, then the charts in curve order).
 */
export async function writeResult(
  directory: string,
  result: ScenarioResult,
  machine: MachineInfo,
): Promise<string[]> {
  await mkdir(directory, { recursive: true });
  const json = path.join(directory, `${result.scenario}.json`);
  const markdown = path.join(directory, `${result.scenario}.md`);
  await writeFile(json, `${JSON.stringify({ machine, ...result }, null, 2)}\n`);
  await writeFile(markdown, renderMarkdown(result, machine));
  const charts = chartFileNames(result.scenario, result.curves).map((name) =>
    path.join(directory, name),
  );
  for (const [index, curve] of result.curves.entries()) {
    await writeFile(charts[index]!, renderSvgChart(curve));
  }
  return [json, markdown, ...charts];
}

/** A Markdown page for one scenario: the machine, one table row per figure, then the curves. */
export function renderMarkdown(result: ScenarioResult, machine: MachineInfo): string {
  const lines = [
    `# ${result.scenario}`,
    "",
    result.description,
    "",
    `Run ${result.startedAt} (${result.suite} suite) in ${(result.durationMs / 1000).toFixed(1)} s on ${machine.cpu} ` +
      `(${machine.cores} cores, ${machine.memoryGiB} GiB), Node.js ${machine.node}, ${machine.platform}; ` +
      `load average ${machine.loadAverage.join(" / ")}.`,
    "",
    "| figure | median | unit | min | max | spread | runs | note |",
    "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ...result.figures.map(row),
    "",
  ];
  if (result.curves.length > 0) {
    const files = chartFileNames(result.scenario, result.curves);
    lines.push("## Curves", "");
    result.curves.forEach((curve, index) => {
      lines.push(...curveSection(curve, files[index]!), "");
    });
  }
  return lines.join("\n");
}

/** `curve.name` as a file-name part: lowercase, each run of non-alphanumerics one `-`. */
export function curveSlug(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return slug === "" ? "curve" : slug;
}

/**
 * The chart file of each curve of `scenario`, in order: `<scenario>-<slug>.svg`, with `-2`,
 * `-3`… added when two curves' names give the same slug.
 */
export function chartFileNames(
  scenario: string,
  curves: readonly { readonly name: string }[],
): string[] {
  const seen = new Map<string, number>();
  return curves.map((curve) => {
    const slug = curveSlug(curve.name);
    const count = (seen.get(slug) ?? 0) + 1;
    seen.set(slug, count);
    return `${scenario}-${slug}${count === 1 ? "" : `-${count}`}.svg`;
  });
}

function curveSection(curve: Curve, file: string): string[] {
  const xs = [...new Set(curve.series.flatMap((s) => s.points.map((p) => p.x)))].sort(
    (a, b) => a - b,
  );
  const unit = curve.y.unit === "" ? "" : ` (${curve.y.unit})`;
  return [
    `### ${curve.name}`,
    "",
    `![${curve.name.replace(/[[\]]/g, "")}](${file})`,
    "",
    ...(curve.note === undefined ? [] : [curve.note, ""]),
    `${curve.y.label}${unit} by ${curve.x.label}${curve.better === undefined ? "" : `; ${curve.better} is better`}.`,
    "",
    `| ${[curve.x.label, ...curve.series.map((s) => s.name)].map(cell).join(" | ")} |`,
    `| ${["---:", ...curve.series.map(() => "---:")].join(" | ")} |`,
    ...xs.map((x) => {
      const cells = curve.series.map((s) => {
        const point = s.points.find((p) => p.x === x);
        return point === undefined ? "" : formatNumber(point.y);
      });
      return `| ${[formatNumber(x), ...cells].join(" | ")} |`;
    }),
  ];
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

function row(figure: Figure): string {
  const value = figure.kind === "ratio" ? `${figure.value.toFixed(2)}` : formatNumber(figure.value);
  const s = figure.stats;
  const cells = [
    cell(figure.name),
    value,
    figure.unit,
    s ? formatNumber(s.min) : "",
    s ? formatNumber(s.max) : "",
    s ? `${(s.spread * 100).toFixed(1)} %` : "",
    s ? String(s.samples.length) : "1",
    cell(figure.note ?? ""),
  ];
  return `| ${cells.join(" | ")} |`;
}

/** What the index needs of a stored `<scenario>.json`; anything else in the file is ignored. */
const storedResultSchema = z.object({
  machine: z.object({
    node: z.string(),
    platform: z.string(),
    cpu: z.string(),
    cores: z.number(),
    memoryGiB: z.number(),
    loadAverage: z.array(z.number()),
  }),
  scenario: z.string().min(1),
  description: z.string(),
  /** Results written before the suite was recorded have none. */
  suite: z.enum(["quick", "full"]).optional(),
  startedAt: z.string(),
  durationMs: z.number(),
  figures: z.array(
    z.object({
      name: z.string(),
      unit: z.string(),
      kind: z.enum(["sample", "single", "ratio"]),
      value: z.number(),
      better: z.enum(["higher", "lower"]).optional(),
    }),
  ),
  /** Results written before curves existed have none. */
  curves: z.array(z.object({ name: z.string() })).default([]),
});

/** One `<scenario>.json` as the index reads it. */
export type StoredResult = z.infer<typeof storedResultSchema>;

/** Options of {@link writeIndex}. */
export interface IndexOptions {
  /** Where a skipped file is reported (default: a line on stderr). */
  readonly warn?: (line: string) => void;
}

/**
 * Reads every `<scenario>.json` in `directory` and writes `README.md` there: the latest
 * result of each scenario, its machine, its ratios and the figures marked better, with
 * links to its page and charts. A file that is not a result is skipped with a warning.
 * Returns the index's path.
 */
export async function writeIndex(directory: string, options: IndexOptions = {}): Promise<string> {
  const warn = options.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const names = (await readdir(directory)).filter((name) => name.endsWith(".json")).sort();
  const results: StoredResult[] = [];
  for (const name of names) {
    const file = path.join(directory, name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, "utf8"));
    } catch (error) {
      warn(`flowstore-bench: index: skipping ${file}: ${(error as Error).message}`);
      continue;
    }
    const checked = storedResultSchema.safeParse(parsed);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      warn(
        `flowstore-bench: index: skipping ${file}: not a scenario result` +
          (issue === undefined ? "" : ` (${issue.path.join(".") || "root"}: ${issue.message})`),
      );
      continue;
    }
    results.push(checked.data);
  }
  const index = path.join(directory, "README.md");
  await writeFile(index, renderIndex(results));
  return index;
}

/** The index page of a results directory: one section per scenario, by name. */
export function renderIndex(results: readonly StoredResult[]): string {
  const sorted = [...results].sort((a, b) => a.scenario.localeCompare(b.scenario));
  const lines = [
    "# Latest benchmark results",
    "",
    "The latest run of each scenario, rewritten by `pnpm bench` after every run. Every figure " +
      "sits beside a baseline measured in the same run: compare ratios, not absolute figures " +
      "from different machines or days.",
    "",
  ];
  if (sorted.length === 0) lines.push("No results yet.", "");
  else {
    lines.push(
      "| scenario | ran | suite | took |",
      "| --- | --- | --- | ---: |",
      ...sorted.map(
        (r) =>
          `| [${cell(r.scenario)}](#${curveSlug(r.scenario)}) | ${r.startedAt} | ${r.suite ?? ""} | ${seconds(r.durationMs)} |`,
      ),
      "",
    );
  }
  for (const r of sorted) {
    const m = r.machine;
    lines.push(
      `## ${r.scenario}`,
      "",
      r.description,
      "",
      `Ran ${r.startedAt}${r.suite === undefined ? "" : ` (${r.suite} suite)`}, took ${seconds(r.durationMs)}, on ${m.cpu} × ${m.cores} cores, ` +
        `${m.memoryGiB} GiB, Node.js ${m.node}, ${m.platform}; load average ${m.loadAverage.join(" / ")}.`,
      "",
    );
    const key = r.figures.filter((f) => f.kind === "ratio" || f.better !== undefined);
    if (key.length > 0) {
      lines.push(
        "| figure | value | unit | better |",
        "| --- | ---: | --- | --- |",
        ...key.map(
          (f) =>
            `| ${cell(f.name)} | ${f.kind === "ratio" ? f.value.toFixed(2) : formatNumber(f.value)} | ` +
            `${cell(f.unit)} | ${f.better ?? ""} |`,
        ),
        "",
      );
    }
    const charts = chartFileNames(r.scenario, r.curves).map(
      (file, i) => `[${r.curves[i]!.name.replace(/[[\]]/g, "")}](${file})`,
    );
    lines.push(
      `All figures: [${r.scenario}.md](${r.scenario}.md)` +
        (charts.length === 0 ? "." : `; charts: ${charts.join(", ")}.`),
      "",
    );
  }
  return lines.join("\n");
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
