// The paging both adapters' rollupPages share: pages of whole accounts, each read after the last account of the one
// before, until a page comes back short.

import type { RollupPage, RollupScanQuery } from "./port.js";

/** Accounts a page of rollupPages holds unless the query says otherwise. */
export const DEFAULT_PAGE_ACCOUNTS = 1000;

/** Reads page after page with `readPage` (the accounts after `after`, null for the first, at most `limit`). */
export async function* rollupPagesOf(
  query: RollupScanQuery,
  readPage: (after: string | null, limit: number) => Promise<RollupPage>,
): AsyncIterable<RollupPage> {
  const limit = query.pageAccounts ?? DEFAULT_PAGE_ACCOUNTS;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError("pageAccounts must be a positive integer");
  let after: string | null = null;
  for (;;) {
    const page = await readPage(after, limit);
    if (page.accounts.length === 0) return;
    yield page;
    if (page.accounts.length < limit) return;
    after = page.accounts.at(-1) as string;
  }
}
