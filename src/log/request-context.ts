// The request a log line belongs to, carried through the request's async work, so that every line logged while
// answering it names it without the code that logs passing it along.

import { AsyncLocalStorage } from "node:async_hooks";

export interface RequestContext {
  readonly reqId: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

/** The fields pino adds to each line: the request id inside a request, nothing outside. */
export function requestFields(): object {
  return requestContext.getStore() ?? {};
}
