// Structured JSON logs, one line each, on standard output unless told otherwise; secrets never go in them.

import pino from "pino";
import { FdDestination } from "./fd-destination.js";
import { requestFields } from "./request-context.js";

export type Logger = pino.Logger;

/** The destination must never block or throw (see fd-destination.ts): pino writes to it on the request path. */
export function createLogger(level: string, destination: pino.DestinationStream = new FdDestination(1)): Logger {
  return pino(
    { level, base: { service: "tally" }, timestamp: pino.stdTimeFunctions.isoTime, mixin: requestFields },
    destination,
  );
}
