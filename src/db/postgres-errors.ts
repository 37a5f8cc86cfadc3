// How a PostgreSQL failure leaves an adapter: an AppError that says "retry later", with PostgreSQL's code kept in
// its context and its message in the text.

import { AppError, messageOf } from "../domain/errors.js";

export function postgresError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  return new AppError("UNAVAILABLE", `PostgreSQL: ${messageOf(error)}`, typeof code === "string" ? { code } : {});
}
