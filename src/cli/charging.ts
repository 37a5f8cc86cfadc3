// Charging on the command line: tally policy check|load, tally agreement set, tally group set|clear|show, tally bill
// (from the store, or offline from a policy file and an events file), tally close and tally balance. Those on the
// store go through the running server when one holds it (or --url names one), as the other commands do.

import fs from "node:fs";
import type { Command } from "commander";
import type { Backend } from "../backend/backend.js";
import { type BillJson, billText } from "../charging/bill.js";
import {
  accountBalance,
  type Balance,
  billAccount,
  type CloseOutcome,
  closeAccounts,
  closeAll,
} from "../charging/billing-run.js";
import { accountGroup, loadPolicy, setAgreement, setGroup, startTime } from "../charging/charge-account.js";
import { type ExplainJson, explainBill, explainText } from "../charging/explain.js";
import { billOffline } from "../charging/offline-bill.js";
import { MAX_POLICY_BYTES, parsePolicy } from "../charging/policy.js";
import { AppError, validation } from "../domain/errors.js";
import { isoTime } from "../domain/time.js";
import { type RemoteFlags, remote, remoteOptions, throughRunningServer, withBackend } from "./remote.js";

type Run = <A extends unknown[]>(action: (...args: A) => Promise<number | undefined>) => (...args: A) => Promise<void>;

export function registerChargingCommands(program: Command, localOptions: (cmd: Command) => Command, run: Run): void {
  const storeOptions = (cmd: Command) => remoteOptions(localOptions(cmd));
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
  storeOptions(
    agreement
      .command("set")
      .description("give an account (or, with --group, a group) an agreement from a time on, until its next one"),
  )
    .argument("<account>", "the account, or the group with --group")
    .argument("<name>", "an agreement of the loaded policy")
    .option("--from <time>", "when it starts, RFC 3339 (default now); after the account's latest agreement")
    .option("--group", "give it to a group: its members hold it where they hold no agreement of their own")
    .action(run(agreementSetCommand));

  const group = program.command("group").description("the group an account is in, whose agreement it holds");
  storeOptions(group.command("set").description("put an account in a group from a time on, until its next change"))
    .argument("<account>", "the account")
    .argument("<group>", "the group")
    .option("--from <time>", "when it joins, RFC 3339 (default now); after the account's latest change of group")
    .action(run(groupSetCommand));
  storeOptions(group.command("clear").description("take an account out of its group from a time on"))
    .argument("<account>", "the account")
    .option("--from <time>", "when it leaves, RFC 3339 (default now); after the account's latest change of group")
    .action(run((account: string, flags: GroupFlags) => groupSetCommand(account, null, flags)));
  storeOptions(group.command("show").description("the group an account is in now, and every range it is in one"))
    .argument("<account>", "the account")
    .option("--format <format>", "json or text", "text")
    .action(run(groupShowCommand));

  storeOptions(
    program
      .command("close")
      .description(
        "close an ended billing period for accounts: write each one's grants, late adjustments and charge to the " +
          "ledger (again: writes nothing)",
      ),
  )
    .argument("[accounts...]", "the accounts to close the period for")
    .requiredOption("--period <period>", "the billing period: YYYY-MM, or the start date YYYY-MM-DD for weekly periods")
    .option("--all", "every account charging or usage knows of: the billing run")
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
    .option("--explain", "from the store: how each line was priced, as GET …/bills/<period>/explain gives it")
    .option("--format <format>", "json or text", "text")
    .action(run(billCommand));
}

/** Through the running server (found by its note, or named by --url) with the admin token, else on the store here. */
async function onStore<T>(
  given: RemoteFlags,
  viaServer: (flags: RemoteFlags) => Promise<T>,
  here: (backend: Backend) => Promise<T>,
): Promise<T> {
  const flags = throughRunningServer(given);
  return flags.url !== undefined ? viaServer(flags) : withBackend(flags, here);
}

const accountPath = (account: string) => `/v1/accounts/${encodeURIComponent(account)}`;

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
    url?: string;
    tokenFile?: string;
    period: string;
    agreement: string[];
    openingBalance?: string;
    explain?: boolean;
    format: string;
  },
): Promise<number> {
  if (flags.format !== "json" && flags.format !== "text") {
    throw new AppError("VALIDATION", `--format "${flags.format}" is not json or text`);
  }
  if (flags.explain) {
    if (flags.policy !== undefined || storedAccount === undefined) {
      throw new AppError(
        "VALIDATION",
        "--explain is for a bill from the store: tally bill ACCOUNT --period P --explain",
      );
    }
    const x = await onStore(
      flags,
      (via) =>
        remote<ExplainJson>(
          via,
          "GET",
          `${accountPath(storedAccount)}/bills/${encodeURIComponent(flags.period)}/explain`,
        ),
      (backend) => explainBill(backend.charging, backend.usage, storedAccount, flags.period),
    );
    process.stdout.write(flags.format === "json" ? `${JSON.stringify(x, null, 2)}\n` : explainText(x));
    return 0;
  }
  const bill =
    flags.policy === undefined ? await storedBill(storedAccount, flags) : await offlineBill(storedAccount, flags);
  process.stdout.write(flags.format === "json" ? `${JSON.stringify(bill, null, 2)}\n` : billText(bill));
  return 0;
}

