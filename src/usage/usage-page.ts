// The usage table as a server-rendered HTML page: plain, fast, no scripts, readable on a phone.

import { isoTime } from "../domain/time.js";
import { ago, groupDecimal, groupDigits, humanBytes, humanCount, isoMinute } from "./format.js";
import { accountHref, escapeHtml, type Html, href, html, layout, raw } from "./html.js";
import type { UsageTableView } from "./render-usage-table.js";
import { DEFAULT_METRIC } from "./usage-request.js";

/**
 * Numbers are human-readable, with the exact count on hover. The page's own text writes non-ASCII characters as
 * entities (the stylesheet as CSS escapes): a page that is all ASCII is encoded and decoded several times faster
 * than one holding a single en dash, and a thousand-row page has tens of thousands of cells.
 */
const NONE = html`<span class="muted">&ndash;</span>`;

/** An amount within text ("Stored 1.2 GiB"): the exact count in `title`, and in `value` for machines. */
export function amount(metric: string, value: bigint | undefined): Html {
  if (value === undefined) return NONE;
  const bytes = isBytes(metric);
  return raw(`<data value="${value}" title="${exact(bytes, value)}">${human(bytes, value)}</data>`);
}

/**
 * An amount as a table cell, `<td title="1,234 bytes">1.21 KiB</td>`, or `<td></td>` when there is none, which the
 * stylesheet shows as a muted dash (as it right-aligns the columns and bolds the total, so that cells carry no
 * classes of their own). `className` is for the few cells that need one.
 */
export function amountCell(metric: string, value: bigint | undefined, className?: string): Html {
  const open = className === undefined ? "<td" : `<td class="${escapeHtml(className)}"`;
  return raw(cellMarkup(isBytes(metric), value, open));
}

const isBytes = (metric: string) =>
  metric === "storage.bytes" || metric.endsWith(".bytes") || metric.startsWith("bytes.");

/**
 * amountCell()'s markup as text, from the cell's opening tag without its `>`, for the table body where it runs
 * thousands of times. Nothing in it needs escaping: digits, separators and unit names only.
 */
function cellMarkup(bytes: boolean, value: bigint | undefined, open: string): string {
  return value === undefined ? `${open}></td>` : `${open} title="${exact(bytes, value)}">${human(bytes, value)}</td>`;
}

const exact = (bytes: boolean, value: bigint) => {
  const grouped = value < 0n ? groupDigits(value) : groupDecimal(value.toString());
  return bytes ? `${grouped} bytes` : grouped;
};

const human = (bytes: boolean, value: bigint) => (bytes ? humanBytes(value) : humanCount(value));

/**
 * The table body's rows: the markup html`` would give, built as plain text, one line a row, with every text from
 * the data escaped here.
 */
