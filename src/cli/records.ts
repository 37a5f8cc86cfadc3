// tally records export|publish and tally import star: StAR records through the same use cases as the HTTP API.

import type { Command } from "commander";
import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { parseExportRequest, renderStarExport } from "../records/export-request.js";
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
}
