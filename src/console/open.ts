/**
 * Using a server from the console: opened as `patchbay call`, `read` and `prompt` open it (its
 * login refreshed when needed), closed whatever happens, and a failure explained as `list`
 * explains it. The console answers no requests from the server (it declares no client
 * capabilities), so a server cannot ask the page anything in the middle of a call.
 */

import { PatchbayError } from '../errors.js';
import type { EffectiveServer, Registry } from '../config/registry.js';
import { staticState } from '../config/status.js';
import type { Session } from '../connect/session.js';
import { loadServer, type ConsoleContext } from './context.js';

export interface OpenedServer {
  registry: Registry;
  server: EffectiveServer;
}

export async function withServer<T>(
  ctx: ConsoleContext,
  name: string,
  use: (session: Session, opened: OpenedServer) => Promise<T>,
): Promise<T> {
  const opened = await loadServer(ctx, name);
  const state = staticState(opened.server, ctx.env);
  if (!state.resolved) {
    // Pending approval, disabled, an invalid entry, an unset variable: the same words as `list`.
    throw new PatchbayError(
      state.status === 'failed' ? 'connect-failed' : 'usage',
      `${name}: ${state.reason ?? state.status}`,
      {
        ...(state.hint ? { hint: state.hint } : {}),
      },
    );
  }
  const { connect } = await import('../connect/session.js');
  const session = await connect(state.resolved, {
    name,
    timeoutMs: state.resolved.timeout ?? ctx.timeoutMs,
    credentials: 'refresh',
    cwd: ctx.cwd,
    env: ctx.env,
    paths: ctx.paths,
    refreshState: ctx.refreshState,
    eraHintCache: ctx.eraHints,
  });
  try {
    return await use(session, opened);
  } catch (error) {
    if (error instanceof PatchbayError) throw error;
    await session.settle();
    throw session.explain(error);
  } finally {
    await session.close();
  }
}
