// tally invite create|accept: one-time invitation codes for an account (existing or new), and the token they give.

import type { Command } from "commander";
import { tokenJson } from "../auth/token.js";
import { isoTime } from "../domain/time.js";
import { acceptInvitation } from "../petnames/accept-invitation.js";
import { createInvitation, parseDuration } from "../petnames/petname.js";
import type { Run } from "./petname.js";
import { type RemoteFlags, remote, remoteOptions, throughRunningServer, withBackend } from "./remote.js";

export interface InviteFlags extends RemoteFlags {
  petname: string;
  account?: string;
  expiresIn?: string;
  json?: boolean;
}

interface InvitationJson {
  code: string;
  petname: string;
  account: string | null;
  expires_at: string;
}

interface AcceptedJson {
  account: string;
  petname: string;
  token: ReturnType<typeof tokenJson>;
  secret: string;
}

export async function inviteCreateCommand(given: InviteFlags): Promise<number> {
  const flags = throughRunningServer(given);
  const expiresIn = flags.expiresIn ?? "7d";
  const invitation: InvitationJson = flags.url
    ? await remote<InvitationJson>(flags, "POST", "/v1/invitations", {
        petname: flags.petname,
        ...(flags.account === undefined ? {} : { account: flags.account }),
        expires_in: expiresIn,
      })
    : await withBackend(flags, async ({ petnames }) => {
        const created = await createInvitation(petnames, flags.petname, {
          account: flags.account,
          ttlMs: parseDuration(expiresIn),
        });
        return {
          code: created.code,
          petname: created.petname,
          account: created.account,
          expires_at: isoTime(created.expiresAt),
        };
      });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(invitation, null, 2)}\n`);
  } else {
    // The code alone on standard output (so `> file` keeps just it); the rest on standard error.
    const account = invitation.account === null ? "a new account" : `account ${invitation.account}`;
    const what = `invitation for "${invitation.petname}" (${account}), usable once until ${invitation.expires_at}`;
    process.stderr.write(`${what}; the code is shown this once:\n`);
    process.stdout.write(`${invitation.code}\n`);
  }
  return 0;
}

export async function inviteAcceptCommand(code: string, given: RemoteFlags & { json?: boolean }): Promise<number> {
  const flags = throughRunningServer(given);
  const accepted: AcceptedJson = flags.url
    ? await remote<AcceptedJson>(flags, "POST", "/v1/invitations/accept", { code })
    : await withBackend(flags, async (backend) => {
        const done = await acceptInvitation(backend, code);
        return { account: done.account, petname: done.petname, token: tokenJson(done.token), secret: done.secret };
      });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(accepted, null, 2)}\n`);
  } else {
    // As with `tally token create`: the secret alone on standard output, the rest on standard error.
    const named = `account ${accepted.account} is named "${accepted.petname}"`;
    process.stderr.write(`${named}; token ${accepted.token.id} reads its usage, and its secret is shown this once:\n`);
    process.stdout.write(`${accepted.secret}\n`);
  }
  return 0;
}

export function registerInviteCommands(program: Command, storeOptions: (cmd: Command) => Command, run: Run): void {
  const invite = program.command("invite").description("one-time invitation codes that fill the petname database");
  const options = (cmd: Command) => remoteOptions(storeOptions(cmd)).option("--json", "print JSON");
  options(invite.command("create").description("make a code that names an account NAME and gives a token for it"))
    .requiredOption("--petname <name>", "the name the account gets")
    .option("--account <id>", "an existing account (as events name it); without it, accepting makes a new one")
    .option("--expires-in <duration>", "how long the code works: 7d (default), 12h, 30m, or seconds")
    .action(run(inviteCreateCommand));
  options(invite.command("accept").description("use a code: prints a token for the account, once"))
    .argument("<code>")
    .action(run(inviteAcceptCommand));
}
