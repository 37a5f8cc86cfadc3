// The petname and invitation tables, kept in the event store's schema because the usage table searches and shows
// petnames; the petname capability reads and writes them through its own adapter.

import type { Migration } from "../../db/postgres-migrate.js";

export const PETNAME_MIGRATIONS: readonly Migration[] = [
  {
    version: 101,
    sql: `
      CREATE TABLE petnames (
        account text COLLATE "C" PRIMARY KEY,
        name text NOT NULL,
        updated_at bigint NOT NULL
      );
      -- Only a hash of each code is kept: the database alone cannot accept an invitation.
      CREATE TABLE invitations (
        code_hash text PRIMARY KEY,
        petname text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        accepted_at bigint,
        account text COLLATE "C"
      );
    `,
  },
];
