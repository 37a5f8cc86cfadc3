import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MetricKind } from "../domain/metric.js";
import { event } from "../store/contract-events.js";
import type { UsageStore } from "../store/port.js";
import { TEST_STORES } from "../store/test-stores.js";
import type { SwiftStatsQuery } from "./query.js";
import { resolveSwiftAccount } from "./resolve-account.js";

const H = (h: number, m = 0) => Date.UTC(2012, 9, 22, h, m);
let n = 0;
const put = (account: string, metric: string, kind: MetricKind, time: number) =>
  event({ id: `e${n++}`, server: "s1", account, metric, kind, time, value: 1n });

const query = (account: string, from = H(8), to = H(10)): SwiftStatsQuery => ({
  method: "io_sum",
  account,
  fromHour: from,
  toHour: to,
  format: "json",
  fill: "none",
});

describe.each(TEST_STORES)("resolveSwiftAccount over %s", (_name, open) => {
  let store: UsageStore;
  const anyone = () => true;
  const resolve = (
    account: string,
    options: { prefix?: string; from?: number; mayRead?: (a: string) => boolean } = {},
  ) => resolveSwiftAccount(store, query(account, options.from), options.prefix ?? "AUTH_", options.mayRead ?? anyone);

  beforeEach(async () => {
    store = await open();
    await store.insertEvents([
      // AUTH_stored has a level long before the range; AUTH_busy only traffic at 08:10.
      put("AUTH_stored", "storage.bytes", "level", H(1)),
      put("AUTH_busy", "requests.get", "counter", H(8, 10)),
      put("both", "requests.get", "counter", H(8, 10)),
      put("AUTH_both", "storage.files", "level", H(8, 10)),
      put("plain", "requests.put", "counter", H(9)),
    ]);
  });
  afterEach(async () => {
    await store.close();
  });

  it("answers the prefixed account when only it is known: by a level at any time, or traffic in the range", async () => {
    expect(await resolve("stored")).toBe("AUTH_stored");
    expect(await resolve("busy")).toBe("AUTH_busy");
    // Outside the hours of its traffic, AUTH_busy is not known either: the account_id is answered as given.
    expect(await resolve("busy", { from: H(9, 0) })).toBe("busy");
  });

  it("answers the account as given when it is known, already prefixed, unknown both ways, or the prefix is off", async () => {
    expect(await resolve("both")).toBe("both");
    expect(await resolve("plain")).toBe("plain");
    expect(await resolve("AUTH_stored")).toBe("AUTH_stored");
    expect(await resolve("nobody")).toBe("nobody");
    expect(await resolve("stored", { prefix: "" })).toBe("stored");
    expect(await resolve("stored", { prefix: "KEY_" })).toBe("stored");
  });

  it("looks only at accounts the caller may read", async () => {
    expect(await resolve("stored", { mayRead: (a) => a === "stored" })).toBe("stored");
    expect(await resolve("both", { mayRead: (a) => a === "AUTH_both" })).toBe("AUTH_both");
    expect(await resolve("stored", { mayRead: () => false })).toBe("stored");
  });
});
