/** health.ts: /healthz and /readyz over a real socket, and the readiness checks behind them. */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { CHECK_TIMEOUT_MS, healthRoutes, Readiness } from '../../src/gateway/health.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(readiness: Readiness): Promise<string> {
  const routes = healthRoutes(readiness);
  server = createServer((req, res) => {
    const route = routes.find((candidate) => candidate.path === req.url);
    if (!route) return res.writeHead(404).end();
    void route.handle(req, res);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('healthRoutes', () => {
  it('/healthz is 200 ok whatever the checks say; both are open routes, GET and HEAD only', async () => {
    const readiness = new Readiness();
    readiness.add('upstreams', () => ({ ready: false, reason: 'none' }));
    const base = await serve(readiness);
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.text(), health.headers.get('cache-control')]).toEqual([
      200,
      'ok\n',
      'no-store',
    ]);
    expect(healthRoutes(readiness).every((route) => route.open)).toBe(true);
    const posted = await fetch(`${base}/readyz`, { method: 'POST' });
    expect([posted.status, posted.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    const head = await fetch(`${base}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(503);
  });

  it('/readyz is 200 when every check passes, else 503 naming what is not ready', async () => {
    const readiness = new Readiness();
    let draining = false;
    readiness.add('upstreams', () => ({ ready: true, count: 3 }));
    readiness.add('draining', () =>
      draining ? { ready: false, reason: 'draining', count: 1 } : { ready: true },
    );
    const base = await serve(readiness);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('content-type')).toBe('application/json');
    expect(await ready.json()).toEqual({
      ready: true,
      checks: { upstreams: { ready: true, count: 3 }, draining: { ready: true } },
    });
    draining = true;
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      ready: false,
      checks: {
        upstreams: { ready: true, count: 3 },
        draining: { ready: false, reason: 'draining', count: 1 },
      },
    });
  });

  it('one more check (a state store) is one add; its error text is never shown, a hung one times out', async () => {
    const readiness = new Readiness();
    readiness.add('state', async () => {
      throw new Error('connect ECONNREFUSED redis://:hunter2@10.0.0.5:6379');
    });
    readiness.add('slow', () => new Promise(() => undefined));
    const base = await serve(readiness);
    const started = Date.now();
    const answer = await fetch(`${base}/readyz`);
    expect(Date.now() - started).toBeLessThan(CHECK_TIMEOUT_MS + 1_500);
    const text = await answer.text();
    expect(answer.status).toBe(503);
    expect(JSON.parse(text)).toEqual({
      ready: false,
      checks: { state: { ready: false, reason: 'failed' }, slow: { ready: false, reason: 'timeout' } },
    });
    expect(text).not.toMatch(/hunter2|10\.0\.0\.5|ECONNREFUSED/);
  });
});
