import { AppError } from "../domain/errors.js";
import type { EventSource } from "./port.js";

/** A batch read after a position the source no longer stands at: another node sharing the store pulled it first. */
export function sourceMoved(source: EventSource): AppError {
  return new AppError(
    "CONFLICT",
    `the position of ${source.name} moved on since the batch was read (another node pulls it): nothing was stored`,
  );
}
