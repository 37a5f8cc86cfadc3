// Imported StAR records on PostgreSQL, on the usage store's pool (and so in its schema), in a table of their own.

import type pg from "pg";
import { postgresError } from "../db/postgres-errors.js";
import { migrateComponent } from "../db/postgres-migrate.js";
import { AppError, messageOf } from "../domain/errors.js";
import { decodeSeries, encodeSeries, type ImportedRecord, type StarRecordStore } from "./star-record-store.js";

export const STAR_RECORD_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE star_records (
    record_id text COLLATE "C" PRIMARY KEY,
    create_time bigint NOT NULL,
    system text NOT NULL,
    start_time bigint NOT NULL,
    end_time bigint NOT NULL,
    boundaries text NOT NULL,
    series text NOT NULL
  );
  `,
];

interface Row {
  record_id: string;
  create_time: string;
  system: string;
  start_time: string;
  end_time: string;
  boundaries: string;
  series: string;
}

/** Adds the records table to the pool's schema if needed; `pool` is the usage store's and stays its to close. */
export async function openPostgresStarRecordStore(pool: pg.Pool): Promise<PostgresStarRecordStore> {
  const client = await pool.connect().catch((error: unknown) => {
    throw postgresError(error);
  });
  try {
    await migrateComponent(client, "records", STAR_RECORD_MIGRATIONS);
  } catch (error) {
    throw new AppError("UNAVAILABLE", `cannot prepare the PostgreSQL records table: ${messageOf(error)}`);
  } finally {
    client.release();
  }
  return new PostgresStarRecordStore(pool);
}

export class PostgresStarRecordStore implements StarRecordStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(recordIds: readonly string[]): Promise<Map<string, ImportedRecord>> {
    if (recordIds.length === 0) return new Map();
    const result = await this.query<Row>("SELECT * FROM star_records WHERE record_id = ANY($1::text[])", [recordIds]);
    return new Map(result.rows.map((r) => [r.record_id, fromRow(r)]));
  }

  async put(records: readonly ImportedRecord[]): Promise<void> {
    if (records.length === 0) return;
    // One statement is one transaction. Of two versions of one id in a batch, the later createTime goes in.
    const latest = new Map<string, ImportedRecord>();
    for (const r of records) {
      const had = latest.get(r.recordId);
      if (!had || r.createTime >= had.createTime) latest.set(r.recordId, r);
    }
    const list = [...latest.values()];
    await this.query(
      `INSERT INTO star_records (record_id, create_time, system, start_time, end_time, boundaries, series)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
       ON CONFLICT (record_id) DO UPDATE SET create_time = excluded.create_time, system = excluded.system,
         start_time = excluded.start_time, end_time = excluded.end_time, boundaries = excluded.boundaries,
         series = excluded.series
       WHERE excluded.create_time >= star_records.create_time`,
      [
        list.map((r) => r.recordId),
        list.map((r) => r.createTime),
        list.map((r) => r.system),
        list.map((r) => r.startTime),
        list.map((r) => r.endTime),
        list.map((r) => JSON.stringify(r.boundaries)),
        list.map((r) => encodeSeries(r.series)),
      ],
    );
  }

  async count(): Promise<number> {
    const result = await this.query<{ n: string }>("SELECT count(*) AS n FROM star_records");
    return Number(result.rows[0]?.n ?? 0);
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw postgresError(error);
    }
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
