/**
 * A gateway behind a TLS-terminating proxy (`--trust-proxy`, a deployment's `trustedProxies`):
 * the `X-Forwarded-For`, `-Proto` and `-Host` headers are believed only when the TCP peer is one
 * of the configured addresses or ranges (IPv4 and IPv6 CIDR, on node's `net.BlockList`). From
 * anyone else they are ignored: any client can write them.
 */

import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

import { PatchbayError } from '../errors.js';

/** What the trusted proxy says about the request it forwarded. */
export interface Forwarded {
  /** The client's address (no port: the proxy does not say it). */
  client?: string;
  proto?: 'http' | 'https';
  /** The Host the client sent to the proxy. */
  host?: string;
}

export class TrustedProxies {
  readonly #list = new BlockList();

  /** `entries`: addresses or CIDR ranges; a wrong one is a usage error naming it and `source`. */
  constructor(entries: string[], source = '--trust-proxy') {
    for (const entry of entries) {
      const [address = '', prefix, ...rest] = entry.trim().split('/');
      const family = isIP(address);
      const bits = prefix === undefined ? undefined : Number(prefix);
      const max = family === 6 ? 128 : 32;
      if (
        family === 0 ||
        rest.length > 0 ||
        (bits !== undefined && !(/^\d{1,3}$/.test(prefix!) && bits <= max))
      )
        throw new PatchbayError(
          'usage',
          `${source}: ${JSON.stringify(entry)} is not an IP address or CIDR range.`,
          { hint: 'For example: --trust-proxy 10.0.0.0/8,fd00::/8,127.0.0.1' },
        );
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#list.addAddress(address, type);
      else this.#list.addSubnet(address, bits, type);
    }
  }

  /** Is this peer address one of the proxies (an IPv4 address seen as `::ffff:a.b.c.d` too)? */
  trusts(address: string | undefined): boolean {
    if (!address) return false;
    const plain = unmapped(address);
    const family = isIP(plain);
    return family !== 0 && this.#list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The forwarded headers of `req` when its TCP peer is trusted; undefined otherwise (they are
   * then to be ignored). The client is the rightmost `X-Forwarded-For` address that is not
   * itself a trusted proxy (each proxy appends the address it was reached from).
   */
  forwarded(req: IncomingMessage): Forwarded | undefined {
    if (!this.trusts(req.socket.remoteAddress)) return undefined;
    const forwarded: Forwarded = {};
    const chain = listOf(req.headers['x-forwarded-for']);
    for (let index = chain.length - 1; index >= 0; index--) {
      const address = unmapped(chain[index]!.replace(/^\[|\]$/g, ''));
      if (isIP(address) === 0) break;
      forwarded.client = address;
      if (!this.trusts(address)) break;
    }
    const proto = listOf(req.headers['x-forwarded-proto']).at(-1)?.toLowerCase();
    if (proto === 'http' || proto === 'https') forwarded.proto = proto;
    const host = listOf(req.headers['x-forwarded-host']).at(-1);
    if (host) forwarded.host = host;
    return forwarded;
  }
}

/** The audit's peer of a request: the forwarded client when a trusted proxy names one, else `address:port`. */
export function peerOf(req: IncomingMessage, forwarded: Forwarded | undefined): string | undefined {
  if (forwarded?.client) return forwarded.client;
  const { remoteAddress, remotePort } = req.socket;
  if (!remoteAddress) return undefined;
  return `${remoteAddress.includes(':') ? `[${remoteAddress}]` : remoteAddress}:${remotePort}`;
}

function listOf(header: string | string[] | undefined): string[] {
  return (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/** An IPv4 address as itself, also when a dual-stack socket shows it as `::ffff:a.b.c.d`. */
export function unmapped(address: string): string {
  const match = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return match ? match[1]! : address;
}
