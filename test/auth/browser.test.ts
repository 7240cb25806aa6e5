import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { checkAuthorizationUrl, hasDisplay, openAuthorizationUrl } from '../../src/auth/browser.js';
import { PatchbayError } from '../../src/errors.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/browsers');
const RECORD_ARGV = join(FIXTURES, 'record-argv.mjs');
const OPENERS = join(FIXTURES, 'bin');

/** A test name: JSON, so control characters show, and short. */
function label(text: string): string {
  const json = JSON.stringify(text);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

function refusal(text: string): PatchbayError {
  try {
    checkAuthorizationUrl(text);
  } catch (error) {
    expect(error).toBeInstanceOf(PatchbayError);
    return error as PatchbayError;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

describe('checkAuthorizationUrl', () => {
  // CVE-2025-6514 and its relatives: what a hostile server might put in authorization_endpoint.
  const refused: Array<[string, RegExp]> = [
    ['javascript:alert(1)', /sent a javascript: URL; refusing to open it \(only https: URLs are opened\)/],
    ['JavaScript:alert(document.cookie)', /a javascript: URL/],
    ['file:///etc/passwd', /a file: URL/],
    ['file://C:/Windows/System32/calc.exe', /a file: URL/],
    ['data:text/html,<script>alert(1)</script>', /a data: URL/],
    ['vbscript:msgbox(1)', /a vbscript: URL/],
    ['ms-msdt:/id PCWDiagnostic', /a ms-msdt: URL/],
    ['a:$(calc.exe)', /an a: URL/],
    ['ftp://a.example/', /a ftp: URL/],
    ['//evil.example/authorize', /not an absolute URL/],
    ['evil.example/authorize', /not an absolute URL/],
    ['\u0000https://a.example/', /not an absolute URL/],
    [' https://a.example/', /not an absolute URL/],
    [
      'https://a.example/$(calc)',
      /for https:\/\/a\.example that contains a dollar sign \(\$\) at character 19/,
    ],
    ['https://a.example/?x=${HOME}', /a dollar sign/],
    ['https://a.example/a" && calc && "', /contains a double quote \("\) at character 20/],
    ["https://a.example/a'; calc; '", /a single quote/],
    ['https://a.example/`calc`', /a backtick/],
    ['https://a.example/?a=1;touch /tmp/x', /contains a space at character 29/],
    ['https://a.example/|calc', /a pipe/],
    ['https://a.example/<x>', /an angle bracket/],
    ['https://a.example/^', /a caret/],
    ['https://a.example/{x}', /a brace/],
    ['https://a.example/\u0000', /a control character \(U\+0000\)/],
    ['https://a.example/\tx', /a control character \(U\+0009\)/],
    ['https://a.example/\nx', /a control character \(U\+000A\)/],
    ['https://a.example/\u007f', /a control character \(U\+007F\)/],
    ['https://a.example/\u0085', /a control character \(U\+0085\)/],
    ['https://a.example/\u00a0', /whitespace \(U\+00A0\)/],
    ['https://a.example/\u2028', /whitespace \(U\+2028\)/],
    ['https://a.example/\u202e', /outside plain ASCII \(U\+202E\)/],
    ['https://\u0430pple.com/', /outside plain ASCII \(U\+0430\)/],
    ['https://a.example/\u{1f600}', /outside plain ASCII \(U\+1F600\)/],
    ['https://a.example/%zz', /a broken %-escape at character 19/],
    ['https://a.example/%', /a broken %-escape/],
    ['https:\\\\evil.example', /a backslash/],
    ['https:/\\evil.example', /a backslash/],
    ['https:evil.example', /malformed login URL \(no "\/\/host" after "https:"\)/],
    ['https:///evil.example', /malformed login URL/],
    ['https://user:pass@a.example/', /a login URL for a\.example with a user name or password in it/],
    ['https://user@a.example/', /user name or password/],
    ['https://a.example@evil.example/', /user name or password/],
    ['http://evil.example/authorize', /a plain http: login URL for evil\.example; refusing to open it/],
    ['http://localhost.evil.example/', /plain http:/],
    ['http://0x7f.1/', /host is written in a disguised form \(it means 127\.0\.0\.1\)/],
    ['http://2130706433/', /disguised form/],
    ['http://[0:0::1]/', /disguised form \(it means \[::1\]\)/],
    ['https://', /does not parse/],
    [
      `https://a.example/?q=${'a'.repeat(20_000)}`,
      /of 20021 characters; refusing to open it \(at most 16384 are opened\)/,
    ],
  ];

  it.each(refused.map(([text, reason]) => [label(text), text, reason] as const))(
    'refuses %s',
    (_, text, reason) => {
      const error = refusal(text);
      expect(error.code).toBe('auth-refused');
      expect(error.message).toMatch(/^the authorization server sent .*; refusing to open it/);
      expect(error.message).toMatch(reason);
      expect(error.hint).toMatch(/do not open the URL by hand/);
    },
  );

  it('never puts more of the URL than scheme and host into the message', () => {
    for (const text of [
      'https://a.example/authorize?client_secret=TOPSECRET&x="',
      'https://user:TOPSECRET@a.example/authorize',
      'http://evil.example/authorize?state=TOPSECRET',
      'javascript:TOPSECRET',
      `https://a.example/TOPSECRET${'a'.repeat(20_000)}`,
    ]) {
      const error = refusal(text);
      expect(error.message).not.toContain('TOPSECRET');
      expect(error.message).not.toContain('authorize');
    }
  });

  const accepted: Array<[string, string]> = [
    ['https://a.example/authorize', 'https://a.example/authorize'],
    ['HTTPS://EXAMPLE.com', 'https://example.com/'],
    ['https://a.example:443/x', 'https://a.example/x'],
    ['https://a.example:8443/x', 'https://a.example:8443/x'],
    ['https://xn--bcher-kva.example/', 'https://xn--bcher-kva.example/'],
    ['https://a.example/%E2%80%AE?q=%24(calc)%27', 'https://a.example/%E2%80%AE?q=%24(calc)%27'],
    ['http://localhost:9000/authorize', 'http://localhost:9000/authorize'],
    ['http://127.0.0.1:9000/authorize', 'http://127.0.0.1:9000/authorize'],
    ['http://127.8.9.10/authorize', 'http://127.8.9.10/authorize'],
    ['http://[::1]:9000/authorize', 'http://[::1]:9000/authorize'],
    [
      'https://auth.example/authorize?response_type=code&client_id=abc&redirect_uri=http%3A%2F%2Flocalhost%3A4321%2Fcallback&scope=openid+mcp%3Atools&state=Zq9f3kPz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example%2Fmcp#frag',
      'https://auth.example/authorize?response_type=code&client_id=abc&redirect_uri=http%3A%2F%2Flocalhost%3A4321%2Fcallback&scope=openid+mcp%3Atools&state=Zq9f3kPz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example%2Fmcp#frag',
    ],
    // Legal sub-delimiters stay legal: no shell ever sees them.
    ['https://a.example/p;v=1/(x)*!?a=1&b=2,3', 'https://a.example/p;v=1/(x)*!?a=1&b=2,3'],
  ];

  it.each(accepted.map(([text, href]) => [label(text), text, href] as const))(
    'accepts %s',
    (_, text, href) => {
      expect(checkAuthorizationUrl(text).href).toBe(href);
    },
  );
});

describe('hasDisplay', () => {
  it.each([
    [{}, 'linux', false],
    [{ DISPLAY: ':0' }, 'linux', true],
    [{ DISPLAY: '' }, 'linux', false],
    [{ WAYLAND_DISPLAY: 'wayland-0' }, 'linux', true],
    [{ DISPLAY: 'localhost:10.0', SSH_CONNECTION: '10.0.0.1 5000 10.0.0.2 22' }, 'linux', true],
    [{ SSH_CONNECTION: '10.0.0.1 5000 10.0.0.2 22' }, 'linux', false],
    [{ DISPLAY: ':0' }, 'freebsd', true],
    [{}, 'freebsd', false],
    [{}, 'darwin', true],
    [{ SSH_CONNECTION: '10.0.0.1 5000 10.0.0.2 22' }, 'darwin', false],
    [{ SSH_TTY: '/dev/ttys001' }, 'darwin', false],
    [{}, 'win32', true],
    [{ SSH_CLIENT: '10.0.0.1 5000 22' }, 'win32', false],
  ] as Array<[NodeJS.ProcessEnv, NodeJS.Platform, boolean]>)('%j on %s: %s', (env, platform, expected) => {
    expect(hasDisplay(env, platform)).toBe(expected);
  });
});

describe('openAuthorizationUrl', () => {
  let dir: string;
  let record: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'patchbay-browser-'));
    record = join(dir, 'argv.json');
    env = { PATH: process.env.PATH, RECORD_ARGV_FILE: record };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function recorded(): Promise<{ as: string; args: string[] }> {
    for (let i = 0; i < 250 && !existsSync(record); i++) await new Promise((r) => setTimeout(r, 20));
    return JSON.parse(readFileSync(record, 'utf8')) as { as: string; args: string[] };
  }

  async function nothingRecorded(): Promise<void> {
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(record)).toBe(false);
  }

  const browser = `'${process.execPath}' '${RECORD_ARGV}'`;
  const withQuery = checkAuthorizationUrl(
    'https://auth.example/authorize?response_type=code&client_id=abc&redirect_uri=http%3A%2F%2Flocalhost%3A4321%2Fcallback&state=xyz&code_challenge_method=S256',
  );

  it('runs PATCHBAY_BROWSER with the URL as its one, unchanged argument, even without a display', async () => {
    const result = await openAuthorizationUrl(withQuery, { ...env, PATCHBAY_BROWSER: browser }, 'linux');
    expect(result).toEqual({ opened: true, via: `PATCHBAY_BROWSER (${process.execPath})` });
    expect((await recorded()).args).toEqual([withQuery.href]);
  });

  it('puts the URL after the arguments PATCHBAY_BROWSER already has', async () => {
    await openAuthorizationUrl(withQuery, { ...env, PATCHBAY_BROWSER: `${browser} --new-window` }, 'darwin');
    expect((await recorded()).args).toEqual(['--new-window', withQuery.href]);
  });

  it('never involves a shell: a URL with ; and & arrives as one argument and runs nothing', async () => {
    const marker = join(dir, 'pwned');
    const raw = `https://a.example/cb?a=1&b=2;touch ${marker}`;
    expect(() => checkAuthorizationUrl(raw)).toThrow(/contains a space/);
    // What the parser makes of it (the space encoded) is a clean URL, and stays one argument.
    const url = new URL(raw);
    expect(checkAuthorizationUrl(url.href).href).toBe(url.href);
    const result = await openAuthorizationUrl(url, { ...env, PATCHBAY_BROWSER: browser }, 'linux');
    expect(result.opened).toBe(true);
    expect((await recorded()).args).toEqual([`https://a.example/cb?a=1&b=2;touch%20${marker}`]);
    expect(existsSync(marker)).toBe(false);
  });

  it('checks the URL again and refuses to start anything for a bad one', async () => {
    await expect(
      openAuthorizationUrl(new URL('javascript:alert(1)'), { ...env, PATCHBAY_BROWSER: browser }, 'linux'),
    ).rejects.toMatchObject({ code: 'auth-refused', message: /javascript: URL/ });
    await expect(
      openAuthorizationUrl(new URL('http://evil.example/'), { ...env, PATCHBAY_BROWSER: browser }, 'linux'),
    ).rejects.toMatchObject({ code: 'auth-refused' });
    await nothingRecorded();
  });

  it('reports a PATCHBAY_BROWSER that cannot be started or is not a command, without throwing', async () => {
    const missing = await openAuthorizationUrl(
      withQuery,
      { ...env, PATCHBAY_BROWSER: join(dir, 'no-such-browser') },
      'linux',
    );
    expect(missing).toMatchObject({
      opened: false,
      reason: expect.stringMatching(/PATCHBAY_BROWSER's program was not found/),
    });

    const shelly = await openAuthorizationUrl(
      withQuery,
      { ...env, PATCHBAY_BROWSER: `${browser}; touch ${join(dir, 'x')}` },
      'linux',
    );
    expect(shelly).toMatchObject({
      opened: false,
      reason: expect.stringMatching(/PATCHBAY_BROWSER is not a valid command: ";" is shell syntax/),
    });
    await nothingRecorded();
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('uses xdg-open on Linux with a display', async () => {
    const result = await openAuthorizationUrl(
      withQuery,
      { ...env, DISPLAY: ':0', PATH: `${OPENERS}${delimiter}${env.PATH}` },
      'linux',
    );
    expect(result).toEqual({ opened: true, via: 'xdg-open' });
    expect(await recorded()).toEqual({ as: 'xdg-open', args: [withQuery.href] });
  });

  it('opens nothing on Linux without a display, and says why', async () => {
    const result = await openAuthorizationUrl(
      withQuery,
      { ...env, PATH: `${OPENERS}${delimiter}${env.PATH}` },
      'linux',
    );
    expect(result).toEqual({
      opened: false,
      via: 'none',
      reason: expect.stringMatching(/no display \(neither DISPLAY nor WAYLAND_DISPLAY is set\)/),
    });
    await nothingRecorded();
  });

  it('says so when the platform opener is not installed', async () => {
    const result = await openAuthorizationUrl(withQuery, { ...env, DISPLAY: ':0', PATH: dir }, 'linux');
    expect(result).toEqual({
      opened: false,
      via: 'xdg-open',
      reason: 'xdg-open was not found (xdg-open), so no browser could be opened',
    });
  });

  it('uses open on macOS, but not over SSH', async () => {
    const path = `${OPENERS}${delimiter}${env.PATH}`;
    const ssh = await openAuthorizationUrl(
      withQuery,
      { ...env, PATH: path, SSH_CONNECTION: '1 2 3 4' },
      'darwin',
    );
    expect(ssh).toMatchObject({ opened: false, reason: expect.stringMatching(/SSH session/) });
    await nothingRecorded();

    expect(await openAuthorizationUrl(withQuery, { ...env, PATH: path }, 'darwin')).toEqual({
      opened: true,
      via: 'open',
    });
    expect(await recorded()).toEqual({ as: 'open', args: [withQuery.href] });
  });

  it('uses rundll32 url.dll,FileProtocolHandler by its full path on Windows', async () => {
    // `${SystemRoot}\System32\rundll32.exe` is, on this POSIX test machine, one file name with backslashes in it.
    const systemRoot = join(dir, 'Windows');
    const standIn = `${systemRoot}\\System32\\rundll32.exe`;
    writeFileSync(
      standIn,
      `#!/bin/sh\nRECORD_AS=rundll32 exec '${process.execPath}' '${RECORD_ARGV}' "$@"\n`,
    );
    chmodSync(standIn, 0o755);
    const result = await openAuthorizationUrl(withQuery, { ...env, SystemRoot: systemRoot }, 'win32');
    expect(result).toEqual({ opened: true, via: 'rundll32 url.dll,FileProtocolHandler' });
    expect(await recorded()).toEqual({
      as: 'rundll32',
      args: ['url.dll,FileProtocolHandler', withQuery.href],
    });
  });
});
