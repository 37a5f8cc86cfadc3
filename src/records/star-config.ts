// How Tally's accounts and servers become StAR identities and places: the records configuration file (YAML or JSON).

import fs from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { AppError, validation } from "../domain/errors.js";
import { nameTextProblem } from "../domain/text.js";
import type { GroupAttribute, SubjectIdentity } from "./star.js";

const text = z
  .string()
  .min(1, "is empty")
  .max(1024, "is longer than 1024 characters")
  .superRefine((v, ctx) => {
    const problem = nameTextProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const place = z.strictObject({
  site: text.optional(),
  share: text.optional(),
  media: text.optional(),
  class: text.optional(),
});

const identity = z.strictObject({
  group: text.optional(),
  role: text.optional(),
  subgroup: text.optional(),
  authority: text.optional(),
  local_user: text.optional(),
  local_group: text.optional(),
  user_identity: text.optional(),
});

const schema = z.strictObject({
  /** The Site of servers whose events and configuration give none. */
  site: text.optional(),
  servers: z.record(z.string(), place).default({}),
  accounts: z.record(z.string(), identity).default({}),
  /** What an account without a mapping is reported as: its id as LocalUser (the default) or Group, or left out. */
  unmapped: z.enum(["local_user", "group", "skip"]).default("local_user"),
});

export type StarPlace = z.infer<typeof place>;
export type StarIdentityMapping = z.infer<typeof identity>;
export type StarConfig = z.infer<typeof schema>;

export const DEFAULT_STAR_CONFIG: StarConfig = { servers: {}, accounts: {}, unmapped: "local_user" };

/** Checks a parsed configuration; a problem names where it is (accounts.AUTH_x.group: is empty). */
export function parseStarConfig(raw: unknown, source = "the records configuration"): StarConfig {
  const result = schema.safeParse(raw ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.join(".") || "(top level)";
    throw validation(`${source}: ${where}: ${issue?.message ?? "is not valid"}`);
  }
  return result.data;
}

/** Reads the configuration file: YAML (JSON is YAML too). */
export function loadStarConfig(file: string): StarConfig {
  let body: string;
  try {
    body = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new AppError("VALIDATION", `cannot read the records configuration ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(body, { maxAliasCount: 0 });
  } catch (error) {
    throw validation(`${file} is not valid YAML: ${(error as Error).message}`);
  }
  return parseStarConfig(raw, file);
}

/** The dims that name an identity or a place, as events carry them. */
export interface KeptDims {
  readonly site?: string;
  readonly share?: string;
  readonly media?: string;
  readonly storage_class?: string;
  readonly group?: string;
  readonly role?: string;
}

/**
 * The SubjectIdentity of an account, or null when the configuration leaves unmapped accounts out. An event's
 * `group` and `role` dims name the data they came with, so they win over the account's mapping.
 */
export function subjectOf(config: StarConfig, account: string, dims: KeptDims): SubjectIdentity | null {
  const m = config.accounts[account];
  if (!m && config.unmapped === "skip" && dims.group === undefined) return null;
  const group = dims.group ?? m?.group ?? (!m && config.unmapped === "group" ? account : undefined);
  // An account read from a record's Group (import names it so) is that group: no LocalUser beside it.
  const localUser = m ? m.local_user : config.unmapped === "local_user" && group !== account ? account : undefined;
  const attributes: GroupAttribute[] = [];
  const role = dims.role ?? m?.role;
  if (role !== undefined) attributes.push({ type: "role", value: role });
  if (m?.subgroup !== undefined) attributes.push({ type: "subgroup", value: m.subgroup });
  if (m?.authority !== undefined) attributes.push({ type: "authority", value: m.authority });
  const s: { -readonly [K in keyof SubjectIdentity]: SubjectIdentity[K] } = {};
  if (localUser !== undefined) s.localUser = localUser;
  if (m?.local_group !== undefined) s.localGroup = m.local_group;
  if (m?.user_identity !== undefined) s.userIdentity = m.user_identity;
  if (group !== undefined) s.group = group;
  if (attributes.length > 0) s.groupAttributes = attributes;
  return s;
}

/** Where a server's usage sits: the event's dims first, then the server's configuration, then the default site. */
export function placeOf(config: StarConfig, server: string, dims: KeptDims): StarPlace {
  const conf = config.servers[server];
  const p: { -readonly [K in keyof StarPlace]: StarPlace[K] } = {};
  const site = dims.site ?? conf?.site ?? config.site;
  const share = dims.share ?? conf?.share;
  const media = dims.media ?? conf?.media;
  const cls = dims.storage_class ?? conf?.class;
  if (site !== undefined) p.site = site;
  if (share !== undefined) p.share = share;
  if (media !== undefined) p.media = media;
  if (cls !== undefined) p.class = cls;
  return p;
}
