// Imported StAR records on SQLite, on the usage store's connection, in a table of the records capability's own.

import type Database from "better-sqlite3";
import { migrate } from "../db/sqlite-migrate.js";
import { decodeSeries, encodeSeries, type ImportedRecord, type StarRecordStore } from "./star-record-store.js";

export const STAR_RECORD_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE star_records (
    record_id TEXT PRIMARY KEY,
    create_time INTEGER NOT NULL,
    system TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    boundaries TEXT NOT NULL,
    series TEXT NOT NULL
  ) STRICT, WITHOUT ROWID;
  `,
];

interface Row {
  record_id: string;
  create_time: number | bigint;
  system: string;
  start_time: number | bigint;
  end_time: number | bigint;
  boundaries: string;
  series: string;
}

export class SqliteStarRecordStore implements StarRecordStore {
  private readonly sql;

  /** `db` is the usage store's connection: this adapter adds its table and never closes it. */
  constructor(private readonly db: Database.Database) {
    migrate(db, "records", STAR_RECORD_MIGRATIONS);
    this.sql = {
      get: db.prepare<[string], Row>("SELECT s.* FROM json_each(?) j JOIN star_records s ON s.record_id = j.value"),
      put: db.prepare(
        `INSERT INTO star_records (record_id, create_time, system, start_time, end_time, boundaries, series)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (record_id) DO UPDATE SET create_time = excluded.create_time, system = excluded.system,
           start_time = excluded.start_time, end_time = excluded.end_time, boundaries = excluded.boundaries,
           series = excluded.series
         WHERE excluded.create_time >= star_records.create_time`,
      ),
      count: db.prepare("SELECT count(*) FROM star_records").pluck(),
    };
  }

  async get(recordIds: readonly string[]): Promise<Map<string, ImportedRecord>> {
    if (recordIds.length === 0) return new Map();
    const rows = this.sql.get.all(JSON.stringify(recordIds));
    return new Map(rows.map((r) => [r.record_id, fromRow(r)]));
  }

  async put(records: readonly ImportedRecord[]): Promise<void> {
    this.db.transaction(() => {
      for (const r of records) {
        this.sql.put.run(
          r.recordId,
          r.createTime,
          r.system,
          r.startTime,
          r.endTime,
          JSON.stringify(r.boundaries),
          encodeSeries(r.series),
        );
      }
    })();
  }

  async count(): Promise<number> {
    return Number(this.sql.count.get());
  }
}

function fromRow(r: Row): ImportedRecord {
  return {
    recordId: r.record_id,
    createTime: Number(r.create_time),
    system: r.system,
    startTime: Number(r.start_time),
    endTime: Number(r.end_time),
    boundaries: JSON.parse(r.boundaries) as number[],
    series: decodeSeries(r.series),
  };
}
