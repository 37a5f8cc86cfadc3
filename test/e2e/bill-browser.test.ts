// The bill pages in a real headless Chromium (Debian's chromium, driven by playwright-core): open an account's page,
// follow its link to last month's bill, read the amounts, then how each line was priced; a hostile account name,
// petname and instance show as text and run nothing. Screenshots are kept under test-artifacts/.

import fs from "node:fs";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goodEvent, killAll, ROOT, removeDir, TallyServer, tempDir } from "./helpers.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(ROOT, "test-artifacts");
const ACCOUNT = "<script>alert('account')</script>";
const PETNAME = "<img src=x onerror=alert('petname')> & co";
const INSTANCE = "<svg onload=alert('instance')>";

const POLICY = `resources:
  - {name: storage, unit: GB-month, costpolicy: continuous, metric: storage.bytes}
  - {name: vm, unit: hour, costpolicy: onoff, metric: vm.on, complex: true}
pricelists:
  - {name: std, storage: 0.02, vm: 0.5}
creditplans:
  - {name: monthly, credits: 10, every: month}
agreements:
  - {name: std, pricelist: std, creditplan: monthly}
default_agreement: std
`;

/** Cents as a decimal string with two places. */
const credits = (cents: number) =>
  `${cents < 0 ? "-" : ""}${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, "0")}`;

// Last month, whole: the account holds 730 GB and one VM on from its first hour.
const now = new Date();
const START = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
const PERIOD = new Date(START).toISOString().slice(0, 7);
const HOURS = (Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - START) / 3_600_000;

let tally: TallyServer;
let dir: string;
let browser: Browser;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  dir = tempDir("bill-browser");
  tally = await TallyServer.start({ dataDir: dir });
  const put = await fetch(`${tally.url}/v1/policy?from=0`, {
    method: "PUT",
    headers: tally.headers({ "Content-Type": "application/yaml" }),
    body: POLICY,
  });
  expect(put.status).toBe(201);
  const time = new Date(START).toISOString();
  await tally.postNdjson([
    goodEvent({ account: ACCOUNT, metric: "storage.bytes", value: "730000000000", time }),
    goodEvent({ account: ACCOUNT, metric: "vm.on", kind: "state", instance: INSTANCE, value: 1, time }),
  ]);
  const named = await fetch(`${tally.url}/v1/petnames`, {
    method: "PATCH",
    headers: tally.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ [ACCOUNT]: PETNAME }),
  });
  expect(named.status).toBe(200);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
});

afterAll(async () => {
  await browser?.close();
  await tally?.stop();
  killAll();
  if (dir) removeDir(dir);
});

describe("the bill pages in Chromium", () => {
  it("follows the account page's link to last month's bill and its explanation, every name shown as text", async () => {
    // Reads need no token on loopback, as for a person at the node's own browser.
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on("dialog", async (dialog) => {
      problems.push(`dialog: ${dialog.message()}`);
      await dialog.dismiss();
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

    await page.goto(`${tally.url}/usage/accounts/${encodeURIComponent(ACCOUNT)}`);
    expect(await page.locator("h1").textContent()).toBe(PETNAME);
    expect(await page.locator("#bills li").first().textContent()).toContain("open");
    await page.locator("#bills").getByRole("link", { name: PERIOD, exact: true }).click();
    await page.waitForURL(/\/usage\/bills\//);
    expect(new URL(page.url()).pathname).toBe(`/usage/bills/${PERIOD}/${encodeURIComponent(ACCOUNT)}`);
    await page.screenshot({ path: path.join(ARTIFACTS, "bill.png"), fullPage: true });

    expect(await page.locator("h1").textContent()).toBe(`Bill for ${PETNAME}, ${PERIOD}`);
    expect(await page.locator("dl.facts code").first().textContent()).toBe(ACCOUNT);
    expect(await page.locator("#bill-state").textContent()).toContain("not closed");
    // 730 GB for the month's hours at 0.02 a GB-month of 730 hours, and the VM's hours at 0.5.
    const rows = await page
      .locator("#lines tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    expect(rows).toEqual([
      ["storage", "", String(HOURS), "GB-month", credits(HOURS * 2)],
      ["vm", INSTANCE, String(HOURS), "hour", credits(HOURS * 50)],
    ]);
    expect(await page.locator("#total").textContent()).toBe(credits(HOURS * 52));
    expect(await page.locator("#opening-balance").textContent()).toBe("0");
    expect(await page.locator("#credits-granted").textContent()).toBe("10");
    expect(await page.locator("#closing-balance").textContent()).toBe(credits(1000 - HOURS * 52));
    expect(await page.locator("table.slices").count()).toBe(2);

    await page.getByRole("link", { name: "How each line was priced" }).click();
    await page.waitForURL(/\/usage\/explain\//);
    await page.screenshot({ path: path.join(ARTIFACTS, "bill-explain.png"), fullPage: true });
    expect(await page.locator("#explain-total").textContent()).toBe(credits(HOURS * 52));
    expect(await page.locator("section.line h2").allTextContents()).toEqual(["storage", `vm [${INSTANCE}]`]);
    expect(await page.locator("dd.result").allTextContents()).toEqual([
      credits(HOURS * 2).replace(/\.?0+$/, ""),
      credits(HOURS * 50).replace(/\.?0+$/, ""),
    ]);
    // Each line is one step of its whole month: 730 GB held, then one VM on.
    const steps = await page
      .locator("table.steps tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.children].slice(1).map((c) => c.textContent)));
    expect(steps).toEqual([
      [String(HOURS), "1", String(HOURS), "730000000000", "1"],
      [String(HOURS), "1", String(HOURS), "1", "1"],
    ]);
    expect(await page.locator("script, img, svg").count()).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  });
});