async function storedBill(
  account: string | undefined,
  flags: RemoteFlags & {
    events?: string;
    account?: string;
    agreement: string[];
    openingBalance?: string;
    period: string;
  },
): Promise<BillJson> {
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
  return onStore(
    flags,
    (via) => remote<BillJson>(via, "GET", `${accountPath(account)}/bills/${encodeURIComponent(flags.period)}`),
    (backend) => billAccount(backend.charging, backend.usage, account, flags.period),
  );
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

async function policyLoadCommand(file: string, flags: RemoteFlags & { from?: string }): Promise<number> {
  const bytes = readFile(file, MAX_POLICY_BYTES, "policy");
  const from = startTime(flags.from, "--from", Date.now());
  const v = await onStore(
    flags,
    (via) =>
      remote<{ version: number; from: string }>(via, "PUT", `/v1/policy?from=${from}`, undefined, {
        bytes,
        contentType: "application/yaml",
      }),
    async (backend) => {
      const stored = await loadPolicy(backend.charging, bytes.toString("utf8"), from, Date.now());
      return { version: stored.version, from: isoTime(stored.from) };
    },
  );
  process.stdout.write(`policy version ${v.version} loaded, in effect from ${v.from}\n`);
  return 0;
}

async function agreementSetCommand(
  subject: string,
  name: string,
  flags: RemoteFlags & { from?: string; group?: boolean },
): Promise<number> {
  const from = startTime(flags.from, "--from", Date.now());
  const kind = flags.group ? "group" : "account";
  const route = flags.group ? `/v1/groups/${encodeURIComponent(subject)}` : accountPath(subject);
  await onStore(
    flags,
    (via) => remote(via, "PUT", `${route}/agreement`, { agreement: name, from }),
    (backend) => setAgreement(backend.charging, subject, name, from, kind),
  );
  process.stdout.write(`${kind} ${subject} holds agreement ${name} from ${isoTime(from)}\n`);
  return 0;
}

interface GroupFlags extends RemoteFlags {
  from?: string;
}

async function groupSetCommand(account: string, group: string | null, flags: GroupFlags): Promise<number> {
  const from = startTime(flags.from, "--from", Date.now());
  await onStore(
    flags,
    (via) => remote(via, "PUT", `${accountPath(account)}/group`, { group, from }),
    (backend) => setGroup(backend.charging, account, group, from),
  );
  process.stdout.write(
    group === null
      ? `${account} is in no group from ${isoTime(from)}\n`
      : `${account} is in group ${group} from ${isoTime(from)}\n`,
  );
  return 0;
}

async function groupShowCommand(account: string, flags: RemoteFlags & { format: string }): Promise<number> {
  if (flags.format !== "json" && flags.format !== "text") {
    throw new AppError("VALIDATION", `--format "${flags.format}" is not json or text`);
  }
  const g = await onStore(
    flags,
    (via) => remote<Awaited<ReturnType<typeof accountGroup>>>(via, "GET", `${accountPath(account)}/group`),
    (backend) => accountGroup(backend.charging, account, Date.now()),
  );
  if (flags.format === "json") process.stdout.write(`${JSON.stringify(g, null, 2)}\n`);
  else {
    process.stdout.write(`${account}: ${g.group === null ? "in no group" : `in group ${g.group}`} now\n`);
    for (const m of g.memberships) {
      process.stdout.write(`  ${m.from} to ${m.to ?? "on"}: ${m.group ?? "no group"}\n`);
    }
  }
  return 0;
}

async function closeCommand(
  accounts: string[],
  flags: RemoteFlags & { period: string; all?: boolean },
): Promise<number> {
  if (flags.all === true && accounts.length > 0) throw validation("give the accounts to close, or --all, not both");
  if (flags.all !== true && accounts.length === 0)
    throw validation("name the accounts to close, or give --all for every account");
  const said = (c: CloseOutcome) =>
    process.stdout.write(
      `${c.account} ${flags.period}: ${c.written === 0 ? "already closed" : "closed"}, charges ${c.total}, ` +
        `closing balance ${c.closing_balance} (${c.written} entries written, ${c.existing} existing)\n`,
    );
  const period = encodeURIComponent(flags.period);
  const outcomes = await onStore(
    flags,
    async (via) => {
      if (flags.all) return (await remote<{ closed: CloseOutcome[] }>(via, "POST", `/v1/bills/${period}/close`)).closed;
      const out: CloseOutcome[] = [];
      for (const account of accounts) {
        out.push(await remote<CloseOutcome>(via, "POST", `${accountPath(account)}/bills/${period}/close`));
      }
      return out;
    },
    (backend) =>
      flags.all
        ? closeAll(backend.charging, backend.usage, flags.period, Date.now())
        : closeAccounts(backend.charging, backend.usage, accounts, flags.period, Date.now()),
  );
  for (const c of outcomes) said(c);
  return 0;
}

async function balanceCommand(account: string, flags: RemoteFlags & { format: string }): Promise<number> {
  if (flags.format !== "json" && flags.format !== "text") {
    throw new AppError("VALIDATION", `--format "${flags.format}" is not json or text`);
  }
  const b = await onStore(
    flags,
    (via) => remote<Balance>(via, "GET", `${accountPath(account)}/balance`),
    (backend) => accountBalance(backend.charging, backend.usage, account, Date.now()),
  );
  process.stdout.write(
    flags.format === "json"
      ? `${JSON.stringify(b, null, 2)}\n`
      : `${account}: balance ${b.balance} (closed through ${b.closed_through ?? "no period"}: ${b.closed_balance}; ` +
          `${b.open_period.name} so far: granted ${b.credits_granted}, charges ${b.charges}, adjustments ${b.adjustments})\n`,
  );
  return 0;
}
