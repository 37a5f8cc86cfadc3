// Swift names an account with its reseller prefix (AUTH_x) and billing systems often without it: which account an
// account_id answers for.

import type { UsageReader } from "../store/port.js";
import { COUNTER_METRICS, SPACE_METRICS } from "./fields.js";
import type { SwiftStatsQuery } from "./query.js";

/** Swift's default reseller prefix (Keystone and TempAuth alike). */
export const DEFAULT_RESELLER_PREFIX = "AUTH_";

const METRICS = [...Object.keys(COUNTER_METRICS), ...Object.keys(SPACE_METRICS)];

/**
 * The account a query answers for: the account_id as given, unless it lacks the prefix, Tally does not know it and
 * knows the prefixed one. Tally knows an account that has a storage level (at any time) or any swift-stats metric
 * in the query's hours. Only accounts the caller may read are looked at, so that the answer tells nothing of others.
 */
export async function resolveSwiftAccount(
  store: UsageReader,
  query: SwiftStatsQuery,
  prefix: string,
  mayRead: (account: string) => boolean,
): Promise<string> {
  const asked = query.account;
  if (prefix === "" || asked.startsWith(prefix)) return asked;
  const prefixed = prefix + asked;
  if (!mayRead(prefixed)) return asked;
  if (!mayRead(asked)) return prefixed;

  const levels = await Promise.all(
    Object.keys(SPACE_METRICS).map((metric) => store.currentLevels({ metric, accounts: [asked, prefixed] })),
  );
  const withLevels = new Set(levels.flat().map((l) => l.account));
  const hasRows = async (account: string) =>
    (await store.rollups({ account, from: query.fromHour, to: query.toHour, metrics: METRICS })).length > 0;
  if (withLevels.has(asked) || (await hasRows(asked))) return asked;
  if (withLevels.has(prefixed) || (await hasRows(prefixed))) return prefixed;
  return asked;
}
