// The input of tally ingest (a file, or standard input for "-") read as lines of bytes.

import fs from "node:fs";
import { AppError } from "../domain/errors.js";

/** The file, or standard input for "-", once it is open; with its size for the progress bar when it has one. */
export async function openInput(
  file: string,
): Promise<{ input: NodeJS.ReadableStream & AsyncIterable<Buffer>; total: number | undefined }> {
  const input = file === "-" ? process.stdin : fs.createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    if (file === "-") resolve();
    else
      input
        .once("open", () => resolve())
        .once("error", (e: Error) => reject(new AppError("VALIDATION", `cannot read ${file}: ${e.message}`)));
  });
  // Standard input has no size to measure against: its bar shows the count alone.
  return { input, total: file === "-" ? undefined : fs.statSync(file).size };
}

/** The lines of a stream as bytes, without their newlines. */
export async function* byteLines(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let rest = Buffer.alloc(0);
  for await (const chunk of input) {
    let data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a)) {
      yield data.subarray(0, nl);
      data = data.subarray(nl + 1);
    }
    rest = Buffer.from(data);
  }
  if (rest.length > 0) yield rest;
}

export function isBlank(line: Buffer): boolean {
  return line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);
}

/** The non-blank lines of a stream in batches of at most `size`, each line with its number, and the bytes read so far. */
export async function* lineBatches(
  input: AsyncIterable<Buffer>,
  size: number,
): AsyncGenerator<{ lines: Buffer[]; lineNumbers: number[]; bytes: number }> {
  let lines: Buffer[] = [];
  let lineNumbers: number[] = [];
  let lineNumber = 0;
  let bytes = 0;
  for await (const line of byteLines(input)) {
    lineNumber++;
    bytes += line.length + 1;
    if (isBlank(line)) continue;
    lines.push(line);
    lineNumbers.push(lineNumber);
    if (lines.length >= size) {
      yield { lines, lineNumbers, bytes };
      lines = [];
      lineNumbers = [];
    }
  }
  if (lines.length > 0) yield { lines, lineNumbers, bytes };
}
