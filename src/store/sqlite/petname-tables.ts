// The petname and invitation tables, kept in the event store's database because the usage table searches and
// shows petnames; the petname capability reads and writes them through its own adapter.

export const PETNAME_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE petnames (account TEXT PRIMARY KEY, name TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT, WITHOUT ROWID;
  -- Only a hash of each code is kept: the database alone cannot accept an invitation.
  CREATE TABLE invitations (
    code_hash TEXT PRIMARY KEY,
    petname TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    accepted_at INTEGER,
    account TEXT
  ) STRICT, WITHOUT ROWID;
  `,
];
