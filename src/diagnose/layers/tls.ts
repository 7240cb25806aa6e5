/**
 * The TLS layer: a handshake of our own on the TCP connection (or the proxy tunnel), with the
 * same trust as patchbay's requests, and the certificate read back: who it is for, who issued
 * it, when it expires, and why it is not trusted when it is not.
 */

import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { connect as tlsConnect, rootCertificates, type PeerCertificate, type TLSSocket } from 'node:tls';

import { formatDuration, isDeadline, type Deadline } from '../../core/deadline.js';
import { failed, passed, warned, type Evidence, type Finding } from '../findings.js';
import { addCommand } from '../fixes.js';
import { clean, errorCode } from '../text.js';
import type { LayerContext } from './context.js';

/** Below this many days left, a valid certificate draws a warning. */
export const EXPIRY_WARNING_DAYS = 14;

export interface TlsMaterial {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer | Array<string | Buffer>;
  key?: string | Buffer | Array<string | Buffer>;
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

const DAY_MS = 86_400_000;
/** How long to listen, after the handshake, for a server's verdict on the client certificate. */
const CLIENT_CERT_VERDICT_MS = 250;

export async function checkTls(
  context: LayerContext,
  socket: Socket,
  host: string,
  material: TlsMaterial,
): Promise<Finding> {
  const { deadline } = context;
  let secure: TLSSocket | undefined;
  try {
    secure = await handshake(socket, host, material, deadline);
    const certificate = secure.getPeerCertificate(false);
    const evidence = certificateEvidence(certificate, secure);
    const authorizationError = secure.authorized ? null : String(secure.authorizationError ?? 'unknown');
    evidence.authorized = secure.authorized;
    evidence.authorizationError = authorizationError;
    const issuer = String(evidence.issuer ?? 'an unknown issuer');
    if (authorizationError) return rejected(context, host, authorizationError, evidence, issuer);

    // TLS 1.3 finishes the client's side of the handshake before the server has judged the
    // client's certificate; a server that wants one (mTLS) says so with an alert just after.
    const alert = await lateAlert(secure, Math.min(CLIENT_CERT_VERDICT_MS, deadline.remainingMs()));
    if (alert) {
      evidence.alert = alert;
      const hasCertificate = context.entry.tls?.certFile !== undefined;
      evidence.clientCertificate = hasCertificate;
      return failed(
        'tls',
        hasCertificate
          ? `the server rejected patchbay's client certificate (${alert})`
          : `the server wants a client certificate (mutual TLS) and patchbay has none (${alert})`,
        evidence,
        hasCertificate
          ? "Check that the client certificate is one the server's CA signed, and not expired"
          : addCommand(context.name, context.scope, context.template, {
              extraFlags: ['--client-cert', '/path/to/client.pem', '--client-key', '/path/to/client.key'],
            }),
      );
    }

    const daysLeft = typeof evidence.daysLeft === 'number' ? evidence.daysLeft : undefined;
    const validTo = String(evidence.validTo ?? '');
    if (daysLeft !== undefined && daysLeft < EXPIRY_WARNING_DAYS)
      return warned(
        'tls',
        `certificate expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}, on ${validTo} (issuer: ${issuer})`,
        evidence,
        "Ask the server's operator to renew its certificate",
      );
    return passed(
      'tls',
      `${String(evidence.protocol ?? 'TLS')}, certificate for ${String(evidence.names ?? host)} issued by ${issuer}, valid until ${validTo}`,
      evidence,
    );
  } catch (error) {
    if (isDeadline(error))
      return failed(
        'tls',
        `no TLS handshake with ${host} within ${formatDuration(error.budgetMs)}`,
        { host },
        'Check that the port serves https (and that no proxy is required)',
      );
    const code = errorCode(error) ?? 'error';
    if (
      code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
      code === 'EPROTO' ||
      /wrong version number/i.test(String(error))
    )
      return failed(
        'tls',
        `TLS handshake with ${host} failed: the server does not speak TLS on this port (is it http://?)`,
        { host, code },
        `If the server is plain http: ${addCommand(context.name, context.scope, context.template, { url: (context.template.url ?? '').replace(/^https:/i, 'http:') })}`,
      );
    if (/certificate required|handshake failure|bad certificate/i.test(String(error)))
      return failed(
        'tls',
        `TLS handshake with ${host} failed: the server wants a client certificate patchbay does not have, or rejected it (${clean(String(code))})`,
        { host, code, clientCertificate: context.entry.tls?.certFile !== undefined },
        addCommand(context.name, context.scope, context.template, {}) +
          ' --client-cert /path/to/client.pem --client-key /path/to/client.key',
      );
    return failed(
      'tls',
      `TLS handshake with ${host} failed (${clean(code)})`,
      { host, code },
      'Check that the URL is right and the server serves https on this port',
    );
  } finally {
    secure?.destroy();
    socket.destroy();
  }
}

function rejected(
  context: LayerContext,
  host: string,
  code: string,
  evidence: Evidence,
  issuer: string,
): Finding {
  if (code === 'CERT_HAS_EXPIRED')
    return failed(
      'tls',
      `certificate expired on ${String(evidence.validTo)} (issuer: ${issuer})`,
      evidence,
      "The server's certificate must be renewed by its operator; patchbay will not connect to it meanwhile",
    );
  if (code === 'CERT_NOT_YET_VALID')
    return failed(
      'tls',
      `certificate not valid before ${String(evidence.validFrom)} (issuer: ${issuer})`,
      evidence,
      "Check this computer's clock; otherwise the server's certificate is dated in the future",
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /does not match|altname/i.test(code)) {
    const names = typeof evidence.names === 'string' ? evidence.names.split(', ') : [];
    const other = names.find((name) => !name.startsWith('*'));
    const url = other ? withHost(context.template.url ?? '', other) : undefined;
    return failed(
      'tls',
      `certificate is for ${names.length > 0 ? names.join(', ') : 'other names'}, not ${host} (issuer: ${issuer})`,
      evidence,
      url
        ? `Use a URL whose host is on the certificate: ${addCommand(context.name, context.scope, context.template, { url })}`
        : "Use a URL whose host is on the certificate, or ask the server's operator for a certificate for this name",
    );
  }
  if (UNTRUSTED.has(code))
    return failed(
      'tls',
      `certificate not trusted: ${code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? 'it is self-signed' : `issued by ${issuer}, which is not a trusted CA`} (${code})`,
      evidence,
      `Trust the CA that issued it: ${addCommand(context.name, context.scope, context.template, { caFile: '/path/to/ca.pem' })}   or for every server: export NODE_EXTRA_CA_CERTS=/path/to/ca.pem`,
    );
  return failed('tls', `certificate rejected (${clean(code)}; issuer: ${issuer})`, evidence);
}

/** The URL as configured with another host (templates elsewhere in it kept as written). */
function withHost(template: string, host: string): string | undefined {
  const match = /^(https?:\/\/)(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)(.*)$/i.exec(template);
  if (!match) return undefined;
  return `${match[1]}${isIP(host) === 6 ? `[${host}]` : host}${match[3]}`;
}

/** The alert (error code) the server sends within `waitMs` of the handshake, if any. */
function lateAlert(secure: TLSSocket, waitMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const finish = (alert: string | undefined) => {
      clearTimeout(timer);
      secure.off('error', onError);
      secure.off('close', onClose);
      resolve(alert);
    };
    const onError = (error: Error) => finish(clean(errorCode(error) ?? error.message, 80));
    const onClose = () => finish('the server closed the connection');
    const timer = setTimeout(() => finish(undefined), waitMs);
    secure.on('error', onError);
    secure.once('close', onClose);
  });
}

