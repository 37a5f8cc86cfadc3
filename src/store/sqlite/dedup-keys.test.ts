import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { migrate } from "../../db/sqlite-migrate.js";
import { DedupKeys } from "./dedup-keys.js";
import { USAGE_MIGRATIONS } from "./migrations.js";
import { keyFingerprint } from "./recent-keys.js";

describe("DedupKeys looking keys up on disk", () => {
  let db: Database.Database;
  afterEach(() => db.close());

  it("finds every key on disk while its filter reads them in, a slice per batch, and after", () => {
    db = new Database(":memory:");
    migrate(db, "usage", USAGE_MIGRATIONS);
    db.defaultSafeIntegers(true);
    const stored = Array.from({ length: 300 }, (_, i) => keyFingerprint("s1", `old-${i}`));
    const insert = db.prepare("INSERT INTO event_keys (fp, seq) VALUES (?, ?)");
    for (const [i, fp] of stored.entries()) insert.run(fp, i + 1);
    const dedup = new DedupKeys(db, 64, 12, 7);
    dedup.load();
    const fresh = Array.from({ length: 50 }, (_, i) => keyFingerprint("s1", `new-${i}`));
    // 300 keys in slices of 7: the filter has read them all after 43 batches; ask in every batch and after.
    for (let batch = 0; batch < 60; batch++) {
      const asked = [
        ...stored.slice((batch * 5) % 300, ((batch * 5) % 300) + 5),
        ...fresh.slice(batch % 50, (batch % 50) + 1),
      ];
      dedup.begin(asked);
      for (const fp of asked) {
        const index = stored.indexOf(fp);
        expect(dedup.candidates(fp)).toEqual(index === -1 ? [] : [index + 1]);
      }
    }
  });
});
