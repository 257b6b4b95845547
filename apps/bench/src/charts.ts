import type { Curve } from "./harness.js";

/**
 * Okabe–Ito colours, distinguishable with the common colour-vision deficiencies; yellow is
 * last because it is faint on white.
 */
const palette = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#D55E00",
  "#CC79A7",
  "#56B4E9",
  "#000000",
  "#F0E442",
] as const;

/** Marker shapes cycle with the colours, so two series never differ by colour alone. */
const markers = ["circle", "square", "triangle", "diamond"] as const;
type Marker = (typeof markers)[number];

const width = 720;
const plotLeft = 78;
const plotRight = width - 24;
const plotTop = 48;
const plotBottom = 330;
/** Rough advance of one character at the legend's font size, to lay the legend out. */
const legendCharWidth = 6.8;
const noteCharsPerLine = 110;

/** One axis: the domain drawn, its ticks, and the mapping of a value into pixels. */
interface Axis {
  readonly scale: "linear" | "log";
  readonly ticks: readonly number[];
  /** Maps a value of the domain onto [0, 1]. */
  readonly fraction: (value: number) => number;
}

/** A point that can be drawn on both axes, already in pixels. */
interface Pixel {
  readonly x: number;
  readonly y: number;
}

/**
 * Draws `curve` as a self-contained SVG line chart (720 px wide, about 420 high): title,
 * axes with tick labels, one line with point markers per series, a legend, and the note.
 *
 * @remarks Points that cannot be drawn — not finite, or not positive on a log axis — are
 * left out and counted in a line under the chart, so the output never holds NaN or
 * Infinity. A log axis ticks at powers of ten; a linear one at 1, 2 or 5 × 10ⁿ steps.
 */
