// The paging both adapters' rollupPages share, and runs over every account use: pages of whole accounts, each
// listed after the last account of the one before, until a page comes back short.

import type { RollupPage, RollupScanQuery, UsageReader } from "./port.js";

/** Accounts a page of rollupPages holds unless the query says otherwise. */
export const DEFAULT_PAGE_ACCOUNTS = 1000;

/** Every account with a series of the metrics, `pageAccounts` at a time, in UTF-8 order. */
export async function* accountPages(
  reader: Pick<UsageReader, "accountsAfter">,
  metrics: readonly string[],
  pageAccounts = DEFAULT_PAGE_ACCOUNTS,
): AsyncIterable<string[]> {
  if (!Number.isInteger(pageAccounts) || pageAccounts < 1)
    throw new RangeError("pageAccounts must be a positive integer");
  let after: string | null = null;
  for (;;) {
    const accounts = await reader.accountsAfter({ metrics, after, limit: pageAccounts });
    if (accounts.length === 0) return;
    yield accounts;
    if (accounts.length < pageAccounts) return;
    after = accounts.at(-1) as string;
  }
}

/** rollupPages from a store's accountsAfter and accountsRollups: each page's accounts, then their rows in one read. */
export async function* rollupPagesOf(
  reader: Pick<UsageReader, "accountsAfter" | "accountsRollups">,
  query: RollupScanQuery,
): AsyncIterable<RollupPage> {
  const { from, to, metrics } = query;
  for await (const accounts of accountPages(reader, metrics, query.pageAccounts)) {
    yield { accounts, rows: await reader.accountsRollups({ accounts, from, to, metrics }) };
  }
}
