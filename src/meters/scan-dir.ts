// The space scanner's directory walk: bytes and files per account under a directory tree, where an account is a
// top-level directory or, by owner, a file's uid mapped to an account. Hard links count once, symbolic links are
// not followed (nor counted), and a file that vanishes or cannot be read is reported while the walk goes on.

import fs from "node:fs";
import path from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";

export interface AccountSpace {
  bytes: bigint;
  files: number;
}

export interface DirScanOptions {
  /** "dir": each top-level directory is an account; "owner": each file's uid, through `owners`. */
  readonly by: "dir" | "owner";
  readonly owners?: ReadonlyMap<number, string>;
  /** The account files of uids without one in `owners` are counted under. */
  readonly unattributed: string;
  /** A problem with one path (vanished, permission denied …); the walk goes on. */
  readonly onProblem: (path: string, problem: string) => void;
  /** Files counted so far, now and then. */
  readonly onProgress?: (files: number) => void;
  readonly signal?: AbortSignal;
}

export interface DirScan {
  readonly accounts: Map<string, AccountSpace>;
  readonly files: number;
  readonly problems: number;
  /** Extra names of files found again through a hard link, not counted again. */
  readonly hardLinks: number;
  readonly symlinks: number;
  /** Files directly in the root, in no account's directory ("dir" only): not counted. */
  readonly outside: number;
  /** uid → files of uids `owners` has no account for ("owner" only). */
  readonly unmappedUids: Map<number, number>;
}

const YIELD_EVERY = 5_000;

export async function scanDirectory(root: string, options: DirScanOptions): Promise<DirScan> {
  const accounts = new Map<string, AccountSpace>();
  const seenLinks = new Set<string>();
  const unmappedUids = new Map<number, number>();
  let files = 0;
  let problems = 0;
  let hardLinks = 0;
  let symlinks = 0;
  let outside = 0;
  const problem = (p: string, error: unknown) => {
    problems++;
    options.onProblem(p, describe(error));
  };
  const space = (account: string): AccountSpace => {
    let s = accounts.get(account);
    if (!s) {
      s = { bytes: 0n, files: 0 };
      accounts.set(account, s);
    }
    return s;
  };

  const rootStat = fs.statSync(root);
  if (!rootStat.isDirectory()) throw new Error(`${root} is not a directory`);
  // [directory, its account for "dir" (null at the root)]
  const stack: [string, string | null][] = [[root, null]];
  let sinceYield = 0;
  while (stack.length > 0) {
    if (options.signal?.aborted) break;
    const [dir, account] = stack.pop() as [string, string | null];
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      problem(dir, error);
      continue;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        symlinks++;
        continue;
      }
      if (entry.isDirectory()) {
        // At the root, in "dir" mode, a directory is an account, known even while empty.
        const next = account ?? (options.by === "dir" ? entry.name : "");
        if (account === null && options.by === "dir") space(next);
        stack.push([full, next]);
        continue;
      }
      if (!entry.isFile()) continue;
      if (account === null && options.by === "dir") {
        outside++;
        continue;
      }
      let st: fs.Stats;
      try {
        st = fs.lstatSync(full);
      } catch (error) {
        problem(full, error);
        continue;
      }
      if (st.nlink > 1) {
        // Exact device and inode numbers: as JavaScript numbers, large ones could collide.
        let key: string;
        try {
          const big = fs.lstatSync(full, { bigint: true });
          key = `${big.dev}:${big.ino}`;
        } catch (error) {
          problem(full, error);
          continue;
        }
        if (seenLinks.has(key)) {
          hardLinks++;
          continue;
        }
        seenLinks.add(key);
      }
      let owner: string;
      if (options.by === "owner") {
        const mapped = options.owners?.get(st.uid);
        if (mapped === undefined) unmappedUids.set(st.uid, (unmappedUids.get(st.uid) ?? 0) + 1);
        owner = mapped ?? options.unattributed;
      } else {
        owner = account as string;
      }
      const s = space(owner);
      s.bytes += BigInt(st.size);
      s.files++;
      files++;
      if (++sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        options.onProgress?.(files);
        // Lets a progress bar draw and a signal be heard during a long walk.
        await yieldToLoop();
      }
    }
  }
  options.onProgress?.(files);
  return { accounts, files, problems, hardLinks, symlinks, outside, unmappedUids };
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "vanished during the scan";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return (error as Error).message;
}

/** An owners file: "UID ACCOUNT" lines (space, tab, comma or colon between), # comments. */
export function parseOwners(text: string, name: string): Map<number, string> {
  const owners = new Map<number, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const m = /^(\d+)\s*[\s,:]\s*(\S.*)$/.exec(line);
    if (!m) throw new Error(`${name} line ${i + 1}: expected "UID ACCOUNT", got ${JSON.stringify(raw.slice(0, 60))}`);
    const uid = Number(m[1]);
    if (owners.has(uid)) throw new Error(`${name} line ${i + 1}: uid ${uid} is given twice`);
    owners.set(uid, (m[2] as string).trim());
  });
  return owners;
}
