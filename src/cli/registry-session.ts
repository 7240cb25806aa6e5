/**
 * What search and add --from-registry share: the registry to ask, an HttpClient for it (proxies and
 * CAs as every request), and a deadline that Ctrl-C also ends.
 */

import type { RegistryRequest } from '../connect/registry-api.js';
import { timeoutFrom } from './health.js';
import type { Io } from './io.js';

export async function withRegistry<T>(
  io: Io,
  registryFlag: string | undefined,
  timeoutFlag: string | undefined,
  run: (request: RegistryRequest) => Promise<T>,
): Promise<T> {
  const [{ registryUrl }, { createHttpClient }] = await Promise.all([
    import('../connect/registry-api.js'),
    import('../connect/network.js'),
  ]);
  const base = registryUrl(registryFlag, io.env);
  const timeoutMs = timeoutFrom(timeoutFlag, io.env);
  const http = await createHttpClient({ env: io.env, connectTimeoutMs: timeoutMs });
  const signals = [AbortSignal.timeout(timeoutMs), ...(io.interrupt ? [io.interrupt] : [])];
  try {
    return await run({ http, base, signal: AbortSignal.any(signals) });
  } finally {
    await http.close();
  }
}
