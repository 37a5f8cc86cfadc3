import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeUtf8, lineCount, splitJsonArray } from "./utf8-body.js";

const text = (parts: Uint8Array[] | null) => parts?.map((p) => Buffer.from(p).toString());

describe("the bytes of a body", () => {
  it("decode strictly: any sequence that is not UTF-8 gives null, never U+FFFD", () => {
    expect(decodeUtf8(Buffer.from("Zoë 😀 \uFFFD"))).toBe("Zoë 😀 \uFFFD");
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xc0, 0xaf]]) {
      expect(decodeUtf8(Buffer.from([0x61, ...bad]))).toBeNull();
    }
  });

  it("decode ASCII, a part of a buffer and any bytes as the strict decoder does, a leading BOM dropped", () => {
    const strict = new TextDecoder("utf-8", { fatal: true });
    const reference = (bytes: Uint8Array) => {
      try {
        return strict.decode(bytes);
      } catch {
        return null;
      }
    };
    expect(decodeUtf8(Buffer.from('{"id":"a"}\n'))).toBe('{"id":"a"}\n');
    expect(decodeUtf8(Buffer.from("xx\u00e9ab").subarray(4))).toBe("ab");
    expect(decodeUtf8(Buffer.from("\uFEFFab"))).toBe("ab");
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ max: 0x7f, maxLength: 64 }),
      fc.string({ unit: "binary", maxLength: 32 }).map((t) => new Uint8Array(Buffer.from(t))),
    );
    fc.assert(
      fc.property(bytes, fc.nat(8), (all, cut) => {
        const part = all.subarray(Math.min(cut, all.length));
        expect(decodeUtf8(part)).toBe(reference(part));
      }),
    );
  });

  it("count lines as an editor numbers them", () => {
    for (const [body, lines] of [
      ["", 0],
      ["a", 1],
      ["a\n", 1],
      ["a\nb", 2],
      ["\n\n\n", 3],
    ] as const) {
      expect(lineCount(body)).toBe(lines);
      expect(lineCount(Buffer.from(body))).toBe(lines);
    }
  });

  it("stop counting lines once they are more than asked for", () => {
    expect(lineCount("a\nb\nc\nd", 2)).toBe(3);
    expect(lineCount(Buffer.from("a\nb\nc\nd"), 3)).toBe(4);
    expect(lineCount(Buffer.from("a\nb\nc\n"), 3)).toBe(3);
    expect(lineCount(Buffer.from("\n".repeat(1_000_000)), 10)).toBe(11);
    const inside = Buffer.from("x\ny\nz").subarray(2);
    expect(lineCount(inside)).toBe(2);
  });

  it("split a JSON array into its elements, whatever the strings and nesting hold", () => {
    expect(text(splitJsonArray(Buffer.from(' [ {"a":"],\\"{"} , [1,[2]] ,"x"]\n')))).toEqual([
      '{"a":"],\\"{"} ',
      " [1,[2]] ",
      '"x"',
    ]);
    expect(text(splitJsonArray(Buffer.from("[]")))).toEqual([]);
    expect(splitJsonArray(Buffer.from('{"a":1}'))).toBeNull();
    expect(splitJsonArray(Buffer.from("[1,2"))).toBeNull();
    expect(splitJsonArray(Buffer.from("[1] x"))).toBeNull();
  });
});