export function renderSvgChart(curve: Curve): string {
  const xScale = curve.x.scale ?? "linear";
  const yScale = curve.y.scale ?? "linear";
  let dropped = 0;
  const series = curve.series.map((s) => {
    const points = s.points.filter((p) => drawable(p.x, xScale) && drawable(p.y, yScale));
    dropped += s.points.length - points.length;
    return { name: s.name, points: [...points].sort((a, b) => a.x - b.x) };
  });
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const xAxis = axis(xs, xScale, false);
  const yAxis = axis(ys, yScale, true);
  const toPixel = (x: number, y: number): Pixel => ({
    x: plotLeft + clamp01(xAxis.fraction(x)) * (plotRight - plotLeft),
    y: plotBottom - clamp01(yAxis.fraction(y)) * (plotBottom - plotTop),
  });

  const legend = layoutLegend(series.map((s) => s.name));
  const notes = [
    ...(curve.note === undefined ? [] : wrap(curve.note, noteCharsPerLine)),
    ...(dropped === 0
      ? []
      : [
          `${dropped} point${dropped === 1 ? "" : "s"} not drawn (not finite${
            xScale === "log" || yScale === "log" ? ", or not positive on a log axis" : ""
          }).`,
        ]),
  ];
  const legendTop = plotBottom + 56;
  const notesTop = legendTop + legend.rows * 18 + 6;
  const height = Math.max(420, notesTop + notes.length * 15 + 10);

  const yLabel = curve.y.unit === "" ? curve.y.label : `${curve.y.label} (${curve.y.unit})`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(curve.name)}" ` +
      `font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">`,
    `<title>${escapeXml(curve.name)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text class="title" x="${width / 2}" y="26" text-anchor="middle" font-size="16" ` +
      `font-weight="600" fill="#222222">${escapeXml(curve.name)}</text>`,
  ];
  if (curve.better !== undefined) {
    parts.push(
      `<text class="better" x="${plotRight}" y="${plotTop - 8}" text-anchor="end" ` +
        `font-size="11" fill="#666666">${curve.better} is better</text>`,
    );
  }

  // Grid and tick labels.
  for (const tick of xAxis.ticks) {
    const { x } = toPixel(tick, firstOf(yAxis.ticks));
    parts.push(
      `<line class="grid" x1="${px(x)}" y1="${plotTop}" x2="${px(x)}" y2="${plotBottom}" ` +
        `stroke="#e5e5e5" stroke-width="1"/>`,
      `<text class="tick x" data-value="${tick}" x="${px(x)}" y="${plotBottom + 18}" ` +
        `text-anchor="middle" font-size="11" fill="#444444">${escapeXml(formatCompact(tick))}</text>`,
    );
  }
  for (const tick of yAxis.ticks) {
    const { y } = toPixel(firstOf(xAxis.ticks), tick);
    parts.push(
      `<line class="grid" x1="${plotLeft}" y1="${px(y)}" x2="${plotRight}" y2="${px(y)}" ` +
        `stroke="#e5e5e5" stroke-width="1"/>`,
      `<text class="tick y" data-value="${tick}" x="${plotLeft - 8}" y="${px(y + 4)}" ` +
        `text-anchor="end" font-size="11" fill="#444444">${escapeXml(formatCompact(tick))}</text>`,
    );
  }
  parts.push(
    `<rect class="plot" x="${plotLeft}" y="${plotTop}" width="${plotRight - plotLeft}" ` +
      `height="${plotBottom - plotTop}" fill="none" stroke="#888888" stroke-width="1"/>`,
    `<text class="axis-label x" x="${(plotLeft + plotRight) / 2}" y="${plotBottom + 40}" ` +
      `text-anchor="middle" font-size="12" fill="#222222">${escapeXml(
        curve.x.label + (xScale === "log" ? " (log scale)" : ""),
      )}</text>`,
    `<text class="axis-label y" x="0" y="0" transform="translate(18 ${(plotTop + plotBottom) / 2}) rotate(-90)" ` +
      `text-anchor="middle" font-size="12" fill="#222222">${escapeXml(
        yLabel + (yScale === "log" ? " (log scale)" : ""),
      )}</text>`,
  );

  // One line and its markers per series.
  series.forEach((s, index) => {
    const { colour, marker } = look(index);
    const pixels = s.points.map((p) => toPixel(p.x, p.y));
    parts.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    if (pixels.length > 1) {
      parts.push(
        `<polyline points="${pixels.map((p) => `${px(p.x)},${px(p.y)}`).join(" ")}" ` +
          `fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"/>`,
      );
    }
    for (const p of pixels) parts.push(markerSvg(marker, p, colour));
    parts.push("</g>");
  });

  // Legend, then the note.
  parts.push(`<g class="legend">`);
  series.forEach((s, index) => {
    const { colour, marker } = look(index);
    const place = legend.places[index]!;
    const y = legendTop + place.row * 18;
    parts.push(
      `<line x1="${px(place.x)}" y1="${y}" x2="${px(place.x + 24)}" y2="${y}" ` +
        `stroke="${colour}" stroke-width="2"/>`,
      markerSvg(marker, { x: place.x + 12, y }, colour),
      `<text x="${px(place.x + 30)}" y="${y + 4}" font-size="12" fill="#222222">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push("</g>");
  notes.forEach((line, index) => {
    parts.push(
      `<text class="note" x="${plotLeft}" y="${notesTop + index * 15}" font-size="11" ` +
        `fill="#555555">${escapeXml(line)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

/** Escapes text for an XML text node or a double- or single-quoted attribute. */
export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** A short label for a tick: 1500 → "1.5k", 2000000 → "2M", 0.25 → "0.25", 1e-6 → "1e-6". */
export function formatCompact(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e15 || magnitude < 1e-4) {
    return value
      .toExponential(2)
      .replace(/\.?0+e/, "e")
      .replace("e+", "e");
  }
  for (const [size, suffix] of [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ] as const) {
    if (magnitude >= size) return `${Number((value / size).toPrecision(3))}${suffix}`;
  }
  return String(Number(value.toPrecision(3)));
}

/** The colour and marker of the `index`th series; both cycle, never in step. */
function look(index: number): { colour: string; marker: Marker } {
  return {
    colour: palette[index % palette.length]!,
    marker: markers[(index + Math.floor(index / palette.length)) % markers.length]!,
  };
}

function drawable(value: number, scale: "linear" | "log"): boolean {
  return Number.isFinite(value) && (scale === "linear" || value > 0);
}

function axis(values: readonly number[], scale: "linear" | "log", fromZero: boolean): Axis {
  return scale === "log" ? logAxis(values) : linearAxis(values, fromZero);
}

/**
 * Round ticks of 1, 2 or 5 × 10ⁿ that cover `values`; a y axis of values of one sign
 * starts at zero, so heights compare, and has some headroom past its extremes. One value, or none, still gets a non-empty domain.
 */
function linearAxis(values: readonly number[], fromZero: boolean): Axis {
  let low = values.length === 0 ? 0 : minOf(values);
  let high = values.length === 0 ? 1 : maxOf(values);
  if (fromZero && low > 0) low = 0;
  if (fromZero && high < 0) high = 0;
  if (low === high) {
    const pad = low === 0 ? 1 : Math.abs(low) / 2;
    low -= pad;
    high += pad;
  }
  if (fromZero) {
    // Headroom, so the highest (or lowest) value is not drawn on the frame.
    const pad = (high - low) * 0.05;
    if (high > 0) high += pad;
    if (low < 0) low -= pad;
  }
  const step = niceStep((high - low) / 5);
  const first = Math.floor(low / step);
  const last = Math.ceil(high / step);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  const from = firstOf(ticks);
  const to = ticks[ticks.length - 1] ?? from + 1;
  return { scale: "linear", ticks, fraction: (v) => (v - from) / (to - from) };
}

/** Ticks at powers of ten covering `values` (all positive), at most about ten of them. */
function logAxis(values: readonly number[]): Axis {
  let low = values.length === 0 ? 0 : Math.floor(Math.log10(minOf(values)));
  let high = values.length === 0 ? 1 : Math.ceil(Math.log10(maxOf(values)));
  if (low === high) high += 1;
  const every = Math.max(1, Math.ceil((high - low) / 10));
  low = Math.floor(low / every) * every;
  high = Math.ceil(high / every) * every;
  const ticks: number[] = [];
  for (let e = low; e <= high; e += every) ticks.push(Number(`1e${e}`));
  return {
    scale: "log",
    ticks,
    fraction: (v) => (Math.log10(v) - low) / (high - low),
  };
}

function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  const scaled = rough / power;
  const nice = scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10;
  return nice * power;
}

function layoutLegend(names: readonly string[]): {
  rows: number;
  places: { x: number; row: number }[];
} {
  const places: { x: number; row: number }[] = [];
  let x = plotLeft;
  let row = 0;
  for (const name of names) {
    const entry = 30 + name.length * legendCharWidth + 20;
    if (x > plotLeft && x + entry > plotRight) {
      x = plotLeft;
      row++;
    }
    places.push({ x, row });
    x += entry;
  }
  return { rows: names.length === 0 ? 0 : row + 1, places };
}

function wrap(text: string, perLine: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > perLine) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

function markerSvg(marker: Marker, p: Pixel, colour: string): string {
  const r = 3.5;
  switch (marker) {
    case "circle":
      return `<circle cx="${px(p.x)}" cy="${px(p.y)}" r="${r}" fill="${colour}"/>`;
    case "square":
      return `<rect x="${px(p.x - r)}" y="${px(p.y - r)}" width="${2 * r}" height="${2 * r}" fill="${colour}"/>`;
    case "triangle":
      return `<polygon points="${px(p.x)},${px(p.y - r - 1)} ${px(p.x + r + 0.5)},${px(p.y + r)} ${px(p.x - r - 0.5)},${px(p.y + r)}" fill="${colour}"/>`;
    case "diamond":
      return `<polygon points="${px(p.x)},${px(p.y - r - 1)} ${px(p.x + r + 1)},${px(p.y)} ${px(p.x)},${px(p.y + r + 1)} ${px(p.x - r - 1)},${px(p.y)}" fill="${colour}"/>`;
    default: {
      const unreachable: never = marker;
      throw new Error(`unknown marker ${String(unreachable)}`);
    }
  }
}

/** A pixel coordinate with one decimal; anything not finite would be a bug upstream. */
function px(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`chart coordinate is ${value}`);
  return String(Math.round(value * 10) / 10);
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}

function minOf(values: readonly number[]): number {
  return values.reduce((a, b) => Math.min(a, b));
}

function maxOf(values: readonly number[]): number {
  return values.reduce((a, b) => Math.max(a, b));
}

function firstOf(values: readonly number[]): number {
  return values[0] ?? 0;
}
