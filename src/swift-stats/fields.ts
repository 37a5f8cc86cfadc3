// The names swift-stats answers with, and the Tally metrics each one is read from.

export const COUNTER_FIELDS = ["Bytes_In", "Bytes_Out", "DELETE", "GET", "HEAD", "OTHER", "POST", "PUT"] as const;
export type CounterField = (typeof COUNTER_FIELDS)[number];
export type Counters = Record<CounterField, bigint>;

export const COUNTER_METRICS: Readonly<Record<string, CounterField>> = {
  "bytes.in": "Bytes_In",
  "bytes.out": "Bytes_Out",
  "requests.delete": "DELETE",
  "requests.get": "GET",
  "requests.head": "HEAD",
  "requests.other": "OTHER",
  "requests.post": "POST",
  "requests.put": "PUT",
};

export const SPACE_FIELDS = ["Space", "Container", "Object"] as const;
export type SpaceField = (typeof SPACE_FIELDS)[number];
export type Space = Record<SpaceField, bigint>;

export const SPACE_METRICS: Readonly<Record<string, SpaceField>> = {
  "storage.bytes": "Space",
  "storage.containers": "Container",
  "storage.files": "Object",
};

export function zeroCounters(): Counters {
  return { Bytes_In: 0n, Bytes_Out: 0n, DELETE: 0n, GET: 0n, HEAD: 0n, OTHER: 0n, POST: 0n, PUT: 0n };
}

export function zeroSpace(): Space {
  return { Space: 0n, Container: 0n, Object: 0n };
}
