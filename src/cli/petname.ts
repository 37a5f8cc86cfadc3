// tally petname set|rm|import: the petname database, in the store directly or through a running server.
//
// The SQLite store is opened by one process at a time, so while `tally serve` runs on the same data directory these
// go through the server's /v1/petnames with an admin token: the server found by its note, or the one --url names.

import fs from "node:fs";
import type { Command } from "commander";
import { AppError } from "../domain/errors.js";
import { importPetnames, parsePetnameFile, removePetname, setPetname } from "../petnames/petname.js";
import { type RemoteFlags, remote, remoteOptions, throughRunningServer, withBackend } from "./remote.js";

export type Run = <A extends unknown[]>(
  action: (...args: A) => Promise<number | undefined>,
) => (...args: A) => Promise<void>;

export async function petnameSetCommand(account: string, name: string, given: RemoteFlags): Promise<number> {
  const flags = throughRunningServer(given);
  const saved = flags.url
    ? await remote<{ account: string; petname: string }>(flags, "PUT", petnamePath(account), { petname: name })
    : await withBackend(flags, async ({ petnames }) => {
        const p = await setPetname(petnames, account, name);
        return { account: p.account, petname: p.name };
      });
  process.stdout.write(`${saved.account}\t${saved.petname}\n`);
  return 0;
}

export async function petnameRemoveCommand(account: string, given: RemoteFlags): Promise<number> {
  const flags = throughRunningServer(given);
  if (flags.url) await remote(flags, "DELETE", petnamePath(account));
  else await withBackend(flags, ({ petnames }) => removePetname(petnames, account));
  process.stdout.write(`removed the petname of ${account}\n`);
  return 0;
}

/** FILE is CSV (account,name) or a JSON object; - reads standard input. All entries, or none. */
export async function petnameImportCommand(file: string, given: RemoteFlags): Promise<number> {
  const flags = throughRunningServer(given);
  let text: string;
  try {
    text = file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new AppError("VALIDATION", `cannot read ${file}: ${(error as Error).message}`);
  }
  let count: number;
  if (flags.url) {
    const petnames = parsePetnameFile(text);
    const body = Object.fromEntries(petnames.map((p) => [p.account, p.name]));
    count = (await remote<{ set: number }>(flags, "PATCH", "/v1/petnames", body)).set;
  } else {
    count = await withBackend(flags, ({ petnames }) => importPetnames(petnames, text));
  }
  process.stdout.write(`imported ${count} petname${count === 1 ? "" : "s"}\n`);
  return 0;
}

const petnamePath = (account: string) => `/v1/petnames/${encodeURIComponent(account)}`;

/** Registers `tally petname …` with the program's store options and error handling. */
export function registerPetnameCommands(program: Command, storeOptions: (cmd: Command) => Command, run: Run): void {
  const petname = program
    .command("petname")
    .description("name accounts: the petname database shown in the usage table")
    .addHelpText(
      "after",
      "\nNames are untrusted text (at most 100 characters) and are escaped wherever they are shown.\n" +
        "While `tally serve` runs on the data directory these go through it with the admin token\n" +
        "(DATA/admin-token); otherwise they open the store. --url http://HOST:PORT names a server.",
    );
  const options = (cmd: Command) => remoteOptions(storeOptions(cmd));
  options(petname.command("set").description("give ACCOUNT the petname NAME"))
    .argument("<account>")
    .argument("<name>")
    .action(run(petnameSetCommand));
  options(petname.command("rm").description("remove the petname of ACCOUNT"))
    .argument("<account>")
    .action(run(petnameRemoveCommand));
  options(
    petname.command("import").description("set petnames from FILE: CSV account,name or a JSON object; - for stdin"),
  )
    .argument("<file>")
    .action(run(petnameImportCommand));
}
