import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Figure, formatNumber, type ScenarioResult } from "./harness.js";

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

/** Writes `<scenario>.json` and `<scenario>.md` under `directory`; returns their paths. */
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
  return [json, markdown];
}

/** A Markdown page for one scenario: the machine, then one table row per figure. */
export function renderMarkdown(result: ScenarioResult, machine: MachineInfo): string {
  const lines = [
    `# ${result.scenario}`,
    "",
    result.description,
    "",
    `Run ${result.startedAt} in ${(result.durationMs / 1000).toFixed(1)} s on ${machine.cpu} ` +
      `(${machine.cores} cores, ${machine.memoryGiB} GiB), Node.js ${machine.node}, ${machine.platform}; ` +
      `load average ${machine.loadAverage.join(" / ")}.`,
    "",
    "| figure | median | unit | min | max | spread | runs | note |",
    "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ...result.figures.map(row),
    "",
  ];
  return lines.join("\n");
}

function row(figure: Figure): string {
  const value = figure.kind === "ratio" ? `${figure.value.toFixed(2)}` : formatNumber(figure.value);
  const s = figure.stats;
  const cells = [
    figure.name,
    value,
    figure.unit,
    s ? formatNumber(s.min) : "",
    s ? formatNumber(s.max) : "",
    s ? `${(s.spread * 100).toFixed(1)} %` : "",
    s ? String(s.samples.length) : "1",
    (figure.note ?? "").replaceAll("|", "\\|"),
  ];
  return `| ${cells.join(" | ")} |`;
}
