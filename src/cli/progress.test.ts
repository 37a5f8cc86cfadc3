// The progress helper: silent but for logged lines when standard error is not a terminal, a bar when it is.

import { Writable } from "node:stream";
import { stripVTControlCharacters } from "node:util";
import { describe, expect, it } from "vitest";
import { startProgress } from "./progress.js";

/** A stream that keeps what is written to it, as a terminal of 80 columns or as a pipe. */
function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(stream, { isTTY, columns: 80, text: () => chunks.join("") });
  return stream;
}

describe("startProgress", () => {
  it("without a terminal writes the logged lines and nothing else", () => {
    const stream = fakeStream(false);
    const progress = startProgress({ label: "ingesting", total: 1000, unit: "events", stream });
    progress.update(500, 10);
    progress.log("line 4: not valid JSON\n");
    progress.update(1000, 20);
    progress.stop();
    expect(stream.text()).toBe("line 4: not valid JSON\n");
  });

  it("on a terminal draws the bar with the count, keeps the logged lines and clears the bar at the end", () => {
    const stream = fakeStream(true);
    const progress = startProgress({ label: "ingesting", total: 1000, unit: "events", stream });
    progress.update(500, 12345);
    progress.log("line 4: not valid JSON\n");
    progress.stop();
    progress.stop();
    const text = stream.text();
    expect(stripVTControlCharacters(text)).toMatch(
      /^line 4: not valid JSON\ningesting \[=+-+\] 50% \| 12,345 events \| /,
    );
    // The last thing written erases the bar's line, so whatever is printed next starts on a clean one.
    expect(text.endsWith("\x1b[0J")).toBe(true);
  });

  it("with no total shows the count and the time only", () => {
    const stream = fakeStream(true);
    const progress = startProgress({ label: "rebuilding rollups", stream });
    progress.update(5);
    progress.stop();
    expect(stripVTControlCharacters(stream.text())).toMatch(/^rebuilding rollups… \| 0s/);
  });

  it("after stop, logs straight to the stream and ignores updates", () => {
    const stream = fakeStream(true);
    const progress = startProgress({ label: "ingesting", stream });
    progress.stop();
    const before = stream.text();
    progress.update(1, 1);
    progress.log("late\n");
    expect(stream.text()).toBe(`${before}late\n`);
  });
});
