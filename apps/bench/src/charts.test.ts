import { describe, expect, it } from "vitest";
import { escapeXml, formatCompact, renderSvgChart } from "./charts.js";
import type { Curve } from "./harness.js";

/** One element of a parsed SVG: its name, attributes and the text directly inside it. */
interface Element {
  readonly name: string;
  readonly attributes: Record<string, string>;
  text: string;
  readonly children: Element[];
}

const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;

/**
 * A small, strict reader of the XML subset the charts use (elements, double-quoted
 * attributes, text): throws on a stray `<` or `&`, an unclosed or mismatched tag, a
 * duplicate attribute, or anything after the root.
 */
function parseXml(source: string): Element {
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*="[^"<]*")*)\s*(\/?)>/y;
  const attribute = /([A-Za-z_:][\w:.-]*)="([^"<]*)"/g;
  const stack: Element[] = [];
  let root: Element | undefined;
  let at = 0;
  while (at < source.length) {
    const next = source.indexOf("<", at);
    const text = source.slice(at, next === -1 ? source.length : next);
    if (entity.test(text)) throw new Error(`unescaped & in ${JSON.stringify(text)}`);
    if (text.includes(">")) throw new Error(`stray > in ${JSON.stringify(text)}`);
    const open = stack[stack.length - 1];
    if (open === undefined) {
      if (text.trim() !== "") throw new Error(`text outside the root: ${JSON.stringify(text)}`);
    } else open.text += text;
    if (next === -1) break;
    tag.lastIndex = next;
    const match = tag.exec(source);
    if (match === null) throw new Error(`malformed tag at ${source.slice(next, next + 40)}`);
    const [whole, closing, name, attributeText, selfClosing] = match;
    at = next + whole.length;
    if (closing === "/") {
      const top = stack.pop();
      if (top?.name !== name) throw new Error(`</${name}> closes <${top?.name}>`);
      continue;
    }
    if (root !== undefined && stack.length === 0) throw new Error("a second root element");
    const attributes: Record<string, string> = {};
    for (const [, key, value] of (attributeText ?? "").matchAll(attribute)) {
      if (key! in attributes) throw new Error(`duplicate attribute ${key}`);
      if (entity.test(value!)) throw new Error(`unescaped & in attribute ${key}`);
      attributes[key!] = value!;
    }
    const element: Element = { name: name!, attributes, text: "", children: [] };
    if (open === undefined) root = element;
    else open.children.push(element);
    if (selfClosing !== "/") stack.push(element);
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (root === undefined) throw new Error("no root element");
  return root;
}

function all(element: Element, predicate: (e: Element) => boolean): Element[] {
  return [
    ...(predicate(element) ? [element] : []),
    ...element.children.flatMap((c) => all(c, predicate)),
  ];
}

function decodeXml(text: string): string {
  return text
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");
}

function classed(svg: Element, name: string): Element[] {
  return all(svg, (e) => (e.attributes.class ?? "").split(" ").includes(name));
}

function plotArea(svg: Element) {
  const [plot] = classed(svg, "plot");
  expect(plot).toBeDefined();
  const x = Number(plot!.attributes.x);
  const y = Number(plot!.attributes.y);
  return {
    left: x,
    top: y,
    right: x + Number(plot!.attributes.width),
    bottom: y + Number(plot!.attributes.height),
  };
}

function polylinePoints(svg: Element): { x: number; y: number }[][] {
  return all(svg, (e) => e.name === "polyline").map((line) =>
    (line.attributes.points ?? "").split(" ").map((pair) => {
      const [x, y] = pair.split(",").map(Number);
      return { x: x!, y: y! };
    }),
  );
}

function tickValues(svg: Element, axis: "x" | "y"): number[] {
  return classed(svg, "tick")
    .filter((t) => (t.attributes.class ?? "").split(" ").includes(axis))
    .map((t) => Number(t.attributes["data-value"]));
}

const throughput: Curve = {
  name: "Writes <per second> & latency",
  x: { label: "flows per device", scale: "log" },
  y: { label: "throughput", unit: "ops/s" },
  better: "higher",
  series: [
    {
      name: 'flowstore "ec"',
      points: [
        { x: 100, y: 52_000 },
        { x: 1_000, y: 48_000 },
        { x: 10_000, y: 45_500 },
        { x: 100_000, y: 30_000 },
      ],
    },
    {
      name: "baseline <map>",
      points: [
        { x: 1_000, y: 120_000 },
        { x: 300, y: 125_000 },
        { x: 50_000, y: 110_000 },
      ],
    },
  ],
  note: "Each point is the median of 3 runs; the baseline & flowstore share one workload.",
};

