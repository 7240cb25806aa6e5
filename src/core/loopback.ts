/**
 * The one loopback check: is this host name this computer?
 *
 * Loopback is `localhost`, 127.0.0.0/8 and `::1` (bare or in brackets, as `URL.hostname` writes
 * it). Names under `.localhost` are loopback too by RFC 6761, but only where the resolver honours
 * that; a check that lets a browser or a redirect go somewhere must not rely on it, so it passes
 * `{ localhostSubdomains: false }`.
 */

export interface LoopbackRule {
  /**
   * Accept `*.localhost` (RFC 6761). Default true: where patchbay listens or picks a scheme
   * (config, serve, gateway, demo, diagnose, revocation). False where the answer lets a browser or
   * a redirect through (auth/browser, auth/paste, auth/callback).
   */
  localhostSubdomains?: boolean;
}

const IPV4_LOOPBACK = /^127(?:\.\d{1,3}){3}$/;

export function isLoopbackHost(hostname: string, rule: LoopbackRule = {}): boolean {
  const host = hostname.toLowerCase();
  if (host === '::1' || host === '[::1]') return true;
  if (host.startsWith('[') || host.endsWith(']')) return false;
  if (host === 'localhost' || IPV4_LOOPBACK.test(host)) return true;
  return (rule.localhostSubdomains ?? true) && host.endsWith('.localhost');
}
