/**
 * Opening the authorization URL in a browser. The URL is built from what the authorization
 * server published, so it is hostile until checked: mcp-remote opened such a URL through a
 * shell and ran the server's commands (CVE-2025-6514). Here a URL is opened only after
 * checkAuthorizationUrl, and only ever as one argument of a program started without a shell.
 */

import { spawn } from 'node:child_process';

import { PatchbayError } from '../errors.js';
import { isLoopbackHost } from '../core/loopback.js';
import { terminalText } from '../core/terminal-text.js';
import { splitCommandLine } from '../core/command-line.js';

/** Longer than any authorization URL (Windows caps a whole command line at 32 767 characters). */
export const MAX_AUTHORIZATION_URL_CHARS = 16 * 1024;

/**
 * The characters a checked URL may contain, as typed: RFC 3986's (letters, digits,
 * `-._~:/?#[]@!&()*+,;=` and `%` escapes) except `$` and `'`. Those two are legal in a URL but
 * are what breaks out of quoting in a shell or PowerShell (`$(…)`, `'…'`) should any opener down
 * the line use one; a server that means them can send `%24` and `%27`, as every URL encoder does.
 */
const NOT_A_URL_CHARACTER = /[^A-Za-z0-9\-._~:/?#[\]@!&()*+,;=%]/u;

const REFUSAL_HINT =
  "this is a fault or an attack on the server's side: do not open the URL by hand; report it to the server's operator";

/**
 * The authorization URL as a URL, if it is safe to open; else PatchbayError('auth-refused') saying
 * why. The rule, in order:
 *
 * 1. The scheme is `https:`, or `http:` when the host is this computer (`localhost`, 127.0.0.0/8,
 *    [::1]). `javascript:`, `file:`, `data:`, `vbscript:` and every other scheme are refused.
 * 2. The text is at most MAX_AUTHORIZATION_URL_CHARS long and has no NOT_A_URL_CHARACTER
 *    (so no whitespace, control, non-ASCII, quote, backslash, backtick, `<>{}|^` or `$`), and each
 *    `%` starts a valid escape.
 * 3. It parses (WHATWG URL) and says what it means: `scheme://host` with the host as the parser
 *    reads it (an explicit default port is fine), so `https:evil`, `https:///evil` and hosts in
 *    numeric disguise (`0x7f.1`, `2130706433`) are refused rather than silently rewritten.
 * 4. No user name or password (`https://user:pass@host/`).
 *
 * Messages name the scheme and host at most: the rest of the URL may carry secrets.
 */
export function checkAuthorizationUrl(text: string): URL {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) throw refusal('a login address that is not an absolute URL');
  if (scheme !== 'https' && scheme !== 'http') {
    const shown = terminalText(scheme, { max: 40 });
    throw refusal(`${/^[aeiou]/.test(shown) ? 'an' : 'a'} ${shown}: URL`, 'only https: URLs are opened');
  }
  const login = `a login URL${describeHost(text)}`;
  if (text.length > MAX_AUTHORIZATION_URL_CHARS) {
    throw refusal(
      `${login} of ${text.length} characters`,
      `at most ${MAX_AUTHORIZATION_URL_CHARS} are opened`,
    );
  }
  const bad = NOT_A_URL_CHARACTER.exec(text);
  if (bad) {
    throw refusal(
      `${login} that contains ${nameCharacter(bad[0])} at character ${bad.index + 1}`,
      'a clean URL never carries it unencoded',
    );
  }
  const brokenEscape = /%(?![0-9A-Fa-f]{2})/.exec(text);
  if (brokenEscape) throw refusal(`${login} with a broken %-escape at character ${brokenEscape.index + 1}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refusal(`a login URL that does not parse`);
  }
  const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(text)?.[1];
  if (authority === undefined || authority === '') {
    throw refusal(`a malformed login URL (no "//host" after "${scheme}:")`);
  }
  if (authority.includes('@') || url.username !== '' || url.password !== '') {
    throw refusal(`a login URL for ${url.host} with a user name or password in it`);
  }
  const written = authority.toLowerCase();
  const defaultPort = scheme === 'https' ? '443' : '80';
  if (written !== url.host && written !== `${url.hostname}:${defaultPort}`) {
    throw refusal(`a login URL whose host is written in a disguised form (it means ${url.host})`);
  }
  if (scheme === 'http' && !isLoopbackHost(url.hostname, { localhostSubdomains: false })) {
    throw refusal(
      `a plain http: login URL for ${url.host}`,
      'only https: is opened, or http: to this computer; this login would travel unencrypted',
    );
  }
  return url;
}

/** Where the browser opener came from, or why none was used. */
export type OpenResult =
  | { opened: true; via: string }
  | {
      opened: false;
      via: string;
      /** One sentence for the user, who should then open the printed URL themselves. */
      reason: string;
    };

/**
 * Opens a checked authorization URL (checked again here). With PATCHBAY_BROWSER set: that
 * program (split like a command line, no shell), always, display or not. Else the platform's
 * opener — `open` (macOS), `rundll32 url.dll,FileProtocolHandler` (Windows, no `cmd /c start`),
 * `xdg-open` (elsewhere) — when hasDisplay() says a browser can show up. The URL is the last
 * argument and the only one from outside. Resolves once the program has started (it is not
 * waited for, and started is not proof a browser showed it: print the URL as well); a program that
 * cannot be started or no display resolves `opened: false` with the reason. Throws only for a
 * URL checkAuthorizationUrl refuses.
 */
export async function openAuthorizationUrl(
  url: URL,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): Promise<OpenResult> {
  const href = checkAuthorizationUrl(url.href).href;
  const custom = env.PATCHBAY_BROWSER;
  if (custom !== undefined && custom.trim() !== '') {
    let argv: string[];
    try {
      argv = splitCommandLine(custom);
    } catch (error) {
      const why = error instanceof PatchbayError ? error.message : String(error);
      return {
        opened: false,
        via: 'PATCHBAY_BROWSER',
        reason: `PATCHBAY_BROWSER is not a valid command: ${why}`,
      };
    }
    if (argv.length === 0) {
      return { opened: false, via: 'PATCHBAY_BROWSER', reason: 'PATCHBAY_BROWSER holds no command' };
    }
    const via = `PATCHBAY_BROWSER (${terminalText(argv[0]!, { max: 200 })})`;
    return start(argv[0]!, [...argv.slice(1), href], env, via, 'PATCHBAY_BROWSER');
  }
  if (!hasDisplay(env, platform)) {
    return { opened: false, via: 'none', reason: noDisplayReason(env, platform) };
  }
  if (platform === 'darwin') return start('open', [href], env, 'open', 'open');
  if (platform === 'win32') {
    // By full path: Windows looks for a bare program name in the current directory first.
    const rundll32 = `${env.SystemRoot ?? env.windir ?? 'C:\\Windows'}\\System32\\rundll32.exe`;
    const via = 'rundll32 url.dll,FileProtocolHandler';
    return start(rundll32, ['url.dll,FileProtocolHandler', href], env, via, 'rundll32');
  }
  return start('xdg-open', [href], env, 'xdg-open', 'xdg-open');
}

/**
 * Whether a browser opened here would be seen. macOS and Windows: yes, unless this is an SSH
 * session (the browser would open on the remote machine's screen). Linux and the BSDs: when
 * DISPLAY or WAYLAND_DISPLAY is set (X11 forwarding over SSH included).
 */
export function hasDisplay(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): boolean {
  if (platform === 'darwin' || platform === 'win32') return !isSshSession(env);
  return isSet(env.DISPLAY) || isSet(env.WAYLAND_DISPLAY);
}

function noDisplayReason(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string {
  if (platform === 'darwin' || platform === 'win32') {
    return 'this is an SSH session, so a browser would open on the remote screen; set PATCHBAY_BROWSER to override';
  }
  return 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set); set PATCHBAY_BROWSER to use a browser anyway';
}

function isSshSession(env: NodeJS.ProcessEnv): boolean {
  return isSet(env.SSH_CONNECTION) || isSet(env.SSH_CLIENT) || isSet(env.SSH_TTY);
}

function isSet(value: string | undefined): boolean {
  return value !== undefined && value !== '';
}

/** Started without a shell, detached from our terminal and stdio; resolved once it is running. */
function start(
  program: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  via: string,
  name: string,
): Promise<OpenResult> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(program, args, {
        shell: false,
        stdio: 'ignore',
        env,
        // Its own process group (POSIX): Ctrl-C in the terminal stops the login, not the browser.
        detached: process.platform !== 'win32',
      });
    } catch (error) {
      // Synchronous failures: a NUL in the program name, an invalid env.
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name;
      resolve({ opened: false, via, reason: `${name} could not be started (${code})` });
      return;
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return;
      resolve({ opened: false, via, reason: spawnFailureReason(error, name, program) });
    });
    child.once('spawn', () => {
      child.unref();
      resolve({ opened: true, via });
    });
  });
}

function spawnFailureReason(error: NodeJS.ErrnoException, name: string, program: string): string {
  const shown = terminalText(program, { max: 200 });
  if (error.code === 'ENOENT') {
    return name === 'PATCHBAY_BROWSER'
      ? `PATCHBAY_BROWSER's program was not found: ${shown} (it runs without a shell: give a path or a program on PATH)`
      : `${name} was not found (${shown}), so no browser could be opened`;
  }
  if (error.code === 'EACCES') return `${name}'s program is not executable: ${shown}`;
  return `${name} could not be started: ${shown} (${error.code ?? error.message})`;
}

