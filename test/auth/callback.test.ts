import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { PassThrough } from 'node:stream';

import { afterEach, describe, expect, it } from 'vitest';

import { startCallbackListener, type CallbackListener } from '../../src/auth/callback.js';
import { parsePastedRedirect, waitForPastedRedirect } from '../../src/auth/paste.js';
import { PatchbayError } from '../../src/errors.js';

const CODE = 'code-SECRET-4711';
const STATE = 'state-Zq9f3kPz';

const listeners: CallbackListener[] = [];
const blockers: Server[] = [];

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.close()));
  await Promise.all(blockers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listen(options: Partial<Parameters<typeof startCallbackListener>[0]> = {}) {
  const listener = await startCallbackListener({ state: STATE, ...options });
  listeners.push(listener);
  return listener;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain GET (or another method) on a fresh connection, with the Host header under our control. */
function send(
  url: string,
  options: { method?: string; host?: string; address?: string } = {},
): Promise<Answer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.address ?? '127.0.0.1',
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers: { host: options.host ?? target.host },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function query(params: Record<string, string>): string {
  return `?${new URLSearchParams(params).toString()}`;
}

async function rejection(promise: Promise<unknown>): Promise<PatchbayError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(PatchbayError);
  return error as PatchbayError;
}

async function expectRefused(url: string, address = '127.0.0.1'): Promise<void> {
  await expect(send(url, { address })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
}

async function expectClosed(listener: CallbackListener): Promise<void> {
  await listener.close();
  for (const { address } of listener.addresses) await expectRefused(listener.redirectUri, address);
}

describe('startCallbackListener', () => {
  it('takes the code from a real browser-style GET, answers with a fixed page, and closes', async () => {
    const listener = await listen();
    expect(listener.redirectUri).toBe(`http://localhost:${listener.port}/callback`);

    const response = await fetch(`${listener.redirectUri}${query({ code: CODE, state: STATE })}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toContain('You can close this tab and return to the terminal');

    await expect(listener.result).resolves.toEqual({ code: CODE, state: STATE });
    await expectClosed(listener);
  });

  it('closes after the first callback: a second one finds nobody listening', async () => {
    const listener = await listen();
    await send(`${listener.redirectUri}${query({ code: CODE, state: STATE })}`);
    await listener.result;
    // Closing happens by itself once the page is written; give it a moment, without calling close().
    for (let i = 0; i < 50; i++) {
      const gone = await send(`${listener.redirectUri}${query({ code: 'second', state: STATE })}`).then(
        () => false,
        () => true,
      );
      if (gone) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const { address } of listener.addresses) await expectRefused(listener.redirectUri, address);
  });

  it('listens on loopback only: 127.0.0.1 and ::1, on the same port, never a wildcard address', async () => {
    const listener = await listen();
    const hosts = listener.addresses.map((address) => address.address);
    expect(hosts[0]).toBe('127.0.0.1');
    for (const host of hosts) expect(['127.0.0.1', '::1']).toContain(host);
    for (const address of listener.addresses) expect(address.port).toBe(listener.port);

    const outside = Object.values(networkInterfaces())
      .flat()
      .find((nic) => nic && !nic.internal && nic.family === 'IPv4');
    if (outside) await expectRefused(listener.redirectUri, outside.address);
    if (hosts.includes('::1')) {
      const answer = await send(`${listener.redirectUri}?x=1`.replace('/callback', '/nope'), {
        address: '::1',
      });
      expect(answer.status).toBe(404);
    }
  });

  it('refuses a callback whose state belongs to another login, and says so', async () => {
    const listener = await listen();
    const answer = await send(`${listener.redirectUri}${query({ code: CODE, state: 'stale-state' })}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('return to the terminal');

    const error = await rejection(listener.result);
    expect(error.code).toBe('auth-failed');
    expect(error.message).toMatch(/"state" that does not belong to this login/);
    expect(error.message).toMatch(/earlier login, or a forged request/);
    expect(error.message).not.toContain(CODE);
    expect(error.message).not.toContain('stale-state');
    expect(error.hint).toMatch(/run the login again/);
    await expectClosed(listener);
  });

  it('refuses a callback without state', async () => {
    const listener = await listen();
    await send(`${listener.redirectUri}${query({ code: CODE })}`);
    const error = await rejection(listener.result);
    expect(error.message).toMatch(/no "state"/);
  });

  it("reports the authorization server's error code and a sanitised, bounded description", async () => {
    const listener = await listen();
    const description = `User said no\u001b[31m\r\n${'x'.repeat(1000)}`;
    await send(
      `${listener.redirectUri}${query({ error: 'access_denied', error_description: description, state: STATE })}`,
    );
    const error = await rejection(listener.result);
    expect(error.code).toBe('auth-failed');
    expect(error.message).toMatch(
      /^the authorization server refused the login with access_denied: "User said no x+\u2026"$/,
    );
    expect(error.message.length).toBeLessThan(400);
    expect(error.hint).toMatch(/approve/);
  });

  it('does not take an error that is not a valid error code at face value', async () => {
    const listener = await listen();
    await send(`${listener.redirectUri}${query({ error: 'bad"code\u0007', state: STATE })}`);
    const error = await rejection(listener.result);
    expect(error.message).toBe('the authorization server refused the login with (an invalid error code)');
  });

  it('checks iss (RFC 9207): equal passes, different is refused as a possible mix-up', async () => {
    const good = await listen({ expectedIssuer: 'https://as.example' });
    await send(`${good.redirectUri}${query({ code: CODE, state: STATE, iss: 'https://as.example' })}`);
    await expect(good.result).resolves.toEqual({ code: CODE, state: STATE, iss: 'https://as.example' });

    const bad = await listen({ expectedIssuer: 'https://as.example' });
    await send(`${bad.redirectUri}${query({ code: CODE, state: STATE, iss: 'https://as.example/' })}`);
    const error = await rejection(bad.result);
    expect(error.code).toBe('auth-refused');
    expect(error.message).toMatch(
      /comes from issuer "https:\/\/as\.example\/", but this login was sent to "https:\/\/as\.example"/,
    );
    expect(error.message).toMatch(/mix-up/);
  });

  it('with requireIssuer, a response without iss is refused; without it, a missing iss is fine', async () => {
    const strict = await listen({ expectedIssuer: 'https://as.example', requireIssuer: true });
    await send(`${strict.redirectUri}${query({ code: CODE, state: STATE })}`);
    const error = await rejection(strict.result);
    expect(error.code).toBe('auth-refused');
    expect(error.message).toMatch(/no "iss"/);

    const lenient = await listen({ expectedIssuer: 'https://as.example' });
    await send(`${lenient.redirectUri}${query({ code: CODE, state: STATE })}`);
    await expect(lenient.result).resolves.toEqual({ code: CODE, state: STATE });

    await expect(startCallbackListener({ state: STATE, requireIssuer: true })).rejects.toThrow(TypeError);
  });

  it('refuses a response that repeats a parameter', async () => {
    const listener = await listen();
    await send(`${listener.redirectUri}?code=a&code=b&state=${STATE}`);
    const error = await rejection(listener.result);
    expect(error.message).toMatch(/"code" more than once/);
  });

  it('answers other paths with 404, other methods with 405 and foreign Host headers with 400, without settling', async () => {
    const listener = await listen();
    const base = `http://localhost:${listener.port}`;
    expect((await send(`${base}/`)).status).toBe(404);
    expect((await send(`${base}/favicon.ico`)).status).toBe(404);
    expect((await send(`${base}//evil.example/callback${query({ code: CODE, state: STATE })}`)).status).toBe(
      404,
    );
    expect((await send(`${base}/callback/${query({ code: CODE, state: STATE })}`)).status).toBe(404);
    expect((await send(`${base}/CALLBACK${query({ code: CODE, state: STATE })}`)).status).toBe(404);
    const post = await send(`${listener.redirectUri}${query({ code: CODE, state: STATE })}`, {
      method: 'POST',
    });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET');
    // DNS rebinding: a page at evil.example resolving to 127.0.0.1.
    const rebound = await send(`${listener.redirectUri}${query({ code: 'evil', state: STATE })}`, {
      host: `evil.example:${listener.port}`,
    });
    expect(rebound.status).toBe(400);
    const lookalike = await send(`${listener.redirectUri}${query({ code: 'evil', state: STATE })}`, {
      host: `localhost.evil.example:${listener.port}`,
    });
    expect(lookalike.status).toBe(400);

    await send(`${listener.redirectUri}${query({ code: CODE, state: STATE })}`, {
      host: `[::1]:${listener.port}`,
    });
    await expect(listener.result).resolves.toEqual({ code: CODE, state: STATE });
  });

  it('never reflects what the request carried into the page', async () => {
    const payload = '<script>alert(1)</script>';
    for (const state of [STATE, 'wrong']) {
      const listener = await listen();
      const answer = await send(
        `${listener.redirectUri}${query({ code: payload, state, error_description: payload, iss: payload })}`,
      );
      for (const text of ['script', 'alert', 'wrong', STATE]) expect(answer.body).not.toContain(text);
      await listener.result.catch(() => undefined);
    }
    const listener = await listen();
    const notFound = await send(`http://localhost:${listener.port}/${encodeURIComponent(payload)}`);
    expect(notFound.body).not.toContain('script');
  });

  it('says which fixed port is taken and how to pick another', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;

    const error = await rejection(startCallbackListener({ state: STATE, port }));
    expect(error.code).toBe('usage');
    expect(error.message).toBe(`the OAuth callback port ${port} is already in use on 127.0.0.1`);
    expect(error.hint).toMatch(/--callback-port <port>/);
    expect(error.hint).toMatch(/oauth\.callbackPort/);
  });

  it('refuses a fixed port someone else holds on ::1, where the browser may go for localhost', async (context) => {
    const blocker = createServer();
    blockers.push(blocker);
    const bound = await new Promise<boolean>((resolve) => {
      blocker.once('error', () => resolve(false));
      blocker.listen(0, '::1', () => resolve(true));
    });
    if (!bound) return context.skip();
    const port = (blocker.address() as { port: number }).port;
    const error = await rejection(startCallbackListener({ state: STATE, port }));
    expect(error.message).toBe(`the OAuth callback port ${port} is already in use on ::1`);
    // And nothing was left listening on 127.0.0.1.
    await expectRefused(`http://localhost:${port}/callback`);
  });

  it('uses a configured free port', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));

    const listener = await listen({ port });
    expect(listener.redirectUri).toBe(`http://localhost:${port}/callback`);
    await expect(startCallbackListener({ state: STATE, port: 70_000 })).rejects.toMatchObject({
      code: 'usage',
    });
  });

  it('on abort, rejects with the signal reason and stops listening', async () => {
    const controller = new AbortController();
    const listener = await listen({ signal: controller.signal });
    const reason = new Error('login timed out after 5 minutes');
    controller.abort(reason);
    await expect(listener.result).rejects.toBe(reason);
    await expectClosed(listener);

    await expect(startCallbackListener({ state: STATE, signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
  });

  it('close() before the browser came back rejects the result', async () => {
    const listener = await listen();
    await listener.close();
    const error = await rejection(listener.result);
    expect(error.code).toBe('auth-failed');
    await listener.close();
  });
});

describe('parsePastedRedirect', () => {
  const redirectUri = 'http://localhost:43123/callback';
  const expected = { redirectUri, state: STATE };
  const good = `${redirectUri}${query({ code: CODE, state: STATE })}`;

  it('takes the redirect URL from the address bar, trimmed of whitespace and quotes', () => {
    for (const text of [
      good,
      `  ${good}\n`,
      `"${good}"`,
      `'${good}'`,
      `<${good}>`,
      ` " ${good} " `,
      good.replace('http://', ''),
      good.replace('localhost', '127.0.0.1'),
      good.replace('localhost', '[::1]'),
      good.replace('localhost', 'LOCALHOST'),
      `${good}#`,
    ]) {
      expect(parsePastedRedirect(text, expected), text).toEqual({ code: CODE, state: STATE });
    }
    expect(parsePastedRedirect(`${good}&iss=https%3A%2F%2Fas.example`, expected)).toEqual({
      code: CODE,
      state: STATE,
      iss: 'https://as.example',
    });
  });

  it('refuses a URL that is not this login’s redirect, without repeating the code', () => {
    for (const [text, detail] of [
      [good.replace('http:', 'https:'), 'it goes to https://localhost:43123'],
      [good.replace('localhost', 'evil.example'), 'it goes to http://evil.example:43123'],
      [good.replace('43123', '43124'), 'it goes to http://localhost:43124'],
      [good.replace('/callback', '/cb'), 'its path is not /callback'],
      [good.replace('/callback', '/callback/'), 'its path is not /callback'],
      [good.replace('http://', 'http://user@'), 'it carries a user name or password'],
      ['javascript:alert(1)', 'it goes to a javascript: URL'],
    ]) {
      let error: unknown;
      try {
        parsePastedRedirect(text!, expected);
      } catch (caught) {
        error = caught;
      }
      expect(error, text).toBeInstanceOf(PatchbayError);
      expect((error as PatchbayError).code).toBe('invalid-url');
      expect((error as PatchbayError).message).toBe(
        `that URL is not this login's redirect http://localhost:43123/callback (${detail})`,
      );
      expect((error as PatchbayError).message).not.toContain(CODE);
    }
    expect(() => parsePastedRedirect('not a url', expected)).toThrow('that is not a URL');
  });

  it('needs a code or an error', () => {
    expect(() => parsePastedRedirect(`${redirectUri}?state=${STATE}`, expected)).toThrow(/has no "code"/);
  });

  it("reports the server's error, and refuses another login's state or the wrong issuer", () => {
    expect(() =>
      parsePastedRedirect(`${redirectUri}${query({ error: 'access_denied', state: STATE })}`, expected),
    ).toThrow(/refused the login with access_denied/);
    expect(() => parsePastedRedirect(good.replace(STATE, 'other'), expected)).toThrow(
      /does not belong to this login/,
    );
    expect(() =>
      parsePastedRedirect(`${good}&iss=https%3A%2F%2Fevil.example`, {
        ...expected,
        expectedIssuer: 'https://as.example',
      }),
    ).toThrow(/mix-up/);
    expect(() =>
      parsePastedRedirect(good, { ...expected, expectedIssuer: 'https://as.example', requireIssuer: true }),
    ).toThrow(/no "iss"/);
  });
});

describe('waitForPastedRedirect', () => {
  const redirectUri = 'http://localhost:43123/callback';
  const good = `${redirectUri}${query({ code: CODE, state: STATE })}`;

  it('reads lines until one is the redirect, explaining the others', async () => {
    const input = new PassThrough();
    const explained: string[] = [];
    const pasted = waitForPastedRedirect(input, {
      redirectUri,
      state: STATE,
      explain: (message) => explained.push(message),
    });
    input.write('\n   \n');
    input.write('https://evil.example/callback?code=nope\n');
    input.write(`${good.replace(STATE, 'stale')}\r\n`);
    input.write(`${'x'.repeat(20_000)}\n`);
    input.write(`  ${good}  \n`);
    await expect(pasted).resolves.toEqual({ code: CODE, state: STATE });
    expect(explained).toHaveLength(3);
    expect(explained[0]).toBe(
      "that URL is not this login's redirect http://localhost:43123/callback (it goes to https://evil.example); " +
        'paste the whole address from the browser, starting with http://localhost, after the login page sent you there',
    );
    expect(explained[1]).toMatch(/does not belong to this login/);
    expect(explained[2]).toMatch(/too long/);
    for (const message of explained) expect(message).not.toMatch(/nope|SECRET/);
    // Done reading: nothing is left listening to the stream.
    expect(input.listenerCount('data')).toBe(0);
  });

  it("rejects with the server's refusal", async () => {
    const input = new PassThrough();
    const pasted = waitForPastedRedirect(input, { redirectUri, state: STATE });
    input.write(`${redirectUri}${query({ error: 'access_denied', state: STATE })}\n`);
    await expect(pasted).rejects.toMatchObject({ code: 'auth-failed', message: /access_denied/ });
  });

  it('does not settle when the input ends; aborting rejects with the reason', async () => {
    const input = new PassThrough();
    const controller = new AbortController();
    const pasted = waitForPastedRedirect(input, { redirectUri, state: STATE, signal: controller.signal });
    input.end();
    const early = await Promise.race([
      pasted.then(
        () => 'settled',
        () => 'settled',
      ),
      new Promise((r) => setTimeout(() => r('pending'), 50)),
    ]);
    expect(early).toBe('pending');
    const reason = new Error('the browser came back first');
    controller.abort(reason);
    await expect(pasted).rejects.toBe(reason);
    await expect(
      waitForPastedRedirect(new PassThrough(), {
        redirectUri,
        state: STATE,
        signal: AbortSignal.abort(reason),
      }),
    ).rejects.toBe(reason);
  });
});
