/**
 * `startGateway` (src/gateway/serve.ts), the listener `patchbay serve --http` runs, started in
 * this process on a loopback port: for tests that reach inside it (its metrics, its spans, its
 * authorization server) rather than run the built binary. The registry is read from `home`'s
 * config files, as the CLI reads it.
 */

import { PassThrough } from 'node:stream';

import { createContext, loadRegistry } from '../../src/config/registry.js';
import type { Paths } from '../../src/core/paths.js';
import { startGateway, type StartOptions } from '../../src/gateway/serve.js';

export interface InProcessGateway {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  /** Stop it and wait until it has closed. */
  stop(): Promise<void>;
}

export async function startInProcessGateway(setup: {
  env: NodeJS.ProcessEnv;
  home: string;
  paths: Paths;
  /** The deployment file's settings and the rest of serve's options (the timeout, trusted proxies). */
  options?: Partial<Pick<StartOptions, 'deployment' | 'trustedProxies' | 'timeoutMs'>>;
  onWarning?: (message: string) => void;
}): Promise<InProcessGateway> {
  const { env, home, paths } = setup;
  const stop = new AbortController();
  const running = await startGateway(
    {
      http: { host: '127.0.0.1', port: 0 },
      servers: undefined,
      noAuth: false,
      timeoutMs: 10_000,
      logArguments: false,
      ...setup.options,
    },
    {
      env,
      paths,
      cwd: home,
      version: '0.0.0-test',
      stdin: new PassThrough(),
      stop: stop.signal,
      load: () => loadRegistry(createContext(env, home, paths)),
      onWarning: setup.onWarning ?? (() => undefined),
      onReloaded: () => undefined,
      onReloadFailed: () => undefined,
    },
  );
  return {
    url: running.url!,
    stop: async () => {
      stop.abort();
      await running.done;
    },
  };
}
