// The raw ceiling on PostgreSQL that bench:ingest and bench:pg-store compare with: COPY (text format) of the same
// rows into a bare table, one COPY (one transaction) a batch, only the COPYs timed.

import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

/** The baseline table's columns, in order: id, server, time, account, metric, kind, value, instance. */
export type BaselineRow = readonly [string, string, number, string, string, string, number | bigint, string];

/**
 * COPYs each batch's rows (`rowsOf`, made untimed, one batch at a time) into a bare table in `schema`, checks that
 * the table holds them all, and drops it.
 */
export async function copyBaseline<B>(
  url: string,
  schema: string,
  batches: readonly B[],
  rowsOf: (batch: B) => readonly BaselineRow[],
): Promise<{ rows: number; seconds: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET search_path TO ${schema}`);
    await client.query(
      `CREATE TABLE raw_events (id text NOT NULL, server text NOT NULL, time bigint NOT NULL, account text NOT NULL,
         metric text NOT NULL, kind text NOT NULL, value bigint NOT NULL, instance text NOT NULL)`,
    );
    let rows = 0;
    let ns = 0n;
    for (const batch of batches) {
      const batchRows = rowsOf(batch);
      const data = Buffer.from(batchRows.map((r) => `${r.join("\t")}\n`).join(""));
      const t0 = process.hrtime.bigint();
      await new Promise<void>((resolve, reject) => {
        const stream = client.query(copyFrom("COPY raw_events FROM STDIN"));
        stream.on("error", reject);
        stream.on("finish", () => resolve());
        stream.end(data);
      });
      ns += process.hrtime.bigint() - t0;
      rows += batchRows.length;
    }
    const count = Number((await client.query("SELECT count(*) AS n FROM raw_events")).rows[0].n);
    if (count !== rows) throw new Error(`the raw table holds ${count} rows, not ${rows}`);
    await client.query("DROP TABLE raw_events");
    return { rows, seconds: Number(ns) / 1e9 };
  } finally {
    await client.end();
  }
}
