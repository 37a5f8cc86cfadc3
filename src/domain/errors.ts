// Application errors: one class with a code; HTTP statuses and exit codes are mapped from the code in one place each.

export type ErrorCode =
  | "VALIDATION"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "GONE"
  | "TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "UNAVAILABLE"
  | "INTERNAL";

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const HTTP_STATUS: Record<ErrorCode, 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 500 | 503> = {
  VALIDATION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  GONE: 410,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export const EXIT_CODE: Record<ErrorCode, number> = {
  VALIDATION: 2,
  UNAUTHORIZED: 3,
  FORBIDDEN: 3,
  NOT_FOUND: 4,
  CONFLICT: 5,
  GONE: 2,
  TOO_LARGE: 2,
  UNSUPPORTED_MEDIA_TYPE: 2,
  UNAVAILABLE: 6,
  INTERNAL: 1,
};

export function validation(message: string, context: Record<string, unknown> = {}): AppError {
  return new AppError("VALIDATION", message, context);
}

/** An error's message, also for the plain objects a worker thread's errors arrive as. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null) {
    const { message, code } = error as { message?: unknown; code?: unknown };
    if (typeof message === "string" && message !== "") return message;
    if (typeof code === "string") return code;
    return JSON.stringify(error);
  }
  return String(error);
}
