// Small SVG charts drawn on the server: a line or bars per hour, axes in human units, the exact value on hover.

import { isoMinute } from "./format.js";
import { type Html, html } from "./html.js";

export interface ChartSeries {
  readonly label: string;
  readonly values: readonly bigint[];
  /** CSS class of the line: "line" or "line2". */
  readonly className: string;
}

export interface ChartOptions {
  readonly title: string;
  readonly hours: readonly number[];
  readonly series: readonly ChartSeries[];
  readonly kind: "line" | "bars";
  /** Formats a value for axis labels and hover text. */
  readonly format: (value: bigint) => string;
  /** 1024n when the values are sizes, else 1000n. */
  readonly base: bigint;
}

const W = 640;
const H = 220;
const LEFT = 64;
const RIGHT = 12;
const TOP = 12;
const BOTTOM = 28;

/**
 * A round axis maximum at or above max: 1, 2 or 5 times a power of ten, within a unit of the base (1000 for
 * counts, 1024 for sizes, so that the labels read 2 TiB and not 2.2 TiB).
 */
export function niceMax(max: bigint, base: bigint): bigint {
  if (max <= 0n) return 1n;
  let unit = 1n;
  while (unit * base <= max) unit *= base;
  let step = unit;
  for (;;) {
    for (const m of [1n, 2n, 5n]) if (step * m >= max) return step * m;
    step *= 10n;
  }
}

/** Position along [0, span] of value within [0, max], as a float: only for drawing, never for the numbers shown. */
function scale(value: bigint, max: bigint, span: number): number {
  return (Number((value * 1_000_000n) / max) / 1_000_000) * span;
}

export function chart(options: ChartOptions): Html {
  const n = options.hours.length;
  const plotW = W - LEFT - RIGHT;
  const plotH = H - TOP - BOTTOM;
  let max = 0n;
  for (const s of options.series) for (const v of s.values) if (v > max) max = v;
  const top = niceMax(max, options.base);
  const x = (i: number) => LEFT + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW);
  const y = (v: bigint) => TOP + plotH - scale(v, top, plotH);
  const fmt = (v: number) => v.toFixed(1);

  const ticks = [0n, top / 2n, top].map(
    (v) =>
      html`<line class="grid" x1="${LEFT}" x2="${W - RIGHT}" y1="${fmt(y(v))}" y2="${fmt(y(v))}"/><text x="${LEFT - 6}" y="${fmt(y(v) + 4)}" text-anchor="end">${options.format(v)}</text>`,
  );
  const labelEvery = Math.max(1, Math.ceil(n / 6));
  const xLabels = options.hours.flatMap((hour, i) =>
    // The first label is anchored at its start and the last at its end: the ones between keep a label and a half
    // of room from either, so that none overlaps.
    i === 0 || i === n - 1 || (i % labelEvery === 0 && i >= labelEvery * 1.5 && n - 1 - i >= labelEvery * 1.5)
      ? [
          html`<text x="${fmt(x(i))}" y="${H - 8}" text-anchor="${i === n - 1 ? "end" : i === 0 ? "start" : "middle"}">${isoMinute(hour).slice(5, 16)}</text>`,
        ]
      : [],
  );

  let marks: Html[];
  if (options.kind === "bars") {
    const s = options.series[0];
    const barW = Math.max(1, plotW / Math.max(n, 1) - 1);
    marks = (s?.values ?? []).map((v, i) => {
      const h = scale(v, top, plotH);
      const left = LEFT + (i / Math.max(n, 1)) * plotW;
      return html`<rect class="bar" x="${fmt(left)}" y="${fmt(TOP + plotH - h)}" width="${fmt(barW)}" height="${fmt(h)}"/>`;
    });
  } else {
    marks = options.series.map(
      (s) =>
        html`<polyline class="${s.className}" points="${s.values.map((v, i) => `${fmt(x(i))},${fmt(y(v))}`).join(" ")}"/>`,
    );
  }
  // One invisible column per hour carries the exact values as a tooltip.
  const colW = plotW / Math.max(n, 1);
  const hits = options.hours.map((hour, i) => {
    const text = `${isoMinute(hour)} UTC: ${options.series.map((s) => `${s.label} ${options.format(s.values[i] ?? 0n)}`).join(", ")}`;
    const left = options.kind === "bars" ? LEFT + i * colW : x(i) - colW / 2;
    return html`<rect class="hit" x="${fmt(left)}" y="${TOP}" width="${fmt(colW)}" height="${plotH}"><title>${text}</title></rect>`;
  });
  const summary = `${options.title}: ${n} hours, up to ${options.format(max)}`;
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${summary}" xmlns="http://www.w3.org/2000/svg"><title>${summary}</title>${ticks}${xLabels}${marks}${hits}</svg>`;
}
