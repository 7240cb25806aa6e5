/**
 * `connect(entry, options) → Session`: the one way every command reaches a server, on the SDK
 * client. Streamable HTTP in both protocol eras (2026-07-28 `server/discover`, else the 2025-era
 * `initialize` with a session), legacy HTTP+SSE (also as the spec's fallback for an `http` entry
 * whose server speaks only that), and stdio through patchbay's own transport.
 *
 * Every wait is bounded by the connect timeout and the caller's signal. Reasons never hold a
 * configured header or environment value, nor a headersHelper's output. The SDK, undici and the
 * transports are loaded lazily, so commands that need no network never pay for them.
 *
 * The parts: prepare.ts (the entry, headers, HTTP client and credentials), attempt.ts (one client
 * and transport, era hints, the SSE fallback rule), explain.ts (why it failed), live-session.ts
 * (the Session), deadline.ts (the connect deadline on core/deadline.ts), session-types.ts (the
 * options and the Session type, re-exported here).
 */

import { performance } from 'node:perf_hooks';

import type { ServerEntry } from '../config/entry.js';
import { resolvePaths } from '../core/paths.js';
import { secretValues } from './classify.js';
import {
  Attempt,
  knownLegacyQuietly,
  openHinted,
  shouldTrySse,
  type Dialer,
  type Opened,
} from './attempt.js';
import { connectDeadline } from './deadline.js';
import { describeConnectFailure, redactFailure } from './explain.js';
import { LiveSession } from './live-session.js';
import type { HttpClient } from './network.js';
import { checkEntry, createHttp, credentialsFor, runHelper } from './prepare.js';
import type { ClientModule, ConnectOptions, ResolvedConnectOptions, Session } from './session-types.js';

export { ConnectError, type ConnectFailureStatus, type ConnectStep } from './connect-error.js';
export type { ConnectOptions, ServerIdentity, Session } from './session-types.js';

export async function connect(entry: ServerEntry, given: ConnectOptions): Promise<Session> {
  const started = performance.now();
  const options: ResolvedConnectOptions = {
    ...given,
    paths: given.paths ?? resolvePaths(given.env ?? process.env),
  };
  const secrets = secretValues(entry);
  const target = checkEntry(entry);
  const deadline = connectDeadline(options.timeoutMs, options.signal);
  let http: HttpClient | undefined;
  let attempt: Attempt | undefined;
  let sdk: ClientModule | undefined;
  try {
    sdk = await deadline.race(import('@modelcontextprotocol/client'));
    const headers = { ...entry.headers };
    if (target.transport !== 'stdio') {
      if (entry.headersHelper) {
        const extra = await runHelper(entry.headersHelper, target.url, options, deadline);
        secrets.push(...Object.values(extra).filter((value) => value.length >= 6));
        Object.assign(headers, extra);
      }
      http = await createHttp(entry, options);
    }
    const { login, tokens } =
      target.transport === 'stdio' || !http
        ? {}
        : await credentialsFor(entry, target.url, headers, options, http, secrets);
    if (login?.kind === 'valid') secrets.push(login.accessToken);
    const dialer: Dialer = { sdk, entry, target, options, headers, http, secrets, login, tokens };
    attempt = new Attempt(dialer, deadline);
    const hints = target.transport === 'http' ? (options.eraHints ?? 'off') : 'off';
    const hintUrl = entry.url ?? '';
    let opened: Opened;
    let fellBack = false;
    try {
      opened = await openHinted(
        attempt,
        hints !== 'off' && (await knownLegacyQuietly(hintUrl, options)),
        deadline,
      );
    } catch (error) {
      if (!shouldTrySse(error, dialer, deadline)) throw error;
      // The spec's backwards-compatibility rule: a 4xx to the POST means "try GET for an SSE stream".
      await attempt.abandon();
      try {
        opened = await attempt.open('sse');
        fellBack = true;
      } catch {
        await attempt.abandon();
        throw error;
      }
    }
    const session = new LiveSession(dialer, opened, fellBack, Math.round(performance.now() - started));
    if (hints === 'read-write' && !fellBack) {
      const { processEraHints } = await import('./era-hints.js');
      await (options.eraHintCache ?? processEraHints).rememberEra(hintUrl, session.era, options.paths);
    }
    return session;
  } catch (error) {
    const failure = await describeConnectFailure(error, { deadline, attempt, sdk, entry, target, options });
    await attempt?.abandon();
    await http?.close();
    throw redactFailure(failure, secrets);
  } finally {
    deadline.dispose();
  }
}
