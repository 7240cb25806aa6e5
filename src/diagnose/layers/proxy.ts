/**
 * The proxy layer: which proxy patchbay's requests to this server go through (by the same rules
 * as every request, `proxyFor` in connect/network), from which variable, or why none does.
 */

import { PatchbayError } from '../../errors.js';
import { failed, passed, type Finding } from '../findings.js';
import { clean } from '../text.js';

export interface ProxyOutcome {
  finding: Finding;
  /** The proxy in use, or null for a direct connection; undefined when the settings are broken. */
  proxy?: URL | null;
}

export async function checkProxy(target: URL, env: NodeJS.ProcessEnv): Promise<ProxyOutcome> {
  const { proxyFor, describeProxy } = await import('../../connect/network.js');
  const family = target.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : ['http_proxy', 'HTTP_PROXY'];
  const variable = family.find((name) => (env[name] ?? '').trim() !== '');
  const noProxy = ['no_proxy', 'NO_PROXY'].find((name) => (env[name] ?? '').trim() !== '');
  let proxy: URL | null;
  try {
    proxy = proxyFor(target, env);
  } catch (error) {
    if (!(error instanceof PatchbayError)) throw error;
    return {
      finding: failed(
        'proxy',
        clean(error.message, 300),
        { variable: variable ?? null },
        error.hint ?? `Fix or unset ${variable ?? 'the proxy variable'}`,
      ),
    };
  }
  if (proxy) {
    return {
      proxy,
      finding: passed('proxy', `through ${describeProxy(proxy)} (from ${variable ?? 'the environment'})`, {
        proxy: describeProxy(proxy),
        variable: variable ?? null,
        // Plain http through an http proxy is forwarded; everything else is tunnelled (CONNECT).
        mode: target.protocol === 'http:' && proxy.protocol === 'http:' ? 'forward' : 'tunnel',
      }),
    };
  }
  if (variable)
    return {
      proxy: null,
      finding: passed(
        'proxy',
        `direct: ${noProxy ?? 'NO_PROXY'} lists ${target.hostname}, so ${variable} is not used`,
        {
          proxy: null,
          variable,
          noProxy: noProxy ?? null,
        },
      ),
    };
  return {
    proxy: null,
    finding: passed('proxy', `direct (no ${family[1]} or ${family[0]} set)`, { proxy: null }),
  };
}
