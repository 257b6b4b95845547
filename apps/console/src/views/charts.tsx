import { useMemo, useState } from "preact/hooks";
import type uPlot from "uplot";
import { LineChart, type Series } from "../lineChart";
import type { LiveState } from "../live";
import type { MetricsSample, NodeFigures } from "../protocol";

const COLORS = [
  "#2563eb",
  "#dc2626",
  "#16a34a",
  "#9333ea",
  "#ea580c",
  "#0891b2",
  "#ca8a04",
  "#db2777",
  "#4b5563",
];
const WINDOWS = [60, 300, 600] as const;

/** The columns of one figure per node over the samples, for uPlot. */
export function columns(
  samples: readonly MetricsSample[],
  nodes: readonly string[],
  pick: (figures: NodeFigures) => number,
): uPlot.AlignedData {
  const xs = samples.map((s) => s.t / 1000);
  const ys = nodes.map((node) =>
    samples.map((s) => {
      const figures = s.nodes[node];
      return figures === undefined ? null : pick(figures);
    }),
  );
  return [xs, ...ys];
}

/** Write throughput, backup lag and messages over the last minutes, per node. */
export function ChartsView({ live }: { live: LiveState }) {
  const [span, setSpan] = useState<number>(300);
  const nodes = live.nodes.map((n) => n.id);
  const series: Series[] = nodes.map((id, i) => ({ label: id, color: COLORS[i % COLORS.length]! }));
  const samples = useMemo(() => {
    const last = live.history[live.history.length - 1]?.t ?? 0;
    return live.history.filter((s) => s.t > last - span * 1000);
  }, [live.history, span]);
  const key = nodes.join(",");
  const writes = useMemo(() => columns(samples, nodes, (f) => f.writesPerSecond), [samples, key]);
  const lag = useMemo(() => columns(samples, nodes, (f) => f.backupLag), [samples, key]);
  const messages = useMemo(
    () => columns(samples, nodes, (f) => f.messagesPerSecond),
    [samples, key],
  );
  return (
    <section>
      <h2>Charts</h2>
      <p class="summary">
        last{" "}
        {WINDOWS.map((w) => (
          <button
            key={w}
            type="button"
            class={w === span ? "current" : ""}
            onClick={() => setSpan(w)}
          >
            {w / 60} min
          </button>
        ))}{" "}
        · one sample a second · nodes of this process
      </p>
      <div data-testid="charts">
        <LineChart
          title="Write throughput (flow operations applied by each master)"
          unit="writes/s"
          series={series}
          data={writes}
        />
        <LineChart
          title="Backup lag (changed buckets not yet acknowledged by a backup)"
          unit="buckets"
          series={series}
          data={lag}
        />
        <LineChart title="Store messages sent" unit="messages/s" series={series} data={messages} />
      </div>
    </section>
  );
}
