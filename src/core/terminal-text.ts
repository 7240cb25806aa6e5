/**
 * The one terminal sanitizer. Every string patchbay did not write itself — from an MCP server, an
 * authorization server, a child process, a config file — goes through terminalText before it is
 * printed to a terminal, because a terminal obeys what it is sent: escape sequences recolour,
 * move the cursor, clear the screen (CSI), retitle the window, write the clipboard (OSC 52) or
 * hide a link behind text (OSC 8); carriage returns and backspaces overwrite what was shown; and
 * bidi overrides make text read differently than it is stored (Trojan Source, CVE-2021-42574).
 *
 * The rule, applied in this order:
 *
 * 1. Escape sequences are removed whole, payload included, 7-bit and 8-bit introducers alike:
 *    CSI (`ESC [` / U+009B) up to its final byte; OSC (`ESC ]` / U+009D), DCS (`ESC P` / U+0090),
 *    SOS (`ESC X` / U+0098), PM (`ESC ^` / U+009E) and APC (`ESC _` / U+009F) up to BEL, ST
 *    (`ESC \` or U+009C) or, unterminated, the end of the text (a terminal would swallow it too);
 *    any other `ESC` sequence (intermediates, then a final byte).
 * 2. Control characters become a space, so words they separated stay apart and an overwrite
 *    trick (`safe\rEVIL`, `abc\b\b\b`) shows both halves: C0 (U+0000–U+001F), DEL (U+007F) and
 *    C1 (U+0080–U+009F). Line breaks (LF, CR, CRLF, U+2028, U+2029) are one space too, unless the
 *    caller prints multi-line output (`multiline: true`): then they become `\n` and tab stays.
 * 3. Invisible format characters (Unicode category Cf) are removed: bidi embeddings, overrides
 *    and isolates (U+202A–U+202E, U+2066–U+2069), the marks U+200E, U+200F and U+061C, zero-width
 *    space U+200B, word joiner and invisible operators (U+2060–U+2064), BOM U+FEFF, soft hyphen,
 *    and the tag characters U+E0000–U+E007F that hide ASCII text from the reader. ZWNJ (U+200C)
 *    and ZWJ (U+200D) stay: Persian and Indic scripts and emoji sequences need them, and neither
 *    reorders or hides text.
 * 4. With `max`, the result is at most `max` code points, the last one `…` when cut.
 *
 * Output for machines (`--json`) is data and stays faithful: terminalJson. JSON.stringify escapes
 * C0 (`\u001b`) but not DEL, C1 (an 8-bit CSI U+009B passes raw) or format characters, so those
 * are written as `\u` escapes too — the same JSON value, inert on a terminal.
 */

export interface TerminalTextOptions {
  /** At most this many code points (the last one `…` when the text was longer). */
  max?: number;
  /** Keep line breaks (as `\n`) and tabs, for output printed as a block rather than in a line. */
  multiline?: boolean;
}

/* eslint-disable no-control-regex -- matching control characters is the point */
const ESCAPE_SEQUENCE = new RegExp(
  [
    // OSC, DCS, SOS, PM, APC: a string up to BEL or ST, or the end of the text.
    String.raw`(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c|$)`,
    // CSI: parameters, intermediates, final byte (a truncated one is removed as far as it goes).
    String.raw`(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?`,
    // Any other escape sequence: intermediates, then a final byte.
    String.raw`\x1b[\x20-\x2f]*[\x30-\x7e]?`,
  ].join('|'),
  'g',
);
const LINE_BREAK = /\r\n|[\n\r\u2028\u2029]/g;
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
const CONTROL_BUT_NEWLINE_AND_TAB = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
/* eslint-enable no-control-regex */
const INVISIBLE_FORMAT = /(?![\u200c\u200d])\p{Cf}/gu;

// In JSON text these can only stand inside strings (its syntax is ASCII), so escaping is lossless.
const UNESCAPED_BY_JSON = /[\x7f-\x9f\u2028\u2029]|(?![\u200c\u200d])\p{Cf}/gu;

/** JSON.stringify, with what a terminal would act on or hide escaped as `\uXXXX` (same value). */
export function terminalJson(value: unknown, indent = 2): string {
  const json = JSON.stringify(value, null, indent) ?? 'null';
  return json.replace(UNESCAPED_BY_JSON, (char) => {
    let escaped = '';
    for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}

/** `text` made safe to print to a terminal (see the rule above). */
export function terminalText(text: string, options: TerminalTextOptions = {}): string {
  let clean = text.replace(ESCAPE_SEQUENCE, '');
  if (options.multiline) {
    clean = clean.replace(LINE_BREAK, '\n').replace(CONTROL_BUT_NEWLINE_AND_TAB, ' ');
  } else {
    clean = clean.replace(LINE_BREAK, ' ').replace(CONTROL, ' ');
  }
  clean = clean.replace(INVISIBLE_FORMAT, '');
  return options.max === undefined ? clean : bounded(clean, options.max);
}

function bounded(text: string, max: number): string {
  if (text.length <= max) return text; // UTF-16 length ≥ code points: short text is never cut
  const points = Array.from(text);
  return points.length > max ? `${points.slice(0, Math.max(0, max - 1)).join('')}\u2026` : text;
}
