// Charging on the command line: tally policy check|load, tally agreement set, tally bill (from the store, or offline
// from a policy file and an events file).

import fs from "node:fs";
import type { Command } from "commander";
import { billText } from "../charging/bill.js";
import { accountBalance, billAccount, closeAccounts } from "../charging/billing-run.js";
import { loadPolicy, setAgreement, startTime } from "../charging/charge-account.js";
import { billOffline } from "../charging/offline-bill.js";
import { MAX_POLICY_BYTES, parsePolicy } from "../charging/policy.js";
import { AppError } from "../domain/errors.js";
import { isoTime } from "../domain/time.js";
import { withBackend } from "./remote.js";

type Run = <A extends unknown[]>(action: (...args: A) => Promise<number | undefined>) => (...args: A) => Promise<void>;

export function registerChargingCommands(program: Command, storeOptions: (cmd: Command) => Command, run: Run): void {
  const policy = program.command("policy").description("charging policies");
  policy
    .command("check")
    .description("validate a policy file (YAML); errors name the line and path")
    .argument("<file>", "the policy file")
    .action(run(policyCheckCommand));

  storeOptions(policy.command("load").description("check a policy file and store it as a new version"))
    .argument("<file>", "the policy file")
    .option("--from <time>", "when the version takes effect, RFC 3339 (default now); after every earlier version's")
    .action(run(policyLoadCommand));

  const agreement = program.command("agreement").description("the agreements accounts hold");
  storeOptions(agreement.command("set").description("give an account an agreement from a time on, until its next one"))
    .argument("<account>", "the account")
    .argument("<name>", "an agreement of the loaded policy")
    .option("--from <time>", "when it starts, RFC 3339 (default now); after the account's latest agreement")
    .action(run(agreementSetCommand));

  storeOptions(
    program
      .command("close")
      .description(
        "close an ended billing period for accounts: write each one's grants, late adjustments and charge to the " +
          "ledger (again: writes nothing)",
      ),
  )
    .argument("<accounts...>", "the accounts to close the period for")
    .requiredOption("--period <period>", "the billing period: YYYY-MM, or the start date YYYY-MM-DD for weekly periods")
    .action(run(closeCommand));

  storeOptions(
    program
      .command("balance")
      .description("an account's credit balance: its closed periods' closing balance plus the open period so far"),
  )
    .argument("<account>", "the account")
    .option("--format <format>", "json or text", "text")
    .action(run(balanceCommand));

  storeOptions(
    program
      .command("bill")
      .description(
        "price an account's usage for one billing period: from the store (ACCOUNT), or from a policy file and an " +
          "events file with no data directory (--policy, --events, --account, --agreement)",
      ),
  )
    .argument("[account]", "the account to bill from the store")
    .option("--policy <file>", "offline: the policy file (YAML)")
    .option("--events <file>", "offline: the events, NDJSON as for tally ingest")
    .option("--account <account>", "offline: the account to bill")
    .requiredOption("--period <period>", "the billing period: YYYY-MM, or the start date YYYY-MM-DD for weekly periods")
    .option(
      "--agreement <name[@time]>",
      "offline: the account's agreement; repeat with NAME@TIME (RFC 3339) for one that starts later",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--opening-balance <credits>", "offline: the balance before the period (default 0)")
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

async function billCommand(
  storedAccount: string | undefined,
  flags: {
    policy?: string;
    events?: string;
    account?: string;
    data?: string;
    store?: string;
    period: string;
    agreement: string[];
    openingBalance?: string;
    format: string;
  },
): Promise<number> {
  if (flags.format !== "json" && flags.format !== "text") {
    throw new AppError("VALIDATION", `--format "${flags.format}" is not json or text`);
  }
  const bill =
    flags.policy === undefined ? await storedBill(storedAccount, flags) : await offlineBill(storedAccount, flags);
  process.stdout.write(flags.format === "json" ? `${JSON.stringify(bill, null, 2)}\n` : billText(bill));
  return 0;
}

async function storedBill(
  account: string | undefined,
  flags: {
    events?: string;
    account?: string;
    agreement: string[];
    openingBalance?: string;
    period: string;
    data?: string;
    store?: string;
  },
) {
  if (account === undefined)
    throw new AppError(
      "VALIDATION",
      "give the ACCOUNT to bill from the store, or --policy and --events to bill offline",
    );
  for (const [flag, given] of [
    ["--events", flags.events],
    ["--account", flags.account],
    ["--opening-balance", flags.openingBalance],
  ] as const) {
    if (given !== undefined) throw new AppError("VALIDATION", `${flag} is for offline bills, with --policy`);
  }
  if (flags.agreement.length > 0)
    throw new AppError("VALIDATION", "--agreement is for offline bills; tally agreement set stores one");
  return withBackend(flags, (backend) => billAccount(backend.charging, backend.usage, account, flags.period));
}

async function offlineBill(
  account: string | undefined,
  flags: {
    policy?: string;
    events?: string;
    account?: string;
    agreement: string[];
    openingBalance?: string;
    period: string;
  },
) {
  if (account !== undefined)
    throw new AppError("VALIDATION", "an offline bill names its account with --account, not as an argument");
  if (flags.events === undefined || flags.account === undefined) {
    throw new AppError("VALIDATION", "an offline bill needs --policy, --events, --account and --agreement");
  }
  return billOffline({
    policyText: readFile(flags.policy as string, MAX_POLICY_BYTES, "policy").toString("utf8"),
    events: readFile(flags.events, MAX_EVENTS_FILE_BYTES, "events file"),
    account: flags.account,
    agreements: flags.agreement,
    period: flags.period,
    ...(flags.openingBalance !== undefined ? { openingBalance: flags.openingBalance } : {}),
  });
}

async function policyLoadCommand(
  file: string,
  flags: { from?: string; data?: string; store?: string },
): Promise<number> {
  const text = readFile(file, MAX_POLICY_BYTES, "policy").toString("utf8");
  const from = startTime(flags.from, "--from", Date.now());
  const v = await withBackend(flags, (backend) => loadPolicy(backend.charging, text, from, Date.now()));
  process.stdout.write(`policy version ${v.version} loaded, in effect from ${isoTime(v.from)}\n`);
  return 0;
}

async function agreementSetCommand(
  account: string,
  name: string,
  flags: { from?: string; data?: string; store?: string },
): Promise<number> {
  const from = startTime(flags.from, "--from", Date.now());
  await withBackend(flags, (backend) => setAgreement(backend.charging, account, name, from));
  process.stdout.write(`${account} holds agreement ${name} from ${isoTime(from)}\n`);
  return 0;
}

async function closeCommand(
  accounts: string[],
  flags: { period: string; data?: string; store?: string },
): Promise<number> {
  await withBackend(flags, async (backend) => {
    for (const c of await closeAccounts(backend.charging, backend.usage, accounts, flags.period, Date.now())) {
      const { account } = c;
      process.stdout.write(
        `${account} ${flags.period}: ${c.written === 0 ? "already closed" : "closed"}, charges ${c.total}, ` +
          `closing balance ${c.closing_balance} (${c.written} entries written, ${c.existing} existing)\n`,
      );
    }
  });
  return 0;
}

async function balanceCommand(
  account: string,
  flags: { format: string; data?: string; store?: string },
): Promise<number> {
  if (flags.format !== "json" && flags.format !== "text") {
    throw new AppError("VALIDATION", `--format "${flags.format}" is not json or text`);
  }
  const b = await withBackend(flags, (backend) => accountBalance(backend.charging, backend.usage, account, Date.now()));
  process.stdout.write(
    flags.format === "json"
      ? `${JSON.stringify(b, null, 2)}\n`
      : `${account}: balance ${b.balance} (closed through ${b.closed_through ?? "no period"}: ${b.closed_balance}; ` +
          `${b.open_period.name} so far: granted ${b.credits_granted}, charges ${b.charges}, adjustments ${b.adjustments})\n`,
  );
  return 0;
}
