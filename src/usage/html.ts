// HTML built from tagged templates: every interpolated value is escaped unless it is already Html.

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

const SPECIAL = /[&<>"']/;

export function escapeHtml(text: string): string {
  // Most text (numbers, ids) has nothing to escape: skip the replace then.
  return SPECIAL.test(text) ? text.replace(/[&<>"']/g, (ch) => ENTITIES[ch] as string) : text;
}

type Part = Html | string | number | bigint | boolean | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false || part === true) return "";
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) {
    let out = "";
    for (const p of part as readonly Part[]) out += render(p);
    return out;
  }
  return escapeHtml(String(part));
}

/** html`<td title="${text}">${text}</td>`: text escaped for element content and double-quoted attributes alike. */
export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0] as string;
  for (let i = 0; i < parts.length; i++) out += render(parts[i] as Part) + (strings[i + 1] as string);
  return new Html(out);
}

/** Markup that is already safe, such as generated SVG. */
export function raw(markup: string): Html {
  return new Html(markup);
}

/** A URL path and query from parts; values are percent-encoded. Empty and undefined values are left out. */
export function href(
  path: string,
  params: Record<string, string | readonly string[] | number | undefined | null> = {},
): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) for (const v of value) search.append(key, v);
    else search.append(key, String(value));
  }
  const query = search.toString();
  return query ? `${path}?${query}` : path;
}

export function accountHref(account: string, params?: Record<string, string | number | undefined>): string {
  const path = `/usage/accounts/${encodeURIComponent(account)}`;
  return params === undefined ? path : href(path, params);
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6570;--line:#d9dee3;--bg:#fff;--alt:#f5f7f9;--accent:#0b62c4;--warn:#a15c00;--warnbg:#fff4e0}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ec;--muted:#9aa4ae;--line:#39414a;--bg:#14181c;--alt:#1b2026;--accent:#6cb0ff;--warn:#ffb55c;--warnbg:#3a2a10}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header.top{display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
header.top a.brand{font-weight:700;text-decoration:none;color:var(--fg)}
main{padding:0 1rem 2rem;max-width:100%}
h1{font-size:1.35rem;margin:1rem 0 .3rem}
h2{font-size:1.1rem;margin:1.5rem 0 .4rem}
a{color:var(--accent)}
.muted,.meta{color:var(--muted)}
.meta{margin:.2rem 0 .8rem;font-size:.9rem}
.demo{background:var(--warnbg);color:var(--warn);padding:.5rem 1rem;font-weight:600;border-bottom:1px solid var(--line)}
.badge{display:inline-block;font-size:.72rem;font-weight:600;padding:0 .35rem;border-radius:.6rem;background:var(--warnbg);color:var(--warn);vertical-align:middle}
form.search{display:flex;gap:.4rem;flex-wrap:wrap;margin:.5rem 0 .8rem}
form.search input[type=search]{flex:1 1 14rem;min-width:0;padding:.4rem .5rem;font:inherit;border:1px solid var(--line);border-radius:.3rem;background:var(--bg);color:var(--fg)}
button,input[type=datetime-local]{font:inherit;padding:.35rem .7rem;border:1px solid var(--line);border-radius:.3rem;background:var(--alt);color:var(--fg)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid var(--line);border-radius:.3rem}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
thead th{position:sticky;top:0;background:var(--alt);font-size:.85rem;vertical-align:bottom}
thead th small{display:block;font-weight:400;color:var(--muted)}
tbody tr:nth-child(even){background:var(--alt)}
td.num,th.num,table.usage td:nth-child(n+3),table.usage th:nth-child(n+3){text-align:right}
td.num:empty::before,table.usage td:nth-child(n+3):empty::before{content:"\\2013";color:var(--muted)}
td.total{font-weight:700}
td.name{max-width:16rem;overflow:hidden;text-overflow:ellipsis}
td.account{max-width:18rem;overflow:hidden;text-overflow:ellipsis}
table.usage td.account,table.usage thead th:first-child,table.usage tfoot th:first-child{position:sticky;left:0;background:var(--bg);z-index:1}
table.usage tbody tr:nth-child(even) td.account,table.usage thead th:first-child{background:var(--alt)}
table.usage thead th:first-child{z-index:2}
.total{border-right:2px solid var(--line)}
tfoot th,tfoot td{font-weight:700;border-top:2px solid var(--line)}
th.stale,td.stale{color:var(--warn)}
nav.pager{display:flex;justify-content:space-between;gap:1rem;margin:.8rem 0}
nav.pager a{padding:.4rem .8rem;border:1px solid var(--line);border-radius:.3rem;text-decoration:none}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,30rem),1fr));gap:1rem}
figure{margin:0;border:1px solid var(--line);border-radius:.3rem;padding:.5rem}
figcaption{font-weight:600;margin-bottom:.3rem}
svg.chart{width:100%;height:auto;display:block}
svg.chart text{fill:var(--muted);font-size:11px}
svg.chart .grid{stroke:var(--line)}
svg.chart .line{fill:none;stroke:var(--accent);stroke-width:2}
svg.chart .line2{fill:none;stroke:var(--warn);stroke-width:2}
svg.chart .bar{fill:var(--accent)}
svg.chart .hit{fill:transparent}
svg.chart .hit:hover{fill:rgba(127,127,127,.15)}
.legend span{margin-right:1rem}.legend .k1{color:var(--accent)}.legend .k2{color:var(--warn)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
ul.plain{margin:0;padding-left:1.2rem}
@media (max-width:600px){body{font-size:14px}th,td{padding:.3rem .4rem}main{padding:0 .5rem 1.5rem}td.account{max-width:9rem}td.name{max-width:8rem}}
`;

/** The page around every view: no scripts, one small stylesheet, a demo banner when the data is simulated. */
export function layout(options: { title: string; demo: boolean; body: Html }): string {
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} &middot; Tally</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<header class="top"><a class="brand" href="/usage">Tally</a><a href="/usage">Usage table</a>${
    options.demo ? html`<span class="badge">DEMO</span>` : ""
  }</header>
${options.demo ? html`<div class="demo" role="note">Demo data: simulated servers and accounts, kept in their own data directory. Nothing here is real usage.</div>` : ""}
<main>
${options.body}
</main>
</body>
</html>
`;
  return page.value;
}

/** The Content-Security-Policy for these pages: no scripts at all, styles only from the page itself. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
