// On a terminal, a person reads the log: each JSON line is written as "12:00:01 INFO  message key=value …" instead.
// Anywhere else (a file, a pipe, a log collector) the JSON lines go out as they are.

const LEVELS: Readonly<Record<number, string>> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
/** Fields every line has, shown in the line's head or not at all. */
const HEAD = new Set(["level", "time", "msg", "service"]);

export function readableLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof entry.time === "string" ? entry.time.slice(11, 19) : "";
  const level = (LEVELS[entry.level as number] ?? String(entry.level)).padEnd(5);
  const rest = Object.entries(entry)
    .filter(([k]) => !HEAD.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return `${[time, level, String(entry.msg ?? ""), ...rest].join(" ").trimEnd()}\n`;
}

/** A pino destination that writes readable lines through another one. */
export function readableDestination<D extends { write(line: string): unknown }>(
  inner: D,
): { write(line: string): void } {
  return { write: (line) => void inner.write(readableLine(line)) };
}