function handshake(
  socket: Socket,
  host: string,
  material: TlsMaterial,
  deadline: Deadline,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const signal = deadline.signal;
    if (signal.aborted) return reject(signal.reason as Error);
    const ca = material.ca === undefined ? undefined : [...rootCertificates, ...[material.ca].flat()];
    const secure = tlsConnect({
      socket,
      // Checked against the certificate's names (an IP literal against its IP names).
      host,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(ca ? { ca } : {}),
      ...(material.cert ? { cert: material.cert } : {}),
      ...(material.key ? { key: material.key } : {}),
      // Read the certificate whatever it is; authorized/authorizationError carry the verdict.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const settle = (error?: Error) => {
      signal.removeEventListener('abort', onAbort);
      secure.removeAllListeners('secureConnect');
      secure.removeAllListeners('error');
      secure.on('error', () => undefined);
      if (error) {
        secure.destroy();
        reject(error);
      } else resolve(secure);
    };
    const onAbort = () => settle(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    secure.once('secureConnect', () => settle());
    secure.once('error', (error) => settle(error));
  });
}

function certificateEvidence(certificate: PeerCertificate, secure: TLSSocket): Evidence {
  const evidence: Evidence = { protocol: secure.getProtocol() ?? null };
  if (!certificate || Object.keys(certificate).length === 0) return evidence;
  evidence.subject = nameOf(certificate.subject);
  evidence.issuer = nameOf(certificate.issuer);
  const names = (certificate.subjectaltname ?? '')
    .split(',')
    .map((name) => name.trim().replace(/^(DNS|IP Address):/, ''))
    .filter(Boolean);
  evidence.names = names.length > 0 ? clean(names.join(', '), 300) : null;
  const validFrom = new Date(certificate.valid_from);
  const validTo = new Date(certificate.valid_to);
  evidence.validFrom = Number.isNaN(validFrom.getTime()) ? null : validFrom.toISOString().slice(0, 10);
  evidence.validTo = Number.isNaN(validTo.getTime()) ? null : validTo.toISOString().slice(0, 10);
  evidence.daysLeft = Number.isNaN(validTo.getTime())
    ? null
    : Math.floor((validTo.getTime() - Date.now()) / DAY_MS);
  evidence.fingerprint256 = certificate.fingerprint256 ?? null;
  return evidence;
}

function nameOf(name: PeerCertificate['subject'] | undefined): string | null {
  if (!name) return null;
  const pick = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
  const text = pick(name.CN) ?? pick(name.O) ?? null;
  return text === null ? null : clean(text, 120);
}