describe("renderSvgChart", () => {
  it("draws well-formed SVG with the title, axis labels, a legend entry per series and the note", () => {
    const svgText = renderSvgChart(throughput);
    const svg = parseXml(svgText);
    expect(svg.name).toBe("svg");
    expect(Number(svg.attributes.width)).toBe(720);
    expect(Number(svg.attributes.height)).toBeGreaterThanOrEqual(400);
    expect(decodeXml(classed(svg, "title")[0]!.text)).toBe(throughput.name);
    const [legend] = classed(svg, "legend");
    const legendText = all(legend!, (e) => e.name === "text").map((t) => decodeXml(t.text));
    expect(legendText).toEqual(['flowstore "ec"', "baseline <map>"]);
    const axisLabels = classed(svg, "axis-label").map((t) => decodeXml(t.text));
    expect(axisLabels).toEqual(["flows per device (log scale)", "throughput (ops/s)"]);
    expect(
      classed(svg, "note")
        .map((t) => decodeXml(t.text))
        .join(" "),
    ).toBe(throughput.note);
    expect(svgText).not.toMatch(/NaN|Infinity|undefined/);
  });

  it("gives each series its own colour and puts every point inside the plot area", () => {
    const svg = parseXml(renderSvgChart(throughput));
    const area = plotArea(svg);
    const lines = polylinePoints(svg);
    expect(lines.map((l) => l.length)).toEqual([4, 3]);
    for (const point of lines.flat()) {
      expect(point.x).toBeGreaterThanOrEqual(area.left);
      expect(point.x).toBeLessThanOrEqual(area.right);
      expect(point.y).toBeGreaterThanOrEqual(area.top);
      expect(point.y).toBeLessThanOrEqual(area.bottom);
    }
    // The baseline's points arrive out of x order; its line is drawn left to right.
    const baseline = lines[1]!;
    expect(baseline.map((p) => p.x)).toEqual([...baseline.map((p) => p.x)].sort((a, b) => a - b));
    const strokes = all(svg, (e) => e.name === "polyline").map((l) => l.attributes.stroke);
    expect(new Set(strokes).size).toBe(2);
    // Higher throughput is drawn higher up (smaller y in SVG).
    const at1000 = (line: { x: number; y: number }[]) =>
      line.find((p) => p.x === lines[0]![1]!.x)!.y;
    expect(at1000(baseline)).toBeLessThan(at1000(lines[0]!));
  });

  it("ticks a log axis at powers of ten covering the data, a linear one at round steps", () => {
    const svg = parseXml(renderSvgChart(throughput));
    const xTicks = tickValues(svg, "x");
    expect(xTicks).toEqual([100, 1_000, 10_000, 100_000]);
    for (const tick of xTicks) expect(Number.isInteger(Math.log10(tick))).toBe(true);
    const yTicks = tickValues(svg, "y");
    expect(yTicks[0]).toBe(0);
    expect(yTicks[yTicks.length - 1]).toBeGreaterThanOrEqual(125_000);
    const step = yTicks[1]! - yTicks[0]!;
    expect(step / 10 ** Math.floor(Math.log10(step))).toBeOneOf([1, 2, 5]);
    for (const [i, tick] of yTicks.entries()) expect(tick).toBeCloseTo(i * step, 6);
    const labels = classed(svg, "tick").map((t) => t.text);
    expect(labels).toContain("100k");
  });

  it("log ticks on y are powers of ten, also for values below one", () => {
    const svg = parseXml(
      renderSvgChart({
        name: "latency",
        x: { label: "nodes" },
        y: { label: "p99", unit: "ms", scale: "log" },
        series: [
          {
            name: "p99",
            points: [
              { x: 1, y: 0.003 },
              { x: 2, y: 0.4 },
              { x: 3, y: 2_500 },
            ],
          },
        ],
      }),
    );
    const ticks = tickValues(svg, "y");
    expect(ticks[0]).toBe(0.001);
    expect(ticks[ticks.length - 1]).toBe(10_000);
    for (const tick of ticks) expect(Number.isInteger(Math.log10(tick))).toBe(true);
  });

  const edgeCases: [string, Curve][] = [
    [
      "a single point",
      {
        name: "one",
        x: { label: "n" },
        y: { label: "v", unit: "B" },
        series: [{ name: "only", points: [{ x: 5, y: 7 }] }],
      },
    ],
    [
      "a flat series",
      {
        name: "flat",
        x: { label: "n" },
        y: { label: "v", unit: "B" },
        series: [
          {
            name: "flat",
            points: [
              { x: 1, y: 3 },
              { x: 2, y: 3 },
              { x: 3, y: 3 },
            ],
          },
        ],
      },
    ],
    [
      "all zero, one x",
      {
        name: "zeros",
        x: { label: "n" },
        y: { label: "v", unit: "B" },
        series: [
          {
            name: "z",
            points: [
              { x: 0, y: 0 },
              { x: 0, y: 0 },
            ],
          },
        ],
      },
    ],
    [
      "zero and negative values on log axes",
      {
        name: "log with zeros",
        x: { label: "n", scale: "log" },
        y: { label: "v", unit: "B", scale: "log" },
        series: [
          {
            name: "a",
            points: [
              { x: 0, y: 10 },
              { x: 10, y: 0 },
              { x: 100, y: -5 },
              { x: 1_000, y: 50 },
              { x: 10_000, y: 500 },
            ],
          },
          { name: "all dropped", points: [{ x: -1, y: 1 }] },
        ],
      },
    ],
    [
      "no points at all, and non-finite input",
      {
        name: "empty",
        x: { label: "n" },
        y: { label: "v", unit: "" },
        series: [
          { name: "empty", points: [] },
          { name: "bad", points: [{ x: Number.NaN, y: Number.POSITIVE_INFINITY }] },
        ],
      },
    ],
  ];

  it.each(edgeCases)("%s: no NaN or Infinity, points inside the plot", (_, curve) => {
    const text = renderSvgChart(curve);
    expect(text).not.toMatch(/NaN|Infinity|undefined/);
    const svg = parseXml(text);
    const area = plotArea(svg);
    const markers = all(svg, (e) => e.name === "circle" && e.attributes.cx !== undefined);
    for (const point of polylinePoints(svg).flat()) {
      expect(point.x).toBeGreaterThanOrEqual(area.left);
      expect(point.y).toBeLessThanOrEqual(area.bottom);
    }
    for (const m of markers) {
      expect(Number.isFinite(Number(m.attributes.cx))).toBe(true);
      expect(Number.isFinite(Number(m.attributes.cy))).toBe(true);
    }
    const legend = all(classed(svg, "legend")[0]!, (e) => e.name === "text");
    expect(legend.map((t) => decodeXml(t.text))).toEqual(curve.series.map((s) => s.name));
    const ticks = [...tickValues(svg, "x"), ...tickValues(svg, "y")];
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    for (const tick of ticks) expect(Number.isFinite(tick)).toBe(true);
  });

  it("leaves out points a log axis cannot show and says how many", () => {
    const svg = parseXml(renderSvgChart(edgeCases[3]![1]));
    expect(polylinePoints(svg).map((l) => l.length)).toEqual([2]);
    expect(
      classed(svg, "note")
        .map((t) => t.text)
        .join(" "),
    ).toMatch(/^4 points not drawn/);
  });

  it("spreads a flat series' axis around its value rather than dividing by zero", () => {
    const svg = parseXml(renderSvgChart(edgeCases[1]![1]));
    const [line] = polylinePoints(svg);
    const area = plotArea(svg);
    expect(new Set(line!.map((p) => p.y)).size).toBe(1);
    expect(line![0]!.y).toBeGreaterThan(area.top);
    expect(line![0]!.y).toBeLessThan(area.bottom);
  });

  it("cycles colours and markers so that many series stay distinct", () => {
    const series = Array.from({ length: 9 }, (_, i) => ({
      name: `s${i}`,
      points: [
        { x: 1, y: i },
        { x: 2, y: i + 1 },
      ],
    }));
    const svg = parseXml(
      renderSvgChart({ name: "many", x: { label: "x" }, y: { label: "y", unit: "" }, series }),
    );
    const groups = all(svg, (e) => e.name === "g" && e.attributes.class === "series");
    const looks = groups.map((g) => {
      const line = g.children.find((c) => c.name === "polyline")!;
      const marker = g.children.find((c) => c.name !== "polyline")!;
      return `${line.attributes.stroke} ${marker.name}`;
    });
    expect(new Set(looks).size).toBe(9);
  });
});

describe("formatCompact and escapeXml", () => {
  it("formats ticks compactly", () => {
    expect([0, 1, 12.5, 999, 1_000, 10_000, 1_500_000, 2e9, 0.25, 1e-6].map(formatCompact)).toEqual(
      ["0", "1", "12.5", "999", "1k", "10k", "1.5M", "2G", "0.25", "1e-6"],
    );
    expect(formatCompact(-25_000)).toBe("-25k");
  });

  it("escapes every XML special character", () => {
    expect(escapeXml(`a<b>&"c'`)).toBe("a&lt;b&gt;&amp;&quot;c&apos;");
  });
});
