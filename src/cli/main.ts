#!/usr/bin/env node
// The tally command: one subcommand per file, each calling the same use cases as the HTTP API.

import { Command } from "commander";
import { AppError, EXIT_CODE } from "../domain/errors.js";
import { ingestCommand } from "./ingest.js";
import { rebuildCommand } from "./rebuild.js";
import { serveCommand } from "./serve.js";

export interface StoreFlags {
  data?: string;
  store?: string;
}

const program = new Command()
  .name("tally")
  .description("Storage usage accounting: meters usage per server and account, keeps exact hourly rollups.")
  .showHelpAfterError();

const storeOptions = (cmd: Command) =>
  cmd
    .option("--data <dir>", "data directory (TALLY_DATA, default ./tally-data)")
    .option(
      "--store <url>",
      "sqlite:PATH or postgres://… (TALLY_STORE, default the SQLite file in the data directory)",
    );

storeOptions(program.command("serve").description("serve the HTTP API"))
  .option("--listen <host:port>", "address to listen on (TALLY_LISTEN, default 127.0.0.1:8124)")
  .action(run(serveCommand));

storeOptions(program.command("ingest").description("store NDJSON events from FILE, or - for standard input"))
  .argument("<file>", "an NDJSON file, or - for standard input")
  .action(run(ingestCommand));

storeOptions(program.command("rebuild").description("derive every hourly rollup again from the stored events")).action(
  run(rebuildCommand),
);

function run<A extends unknown[]>(action: (...args: A) => Promise<number | undefined>) {
  return async (...args: A) => {
    try {
      process.exitCode = (await action(...args)) ?? 0;
    } catch (error) {
      if (error instanceof AppError) {
        process.stderr.write(`tally: ${error.message}\n`);
        process.exitCode = EXIT_CODE[error.code];
      } else {
        process.stderr.write(`tally: ${(error as Error).stack ?? String(error)}\n`);
        process.exitCode = 1;
      }
    }
  };
}

await program.parseAsync(process.argv);
