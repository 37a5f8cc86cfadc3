import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { addDirqMessage, dirqName } from "./dirq.js";
import { duePeriods, lastPublished, parseEvery, publishDue } from "./publish-records.js";

const dirs: string[] = [];
const fresh = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-dirq-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const DAY = 86_400_000;
const D = (day: number, hour = 0) => Date.UTC(2026, 0, 1 + day, hour);

/** Every file under the queue, relative to it. */
const files = (dir: string) =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();

describe("the directory queue", () => {
  it("writes QueueSimple names: a minute's 8-hex directory, a 14-hex element, no temporary file left", async () => {
    const dir = fresh();
    const now = Date.UTC(2026, 0, 1, 12, 34, 56, 789);
    const file = await addDirqMessage(dir, "<x/>", now);
    const seconds = Math.floor(now / 1000);
    expect(path.relative(dir, file)).toMatch(
      new RegExp(`^${(seconds - (seconds % 60)).toString(16)}/${seconds.toString(16)}[0-9a-f]{6}$`),
    );
    expect(fs.readFileSync(file, "utf8")).toBe("<x/>");
    await addDirqMessage(dir, "<y/>", now);
    expect(files(dir)).toHaveLength(2);
    expect(files(dir).every((f) => /^[0-9a-f]{8}\/[0-9a-f]{14}$/.test(f))).toBe(true);
    expect(dirqName(1_700_000_000_123_456n)).toMatch(/^6553f1001e240[0-9a-f]$/);
  });

  it("writes a body given in pieces as they come, and leaves nothing of one that fails part way", async () => {
    const dir = fresh();
    const encoder = new TextEncoder();
    async function* pieces(fail: boolean) {
      yield encoder.encode("<records>");
      // The piece before is in the temporary file already, not held.
      expect(files(dir).filter((f) => f.endsWith(".tmp"))).toHaveLength(1);
      if (fail) throw new Error("store down");
      yield encoder.encode("</records>");
    }
    const file = await addDirqMessage(dir, pieces(false));
    expect(fs.readFileSync(file, "utf8")).toBe("<records></records>");
    await expect(addDirqMessage(dir, pieces(true))).rejects.toThrow("store down");
    expect(files(dir)).toEqual([path.relative(dir, file)]);
  });
});

describe("publishing", () => {
  it("writes each period once it is over, in order, and remembers the last", async () => {
    const dir = fresh();
    const asked: [number, number][] = [];
    const render = async (from: number, to: number) => {
      asked.push([from, to]);
      return `<records from="${from}" to="${to}"/>`;
    };
    expect(await publishDue(dir, "day", D(2, 5), render)).toHaveLength(1);
    expect(asked).toEqual([[D(1), D(2)]]);
    expect(lastPublished(dir)).toBe(D(2));
    expect(await publishDue(dir, "day", D(2, 23), render)).toHaveLength(0);
    // Down for two days: both go out, oldest first.
    const written = await publishDue(dir, "day", D(4, 1), render);
    expect(asked.slice(1)).toEqual([
      [D(2), D(3)],
      [D(3), D(4)],
    ]);
    expect(fs.readFileSync(written[1] as string, "utf8")).toBe(`<records from="${D(3)}" to="${D(4)}"/>`);
    expect(files(dir).filter((f) => !f.startsWith("."))).toHaveLength(3);
  });

  it("leaves the period unremembered when its records cannot be made", async () => {
    const dir = fresh();
    await expect(
      publishDue(dir, "hour", D(0, 5), async () => {
        throw new Error("store down");
      }),
    ).rejects.toThrow("store down");
    expect(lastPublished(dir)).toBeNull();
    expect(duePeriods("hour", D(0, 5) + 1, null)).toEqual([[D(0, 4), D(0, 5)]]);
    expect(duePeriods("day", D(3), D(1))).toEqual([
      [D(1), D(2)],
      [D(2), D(3)],
    ]);
    expect(D(1) - D(0)).toBe(DAY);
  });

  it("takes 1d and 1h", () => {
    expect(parseEvery("1d")).toBe("day");
    expect(parseEvery("1h")).toBe("hour");
    expect(() => parseEvery("2d")).toThrow('--every must be 1d or 1h, not "2d"');
  });
});
