// What text may hold when it names something (an id, an account, a server, a petname): Unicode that reads as
// itself, so that two names that look alike are alike and every store keeps them as sent.

/** Printable ASCII: nearly every id is only that, and one test of this pattern clears it. */
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;
/** Control characters, and the format characters that reorder or hide text (bidi overrides, zero widths). */
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
const SURROGATE = /[\uD800-\uDFFF]/;
const UNPAIRED = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Half of a UTF-16 surrogate pair (JSON allows "\ud800") is not Unicode: UTF-8 cannot carry it, and PostgreSQL would
 * store it as U+FFFD, making two different ids one.
 */
export const LONE_SURROGATE = "holds a lone UTF-16 surrogate, which is not Unicode text";

/** Why a name is not plain text, or null when it is. */
export function nameTextProblem(text: string): string | null {
  if (PRINTABLE_ASCII.test(text)) return null;
  if (SURROGATE.test(text) && UNPAIRED.test(text)) return LONE_SURROGATE;
  const invisible = INVISIBLE.exec(text);
  if (invisible) return `holds ${codePoint(invisible[0])}, a control or invisible formatting character`;
  return null;
}

/** "U+202E" for a character. */
export function codePoint(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}
