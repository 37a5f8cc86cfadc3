// tally records export|publish and tally import star: StAR records through the same use cases as the HTTP API.

import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { ADMIN_TOKEN_FILE } from "../auth/first-admin-token.js";
import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { AppError, EXIT_CODE } from "../domain/errors.js";
import { parseExportRequest, renderStarExport } from "../records/export-request.js";
import { type ImportResult, importStarRecords } from "../records/import-star.js";
import { MAX_STAR_DOCUMENT_BYTES, parseStarDocument } from "../records/parse-star.js";
import { parseEvery, publishDue } from "../records/publish-records.js";
import { DEFAULT_STAR_CONFIG, loadStarConfig } from "../records/star-config.js";
import type { Run } from "./petname.js";
import { type RemoteFlags, remote, remoteOptions, remoteResponse, throughRunningServer } from "./remote.js";

interface RecordFlags {
  data?: string;
  store?: string;
  starConfig?: string;
}

interface ExportFlags extends RecordFlags, RemoteFlags {
  from?: string;
  to?: string;
  period?: string;
  site?: string;
  format?: string;
  capacity?: string;
}

/** No bound on a range asked for on the command line but the period's own. */
const CLI_MAX_DAYS = 36_600;

/** Prints the records from the store, or through the running `tally serve` that holds it (or --url). */
export async function recordsExportCommand(given: ExportFlags): Promise<number> {
  const flags = throughRunningServer(given);
  const config = loadConfig(flags);
  const request = parseExportRequest(flags, CLI_MAX_DAYS);
  if (flags.url !== undefined) {
    serverConfigNote(flags);
    const query = new URLSearchParams({
      from: new Date(request.from).toISOString(),
      to: new Date(request.to).toISOString(),
      period: request.period,
      capacity: request.capacity,
      format: request.format,
      ...(request.site === undefined ? {} : { site: request.site }),
    });
    const response = await remoteResponse(flags, "GET", `/v1/records/star?${query}`);
    if (response.body !== null) {
      for await (const piece of response.body as unknown as AsyncIterable<Uint8Array>) await write(piece);
    }
    return 0;
  }
  const starConfig = config.starConfig ? loadStarConfig(config.starConfig) : DEFAULT_STAR_CONFIG;
  const backend = await openBackend(config);
  try {
    const threads = config.exportThreads;
    for await (const piece of renderStarExport(backend.usage, request, starConfig, Date.now(), { threads })) {
      await write(piece);
    }
  } finally {
    await backend.close();
  }
  return 0;
}

/** Writes to standard output, waiting when it is full. */
async function write(piece: string | Uint8Array): Promise<void> {
  if (!process.stdout.write(piece)) await new Promise((resolve) => process.stdout.once("drain", resolve));
}

/** Through a server, its records configuration applies: say so when one was given here. */
function serverConfigNote(flags: RecordFlags & RemoteFlags): void {
  if (flags.starConfig !== undefined) {
    process.stderr.write(`--star-config is not used: ${flags.url} applies the records configuration it started with\n`);
  }
}

interface PublishFlags extends RecordFlags {
  dir: string;
  every: string;
  once?: boolean;
  delay: string;
  url?: string;
  tokenFile?: string;
}

/**
 * Renders one period's records, in pieces as they are made: from the store, opened only for it, or from a running
 * Tally (--url).
 */
function periodRenderer(flags: PublishFlags): (from: number, to: number) => Promise<AsyncIterable<Uint8Array>> {
  const config = loadConfig(flags);
  const period = parseEvery(flags.every);
  if (flags.url) {
    const file = flags.tokenFile ?? path.join(config.data, ADMIN_TOKEN_FILE);
    return async (from, to) => {
      const secret = fs.readFileSync(file, "utf8").trim();
      const url = new URL("/v1/records/star", flags.url);
      url.search = new URLSearchParams({
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        period,
      }).toString();
      const response = await fetch(url, { headers: { "X-Auth-Token": secret } }).catch((error: Error) => {
        throw new AppError("UNAVAILABLE", `cannot reach ${url.origin}: ${error.message}`);
      });
      if (!response.ok || response.body === null) {
        throw new AppError("UNAVAILABLE", `${url.origin} answered ${response.status}: ${await response.text()}`);
      }
      return response.body as unknown as AsyncIterable<Uint8Array>;
    };
  }
  const starConfig = config.starConfig ? loadStarConfig(config.starConfig) : DEFAULT_STAR_CONFIG;
  return async (from, to) => {
    const request = { from, to, period, capacity: "end" as const, format: "star-xml" as const };
    return (async function* () {
      const backend = await openBackend(config);
      try {
        const threads = config.exportThreads;
        yield* renderStarExport(backend.usage, request, starConfig, Date.now(), { threads });
      } finally {
        await backend.close();
      }
    })();
  };
}

