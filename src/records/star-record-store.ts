// The records capability's storage port: what Tally remembers of each imported StAR record, so that a later
// version of it replaces it exactly.

/** A series an imported record wrote readings to. */
export interface ImportedSeries {
  readonly server: string;
  readonly account: string;
  readonly metric: string;
  readonly instance: string;
  readonly dims: Readonly<Record<string, string>>;
}

export interface ImportedRecord {
  readonly recordId: string;
  /** The createTime of the version imported; a version with a later one replaces it. */
  readonly createTime: number;
  readonly system: string;
  readonly startTime: number;
  readonly endTime: number;
  /** Every time any version of the record wrote a reading at, ascending. */
  readonly boundaries: readonly number[];
  /** Every series any version of it wrote to. */
  readonly series: readonly ImportedSeries[];
}

export interface StarRecordStore {
  /** The records stored under these ids. */
  get(recordIds: readonly string[]): Promise<Map<string, ImportedRecord>>;
  /**
   * Stores the records in one transaction. One with the id of a stored record replaces it unless the stored one
   * has a later createTime (then the stored one stays).
   */
  put(records: readonly ImportedRecord[]): Promise<void>;
  /** How many records are stored. */
  count(): Promise<number>;
}

export function encodeSeries(series: readonly ImportedSeries[]): string {
  return JSON.stringify(series);
}

export function decodeSeries(text: string): ImportedSeries[] {
  return JSON.parse(text) as ImportedSeries[];
}
