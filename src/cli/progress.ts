// Progress of a long-running command: a cli-progress bar on standard error when it is a terminal, and nothing
// extra otherwise, so that scripts and CI that read a command's output see exactly what they did before.

import { MultiBar } from "cli-progress";

export interface Progress {
  /** How far the work is: `done` of the total given at the start, and the count shown beside the bar. */
  update(done: number, count?: number): void;
  /** Writes a line (ending in a newline) on standard error, above the bar on a terminal. */
  log(line: string): void;
  /** Clears the bar; the lines logged stay. Safe to call twice. */
  stop(): void;
}

export interface ProgressOptions {
  /** What is being done, in a word or two: "ingesting". */
  label: string;
  /** The amount of work when known (a file's bytes); without it the line shows the count and the time only. */
  total?: number;
  /** What the count counts ("events"); without it no count is shown. */
  unit?: string;
  /** Standard error, unless a test passes another stream. */
  stream?: NodeJS.WriteStream;
}

/** Starts showing progress; every long-running command goes through here, so they all look and behave alike. */
export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY) return { update: () => {}, log: (line) => stream.write(line), stop: () => {} };

  const known = options.total !== undefined && options.total > 0;
  const parts = [
    known ? `${options.label} [{bar}] {percentage}%` : `${options.label}…`,
    ...(options.unit ? [`{count} ${options.unit}`] : []),
    "{duration_formatted}",
  ];
  const bars = new MultiBar({
    stream,
    format: parts.join(" | "),
    barsize: 30,
    clearOnComplete: true,
    // Redrawn on every tick: a logged line takes the bar's place, and the bar must come back below it.
    forceRedraw: true,
    // Neither the cursor nor line wrapping is switched off, and no signal handler is added: Ctrl-C still stops
    // the command at once, and leaves the terminal as it was.
    hideCursor: false,
    linewrap: true,
  });
  const bar = bars.create(known ? (options.total as number) : 1, 0, { count: "0" });
  let stopped = false;
  return {
    update: (done, count) => {
      if (!stopped) bar.update(known ? done : 0, count === undefined ? {} : { count: count.toLocaleString("en") });
    },
    log: (line) => (stopped ? stream.write(line) : bars.log(line)),
    stop: () => {
      if (stopped) return;
      stopped = true;
      // One last draw writes the lines logged since the last tick, which stop alone would drop.
      bars.update();
      bars.stop();
    },
  };
}
