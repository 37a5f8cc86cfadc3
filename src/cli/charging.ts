// tally policy check FILE and tally bill (offline, from a policy file and an events file): charging on the command line.

import fs from "node:fs";
import type { Command } from "commander";
import { billText } from "../charging/bill.js";
import { billOffline } from "../charging/offline-bill.js";
import { MAX_POLICY_BYTES, parsePolicy } from "../charging/policy.js";
import { AppError } from "../domain/errors.js";

type Run = <A extends unknown[]>(action: (...args: A) => Promise<number | undefined>) => (...args: A) => Promise<void>;

export function registerChargingCommands(program: Command, run: Run): void {
  const policy = program.command("policy").description("charging policies");
  policy
    .command("check")
    .description("validate a policy file (YAML); errors name the line and path")
    .argument("<file>", "the policy file")
    .action(run(policyCheckCommand));

  program
    .command("bill")
    .description(
      "price an account's usage for one billing period, from a policy file and an events file (no data directory)",
    )
    .requiredOption("--policy <file>", "the policy file (YAML)")
    .requiredOption("--events <file>", "the events, NDJSON as for tally ingest")
    .requiredOption("--account <account>", "the account to bill")
    .requiredOption("--period <period>", "the billing period: YYYY-MM, or the start date YYYY-MM-DD for weekly periods")
    .option(
      "--agreement <name[@time]>",
      "the account's agreement; repeat with NAME@TIME (RFC 3339) for one that starts later",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--opening-balance <credits>", "the balance before the period (default 0)")
    .option("--format <format>", "json or text", "text")
    .action(run(billCommand));
}

function readFile(file: string, limit: number, what: string): Buffer {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (error) {
    throw new AppError("VALIDATION", `cannot read ${what} ${file}: ${(error as Error).message}`);
  }
  if (size > limit) throw new AppError("TOO_LARGE", `${what} ${file} is larger than ${limit} bytes`);
  return fs.readFileSync(file);
}

async function policyCheckCommand(file: string): Promise<number> {
  const text = readFile(file, MAX_POLICY_BYTES, "policy").toString("utf8");
  const p = parsePolicy(text);
  process.stdout.write(
    `${file}: valid: ${p.resources.size} resources, ${p.pricelists.size} price lists, ${p.algorithms.size} algorithms, ` +
      `${p.creditplans.size} credit plans, ${p.agreements.size} agreements\n`,
  );
  return 0;
}

/** The events file is read whole: an operator's sample, bounded. */
const MAX_EVENTS_FILE_BYTES = 1024 ** 3;

async function billCommand(flags: {
  policy: string;
  events: string;
  account: string;
  period: string;
  agreement: string[];
  openingBalance?: string;
  format: string;
}): Promise<number> {
  if (flags.format !== "json" && flags.format !== "text") {
    throw new AppError("VALIDATION", `--format "${flags.format}" is not json or text`);
  }
  const bill = await billOffline({
    policyText: readFile(flags.policy, MAX_POLICY_BYTES, "policy").toString("utf8"),
    events: readFile(flags.events, MAX_EVENTS_FILE_BYTES, "events file"),
    account: flags.account,
    agreements: flags.agreement,
    period: flags.period,
    ...(flags.openingBalance !== undefined ? { openingBalance: flags.openingBalance } : {}),
  });
  process.stdout.write(flags.format === "json" ? `${JSON.stringify(bill, null, 2)}\n` : billText(bill));
  return 0;
}
