// One entry for the three queries, so the route and any other caller answer the same way.

import type { UsageReader } from "../store/port.js";
import { ioDetail } from "./io-detail.js";
import { ioSum } from "./io-sum.js";
import type { SwiftStatsQuery } from "./query.js";
import type { SwiftStatsData } from "./render.js";
import { spaceDetail } from "./space-detail.js";

export async function runSwiftStatsQuery(
  store: UsageReader,
  query: SwiftStatsQuery,
  now: number = Date.now(),
): Promise<SwiftStatsData> {
  switch (query.method) {
    case "io_sum":
      return { method: "io_sum", data: await ioSum(store, query) };
    case "io_detail":
      return { method: "io_detail", data: await ioDetail(store, query, now) };
    case "space_detail":
      return { method: "space_detail", data: await spaceDetail(store, query, now) };
  }
}