export async function recordsPublishCommand(flags: PublishFlags): Promise<number> {
  const period = parseEvery(flags.every);
  const delayMs = Number(flags.delay) * 1000;
  if (!Number.isInteger(delayMs) || delayMs < 0) throw new AppError("VALIDATION", "--delay must be whole seconds");
  const render = periodRenderer(flags);
  const publish = async () => {
    for (const file of await publishDue(flags.dir, period, Date.now() - delayMs, render)) {
      process.stdout.write(`published ${file}\n`);
    }
  };
  await publish();
  if (flags.once) return 0;
  const step = period === "day" ? 86_400_000 : 3_600_000;
  await new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout;
    const next = () => {
      const now = Date.now() - delayMs;
      timer = setTimeout(() => publish().then(next, reject), step - (now % step) + 1000);
    };
    next();
    const stop = () => {
      clearTimeout(timer);
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return 0;
}

/** Problems printed per file; the rest are counted. */
const SHOWN_PROBLEMS = 20;

/**
 * Each file on its own: a document that cannot be read is reported and the next one is imported. Into the store, or
 * through the running `tally serve` that holds it (or --url), as POST /v1/records/star.
 */
export async function importStarCommand(files: string[], given: RecordFlags & RemoteFlags): Promise<number> {
  const flags = throughRunningServer(given);
  const config = loadConfig(flags);
  let importFile: (bytes: Uint8Array) => Promise<ImportResult>;
  let close = async () => {};
  if (flags.url !== undefined) {
    serverConfigNote(flags);
    importFile = (bytes) =>
      remote<ImportResult>(flags, "POST", "/v1/records/star", undefined, { bytes, contentType: "application/xml" });
  } else {
    const starConfig = config.starConfig ? loadStarConfig(config.starConfig) : DEFAULT_STAR_CONFIG;
    const backend = await openBackend(config);
    close = () => backend.close();
    importFile = (bytes) => importStarRecords(backend, parseStarDocument(bytes), { config: starConfig });
  }
  let failed = false;
  try {
    for (const file of files) {
      let r: ImportResult;
      try {
        const size = fs.statSync(file).size;
        if (size > MAX_STAR_DOCUMENT_BYTES) {
          throw new AppError("TOO_LARGE", `larger than the limit of ${MAX_STAR_DOCUMENT_BYTES} bytes`);
        }
        r = await importFile(fs.readFileSync(file));
      } catch (error) {
        // A document refused (not StAR, too large, unreadable) is this file's failure; the store's or the server's
        // being unavailable ends the command.
        const unreadable =
          error instanceof AppError
            ? error.code === "VALIDATION" || error.code === "TOO_LARGE" || error.code === "UNSUPPORTED_MEDIA_TYPE"
            : (error as NodeJS.ErrnoException).code !== undefined;
        if (!unreadable) throw error;
        process.stderr.write(`${file}: ${(error as Error).message}\n`);
        failed = true;
        continue;
      }
      process.stdout.write(
        `${file}: ${r.records} records: ${r.imported} imported, ${r.replaced} replaced, ${r.unchanged} unchanged, ` +
          `${r.older} older than imported, ${r.rejected} rejected\n`,
      );
      r.problems.slice(0, SHOWN_PROBLEMS).forEach((p) => {
        process.stderr.write(`${file}: ${p.record}: ${p.status === "older" ? "ignored: " : ""}${p.reason}\n`);
      });
      const more = r.problems.length + (r.problems_omitted ?? 0) - SHOWN_PROBLEMS;
      if (more > 0) process.stderr.write(`${file}: ${more} more problems\n`);
      if (r.rejected > 0) failed = true;
    }
  } finally {
    await close();
  }
  return failed ? EXIT_CODE.VALIDATION : 0;
}

/** Registers `tally records …` and `tally import star` with the program's store options and error handling. */
export function registerRecordCommands(
  program: Command,
  importCommand: Command,
  storeOptions: (cmd: Command) => Command,
  run: Run,
): void {
  const records = program.command("records").description("StAR storage accounting records (OGF GFD.201)");
  const starOption = (cmd: Command) =>
    storeOptions(cmd).option(
      "--star-config <file>",
      "identities of accounts and places of servers, YAML or JSON (TALLY_STAR_CONFIG)",
    );
  remoteOptions(starOption(records.command("export").description("print the StAR records of a range of days or hours")))
    .requiredOption("--from <time>", "start: a date (00:00 UTC) or an RFC 3339 time, on a period boundary")
    .requiredOption("--to <time>", "end (exclusive), on a period boundary")
    .option("--period <period>", "day or hour", "day")
    .option("--site <name>", "only the records of this Site")
    .option("--format <format>", "star-xml or star-json", "star-xml")
    .option("--capacity <mode>", "end: the level at the interval's end; average: its time-weighted average", "end")
    .action(run(recordsExportCommand));

  remoteOptions(
    starOption(
      records
        .command("publish")
        .description("write each period's records, once it is over, into a directory queue that APEL's SSM sends"),
    ),
  )
    .requiredOption("--dir <dir>", "the outgoing directory queue (Python dirq QueueSimple layout)")
    .option("--every <period>", "1d or 1h: the period of the records, and how often a file is written", "1d")
    .option("--delay <seconds>", "wait this long after a period ends for late events", "600")
    .option("--once", "publish the periods that are due, then exit (for cron)")
    .action(run(recordsPublishCommand));

  remoteOptions(
    starOption(
      importCommand
        .command("star")
        .description("import StAR documents: each record becomes usage of its storage system and identity"),
    ),
  )
    .argument("<files...>", "StAR XML files (sr:StorageUsageRecords or one sr:StorageUsageRecord)")
    .action(run(importStarCommand));
}