// ---------------------------------------------------------------------------------------------

function refusal(what: string, why?: string): PatchbayError {
  return new PatchbayError(
    'auth-refused',
    `the authorization server sent ${what}; refusing to open it${why === undefined ? '' : ` (${why})`}`,
    { hint: REFUSAL_HINT },
  );
}

/** ` for https://host`, when the text parses far enough to say so safely; else nothing. */
function describeHost(text: string): string {
  try {
    const url = new URL(text);
    return url.host === '' || /[^\x21-\x7e]/.test(url.host) ? '' : ` for ${url.protocol}//${url.host}`;
  } catch {
    return '';
  }
}

const CHARACTER_NAMES: Record<string, string> = {
  ' ': 'a space',
  '"': 'a double quote (")',
  "'": "a single quote (')",
  '`': 'a backtick (`)',
  $: 'a dollar sign ($)',
  '\\': 'a backslash (\\)',
  '<': 'an angle bracket (<)',
  '>': 'an angle bracket (>)',
  '|': 'a pipe (|)',
  '{': 'a brace ({)',
  '}': 'a brace (})',
  '^': 'a caret (^)',
};

function nameCharacter(char: string): string {
  const named = CHARACTER_NAMES[char];
  if (named !== undefined) return named;
  const code = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  // eslint-disable-next-line no-control-regex -- naming control characters is the point
  if (/[\x00-\x1f\x7f-\x9f]/.test(char)) return `a control character (${code})`;
  if (/\s/.test(char)) return `whitespace (${code})`;
  return `a character outside plain ASCII (${code})`;
}
