/** The DNS layer: does the host name resolve, and to what. */

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import { formatDuration, isDeadline, type Deadline } from '../../core/deadline.js';
import { failed, passed, type Finding } from '../findings.js';
import { errorCode } from '../text.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

export interface DnsOutcome {
  finding: Finding;
  addresses?: ResolvedAddress[];
}

/**
 * @param host bare host name or IP literal (no brackets)
 * @param role what the host is, for the summary: the server, or the proxy in front of it
 */
export async function checkDns(
  host: string,
  deadline: Deadline,
  options: { role?: 'server' | 'proxy'; urlFix: string },
): Promise<DnsOutcome> {
  const prefix = options.role === 'proxy' ? 'proxy ' : '';
  const family = isIP(host);
  if (family !== 0) {
    return {
      addresses: [{ address: host, family }],
      finding: passed('dns', `${prefix}${host} is an IP address (no lookup needed)`, {
        host,
        addresses: host,
      }),
    };
  }
  // RFC 6761: .invalid never resolves; asking a resolver anyway can only waste the time budget.
  if (/(^|\.)invalid\.?$/i.test(host)) {
    return {
      finding: failed(
        'dns',
        `DNS name not found: ${prefix}${host} (.invalid names never resolve)`,
        { host, code: 'ENOTFOUND' },
        options.urlFix,
      ),
    };
  }
  const started = deadline.elapsedMs();
  try {
    const found = await deadline.race(lookup(host, { all: true, verbatim: true }));
    const lookupMs = deadline.elapsedMs() - started;
    const addresses = found.map(({ address, family: addressFamily }) => ({ address, family: addressFamily }));
    if (addresses.length === 0)
      return {
        finding: failed('dns', `DNS name has no addresses: ${prefix}${host}`, { host }, options.urlFix),
      };
    return {
      addresses,
      finding: passed('dns', `${prefix}${host} → ${addresses.map((a) => a.address).join(', ')}`, {
        host,
        addresses: addresses.map((a) => a.address).join(', '),
        lookupMs,
      }),
    };
  } catch (error) {
    if (isDeadline(error))
      return {
        finding: failed(
          'dns',
          `DNS lookup of ${prefix}${host} did not finish within ${formatDuration(error.budgetMs)}`,
          { host, code: 'timeout' },
          'Check your network and DNS settings (is a VPN needed?)',
        ),
      };
    const code = errorCode(error) ?? 'unknown';
    if (code === 'ENOTFOUND' || code === 'ENODATA')
      return {
        finding: failed('dns', `DNS name not found: ${prefix}${host}`, { host, code }, options.urlFix),
      };
    if (code === 'EAI_AGAIN')
      return {
        finding: failed(
          'dns',
          `DNS lookup of ${prefix}${host} failed for now (offline, or the DNS server is unreachable)`,
          { host, code },
          'Check your network connection and DNS settings, then run the doctor again',
        ),
      };
    return {
      finding: failed(
        'dns',
        `DNS lookup of ${prefix}${host} failed (${code})`,
        { host, code },
        options.urlFix,
      ),
    };
  }
}
