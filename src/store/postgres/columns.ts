// Many rows in one statement: parallel arrays, one per column, for `unnest($1, $2, …)`, in one global order.

/** Rows written by one statement: parallel arrays, one per column, passed to unnest(). */
export type Columns = unknown[][];

/** Turns rows into one array per column, the parameters of an `unnest($1, $2, …)`. */
export function columns<T>(rows: readonly T[], row: (item: T) => unknown[]): Columns {
  const cols: Columns = [];
  for (const item of rows) {
    const values = row(item);
    for (const [i, v] of values.entries()) {
      const col = cols[i] ?? [];
      col.push(v);
      cols[i] = col;
    }
  }
  return cols;
}

/** Orders bigserial ids, which pg returns as decimal strings. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
