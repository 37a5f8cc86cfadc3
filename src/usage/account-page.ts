// One account's page: its usage per server, and charts of stored bytes, requests and bytes in/out per hour.

import type { RecentBill } from "../charging/recent-bills.js";
import { isoTime } from "../domain/time.js";
import { recentBillsList } from "./bill-page.js";
import { ago, humanBytes, humanCount, isoMinute } from "./format.js";
import { accountHref, html, layout } from "./html.js";
import type { AccountUsageView } from "./render-account-usage.js";
import { chart } from "./svg-chart.js";
import { amount, amountCell } from "./usage-page.js";

/** `bills`: the periods to link a bill for, newest first (none before a policy is loaded). */
export function renderAccountPage(view: AccountUsageView, bills: readonly RecentBill[] = []): string {
  const hours = view.history.map((h) => h.hour);
  const storedChart = chart({
    title: "Stored bytes",
    hours,
    kind: "line",
    format: humanBytes,
    base: 1024n,
    series: [{ label: "stored", values: view.history.map((h) => h.stored), className: "line" }],
  });
  const requestChart = chart({
    title: "Requests per hour",
    hours,
    kind: "bars",
    format: humanCount,
    base: 1000n,
    series: [{ label: "requests", values: view.history.map((h) => h.requests), className: "bar" }],
  });
  const ioChart = chart({
    title: "Bytes in and out per hour",
    hours,
    kind: "line",
    format: humanBytes,
    base: 1024n,
    series: [
      { label: "in", values: view.history.map((h) => h.bytesIn), className: "line" },
      { label: "out", values: view.history.map((h) => h.bytesOut), className: "line2" },
    ],
  });
  const staleMinutes = Math.round(view.staleAfterMs / 60_000);
  const ranges = [24, 48, 168, 720].map((h) =>
    h === view.hours
      ? html`<strong>${label(h)}</strong>`
      : html`<a href="${accountHref(view.account, { hours: h })}">${label(h)}</a>`,
  );
  const body = html`
<p class="meta"><a href="/usage">← Usage table</a></p>
<h1>${view.petname ?? view.account}</h1>
<dl class="facts">
<dt>Account</dt><dd><code>${view.account}</code></dd>
<dt>Name</dt><dd>${view.petname ?? html`<span class="muted">none</span>`}</dd>
<dt>Stored</dt><dd>${amount("storage.bytes", view.total.bytes)}${
    view.servers.some((s) => s.files !== null) ? html` in ${amount("storage.files", view.total.files)} files` : ""
  }</dd>
<dt>As of</dt><dd><time datetime="${isoTime(view.asOf)}">${isoMinute(view.asOf)} UTC</time> · <a href="${accountHref(view.account, { format: "json", hours: view.hours })}">JSON</a></dd>
</dl>
<h2>Per server</h2>
<div class="scroll">
<table class="servers">
<thead><tr><th scope="col">Server</th><th class="num" scope="col">Stored</th><th class="num" scope="col">Files</th><th scope="col">Latest reading</th></tr></thead>
<tbody>
${view.servers.map(
  (s) => html`<tr>
<th scope="row" class="${s.stale ? "stale" : ""}" title="${s.lastHeard === null ? "never heard from" : `last heard ${isoMinute(s.lastHeard)} UTC`}${s.stale ? `; stale: silent for more than ${staleMinutes} min` : ""}">${s.id}${s.stale ? html` <span class="badge">stale</span>` : ""}</th>
${amountCell("storage.bytes", s.bytes ?? undefined, "num")}
${amountCell("storage.files", s.files ?? undefined, "num")}
<td>${s.lastReading === null ? html`<span class="muted">–</span>` : html`<time datetime="${isoTime(s.lastReading)}" title="${isoMinute(s.lastReading)} UTC">${ago(view.now - s.lastReading)}</time>`}</td>
</tr>
`,
)}
</tbody>
<tfoot><tr><th scope="row">Total</th>${amountCell("storage.bytes", view.total.bytes, "num")}${amountCell("storage.files", view.total.files, "num")}<td></td></tr></tfoot>
</table>
</div>
${recentBillsList(view.account, bills)}
<h2>Last ${label(view.hours)}</h2>
<p class="meta">${ranges.map((r, i) => html`${i > 0 ? " · " : ""}${r}`)} · hourly, UTC; hover over a chart for exact values.</p>
<div class="charts">
<figure id="chart-stored"><figcaption>Stored bytes</figcaption>${storedChart}</figure>
<figure id="chart-requests"><figcaption>Requests per hour</figcaption>${requestChart}</figure>
<figure id="chart-io"><figcaption>Bytes in and out per hour</figcaption><div class="legend"><span class="k1">■ in</span><span class="k2">■ out</span></div>${ioChart}</figure>
</div>
`;
  return layout({ title: view.petname ?? view.account, demo: view.demo, body });
}

function label(hours: number): string {
  return hours % 24 === 0 ? `${hours / 24} day${hours === 24 ? "" : "s"}` : `${hours} hours`;
}
