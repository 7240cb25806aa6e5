/**
 * `/healthz` and `/readyz` of a gateway listener, for a load balancer or an orchestrator:
 *
 * - `/healthz`: the process is up and answering, 200 `ok`. Nothing else is looked at: a gateway
 *   whose upstreams are all down is still alive (restarting it would not bring them back).
 * - `/readyz`: it may be sent requests. Every named check must pass; else 503 with a JSON body
 *   saying which do not. Checks are added by whoever owns the thing checked (the listener, the
 *   front door, the upstream configuration, a state store), each with its own name.
 *
 * Both answer anyone without authentication, so they say nothing but states and counts: no
 * server name, no address, no error text (which may carry a host name or a credential).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

import type { GatewayRoute } from './inbound.js';

export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';

/** A check's answer: ready (with a count, where one says something), or not, with a short fixed reason. */
export type CheckResult = { ready: true; count?: number } | { ready: false; reason: string; count?: number };

export type ReadinessCheck = () => CheckResult | Promise<CheckResult>;

/** A check that does not answer within this is not ready ("timeout"): a probe must not hang. */
export const CHECK_TIMEOUT_MS = 2_000;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

/** The named checks that decide `/readyz`, in the order they were added. */
export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();

  /** Adds (or replaces) the check of this name. */
  add(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  async report(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.#checks].map(async ([name, check]) => [name, await bounded(check)] as const),
    );
    return { ready: entries.every(([, result]) => result.ready), checks: Object.fromEntries(entries) };
  }
}

async function bounded(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<CheckResult>((resolve) => {
        timer = setTimeout(() => resolve({ ready: false, reason: 'timeout' }), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch {
    // The error's text stays here: it may name a host or carry a credential.
    return { ready: false, reason: 'failed' };
  } finally {
    clearTimeout(timer);
  }
}

/** The two routes, served before the Host check and the front door (see GatewayRoute.open). */
export function healthRoutes(readiness: Readiness): GatewayRoute[] {
  return [
    {
      path: HEALTH_PATH,
      open: true,
      handle(req, res) {
        if (!readOnly(req, res)) return;
        answer(res, 200, 'text/plain; charset=utf-8', 'ok\n', req.method === 'HEAD');
      },
    },
    {
      path: READY_PATH,
      open: true,
      async handle(req, res) {
        if (!readOnly(req, res)) return;
        const report = await readiness.report();
        answer(
          res,
          report.ready ? 200 : 503,
          'application/json',
          `${JSON.stringify(report)}\n`,
          req.method === 'HEAD',
        );
      },
    },
  ];
}

function readOnly(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.setHeader('Allow', 'GET, HEAD');
  answer(res, 405, 'text/plain; charset=utf-8', 'Method not allowed.\n', false);
  return false;
}

function answer(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(head ? undefined : body);
}
