// The usage table as a server-rendered HTML page: plain, fast, no scripts, readable on a phone.

import { isoTime } from "../domain/time.js";
import type { UsageTableRow } from "../store/port.js";
import { ago, groupDigits, humanBytes, humanCount, isoMinute } from "./format.js";
import { accountHref, type Html, href, html, layout } from "./html.js";
import type { UsageTableView } from "./render-usage-table.js";
import { DEFAULT_METRIC } from "./usage-request.js";

/** A number cell: human-readable, with the exact value on hover (and in `value` for machines). */
const NONE = html`<span class="muted">–</span>`;

export function amount(metric: string, value: bigint | undefined): Html {
  if (value === undefined) return NONE;
  if (metric === "storage.bytes" || metric.endsWith(".bytes") || metric.startsWith("bytes.")) {
    return html`<data value="${value.toString()}" title="${groupDigits(value)} bytes">${humanBytes(value)}</data>`;
  }
  return html`<data value="${value.toString()}" title="${groupDigits(value)}">${humanCount(value)}</data>`;
}

/** The query parameters that describe this view (not its page), for links that keep them. */
function state(view: UsageTableView, overrides: Record<string, string | readonly string[] | number | undefined> = {}) {
  const r = view.request;
  const sort = r.sort.by === "server" ? r.sort.server : r.sort.by;
  return {
    metric: r.metric === DEFAULT_METRIC ? undefined : r.metric,
    sort: sort === "total" ? undefined : sort,
    q: r.search,
    server: r.servers,
    account: r.accounts,
    limit: r.limitGiven ? r.limit : undefined,
    at: r.at === undefined ? undefined : isoTime(r.at),
    ...overrides,
  };
}

const METRIC_LABELS: Record<string, string> = { "storage.bytes": "Stored bytes", "storage.files": "Files" };

export function renderUsagePage(view: UsageTableView): string {
  const r = view.request;
  const label = METRIC_LABELS[view.metric] ?? view.metric;
  const sortedBy = r.sort.by === "server" ? r.sort.server : r.sort.by;
  const sortLink = (key: string, text: Html | string) =>
    sortedBy === key
      ? html`<span aria-sort="${key === "account" ? "ascending" : "descending"}">${text} ${key === "account" ? "▲" : "▼"}</span>`
      : html`<a href="${href("/usage", state(view, { sort: key === "total" ? undefined : key }))}">${text}</a>`;
  const staleMinutes = Math.round(view.staleAfterMs / 60_000);

  const serverHeads = view.servers.map((s) => {
    const heard =
      s.lastHeard === null
        ? "never heard from"
        : `last heard ${isoMinute(s.lastHeard)} UTC (${ago(view.now - s.lastHeard)})`;
    const title = s.stale ? `${heard}; stale: silent for more than ${staleMinutes} min` : heard;
    return html`<th class="num${s.stale ? " stale" : ""}" scope="col" title="${title}" data-server="${s.id}">${sortLink(s.id, s.name)}${
      s.stale ? html` <span class="badge">stale</span>` : ""
    }<small>${s.lastHeard === null ? "never heard" : ago(view.now - s.lastHeard)}</small></th>`;
  });

  const row = (x: UsageTableRow) => html`<tr>
<td class="account"><a href="${accountHref(x.account)}">${x.account}</a></td>
<td class="name">${x.petname ?? ""}</td>
<td class="num total"><strong>${amount(view.metric, x.total)}</strong></td>
${view.servers.map((s) => html`<td class="num">${amount(view.metric, x.byServer[s.id])}</td>`)}
</tr>
`;

  const otherMetric = view.metric === "storage.bytes" ? "storage.files" : "storage.bytes";
  const filters: Html[] = [];
  if (r.search) filters.push(html`matching “${r.search}”`);
  if (r.accounts) filters.push(html`${r.accounts.length} selected account${r.accounts.length === 1 ? "" : "s"}`);
  if (r.servers) filters.push(html`servers ${r.servers.join(", ")} (totals still across all servers)`);
  if (view.scope !== null) filters.push(html`only your account`);

  const body = html`
<h1>${label} per account and server</h1>
<p class="meta">${view.history ? html`As it stood at <time datetime="${isoTime(view.asOf)}">${isoMinute(view.asOf)} UTC</time> (hourly history) · <a href="${href("/usage", state(view, { at: undefined }))}">now</a>` : html`As of <time datetime="${isoTime(view.asOf)}">${isoMinute(view.asOf)} UTC</time>`}
 · ${view.servers.length} server${view.servers.length === 1 ? "" : "s"}
 · <a href="${href("/usage", state(view, { metric: otherMetric === DEFAULT_METRIC ? undefined : otherMetric, sort: undefined }))}">show ${METRIC_LABELS[otherMetric] ?? otherMetric}</a>
 · <a href="${href("/usage", { ...state(view), format: "json", after: undefined })}">JSON</a>
 · <a href="${href("/usage", { ...state(view), format: "csv" })}">CSV</a>
${filters.length > 0 ? html`<br>Showing ${filters.map((f, i) => html`${i > 0 ? ", " : ""}${f}`)} · <a href="${href("/usage", { metric: state(view).metric })}">show all</a>` : ""}</p>
<form class="search" method="get" action="/usage" role="search">
<input type="search" name="q" value="${r.search ?? ""}" placeholder="Search accounts and names" aria-label="Search accounts and names" maxlength="200">
${state(view).metric ? html`<input type="hidden" name="metric" value="${view.metric}">` : ""}
${state(view).sort ? html`<input type="hidden" name="sort" value="${state(view).sort as string}">` : ""}
${(r.servers ?? []).map((s) => html`<input type="hidden" name="server" value="${s}">`)}
<button type="submit">Search</button>
</form>
<div class="scroll">
<table class="usage">
<thead><tr><th scope="col">${sortLink("account", "Account")}</th><th scope="col">Name</th><th class="num total" scope="col">${sortLink("total", "Total")}<small>all servers</small></th>${serverHeads}</tr></thead>
<tbody>
${view.rows.length === 0 ? html`<tr><td colspan="${view.servers.length + 3}" class="muted">No accounts${r.search || r.accounts ? " match" : " yet"}.</td></tr>` : view.rows.map(row)}
</tbody>
<tfoot><tr><th scope="row">Total</th><td class="muted">${filters.length > 0 ? "selection" : "all accounts"}</td><td class="num total">${amount(view.metric, view.totals.total)}</td>${view.servers.map(
    (s) => html`<td class="num">${amount(view.metric, view.totals.byServer[s.id])}</td>`,
  )}</tr></tfoot>
</table>
</div>
<nav class="pager" aria-label="Pages">
<span>${view.prev ? html`<a rel="prev" href="${href("/usage", state(view, { before: view.prev }))}">← Previous</a>` : ""}</span>
<span>${view.next ? html`<a rel="next" href="${href("/usage", state(view, { after: view.next }))}">Next →</a>` : ""}</span>
</nav>
<form class="search" method="get" action="/usage">
<label>Show the table as it stood at <input type="datetime-local" name="at" value="${r.at === undefined ? "" : isoTime(r.at).slice(0, 16)}"> UTC</label>
${state(view).metric ? html`<input type="hidden" name="metric" value="${view.metric}">` : ""}
<button type="submit">Go</button>
</form>
<p class="meta">Sizes are rounded; hover over one for the exact count. Servers silent for more than ${staleMinutes} min are marked stale.</p>
`;
  return layout({ title: "Usage", demo: view.demo, body });
}
