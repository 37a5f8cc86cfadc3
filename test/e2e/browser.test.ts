// The usage pages in a real headless Chromium (Debian's chromium, driven by playwright-core): load the table,
// page forward and back, search by petname, open an account and see its chart, on a desktop and a phone.
// Screenshots are kept under test-artifacts/.

import fs from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goodEvent, killAll, ROOT, removeDir, TallyServer, tempDir } from "./helpers.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(ROOT, "test-artifacts");
const HOUR = 3_600_000;
const EVIL = "<script>alert(1)</script>";

let tally: TallyServer;
let dir: string;
let browser: Browser;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  dir = tempDir("browser");
  tally = await TallyServer.start({ dataDir: dir });
  // 120 accounts on three servers, with a day of hourly history and traffic for the charts.
  const now = Date.now();
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < 120; i++) {
    const account = `acct-${String(i).padStart(3, "0")}`;
    for (const [s, server] of ["ams", "fra", "nyc"].entries()) {
      if (s > 0 && i % (s + 2) === 0) continue;
      for (let h = 24; h >= 0; h -= 4) {
        const value = BigInt(i + 1) * 1_000_000_000n * BigInt(30 - h) + BigInt(s);
        events.push(
          goodEvent({ server, account, metric: "storage.bytes", value: String(value), time: now - h * HOUR - 1000 }),
        );
      }
      for (let h = 24; h >= 1; h--) {
        events.push(
          goodEvent({ server, account, metric: "requests.get", value: 10 + ((i * h) % 50), time: now - h * HOUR }),
        );
        events.push(goodEvent({ server, account, metric: "bytes.out", value: 1_000_000 * h, time: now - h * HOUR }));
      }
    }
  }
  for (let i = 0; i < events.length; i += 10_000) await tally.postNdjson(events.slice(i, i + 10_000));
  const petnames = { "acct-007": "Ada's Photo Archive", "acct-042": EVIL };
  const res = await fetch(`${tally.url}/v1/petnames`, {
    method: "PATCH",
    headers: tally.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(petnames),
  });
  expect(res.status).toBe(200);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await tally?.stop();
  killAll();
  if (dir) removeDir(dir);
});

