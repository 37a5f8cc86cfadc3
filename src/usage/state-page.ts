// The states view as a server-rendered HTML page: accounts by servers, each cell on or off, no scripts.

import { isoTime } from "../domain/time.js";
import { isoMinute } from "./format.js";
import { accountHref, href, html, layout } from "./html.js";
import { DEFAULT_STATE_LIMIT, type StateTableView } from "./render-state-table.js";

/** A cell: "on" (with the count when several instances are), "off", or empty where the account has no reading. */
function cell(on: number | undefined) {
  if (on === undefined) return html`<td></td>`;
  return on === 0 ? html`<td class="muted">off</td>` : html`<td>on${on > 1 ? ` (${on} instances)` : ""}</td>`;
}

export function renderStatePage(view: StateTableView): string {
  const r = view.request;
  const limit = r.limit === DEFAULT_STATE_LIMIT ? undefined : r.limit;
  const keep = { metric: view.metric, account: r.accounts, server: r.servers, limit };
  const body = html`
<h1>${view.metric} per account and server</h1>
<p class="meta">As of <time datetime="${isoTime(view.asOf)}">${isoMinute(view.asOf)} UTC</time>, from each series' latest reading
 &middot; ${view.servers.length} server${view.servers.length === 1 ? "" : "s"}
 &middot; <a href="${href("/usage/states", { ...keep, after: r.after, format: "json" })}">JSON</a>
 &middot; <a href="${href("/usage/states", { ...keep, after: r.after, format: "csv" })}">CSV</a></p>
<div class="scroll">
<table>
<thead><tr><th scope="col">Account</th><th scope="col">Name</th>${view.servers.map((s) => html`<th scope="col">${s}</th>`)}</tr></thead>
<tbody>
${
  view.rows.length === 0
    ? html`<tr><td colspan="${view.servers.length + 2}" class="muted">No account has a reading of ${view.metric}${r.after ? " after this one" : ""}.</td></tr>`
    : view.rows.map(
        (x) =>
          html`<tr><td class="account"><a href="${accountHref(x.account)}">${x.account}</a></td><td class="name">${x.petname ?? ""}</td>${view.servers.map((s) => cell(x.byServer[s]))}</tr>\n`,
      )
}
</tbody>
<tfoot><tr><th scope="row">Accounts on</th><td></td>${view.servers.map((s) => html`<td>${view.onByServer[s] ?? 0}</td>`)}</tr></tfoot>
</table>
</div>
<nav class="pager" aria-label="Pages"><span></span>
<span>${view.next ? html`<a rel="next" href="${href("/usage/states", { ...keep, after: view.next })}">Next &rarr;</a>` : ""}</span>
</nav>
`;
  return layout({ title: `States: ${view.metric}`, demo: view.demo, body });
}
