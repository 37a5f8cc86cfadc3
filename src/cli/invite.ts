// tally invite create|accept: one-time invitation codes that name the account they create.

import type { Command } from "commander";
import { isoTime } from "../domain/time.js";
import { acceptInvitation, createInvitation, parseDuration } from "../petnames/petname.js";
import type { Run } from "./petname.js";
import { type RemoteFlags, remote, remoteOptions, withBackend } from "./remote.js";

export interface InviteFlags extends RemoteFlags {
  petname: string;
  expiresIn?: string;
  json?: boolean;
}

interface InvitationJson {
  code: string;
  petname: string;
  expires_at: string;
}

export async function inviteCreateCommand(flags: InviteFlags): Promise<number> {
  const expiresIn = flags.expiresIn ?? "7d";
  const invitation: InvitationJson = flags.url
    ? await remote<InvitationJson>(flags, "POST", "/v1/invitations", { petname: flags.petname, expires_in: expiresIn })
    : await withBackend(flags, async ({ petnames }) => {
        const created = await createInvitation(petnames, flags.petname, { ttlMs: parseDuration(expiresIn) });
        return { code: created.code, petname: created.petname, expires_at: isoTime(created.expiresAt) };
      });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(invitation, null, 2)}\n`);
  } else {
    // The code alone on standard output (so `> file` keeps just it); the rest on standard error.
    process.stderr.write(
      `invitation for "${invitation.petname}", usable once until ${invitation.expires_at}; the code is shown this once:\n`,
    );
    process.stdout.write(`${invitation.code}\n`);
  }
  return 0;
}

export async function inviteAcceptCommand(code: string, flags: RemoteFlags & { json?: boolean }): Promise<number> {
  const accepted = flags.url
    ? await remote<{ account: string; petname: string }>(flags, "POST", "/v1/invitations/accept", { code })
    : await withBackend(flags, async ({ petnames }) => {
        const p = await acceptInvitation(petnames, code);
        return { account: p.account, petname: p.name };
      });
  process.stdout.write(
    flags.json ? `${JSON.stringify(accepted, null, 2)}\n` : `${accepted.account}\t${accepted.petname}\n`,
  );
  return 0;
}

export function registerInviteCommands(program: Command, storeOptions: (cmd: Command) => Command, run: Run): void {
  const invite = program.command("invite").description("one-time invitation codes that fill the petname database");
  const options = (cmd: Command) => remoteOptions(storeOptions(cmd)).option("--json", "print JSON");
  options(invite.command("create").description("make a code that creates an account named NAME when accepted"))
    .requiredOption("--petname <name>", "the name the new account gets")
    .option("--expires-in <duration>", "how long the code works: 7d (default), 12h, 30m, or seconds")
    .action(run(inviteCreateCommand));
  options(invite.command("accept").description("use a code: prints the new account id and its petname"))
    .argument("<code>")
    .action(run(inviteAcceptCommand));
}
