// The one mapping from errors to HTTP answers: {"error": {"code", "message"}} with the code's status.

import type { Context } from "hono";
import { AppError, HTTP_STATUS } from "../domain/errors.js";
import type { Logger } from "../log/logger.js";

export function errorBody(error: AppError) {
  return { error: { code: error.code, message: error.message } };
}

export function handleError(logger: Logger) {
  return (error: Error, c: Context) => {
    if (error instanceof AppError) {
      if (error.code === "INTERNAL" || error.code === "UNAVAILABLE") logger.error({ err: error }, error.message);
      return c.json(errorBody(error), HTTP_STATUS[error.code]);
    }
    // A client that went away, or was cut for sending too slowly, left a body that cannot be read: a fact about the
    // client, not a fault here, and no one is left to read an answer.
    if (c.req.raw.signal.aborted) {
      logger.warn({ method: c.req.method, path: c.req.path }, "request cut: the client went away or sent too slowly");
      return c.body(null, 408);
    }
    // Internal messages can carry paths or SQL: log them, never echo them.
    logger.error({ err: error }, "unexpected error");
    return c.json(errorBody(new AppError("INTERNAL", "internal error")), 500);
  };
}
