/**
 * The OAuth callback page of a login started from the console sends the browser back to it: a
 * link on every answer to the login, and a move on by itself after a success. Loopback only.
 */

import { describe, expect, it } from 'vitest';

import { startCallbackListener } from '../../src/auth/callback.js';
import { rawRequest } from './helpers.js';

const RETURN = 'http://127.0.0.1:41999/';

async function answer(returnTo: string | undefined, query: string) {
  const listener = await startCallbackListener({ state: 'the-state', ...(returnTo ? { returnTo } : {}) });
  listener.result.catch(() => undefined);
  try {
    return await rawRequest(listener.port, {
      path: `/callback?${query}`,
      headers: { host: `localhost:${listener.port}` },
    });
  } finally {
    await listener.close();
  }
}

describe('returnTo', () => {
  it('a success moves on to the console; the link is there too', async () => {
    const page = await answer(RETURN, 'code=abc&state=the-state');
    expect(page.status).toBe(200);
    expect(page.text).toContain(`<meta http-equiv="refresh" content="0;url=${RETURN}">`);
    expect(page.text).toContain(
      `Login complete. Returning to patchbay\u2026 <a href="${RETURN}">Return to patchbay</a>`,
    );
    expect(page.text).not.toContain('abc');
  });

  it('a refused answer links back without moving on', async () => {
    const page = await answer(RETURN, 'code=abc&state=forged');
    expect(page.status).toBe(400);
    expect(page.text).not.toContain('http-equiv');
    expect(page.text).toContain(`<a href="${RETURN}">Return to patchbay</a>`);
  });

  it('without returnTo the pages are as before', async () => {
    const page = await answer(undefined, 'code=abc&state=the-state');
    expect(page.text).toContain('Login complete. You can close this tab and return to the terminal.');
    expect(page.text).not.toContain('<a ');
  });

  it('only an http URL on loopback is accepted, and it is written escaped', async () => {
    for (const returnTo of [
      'https://127.0.0.1/',
      'http://example.com/',
      'javascript:alert(1)',
      'http://user:pw@127.0.0.1/',
      'not a url',
    ])
      await expect(startCallbackListener({ state: 's', returnTo }), returnTo).rejects.toThrow(TypeError);
    const page = await answer('http://localhost:41999/?a=1&b="x"', 'code=abc&state=the-state');
    expect(page.text).toContain('href="http://localhost:41999/?a=1&amp;b=%22x%22"');
  });
});
