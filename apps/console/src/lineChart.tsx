import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

/** One series of a {@link LineChart}. */
export interface Series {
  readonly label: string;
  readonly color: string;
}

const WIDTH = 760;
const HEIGHT = 220;

/**
 * A uPlot line chart over time. `data[0]` is the x axis in seconds since the epoch, then
 * one array per series. The chart is made once and fed new data in place.
 */
export function LineChart({
  title,
  unit,
  series,
  data,
}: {
  title: string;
  unit: string;
  series: readonly Series[];
  data: uPlot.AlignedData;
}) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | undefined>(undefined);
  const key = series.map((s) => s.label).join(",");
  useEffect(() => {
    if (host.current === null) return;
    const options: uPlot.Options = {
      title,
      width: WIDTH,
      height: HEIGHT,
      series: [
        {},
        ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true })),
      ],
      axes: [{}, { label: unit, size: 70 }],
      scales: { y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max * 1.1)] } },
    };
    chart.current = new uPlot(options, data, host.current);
    return () => {
      chart.current?.destroy();
      chart.current = undefined;
    };
    // The chart is rebuilt only when its series change; data flows in below.
  }, [key]);
  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);
  return <div class="chart" ref={host} />;
}
