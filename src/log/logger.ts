// Structured JSON logs on stdout; secrets never go in them.

import pino from "pino";

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "tally" }, timestamp: pino.stdTimeFunctions.isoTime });
}
