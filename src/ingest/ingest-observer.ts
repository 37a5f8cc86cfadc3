// What the one ingest path reports about each batch, to whoever watches it (Prometheus metrics): no I/O of its own.

/** Where a batch came from: the label every count and latency carries. */
export type IngestSource = "http" | "jetstream" | "subscription" | "import" | "cli";

export interface IngestObservation {
  readonly source: IngestSource;
  readonly accepted: number;
  readonly duplicates: number;
  /** Every rejection, listed or omitted. */
  readonly rejected: number;
  /** The whole batch: parse results checked, events stored, answer built. */
  readonly seconds: number;
  /** The store's commit alone. */
  readonly storeSeconds: number;
}

export interface IngestObserver {
  ingested(observation: IngestObservation): void;
}
