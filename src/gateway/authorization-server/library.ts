/**
 * oidc-provider, loaded when an authorization server starts (the gateway's own, the demo's), never
 * before: a command that runs none does not pay for it.
 *
 * Its entry module warns "Unsupported runtime" on any Node.js that is not a 22+ LTS. patchbay
 * supports Node 20.18 and later (the two newer APIs oidc-provider uses, URL.parse and crypto.hash,
 * are there) and runs its tests there; the warning would only alarm the person starting the
 * gateway or the demo, and break the gateway's JSON logs. That one message is held back while the
 * module loads; every other one goes through.
 */

type OidcProviderModule = typeof import('oidc-provider');

const UNSUPPORTED_RUNTIME = 'oidc-provider WARNING: Unsupported runtime.';

let loading: Promise<OidcProviderModule> | undefined;

export function loadOidcProvider(): Promise<OidcProviderModule> {
  loading ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].startsWith(UNSUPPORTED_RUNTIME)) return;
      warn.apply(console, args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return loading;
}
