import { describe, expect, it } from 'vitest';

import { terminalJson, terminalText } from '../../src/core/terminal-text.js';
import { expectTerminalSafe, HOSTILE } from '../helpers/hostile-text.js';

describe('terminalText', () => {
  it.each([
    // [what, input, single-line output]
    ['SGR colour', 'a\u001b[31mred\u001b[0m b', 'ared b'],
    ['cursor move and clear screen', '\u001b[2J\u001b[H\u001b[10;20Hx\u001b[?25l', 'x'],
    ['CSI with intermediates', 'a\u001b[1 qb', 'ab'],
    ['truncated CSI', 'a\u001b[31', 'a'],
    ['OSC 0 title, BEL', '\u001b]0;pwned\u0007ok', 'ok'],
    ['OSC 2 title, ST', '\u001b]2;pwned\u001b\\ok', 'ok'],
    ['OSC 52 clipboard write', '\u001b]52;c;Y3VybCBldmlsIHwgc2g=\u0007ok', 'ok'],
    [
      'OSC 8 hyperlink keeps its text',
      '\u001b]8;;https://evil.example\u001b\\click\u001b]8;;\u001b\\',
      'click',
    ],
    ['OSC ended by 8-bit ST', '\u001b]0;t\u009cok', 'ok'],
    ['unterminated OSC swallows the rest', 'ok\u001b]0;and everything after', 'ok'],
    ['DCS', 'a\u001bP1$r0m\u001b\\b', 'ab'],
    ['SOS, PM, APC', '\u001bXs\u001b\\\u001b^p\u001b\\\u001b_a\u001b\\ok', 'ok'],
    ['8-bit CSI', 'a\u009b31mb', 'ab'],
    ['8-bit OSC', '\u009d0;pwned\u0007ok', 'ok'],
    ['8-bit DCS/APC', '\u0090x\u009c\u009fy\u009cok', 'ok'],
    ['other ESC sequences (RIS, charset, DECALN)', '\u001bca\u001b(Bb\u001b#8c', 'abc'],
    ['lone ESC at the end', 'a\u001b', 'a'],
    ['BEL, BS, DEL', 'a\u0007b\bc\u007fd', 'a b c d'],
    ['CR overwrite shows both halves', 'safe\rEVIL', 'safe EVIL'],
    ['line breaks in one line', 'a\nb\r\nc\u2028d\u2029e\u0085f', 'a b c d e f'],
    ['tab and NUL', 'a\tb\u0000c', 'a b c'],
    ['other C1 controls', 'a\u0080b\u0085c\u009ad', 'a b c d'],
    ['bidi overrides and isolates', 'a\u202ecba\u202c\u2066x\u2069\u202a\u202b\u202d\u2067\u2068', 'acbax'],
    ['bidi marks', 'a\u200eb\u200fc\u061cd', 'abcd'],
    ['zero-width space, word joiner, BOM, soft hyphen', 'a\u200bb\u2060c\ufeffd\u00ade', 'abcde'],
    ['tag characters (hidden ASCII)', 'ok\u{E0069}\u{E0067}\u{E006E}', 'ok'],
    [
      'ZWJ and ZWNJ stay',
      '\u{1F469}\u200d\u{1F4BB} \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645',
      '\u{1F469}\u200d\u{1F4BB} \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645',
    ],
    ['plain text unchanged', 'Échec: café ☕ 日本語', 'Échec: café ☕ 日本語'],
  ])('%s', (_what, input, expected) => {
    expect(terminalText(input)).toBe(expected);
  });

  it('multiline keeps newlines and tabs, normalises CR, strips the rest', () => {
    expect(terminalText('a\r\nb\tc\rd\u2028e\u001b[2Jf\u0007g', { multiline: true })).toBe(
      'a\nb\tc\nd\nef g',
    );
  });

  it('bounds by code points without splitting a surrogate pair', () => {
    expect(terminalText('abcdef', { max: 4 })).toBe('abc\u2026');
    expect(terminalText('abcd', { max: 4 })).toBe('abcd');
    expect(terminalText('\u{1F600}\u{1F600}\u{1F600}', { max: 2 })).toBe('\u{1F600}\u2026');
    expect(terminalText('\u{1F600}\u{1F600}', { max: 2 })).toBe('\u{1F600}\u{1F600}');
  });

  it('leaves nothing a terminal acts on, in either mode, for every hostile sample', () => {
    for (const sample of Object.values(HOSTILE)) {
      expectTerminalSafe(terminalText(sample));
      expectTerminalSafe(terminalText(sample, { multiline: true }));
      expectTerminalSafe(terminalText(sample, { max: 10 }));
    }
  });
});

describe('terminalJson', () => {
  it('is the same JSON value, with nothing a terminal acts on or hides left raw', () => {
    const value = {
      ...HOSTILE,
      emoji: '\u{1F469}\u200d\u{1F4BB}',
      nested: [HOSTILE.csi8bit, { key: HOSTILE.bidi }],
    };
    const json = terminalJson(value);
    expectTerminalSafe(json);
    expect(JSON.parse(json)).toEqual(value);
    expect(json).toContain('\\u009b31m8bit');
    expect(json).toContain('\\u202e');
    expect(json).toContain('\\udb40\\udc41'); // a tag character, as its surrogate pair
    expect(json).toContain('\u200d'); // ZWJ stays, as in text
  });

  it('prints undefined as null, like a JSON document must', () => {
    expect(terminalJson(undefined)).toBe('null');
  });
});
