// The bill of an account for a period as a page, and its explanation (…/explain) as a page: every value escaped.

import type { BillJson } from "../charging/bill.js";
import { type ExplainJson, type ExplainSlice, lineName } from "../charging/explain.js";
import type { RecentBill } from "../charging/recent-bills.js";
import { isoTime } from "../domain/time.js";
import { isoMinute } from "./format.js";
import { accountHref, type Html, href, html, layout } from "./html.js";

/** The bill page's path: the account last, as it may hold a slash. */
export const billHref = (account: string, period: string, params?: Record<string, string>) =>
  href(`/usage/bills/${encodeURIComponent(period)}/${encodeURIComponent(account)}`, params);

export const explainHref = (account: string, period: string, params?: Record<string, string>) =>
  href(`/usage/explain/${encodeURIComponent(period)}/${encodeURIComponent(account)}`, params);

const SOURCE: Record<string, string> = {
  account: "the account's own",
  group: "its group's",
  default: "the policy's default",
};

const when = (iso: string) => html`<time datetime="${iso}">${isoMinute(Date.parse(iso))}</time>`;
const range = (start: string, end: string) => html`${when(start)} – ${when(end)}`;

export interface BillPage {
  readonly bill: BillJson;
  readonly closed: boolean;
  readonly petname: string | null;
  readonly demo: boolean;
}

/** What the bill's state means for a reader. */
function stateText(closed: boolean): string {
  return closed
    ? "closed: the bill as it was closed, never rewritten"
    : "not closed: priced now, each level held to the period's end";
}

export function renderBillPage(page: BillPage): string {
  const { bill } = page;
  const who = page.petname ?? bill.account;
  const body = html`
<p class="meta"><a href="${accountHref(bill.account)}">← ${who}</a></p>
<h1>Bill for ${who}, ${bill.period.name}</h1>
<dl class="facts">
<dt>Account</dt><dd><code>${bill.account}</code></dd>
<dt>Period</dt><dd>${range(bill.period.start, bill.period.end)} UTC</dd>
<dt>State</dt><dd id="bill-state">${stateText(page.closed)}</dd>
<dt>Agreement</dt><dd><ul class="plain">${bill.agreements.map(
    (a) => html`<li><strong>${a.name}</strong>, ${SOURCE[a.source] ?? a.source}, ${range(a.start, a.end)}</li>`,
  )}</ul></dd>
<dt>See also</dt><dd><a href="${explainHref(bill.account, bill.period.name)}">How each line was priced</a> · <a href="${billHref(bill.account, bill.period.name, { format: "json" })}">JSON</a></dd>
</dl>
<h2>Lines</h2>
${
  bill.lines.length === 0
    ? html`<p class="muted">No usage charged in this period.</p>`
    : html`<div class="scroll"><table class="bill" id="lines">
<thead><tr><th scope="col">Resource</th><th scope="col">Instance</th><th class="num" scope="col">Quantity</th><th scope="col">Unit</th><th class="num" scope="col">Credits</th></tr></thead>
<tbody>${bill.lines.map(
        (
          l,
        ) => html`<tr><th scope="row">${l.resource}</th><td>${l.instance}</td><td class="num">${l.quantity}</td><td>${l.unit}</td><td class="num">${l.credits}</td></tr>
`,
      )}</tbody>
<tfoot><tr><th scope="row" colspan="4">Charges</th><td class="num" id="total">${bill.total}</td></tr></tfoot>
</table></div>`
}
${bill.lines.map(
  (l) => html`<h3>${lineName(l)}: slices</h3>
<div class="scroll"><table class="slices">
<thead><tr><th scope="col">From – to (UTC)</th><th scope="col">Agreement</th><th scope="col">Price list</th><th class="num" scope="col">Price</th><th scope="col">Algorithm</th><th class="num" scope="col">Quantity</th><th class="num" scope="col">Amount</th></tr></thead>
<tbody>${l.slices.map(
    (
      s,
    ) => html`<tr><td>${range(s.start, s.end)}</td><td>${s.agreement}</td><td>${s.pricelist ?? html`<span class="muted">none</span>`}</td><td class="num">${s.price}</td><td>${s.algorithm ?? "default"}: <code>${s.expression}</code></td><td class="num">${s.quantity}</td><td class="num">${s.amount}</td></tr>
`,
  )}</tbody>
</table></div>`,
)}
<h2>Credits granted</h2>
${
  bill.grants.length === 0
    ? html`<p class="muted">None in this period.</p>`
    : html`<div class="scroll"><table class="grants">
<thead><tr><th scope="col">At (UTC)</th><th scope="col">Credit plan</th><th scope="col">Agreement</th><th class="num" scope="col">Credits</th></tr></thead>
<tbody>${bill.grants.map(
        (g) =>
          html`<tr><td>${when(g.at)}</td><td>${g.creditplan}</td><td>${g.agreement}</td><td class="num">${g.credits}</td></tr>`,
      )}</tbody>
</table></div>`
}
<h2>Adjustments</h2>
${
  bill.adjustments.length === 0
    ? html`<p class="muted">None: no late usage of a closed period.</p>`
    : html`<div class="scroll"><table class="adjustments">
<thead><tr><th scope="col">Late usage of closed period</th><th class="num" scope="col">Credits</th></tr></thead>
<tbody>${bill.adjustments.map((a) => html`<tr><td>${a.period}</td><td class="num">${a.credits}</td></tr>`)}</tbody>
</table></div>`
}
<h2>Balance</h2>
<dl class="facts" id="balance">
<dt>Opening balance</dt><dd id="opening-balance">${bill.opening_balance}</dd>
<dt>+ credits granted</dt><dd id="credits-granted">${bill.credits_granted}</dd>
<dt>− charges</dt><dd id="charges">${bill.total}</dd>
<dt>− adjustments</dt><dd>${bill.adjustments.length === 0 ? "0" : bill.adjustments.map((a, i) => html`${i > 0 ? " + " : ""}${a.credits}`)}</dd>
<dt>Closing balance</dt><dd id="closing-balance"><strong>${bill.closing_balance}</strong></dd>
</dl>
<p class="meta">Each line is rounded once, to ${bill.rounding.digits} decimals (${bill.rounding.mode}); quantities and slice amounts are rounded to 9 decimals for reading.</p>
${notesList(bill.notes)}
`;
  return layout({ title: `Bill ${bill.period.name} · ${who}`, demo: page.demo, body });
}

