// tally records export|publish and tally import star: StAR records through the same use cases as the HTTP API.

import fs from "node:fs";
import type { Command } from "commander";
import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { AppError, EXIT_CODE } from "../domain/errors.js";
import { parseExportRequest, renderStarExport } from "../records/export-request.js";
import { importStarRecords } from "../records/import-star.js";
import { MAX_STAR_DOCUMENT_BYTES, parseStarDocument } from "../records/parse-star.js";
import { DEFAULT_STAR_CONFIG, loadStarConfig } from "../records/star-config.js";
import type { Run } from "./petname.js";

interface RecordFlags {
  data?: string;
  store?: string;
  starConfig?: string;
}

interface ExportFlags extends RecordFlags {
  from?: string;
  to?: string;
  period?: string;
  site?: string;
  format?: string;
  capacity?: string;
}

/** No bound on a range asked for on the command line but the period's own. */
const CLI_MAX_DAYS = 36_600;

export async function recordsExportCommand(flags: ExportFlags): Promise<number> {
  const config = loadConfig(flags);
  const request = parseExportRequest(flags, CLI_MAX_DAYS);
  const starConfig = config.starConfig ? loadStarConfig(config.starConfig) : DEFAULT_STAR_CONFIG;
  const backend = await openBackend(config);
  try {
    for await (const piece of renderStarExport(backend.usage, request, starConfig, Date.now())) {
      if (!process.stdout.write(piece)) await new Promise((resolve) => process.stdout.once("drain", resolve));
    }
  } finally {
    await backend.close();
  }
  return 0;
}

/** Problems printed per file; the rest are counted. */
const SHOWN_PROBLEMS = 20;

/** Each file on its own: a document that cannot be read is reported and the next one is imported. */
export async function importStarCommand(files: string[], flags: RecordFlags): Promise<number> {
  const config = loadConfig(flags);
  const starConfig = config.starConfig ? loadStarConfig(config.starConfig) : DEFAULT_STAR_CONFIG;
  const backend = await openBackend(config);
  let failed = false;
  try {
    for (const file of files) {
      let parsed: ReturnType<typeof parseStarDocument>;
      try {
        const size = fs.statSync(file).size;
        if (size > MAX_STAR_DOCUMENT_BYTES) {
          throw new AppError("TOO_LARGE", `larger than the limit of ${MAX_STAR_DOCUMENT_BYTES} bytes`);
        }
        parsed = parseStarDocument(fs.readFileSync(file));
      } catch (error) {
        if (!(error instanceof AppError) && (error as NodeJS.ErrnoException).code === undefined) throw error;
        process.stderr.write(`${file}: ${(error as Error).message}\n`);
        failed = true;
        continue;
      }
      const r = await importStarRecords(backend, parsed, { config: starConfig });
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
    await backend.close();
  }
  return failed ? EXIT_CODE.VALIDATION : 0;
}

/** Registers `tally records …` with the program's store options and error handling. */
export function registerRecordCommands(program: Command, storeOptions: (cmd: Command) => Command, run: Run): void {
  const records = program.command("records").description("StAR storage accounting records (OGF GFD.201)");
  const starOption = (cmd: Command) =>
    storeOptions(cmd).option(
      "--star-config <file>",
      "identities of accounts and places of servers, YAML or JSON (TALLY_STAR_CONFIG)",
    );
  starOption(records.command("export").description("print the StAR records of a range of days or hours"))
    .requiredOption("--from <time>", "start: a date (00:00 UTC) or an RFC 3339 time, on a period boundary")
    .requiredOption("--to <time>", "end (exclusive), on a period boundary")
    .option("--period <period>", "day or hour", "day")
    .option("--site <name>", "only the records of this Site")
    .option("--format <format>", "star-xml or star-json", "star-xml")
    .option("--capacity <mode>", "end: the level at the interval's end; average: its time-weighted average", "end")
    .action(run(recordsExportCommand));

  const importCommand = program.command("import").description("import usage from other systems' records");
  starOption(
    importCommand
      .command("star")
      .description("import StAR documents: each record becomes usage of its storage system and identity"),
  )
    .argument("<files...>", "StAR XML files (sr:StorageUsageRecords or one sr:StorageUsageRecord)")
    .action(run(importStarCommand));
}
