/** proxies.ts: X-Forwarded-* believed only from the configured proxies, IPv4 and IPv6 ranges. */

import type { IncomingMessage } from 'node:http';

import { describe, expect, it } from 'vitest';

import { peerOf, TrustedProxies } from '../../src/gateway/proxies.js';

/** What proxies.ts reads of a request: its TCP peer and its headers. */
function request(remoteAddress: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress, remotePort: 40_000 }, headers } as unknown as IncomingMessage;
}

describe('TrustedProxies', () => {
  const proxies = new TrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);

  it('matches single addresses and CIDR ranges of both families, IPv4-mapped IPv6 too', () => {
    for (const address of [
      '10.0.0.1',
      '10.255.255.255',
      '192.168.1.7',
      '::ffff:10.1.2.3',
      'fd00::1',
      'fdff:1::2',
      '::1',
    ])
      expect(proxies.trusts(address), address).toBe(true);
    for (const address of [
      '11.0.0.1',
      '192.168.1.8',
      '127.0.0.1',
      'fe80::1',
      '2001:db8::1',
      '::2',
      'not-an-ip',
      undefined,
    ])
      expect(proxies.trusts(address), String(address)).toBe(false);
  });

  it('refuses what is not an address or a range, naming it', () => {
    for (const entry of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.1/8/9', '10.0.0.0/x', ''])
      expect(() => new TrustedProxies([entry]), entry).toThrow(/is not an IP address or CIDR range/);
  });

  it('believes the forwarded headers from a trusted peer: the client is the rightmost untrusted address', () => {
    const forwarded = proxies.forwarded(
      request('10.0.0.5', {
        'x-forwarded-for': '198.51.100.9, 203.0.113.7, 10.0.0.9',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'mcp.example.com',
      }),
    );
    // 198.51.100.9 may be anything the client wrote; 203.0.113.7 is who reached the first proxy.
    expect(forwarded).toEqual({ client: '203.0.113.7', proto: 'https', host: 'mcp.example.com' });
    expect(peerOf(request('10.0.0.5'), forwarded)).toBe('203.0.113.7');
    const v6 = proxies.forwarded(request('fd00::3', { 'x-forwarded-for': '2001:db8::42' }));
    expect(v6).toEqual({ client: '2001:db8::42' });
  });

  it('ignores them from anyone else', () => {
    const headers = {
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
    };
    expect(proxies.forwarded(request('203.0.113.50', headers))).toBeUndefined();
    expect(proxies.forwarded(request('2001:db8::1', headers))).toBeUndefined();
    expect(peerOf(request('203.0.113.50', headers), undefined)).toBe('203.0.113.50:40000');
    expect(peerOf(request('2001:db8::1', headers), undefined)).toBe('[2001:db8::1]:40000');
  });

  it('stops at a forwarded address that is not one, and drops an unknown protocol', () => {
    expect(
      proxies.forwarded(
        request('10.0.0.5', { 'x-forwarded-for': 'junk, 203.0.113.7', 'x-forwarded-proto': 'gopher' }),
      ),
    ).toEqual({ client: '203.0.113.7' });
    expect(proxies.forwarded(request('10.0.0.5', { 'x-forwarded-for': '203.0.113.7, junk' }))).toEqual({});
    // Only proxies in the chain: the leftmost is the best there is.
    expect(proxies.forwarded(request('10.0.0.5', { 'x-forwarded-for': '10.0.0.8, 10.0.0.9' }))).toEqual({
      client: '10.0.0.8',
    });
  });
});