function notesList(notes: readonly string[]): Html | string {
  return notes.length === 0 ? "" : html`<h2>Notes</h2><ul id="notes">${notes.map((n) => html`<li>${n}</li>`)}</ul>`;
}

export interface ExplainPage {
  readonly explain: ExplainJson;
  readonly petname: string | null;
  readonly demo: boolean;
}

export function renderExplainPage(page: ExplainPage): string {
  const x = page.explain;
  const who = page.petname ?? x.account;
  const body = html`
<p class="meta"><a href="${billHref(x.account, x.period.name)}">← Bill for ${who}, ${x.period.name}</a></p>
<h1>How the bill for ${who}, ${x.period.name}, was priced</h1>
<dl class="facts">
<dt>Account</dt><dd><code>${x.account}</code></dd>
<dt>Period</dt><dd>${range(x.period.start, x.period.end)} UTC</dd>
<dt>Policy version</dt><dd>${x.policy_version}</dd>
<dt>State</dt><dd>${stateText(x.closed)}</dd>
<dt>Lines total</dt><dd id="explain-total">${x.total}</dd>
<dt>See also</dt><dd><a href="${explainHref(x.account, x.period.name, { format: "json" })}">JSON</a></dd>
</dl>
${notesList(x.notes)}
${x.lines.map(
  (l) => html`<section class="line">
<h2>${lineName(l)}</h2>
<p class="meta">${l.costpolicy} on metric <code>${l.metric}</code>: ${l.quantity} ${l.unit}, exactly ${l.amount}, rounded to <strong>${l.credits}</strong> credits.</p>
${l.slices.map((s) => sliceBlock(s, l.unit))}
</section>`,
)}
`;
  return layout({ title: `Explain ${x.period.name} · ${who}`, demo: page.demo, body });
}

function sliceBlock(s: ExplainSlice, unit: string): Html {
  return html`<h3>${range(s.start, s.end)}</h3>
<dl class="facts">
<dt>Agreement</dt><dd>${s.agreement} (${SOURCE[s.agreement_source] ?? s.agreement_source})</dd>
<dt>Price list</dt><dd>${s.pricelist ?? "none"}: ${s.price} a ${unit}</dd>
<dt>Algorithm</dt><dd>${s.algorithm ?? "default"}: <code>${s.expression}</code></dd>
<dt>With</dt><dd>${Object.entries(s.variables).map(([k, v], i) => html`${i > 0 ? ", " : ""}<code>${k}</code> = ${v}`)}</dd>
<dt>Result</dt><dd class="result">${s.result}</dd>
</dl>
<div class="scroll"><table class="steps">
<thead><tr><th scope="col">From – to (UTC)</th><th class="num" scope="col">Hours</th><th class="num" scope="col">Each hour</th><th class="num" scope="col">Quantity</th><th class="num" scope="col">Level at end</th><th class="num" scope="col">Readings</th></tr></thead>
<tbody>${s.steps.map(
    (st) =>
      html`<tr><td>${range(st.start, st.end)}</td><td class="num">${st.hours}</td><td class="num">${st.quantity_per_hour}</td><td class="num">${st.quantity}</td><td class="num">${st.level ?? ""}</td><td class="num">${st.readings}</td></tr>`,
  )}</tbody>
</table></div>
${s.steps_cut > 0 ? html`<p class="meta">${s.steps_cut} more steps not shown.</p>` : ""}`;
}

/** The account page's list of bills: the open period and the ones before it. */
export function recentBillsList(account: string, bills: readonly RecentBill[]): Html | string {
  if (bills.length === 0) return "";
  return html`<h2>Bills</h2>
<ul class="plain" id="bills">${bills.map(
    (b) =>
      html`<li><a href="${billHref(account, b.name)}">${b.name}</a> <span class="muted">(${isoTime(b.start).slice(0, 10)} – ${isoTime(b.end).slice(0, 10)})</span>: ${
        b.state === "open"
          ? "open"
          : b.state === "closed"
            ? html`closed, charged ${b.charged}`
            : "ended, not closed yet"
      }</li>`,
  )}</ul>`;
}
