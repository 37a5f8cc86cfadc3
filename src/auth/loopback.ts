// Which addresses and host names are loopback: where the no-token read exception may apply.

import net from "node:net";
import { AppError } from "../domain/errors.js";

/** A listen host or request host name that can only be reached from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (net.isIPv4(h)) return h.startsWith("127.");
  if (net.isIPv6(h)) {
    if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
    // An IPv4-mapped loopback address, ::ffff:127.x.y.z.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && (mapped[1] as string).startsWith("127.");
  }
  return false;
}

/** Refuses to start with the no-token read exception on an address other machines can reach. */
export function assertLocalReadsAllowed(config: {
  readonly listen: string;
  readonly host: string;
  readonly localReads: boolean;
}): void {
  if (!config.localReads || isLoopbackHost(config.host)) return;
  throw new AppError(
    "VALIDATION",
    `refusing to listen on ${config.listen} with local reads on: reads without a token are only for a loopback address ` +
      "(127.0.0.1, ::1, localhost). Pass --no-local-reads (or set TALLY_LOCAL_READS=false) to require a token for every request.",
  );
}
