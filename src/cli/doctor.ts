// tally doctor: checks a SQLite store's event log and derived database, says what it found and what will or should
// be done, and with --repair moves a damaged derived database aside and derives it again from the event log.

import path from "node:path";
import { checkBackend, type StoreCheck } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";

export interface DoctorFlags {
  data?: string;
  store?: string;
  json?: boolean;
  repair?: boolean;
}

interface Finding {
  readonly file: string;
  readonly state: "ok" | "absent" | "damaged" | "repaired";
  readonly problem?: string;
  /** Events the log holds, or the derived database covers, when it checks out. */
  readonly events?: number;
  /** What happens next, or what to do. */
  readonly advice?: string;
}

/** Exits 0 when both files check out (or the derived one is absent or was repaired), 1 when one is damaged. */
export async function doctorCommand(flags: DoctorFlags): Promise<number> {
  const check = await checkBackend(loadConfig(flags), { repair: flags.repair === true });
  const log = logFinding(check);
  const derived = derivedFinding(check);
  const healthy = log.state !== "damaged" && derived.state !== "damaged";
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ healthy, log, derived }, null, 2)}\n`);
  } else {
    process.stdout.write(`${describe(log, "event log", "holds")}\n${describe(derived, "derived from it", "covers")}\n`);
  }
  return healthy ? 0 : 1;
}

function logFinding({ log: { file, problem, events } }: StoreCheck): Finding {
  if (problem === null) return { file, state: "ok", events: events ?? 0 };
  const advice = "its events cannot be derived from anything else: restore it from a backup";
  return { file, state: "damaged", problem, advice };
}

function derivedFinding({ log, derived }: StoreCheck): Finding {
  const { file, problem, covers, movedTo } = derived;
  if (!derived.exists) return { file, state: "absent", advice: "tally serve will derive it from the event log" };
  if (problem === null) return { file, state: "ok", events: covers ?? 0 };
  if (movedTo !== null) {
    return {
      file,
      state: "repaired",
      problem,
      advice: `moved it to ${movedTo} and derived it again from the event log`,
    };
  }
  const advice =
    log.problem === null
      ? "tally serve will move it aside and derive it again from the event log (tally doctor --repair does it now)"
      : "it can be derived again once the event log is restored";
  return { file, state: "damaged", problem, advice };
}

function describe(f: Finding, role: string, holds: string): string {
  const name = `${path.basename(f.file)} (${role})`;
  if (f.state === "ok") return `${name}: ok, ${holds} ${f.events} events`;
  if (f.state === "absent") return `${name}: absent; ${f.advice}`;
  return `${name}: ${f.state} (${f.problem}); ${f.advice}`;
}
