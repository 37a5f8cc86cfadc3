// The reads of pages of accounts' usage, on a read-only connection of their own to the derived database: for worker
// threads beside the store's own connection (which holds the event log, and the servers' names, exclusively). The
// names come with the location, into a temporary table of this connection; a page naming a server not among them
// is refused with StaleServers, and read again once given a newer location.

import Database from "better-sqlite3";
import { checkWholeDays, type DayRow } from "../../domain/day-usage.js";
import type { RollupRow } from "../../domain/rollup.js";
import type { AccountsReader, AccountsRollupQuery, CurrentLevel, CurrentLevelQuery, ReaderLocation } from "../port.js";
import { selectAccountsDays } from "./day-reads.js";
import { selectAccountsRollups, selectCurrentLevels } from "./rollup-reads.js";
import { prepared } from "./statements.js";

type SqliteLocation = Extract<ReaderLocation, { store: "sqlite" }>;

/** A page names a server this reader has no name for: it needs a newer location. */
export class StaleServers extends Error {
  constructor() {
    super("a server was heard of after the reader's location was taken");
  }
}

export class SqliteAccountsReader implements AccountsReader {
  private readonly db: Database.Database;

  constructor(location: SqliteLocation) {
    this.db = new Database(location.derived, { readonly: true, fileMustExist: true });
    this.db.defaultSafeIntegers(true);
    this.db.exec("CREATE TEMP TABLE servers (id INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT");
    this.locate(location);
  }

  /** Takes the servers' names of a newer location. */
  locate(location: ReaderLocation): void {
    if (location.store !== "sqlite") return;
    const insert = this.db.prepare("INSERT OR IGNORE INTO temp.servers (id, name) VALUES (?, ?)");
    this.db.transaction(() => {
      for (const [id, name] of location.servers) insert.run(id, name);
    })();
  }

  async currentLevels(query: CurrentLevelQuery): Promise<CurrentLevel[]> {
    this.checkServers(query.accounts);
    return selectCurrentLevels(this.db, query);
  }

  async accountsRollups(query: AccountsRollupQuery): Promise<RollupRow[]> {
    this.checkServers(query.accounts);
    return selectAccountsRollups(this.db, query);
  }

  async accountsDays(query: AccountsRollupQuery): Promise<DayRow[]> {
    checkWholeDays(query.from, query.to);
    this.checkServers(query.accounts);
    return selectAccountsDays(this.db, query);
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** Refuses a read whose accounts (all of them, when not given) have series on a server not named here. */
  private checkServers(accounts: readonly string[] | undefined): void {
    const unnamed = "s.server_id NOT IN (SELECT id FROM temp.servers)";
    const found =
      accounts === undefined
        ? prepared(this.db, `SELECT 1 FROM series s WHERE ${unnamed} LIMIT 1`).get()
        : prepared(
            this.db,
            `SELECT 1 FROM series s WHERE s.account IN (SELECT value FROM json_each(?)) AND ${unnamed} LIMIT 1`,
          ).get(JSON.stringify(accounts));
    if (found !== undefined) throw new StaleServers();
  }
}
