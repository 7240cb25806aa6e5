/** The TCP layer: does anything accept a connection at host:port. */

import { connect, type Socket } from 'node:net';

import { formatDuration, isDeadline, type Deadline } from '../../core/deadline.js';
import { failed, passed, type Finding } from '../findings.js';
import { errorCode } from '../text.js';
import type { ResolvedAddress } from './dns.js';

export interface TcpOutcome {
  finding: Finding;
  /** The open connection, for the TLS layer to handshake on; the caller destroys it. */
  socket?: Socket;
}

/**
 * Tries each address in turn (as fetch's happy-eyeballs would: `localhost` may resolve to ::1
 * first while the server listens on 127.0.0.1 only) until one accepts or the budget runs out.
 */
export async function checkTcp(
  host: string,
  addresses: ResolvedAddress[],
  port: number,
  deadline: Deadline,
  options: { role?: 'server' | 'proxy'; fix: string },
): Promise<TcpOutcome> {
  const prefix = options.role === 'proxy' ? 'proxy ' : '';
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const errors: string[] = [];
  for (let i = 0; i < addresses.length; i++) {
    const { address } = addresses[i]!;
    const last = i === addresses.length - 1;
    // Leave time for the other addresses when there are some.
    const attemptMs = last ? deadline.remainingMs() : Math.min(deadline.remainingMs(), 3_000);
    const started = deadline.elapsedMs();
    try {
      const socket = await openSocket(address, port, attemptMs, deadline.signal);
      return {
        socket,
        finding: passed('tcp', `${prefix}${where} accepts connections (${address})`, {
          address,
          port,
          connectMs: deadline.elapsedMs() - started,
        }),
      };
    } catch (error) {
      if (isDeadline(error)) {
        errors.push('timeout');
        break;
      }
      errors.push(errorCode(error) ?? 'error');
    }
  }
  const evidence = { addresses: addresses.map((a) => a.address).join(', '), port, errors: errors.join(', ') };
  const codes = new Set(errors);
  if (codes.has('timeout') || codes.has('ETIMEDOUT'))
    return {
      finding: failed(
        'tcp',
        `no answer from ${prefix}${where} within ${formatDuration(deadline.budgetMs)} (a firewall dropping packets, or the host is down)`,
        evidence,
        options.fix,
      ),
    };
  if (codes.has('ECONNREFUSED'))
    return {
      finding: failed(
        'tcp',
        `nothing listening on ${prefix}${where} (connection refused)`,
        evidence,
        options.fix,
      ),
    };
  if (codes.has('EHOSTUNREACH') || codes.has('ENETUNREACH'))
    return {
      finding: failed(
        'tcp',
        `no route to ${prefix}${where}`,
        evidence,
        'Check your network connection (is a VPN needed?)',
      ),
    };
  return {
    finding: failed(
      'tcp',
      `could not connect to ${prefix}${where} (${errors.join(', ')})`,
      evidence,
      options.fix,
    ),
  };
}

class AttemptTimeout extends Error {
  readonly code = 'ETIMEDOUT';
}

function openSocket(address: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const socket = connect({ host: address, port });
    const settle = (error?: Error) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('connect');
      socket.removeAllListeners('error');
      if (error) {
        socket.destroy();
        reject(error);
        return;
      }
      // A later reset must not crash the process while the socket waits for the TLS layer.
      socket.on('error', () => undefined);
      resolve(socket);
    };
    const onAbort = () => settle(signal.reason as Error);
    const timer = setTimeout(() => settle(new AttemptTimeout('connect timeout')), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => settle());
    socket.once('error', (error) => settle(error));
  });
}
