#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --single-threaded-gc --initial-old-space-size=64
// The tally command: one subcommand per file, each calling the same use cases as the HTTP API.

import { Command } from "commander";
import { AppError, EXIT_CODE } from "../domain/errors.js";
import { backupCommand, restoreCommand } from "./backup.js";
import { registerChargingCommands } from "./charging.js";
import { streamOptions } from "./consume-flags.js";
import { doctorCommand } from "./doctor.js";
import { registerFeedCommands } from "./feeds.js";
import { registerImportSwiftLog } from "./import-swift-log.js";
import { ingestCommand } from "./ingest.js";
import { registerInviteCommands } from "./invite.js";
import { registerMeterCommands } from "./meter.js";
import { registerMeterScan } from "./meter-scan.js";
import { registerPetnameCommands } from "./petname.js";
import { rebuildCommand } from "./rebuild.js";
import { registerRecordCommands } from "./records.js";
import { remoteOptions } from "./remote.js";
import { serveCommand } from "./serve.js";
import { tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from "./token.js";

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

streamOptions(storeOptions(program.command("serve").description("serve the HTTP API")))
  .option(
    "--consume <url>",
    "also store the events of a NATS JetStream stream: nats://HOST:PORT (several, comma-separated, for a cluster; repeat for more brokers; TALLY_CONSUME)",
    collect,
    [],
  )
  .option(
    "--durable <name>",
    "with --consume: the durable consumer, shared by every node that names it (TALLY_DURABLE, default tally)",
  )
  .option("--batch <n>", "with --consume: messages pulled and committed together (TALLY_BATCH, default 5000)")
  .option("--listen <host:port>", "address to listen on (TALLY_LISTEN, default 127.0.0.1:8124)")
  .option("--local-reads", "allow reads without a token; loopback only (TALLY_LOCAL_READS, the default)")
  .option("--no-local-reads", "require a token for every request (needed to listen on a non-loopback address)")
  .option(
    "--stale-after <seconds>",
    "mark a server stale after this long without events (TALLY_STALE_AFTER_SECONDS, default 900)",
  )
  .option("--star-config <file>", "StAR records: identities of accounts, places of servers (TALLY_STAR_CONFIG)")
  .option("--public-url <url>", "the base URL of the subscription URLs this node prints (TALLY_PUBLIC_URL)")
  .option(
    "--memory <MiB>",
    "SQLite: the memory budget its caches are sized to, at least 320 (TALLY_MEMORY_MB, default 512)",
  )
  .option(
    "--demo",
    "simulated servers and accounts, live, in a data directory of their own (default a new temporary one)",
  )
  .action(run(serveCommand));

streamOptions(
  remoteOptions(
    storeOptions(program.command("ingest").description("store NDJSON events from FILE, or - for standard input")),
  ),
)
  .argument("<file>", "an NDJSON file, or - for standard input")
  .option("--to <url>", "publish the events to NATS JetStream at nats://HOST:PORT instead of storing them")
  .action(run(ingestCommand));

storeOptions(program.command("rebuild").description("derive every hourly rollup again from the stored events")).action(
  run(rebuildCommand),
);

storeOptions(
  program
    .command("doctor")
    .description(
      "check the event log and the derived database of a SQLite store, and say what to do (exit 1 if damaged)",
    ),
)
  .option("--repair", "move a damaged derived database aside and derive it again from the event log")
  .option("--json", "print JSON")
  .action(run(doctorCommand));

remoteOptions(
  storeOptions(
    program
      .command("backup")
      .description(
        "copy a SQLite store to DIR (new or empty), consistently, while tally serve runs with --url; PostgreSQL: pg_dump",
      ),
  ),
)
  .argument("<dir>", "the directory for the copy")
  .action(run(backupCommand));

storeOptions(
  program
    .command("restore")
    .description("put a backup DIR in place as the store of --data (or --store sqlite:PATH), which must not exist yet"),
)
  .argument("<dir>", "a directory written by tally backup")
  .action(run(restoreCommand));

const token = program
  .command("token")
  .description("create, list and revoke API tokens")
  .addHelpText(
    "after",
    "\nWhile `tally serve` runs on the data directory these go through it with the admin token\n" +
      "(--token-file, default DATA/admin-token); otherwise they open the store. --url http://HOST:PORT names a server.",
  );
const tokenOptions = (cmd: Command) =>
  storeOptions(cmd)
    .option("--url <url>", "go through this Tally (default: the one running on the data directory, if any)")
    .option("--token-file <file>", "file holding an admin token for the server (default DATA/admin-token)")
    .option("--json", "print JSON");

tokenOptions(token.command("create").description("create a token and print its secret, once"))
  .requiredOption("--role <role>", "admin, ingest, read, account or metrics")
  .option("--account <account>", "role account: the one account it may read")
  .option(
    "--server <server>",
    "role ingest: a server it may send events for (repeat for more; default any)",
    collect,
    [],
  )
  .option("--note <text>", "a note for whoever lists the tokens")
  .action(run(tokenCreateCommand));

tokenOptions(token.command("list").description("list every token, without secrets")).action(run(tokenListCommand));

tokenOptions(token.command("revoke").description("revoke a token by id; it stops working at once"))
  .argument("<id>", "the token id, like tok_0123456789abcdef")
  .action(run(tokenRevokeCommand));

registerPetnameCommands(program, storeOptions, run);
registerInviteCommands(program, storeOptions, run);
// One `import` command, for the formats and the records of other systems alike.
const importCommand = program.command("import").description("import usage from other formats and systems' records");
registerRecordCommands(program, importCommand, storeOptions, run);
const meter = program.command("meter").description("meters that measure a storage server and send Tally its usage");
registerMeterCommands(meter, storeOptions, run);
registerMeterScan(meter, storeOptions, run);
registerImportSwiftLog(importCommand, storeOptions, run);
registerFeedCommands(program, storeOptions, run);
registerChargingCommands(program, storeOptions, run);

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

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