function bodyRows(view: UsageTableView): Html {
  const bytes = isBytes(view.metric);
  const ids = view.servers.map((s) => s.id);
  let out = "";
  for (const x of view.rows) {
    out += `<tr><td class="account"><a href="${escapeHtml(accountHref(x.account))}">${escapeHtml(x.account)}</a></td>`;
    out += `<td class="name">${escapeHtml(x.petname ?? "")}</td>${cellMarkup(bytes, x.total, '<td class="total"')}`;
    for (const id of ids) out += cellMarkup(bytes, x.byServer[id], "<td");
    out += "</tr>\n";
  }
  return raw(out);
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
      ? html`<span aria-sort="${key === "account" ? "ascending" : "descending"}">${text} ${raw(key === "account" ? "&#9650;" : "&#9660;")}</span>`
      : html`<a href="${href("/usage", state(view, { sort: key === "total" ? undefined : key }))}">${text}</a>`;
  const staleMinutes = Math.round(view.staleAfterMs / 60_000);

  const serverHeads = view.servers.map((s) => {
    const heard =
      s.lastHeard === null
        ? "never heard from"
        : `last heard ${isoMinute(s.lastHeard)} UTC (${ago(view.now - s.lastHeard)})`;
    const title = s.stale ? `${heard}; stale: silent for more than ${staleMinutes} min` : heard;
    return html`<th${s.stale ? raw(' class="stale"') : ""} scope="col" title="${title}" data-server="${s.id}">${sortLink(s.id, s.name)}${
      s.stale ? html` <span class="badge">stale</span>` : ""
    }<small>${s.lastHeard === null ? "never heard" : ago(view.now - s.lastHeard)}</small></th>`;
  });

  const otherMetric = view.metric === "storage.bytes" ? "storage.files" : "storage.bytes";
  const filters: Html[] = [];
  if (r.search) filters.push(html`matching &ldquo;${r.search}&rdquo;`);
  if (r.accounts) filters.push(html`${r.accounts.length} selected account${r.accounts.length === 1 ? "" : "s"}`);
  if (r.servers) filters.push(html`servers ${r.servers.join(", ")} (totals still across all servers)`);
  if (view.scope !== null) filters.push(html`only your account`);

  const body = html`
<h1>${label} per account and server</h1>
<p class="meta">${view.history ? html`As it stood at <time datetime="${isoTime(view.asOf)}">${isoMinute(view.asOf)} UTC</time> (hourly history) &middot; <a href="${href("/usage", state(view, { at: undefined }))}">now</a>` : html`As of <time datetime="${isoTime(view.asOf)}">${isoMinute(view.asOf)} UTC</time>`}
 &middot; ${view.servers.length} server${view.servers.length === 1 ? "" : "s"}
 &middot; <a href="${href("/usage", state(view, { metric: otherMetric === DEFAULT_METRIC ? undefined : otherMetric, sort: undefined }))}">show ${METRIC_LABELS[otherMetric] ?? otherMetric}</a>
 &middot; <a href="${href("/usage", { ...state(view), format: "json", after: undefined })}">JSON</a>
 &middot; <a href="${href("/usage", { ...state(view), format: "csv" })}">CSV</a>
${filters.length > 0 ? html`<br>Showing ${filters.map((f, i) => html`${i > 0 ? ", " : ""}${f}`)} &middot; <a href="${href("/usage", { metric: state(view).metric })}">show all</a>` : ""}</p>
<form class="search" method="get" action="/usage" role="search">
<input type="search" name="q" value="${r.search ?? ""}" placeholder="Search accounts and names" aria-label="Search accounts and names" maxlength="200">
${state(view).metric ? html`<input type="hidden" name="metric" value="${view.metric}">` : ""}
${state(view).sort ? html`<input type="hidden" name="sort" value="${state(view).sort as string}">` : ""}
${(r.servers ?? []).map((s) => html`<input type="hidden" name="server" value="${s}">`)}
<button type="submit">Search</button>
</form>
<div class="scroll">
<table class="usage">
<thead><tr><th scope="col">${sortLink("account", "Account")}</th><th scope="col">Name</th><th class="total" scope="col">${sortLink("total", "Total")}<small>all servers</small></th>${serverHeads}</tr></thead>
<tbody>
${view.rows.length === 0 ? html`<tr><td colspan="${view.servers.length + 3}" class="muted">No accounts${r.search || r.accounts ? " match" : " yet"}.</td></tr>` : bodyRows(view)}
</tbody>
<tfoot><tr><th scope="row">Total</th><td class="muted">${filters.length > 0 ? "selection" : "all accounts"}</td>${amountCell(view.metric, view.totals.total, "total")}${view.servers.map(
    (s) => amountCell(view.metric, view.totals.byServer[s.id]),
  )}</tr></tfoot>
</table>
</div>
<nav class="pager" aria-label="Pages">
<span>${view.prev ? html`<a rel="prev" href="${href("/usage", state(view, { before: view.prev }))}">&larr; Previous</a>` : ""}</span>
<span>${view.next ? html`<a rel="next" href="${href("/usage", state(view, { after: view.next }))}">Next &rarr;</a>` : ""}</span>
</nav>
<form class="search" method="get" action="/usage">
<label>Show the table as it stood at <input type="datetime-local" name="at" value="${r.at === undefined ? "" : isoTime(r.at).slice(0, 16)}"> UTC</label>
${state(view).metric ? html`<input type="hidden" name="metric" value="${view.metric}">` : ""}
<button type="submit">Go</button>
</form>
<p class="meta">Sizes are rounded; hover over one for the exact count. Servers silent for more than ${staleMinutes} min are marked stale.</p>
${subscriptionsSection(view)}`;
  return layout({ title: "Usage", demo: view.demo, body });
}

/** The feeds this node pulls and how each is doing: an aggregator's columns are only as fresh as these. */
function subscriptionsSection(view: UsageTableView): Html | string {
  if (view.subscriptions.length === 0) return "";
  const rows = view.subscriptions.map(
    (s) =>
      html`<tr${s.state === "failing" ? raw(' class="stale"') : ""}><th scope="row">${s.name}</th><td>${s.state}</td><td class="num">${s.lagEvents === null ? "-" : String(s.lagEvents)}</td><td class="num">${String(s.lagSeconds)} s</td><td>${s.lastSuccess === null ? "never" : html`${isoMinute(Date.parse(s.lastSuccess))} UTC (${ago(view.now - Date.parse(s.lastSuccess))})`}</td><td><code>${s.url}</code></td><td>${s.state === "failing" ? (s.lastError ?? "") : ""}</td></tr>`,
  );
  return html`<h2>Subscriptions</h2>
<div class="scroll">
<table class="subscriptions">
<thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Lag (events)</th><th scope="col">Lag (time)</th><th scope="col">Last success</th><th scope="col">Feed</th><th scope="col">Last error</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</div>
`;
}