/** A page that fails the test on any dialog (an injected alert) or script error. */
async function openPage(viewport = { width: 1280, height: 900 }): Promise<{ page: Page; problems: string[] }> {
  // Reads need no token on loopback (the local reads default), as for a person at the node's own browser.
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on("dialog", async (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return { page, problems };
}

/** The page's full width in CSS pixels: wider than the viewport means the page scrolls sideways. */
const pageWidth = (page: Page) => page.evaluate("document.documentElement.scrollWidth") as Promise<number>;

/** The computed values of CSS properties of the first element matching a selector, or of its pseudo-element. */
const styleOf = (page: Page, selector: string, properties: string[], pseudo: string | null = null) =>
  page.evaluate(
    `(() => { const s = getComputedStyle(document.querySelector(${JSON.stringify(selector)}), ${JSON.stringify(pseudo)});
      return ${JSON.stringify(properties)}.map((p) => s.getPropertyValue(p)); })()`,
  ) as Promise<string[]>;

const accountsOnPage = (page: Page) => page.locator("table.usage tbody td.account a").allTextContents();

describe("the usage pages in Chromium", () => {
  it("page forward and back, search by petname, open an account and see its charts", async () => {
    const { page, problems } = await openPage();
    await page.goto(`${tally.url}/usage?limit=25`);
    expect(await page.title()).toContain("Usage");
    const first = await accountsOnPage(page);
    expect(first).toHaveLength(25);
    expect(first[0]).toBe("acct-119");
    await page.screenshot({ path: path.join(ARTIFACTS, "usage-table.png"), fullPage: true });
    // The stylesheet right-aligns the numbers, bolds the totals and draws a muted dash in a number cell without
    // data (and nothing in an empty name).
    expect(await styleOf(page, "table.usage tbody td:nth-child(4)", ["text-align"])).toEqual(["right"]);
    expect(await styleOf(page, "table.usage tbody td.total", ["font-weight"])).toEqual(["700"]);
    const muted = await styleOf(page, "table.usage tfoot td.muted", ["color"]);
    const emptyNumber = "table.usage tbody td:nth-child(n+4):empty";
    expect(await styleOf(page, emptyNumber, ["content", "color"], "::before")).toEqual(['"\u2013"', ...muted]);
    expect(await styleOf(page, "table.usage tbody td.name:empty", ["content"], "::before")).toEqual(["none"]);

    await page.getByRole("link", { name: "Next →" }).click();
    const second = await accountsOnPage(page);
    expect(second).toHaveLength(25);
    expect(second.filter((a) => first.includes(a))).toEqual([]);
    await page.getByRole("link", { name: "Next →" }).click();
    const third = await accountsOnPage(page);
    await page.getByRole("link", { name: "← Previous" }).click();
    expect(await accountsOnPage(page)).toEqual(second);
    await page.getByRole("link", { name: "← Previous" }).click();
    expect(await accountsOnPage(page)).toEqual(first);
    expect(third.filter((a) => first.includes(a) || second.includes(a))).toEqual([]);

    await page.getByRole("searchbox", { name: "Search accounts and names" }).fill("photo arch");
    await page.getByRole("searchbox").press("Enter");
    await page.waitForURL(/q=photo/);
    expect(await accountsOnPage(page)).toEqual(["acct-007"]);
    expect(await page.locator("table.usage tbody td.name").first().textContent()).toBe("Ada's Photo Archive");

    // The size is rounded in the cell, exact on hover: 3 servers of 8 * 30 GB, plus 0, 1 and 2 bytes.
    const total = page.locator("table.usage tbody tr").first().locator("td.total");
    expect(await total.textContent()).toBe("671 GiB");
    expect(await total.getAttribute("title")).toBe("720,000,000,003 bytes");

    await page.getByRole("link", { name: "acct-007" }).click();
    await page.waitForURL(/\/usage\/accounts\/acct-007/);
    expect(await page.locator("h1").textContent()).toBe("Ada's Photo Archive");
    const stored = page.locator("#chart-stored svg.chart polyline.line");
    await expect.poll(() => stored.count()).toBe(1);
    const points = ((await stored.getAttribute("points")) ?? "").trim().split(/\s+/);
    expect(points.length).toBe(48);
    // Stored bytes grew over the day: the line rises (SVG y grows downwards).
    const ys = points.map((p) => Number(p.split(",")[1]));
    expect(ys.at(-1)).toBeLessThan(ys.find((y, i) => i > 0 && y !== ys[0]) ?? Number.POSITIVE_INFINITY);
    expect(await page.locator("#chart-requests svg.chart rect.bar").count()).toBe(48);
    expect(await page.locator("#chart-io svg.chart polyline").count()).toBe(2);
    const box = await page.locator("#chart-stored svg.chart").boundingBox();
    expect(box?.width).toBeGreaterThan(200);
    await page.screenshot({ path: path.join(ARTIFACTS, "account-page.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows a petname of <script>alert(1)</script> as text, running nothing", async () => {
    const { page, problems } = await openPage();
    await page.goto(`${tally.url}/usage?q=script`);
    expect(await page.locator("table.usage tbody td.name").allTextContents()).toEqual([EVIL]);
    expect(await page.locator("table.usage script").count()).toBe(0);
    await page.getByRole("link", { name: "acct-042" }).click();
    expect(await page.locator("h1").textContent()).toBe(EVIL);
    expect(await page.locator("main script").count()).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("fits a phone: the table scrolls inside its box, not the page", async () => {
    const { page, problems } = await openPage({ width: 390, height: 844 });
    await page.goto(`${tally.url}/usage?limit=20`);
    expect(await pageWidth(page)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(ARTIFACTS, "usage-table-phone.png"), fullPage: false });
    await page.goto(`${tally.url}/usage/accounts/acct-007`);
    expect(await pageWidth(page)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(ARTIFACTS, "account-page-phone.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });
});
