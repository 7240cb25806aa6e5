/**
 * A CONNECT tunnel through an http proxy, so the TLS layer can handshake with the origin the way
 * patchbay's requests will: TCP to the proxy, CONNECT host:port, then TLS inside.
 */

import type { Socket } from 'node:net';

import { formatDuration, isDeadline, type Deadline } from '../../core/deadline.js';
import { failed, passed, type Finding } from '../findings.js';
import { clean } from '../text.js';

const MAX_HEAD_BYTES = 16 * 1024;

export interface TunnelOutcome {
  finding: Finding;
  /** Open to the origin when the proxy said 200. */
  socket?: Socket;
}

export async function openTunnel(
  socket: Socket,
  proxy: URL,
  host: string,
  port: number,
  deadline: Deadline,
): Promise<TunnelOutcome> {
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (proxy.username) {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    lines.push(`Proxy-Authorization: Basic ${Buffer.from(credentials).toString('base64')}`);
  }
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  try {
    const head = await readHead(socket, deadline);
    const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(head.statusLine);
    const code = status ? Number(status[1]) : undefined;
    const evidence = { through: 'proxy', status: code ?? null, target: authority };
    if (code === 200) {
      if (head.rest.length > 0) socket.unshift(head.rest);
      return { socket, finding: passed('tcp', `the proxy opened a tunnel to ${authority}`, evidence) };
    }
    socket.destroy();
    const text = clean(status?.[2] ?? head.statusLine, 80);
    if (code === 407)
      return {
        finding: failed(
          'tcp',
          `the proxy wants credentials to open a tunnel to ${authority} (HTTP 407 ${text})`,
          evidence,
          'Put them in the proxy URL: export HTTPS_PROXY=http://user:password@proxy-host:port',
        ),
      };
    return {
      finding: failed(
        'tcp',
        `the proxy refused to open a tunnel to ${authority} (HTTP ${code ?? '?'} ${text})`,
        evidence,
        `Ask the proxy's administrator to allow ${authority}, or list the host in NO_PROXY if it is reachable directly`,
      ),
    };
  } catch (error) {
    socket.destroy();
    const why = isDeadline(error)
      ? `no answer to CONNECT within ${formatDuration(error.budgetMs)}`
      : `the proxy closed the connection (${clean(String(error), 80)})`;
    return {
      finding: failed('tcp', `no tunnel through the proxy to ${authority}: ${why}`, {
        through: 'proxy',
        target: authority,
      }),
    };
  }
}

function readHead(socket: Socket, deadline: Deadline): Promise<{ statusLine: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const signal = deadline.signal;
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buffered.length > MAX_HEAD_BYTES) {
          cleanup();
          reject(new Error('the answer to CONNECT is too long'));
        }
        return;
      }
      cleanup();
      socket.pause();
      const head = buffered.subarray(0, end).toString('latin1');
      resolve({ statusLine: head.split('\r\n', 1)[0] ?? '', rest: buffered.subarray(end + 4) });
    };
    const onClose = () => {
      cleanup();
      reject(new Error('closed'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onAbort = () => {
      cleanup();
      reject(signal.reason as Error);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', onError);
  });
}
