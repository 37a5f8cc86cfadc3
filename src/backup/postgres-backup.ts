// PostgreSQL has tools of its own for copies taken while it serves (pg_dump); tally backup points to them.

import { AppError } from "../domain/errors.js";
import type { StoreBackup } from "./store-backup.js";

const USE_PG_DUMP = "a PostgreSQL store is backed up with pg_dump -Fc and restored with pg_restore (see the README)";

export const POSTGRES_BACKUP: StoreBackup = {
  scratchDir: "",
  files() {
    throw new AppError("VALIDATION", USE_PG_DUMP);
  },
  async copy() {
    throw new AppError("VALIDATION", USE_PG_DUMP);
  },
};
