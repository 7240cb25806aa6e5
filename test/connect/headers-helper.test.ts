import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { runHeadersHelper, splitCommandLine } from '../../src/connect/headers-helper.js';
import { PatchbayError } from '../../src/errors.js';
import { isGone } from '../helpers/processes.js';

const HELPER = fileURLToPath(new URL('../fixtures/stdio/headers-helper.mjs', import.meta.url));
/** Single-quoted for a POSIX shell: the repository's path may contain spaces or quotes. */
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
const helper = (mode: string, ...args: string[]) =>
  [quote(process.execPath), quote(HELPER), mode, ...args].join(' ');

const URL_ = 'https://mcp.example.test/mcp';
const context = { url: URL_, serverName: 'example' };
const SECRET = 'sk-live-abc123';

/** The error runHeadersHelper threw, checked to be a headers-helper-failed PatchbayError without secrets. */
async function failure(command: string, extra: Partial<Parameters<typeof runHeadersHelper>[1]> = {}) {
  const error = await runHeadersHelper(command, { ...context, ...extra }).then(
    () => {
      throw new Error('expected runHeadersHelper to fail');
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PatchbayError);
  const patchbayError = error as PatchbayError;
  expect(patchbayError.code).toBe('headers-helper-failed');
  expect(patchbayError.hint).toBeTruthy();
  expect(`${patchbayError.message} ${patchbayError.hint}`).not.toContain(SECRET);
  expect(`${patchbayError.message} ${patchbayError.hint}`).not.toContain('tok-123');
  return patchbayError;
}

describe('splitCommandLine', () => {
  it.each([
    ['a b  c', ['a', 'b', 'c']],
    [' \ta\tb\nc ', ['a', 'b', 'c']],
    [`'a b' "c d"`, ['a b', 'c d']],
    [`a'b'"c"d`, ['abcd']],
    [`''`, ['']],
    [`a "" b`, ['a', '', 'b']],
    [`'it'\\''s'`, ["it's"]],
    [`"a\\"b" "\\$HOME" "\\\\" "\\x" "\\\`"`, ['a"b', '$HOME', '\\', '\\x', '`']],
    [`'a\\b' 'say "hi"'`, ['a\\b', 'say "hi"']],
    ['a\\ b c\\\\d \\x', ['a b', 'c\\d', 'x']],
    ['a \\\n b', ['a', 'b']],
    ['a\\\nb', ['ab']],
    ['"a\\\nb"', ['ab']],
    ['trailing\\', ['trailing\\']],
    ['$HOME ~ ~/x *.json ${X}', ['$HOME', '~', '~/x', '*.json', '${X}']],
    ['"$HOME" \'$HOME\'', ['$HOME', '$HOME']],
    ['get-token # a comment | not a pipe', ['get-token']],
    ['a#b', ['a#b']],
    ['"a|b" \'c && d\' e\\;f', ['a|b', 'c && d', 'e;f']],
    ['', []],
    ['   ', []],
  ])('%j', (command, argv) => {
    expect(splitCommandLine(command)).toEqual(argv);
  });

  it.each([
    [`get-token 'abc`, /unterminated single quote \(opened at character 11\)/],
    [`get-token "abc\\"`, /unterminated double quote \(opened at character 11\)/],
  ])('refuses %j', (command, message) => {
    expect(() => splitCommandLine(command)).toThrow(message);
    try {
      splitCommandLine(command);
    } catch (error) {
      expect(error).toMatchObject({ code: 'usage' });
    }
  });

  it.each([
    [`echo '{}' | cat`, '|'],
    ['a && b', '&&'],
    ['a; b', ';'],
    ['a > out.json', '>'],
    ['a>out.json', '>'],
    ['a 2>&1', '>&'],
    ['a &', '&'],
    ['echo $(get-token)', '('],
    ['echo `get-token`', '`'],
  ])('refuses the shell operator in %j', (command, operator) => {
    expect(() => splitCommandLine(command)).toThrow(`"${operator}" is shell syntax`);
    try {
      splitCommandLine(command);
    } catch (error) {
      expect((error as PatchbayError).hint).toContain("sh -c '");
    }
  });
});

describe('runHeadersHelper', () => {
  it('returns the headers as printed, with the server name and URL and the user\u2019s environment', async () => {
    const headers = await runHeadersHelper(helper('ok'), {
      ...context,
      env: { ...process.env, AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI' },
    });
    expect(headers).toEqual({
      Authorization: 'Bearer tok-123',
      'X-Server-Name': 'example',
      'X-Server-Url': URL_,
      'X-Claude-Name': 'example',
      'X-Claude-Url': URL_,
      'X-Secret-Visible': 'true',
      'X-Cwd': process.cwd(),
    });
  });

  it('leaves the name variables unset without a server name, and runs in cwd', async () => {
    const cwd = fileURLToPath(new URL('../fixtures/', import.meta.url)).replace(/[\\/]$/, '');
    const headers = await runHeadersHelper(helper('ok'), { url: URL_, cwd });
    expect(headers['X-Server-Name']).toBe('(unset)');
    expect(headers['X-Claude-Name']).toBe('(unset)');
    expect(headers['X-Server-Url']).toBe(URL_);
    expect(headers['X-Cwd']).toBe(cwd);
  });

  it('passes arguments as split, expanding nothing', async () => {
    const headers = await runHeadersHelper(
      helper('args', `"a b"`, `'$HOME'`, '$HOME', '~', `"x\\"y"`),
      context,
    );
    expect(JSON.parse(headers['X-Args']!)).toEqual(['a b', '$HOME', '$HOME', '~', 'x"y']);
  });

  it('runs a helper whose path contains spaces', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay helper '));
    try {
      const nested = join(dir, 'my scripts');
      await mkdir(nested);
      const copy = join(nested, 'get headers.mjs');
      await copyFile(HELPER, copy);
      const headers = await runHeadersHelper(`"${process.execPath}" "${copy}" args one`, context);
      expect(JSON.parse(headers['X-Args']!)).toEqual(['one']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts a byte order mark and an empty object', async () => {
    expect(await runHeadersHelper(helper('bom'), context)).toEqual({ 'X-Bom': 'ok' });
    expect(
      await runHeadersHelper(`${quote(process.execPath)} -e "process.stdout.write('{}')"`, context),
    ).toEqual({});
  });

  it('stops a helper that takes too long', async () => {
    const started = Date.now();
    const error = await failure(helper('sleep'), { timeoutMs: 300 });
    expect(error.message).toBe('headersHelper did not finish within 300 ms');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it.skipIf(process.platform === 'win32')('stops what a timed-out helper started, too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-helper-'));
    try {
      const pidFile = join(dir, 'pid');
      await failure(`sh -c 'sleep 30 & echo $! > "$0"; wait' ${quote(pidFile)}`, { timeoutMs: 300 });
      const pid = Number(await readFile(pidFile, 'utf8'));
      expect(pid).toBeGreaterThan(0);
      expect(isGone(pid)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops the helper and rejects with the reason when the signal aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 200);
    await expect(runHeadersHelper(helper('sleep'), { ...context, signal: controller.signal })).rejects.toBe(
      reason,
    );
    const aborted = AbortSignal.abort(reason);
    await expect(runHeadersHelper(helper('ok'), { ...context, signal: aborted })).rejects.toBe(reason);
  });

  it('reports a non-zero exit with the last stderr line', async () => {
    expect((await failure(helper('fail'))).message).toBe(
      'headersHelper exited with code 2: error: token expired',
    );
    expect((await failure(helper('fail-quiet'))).message).toBe(
      'headersHelper exited with code 5 (nothing on stderr)',
    );
  });

  it('reports a command that does not exist', async () => {
    const error = await failure('patchbay-no-such-helper-7d2e --flag');
    expect(error.message).toBe('headersHelper command not found: patchbay-no-such-helper-7d2e');
    expect(error.hint).toContain('without a shell');
  });

  it('reports a command that is not executable', async () => {
    const error = await failure(quote(HELPER));
    expect(error.message).toMatch(/^headersHelper command is not executable: /);
  });

  it('never shows what the helper printed', async () => {
    expect((await failure(helper('not-json'))).message).toBe(
      'headersHelper printed something that is not JSON',
    );
    expect((await failure(helper('empty'))).message).toBe('headersHelper printed nothing');
    expect((await failure(helper('number'))).message).toBe(
      'headersHelper printed JSON that is not an object of string values (key "X-Count" is a number)',
    );
    expect((await failure(helper('array'))).message).toBe(
      'headersHelper printed JSON that is not an object (it is an array)',
    );
    expect((await failure(helper('bad-name'))).message).toBe(
      'headersHelper printed a key that is not a valid HTTP header name (key 1 of 1)',
    );
    expect((await failure(helper('crlf'))).message).toBe(
      'headersHelper printed a value with a line break or NUL for header "X-Injected"',
    );
    expect((await failure(helper('duplicate'))).message).toBe(
      'headersHelper printed header "Authorization" twice (header names ignore case)',
    );
    expect((await failure(helper('big'))).message).toBe('headersHelper printed more than 64 KiB');
  });

  it('does not attach the JSON parser error, which quotes the output', async () => {
    const error = await failure(helper('not-json'));
    expect(error.cause).toBeUndefined();
  });

  it('refuses shell syntax and unterminated quotes before running anything', async () => {
    const piped = await failure(`${helper('ok')} | jq .`);
    expect(piped.message).toBe(
      'headersHelper is not a valid command: "|" is shell syntax, and the command runs without a shell',
    );
    expect(piped.hint).toContain("sh -c '");
    expect((await failure(`${helper('ok')} 'oops`)).message).toMatch(/unterminated single quote/);
    expect((await failure('TOKEN=abc get-token')).message).toBe(
      'headersHelper starts with a variable assignment (TOKEN=\u2026), which needs a shell',
    );
    expect((await failure('  ')).message).toBe('headersHelper is empty');
  });
});

describe('runHeadersHelper through an explicit shell', () => {
  it.skipIf(process.platform === 'win32')('works when the user asks for sh -c', async () => {
    const headers = await runHeadersHelper(
      `sh -c 'printf "{\\"X-Shell\\": \\"%s\\"}" "$PATCHBAY_SERVER_NAME"'`,
      context,
    );
    expect(headers).toEqual({ 'X-Shell': 'example' });
  });
});
