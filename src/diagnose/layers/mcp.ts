/**
 * The MCP and tools layers: a real connect through connect/session (the same code path every
 * command uses: transport, era negotiation, SSE fallback, stdio spawn), then tools/list.
 */

import { shellWord } from '../text.js';
import type { ConnectError, Session } from '../../connect/session.js';
import { formatDuration, isDeadline } from '../../core/deadline.js';
import { failed, passed, warned, type Evidence, type Finding } from '../findings.js';
import { addCommand } from '../fixes.js';
import { clean } from '../text.js';
import type { LayerContext } from './context.js';

export interface McpOutcome {
  finding: Finding;
  /** Open when the handshake succeeded; the caller closes it. */
  session?: Session;
  /** The failure is a missing or rejected credential. */
  needsAuth: boolean;
}

export async function checkMcp(context: LayerContext): Promise<McpOutcome> {
  const { connect, ConnectError: ConnectErrorClass } = await import('../../connect/session.js');
  let session: Session;
  try {
    session = await connect(context.entry, {
      name: context.name,
      // connect's own bound, not our signal: its timeout names the step that was waiting.
      timeoutMs: context.deadline.remainingMs(),
      cwd: context.cwd,
      env: context.env,
      paths: context.paths,
      ...(context.refreshState ? { refreshState: context.refreshState } : {}),
      credentials: context.refresh === false ? 'read-only' : 'renew',
    });
  } catch (error) {
    if (error instanceof ConnectErrorClass) return connectFailure(context, error);
    if (isDeadline(error) || context.deadline.expired())
      return {
        needsAuth: false,
        finding: failed('mcp', `no MCP handshake within ${formatDuration(context.deadline.budgetMs)}`, {}),
      };
    throw error;
  }
  const server = session.server;
  const evidence: Evidence = {
    transport: session.transport,
    fellBackToSse: session.fellBackToSse,
    protocolVersion: session.protocolVersion ?? null,
    era: session.era,
    sessionId: session.sessionId !== undefined,
    serverName: server?.name ?? null,
    serverVersion: server?.version ?? null,
    connectMs: session.connectMs,
  };
  const who = server ? `${server.name} ${server.version}` : 'the server';
  const summary = `${who} over ${session.transport === 'http' ? 'Streamable HTTP' : session.transport === 'sse' ? 'legacy SSE' : 'stdio'}, protocol ${session.protocolVersion ?? 'unknown'} (${session.era === 'modern' ? 'stateless' : session.sessionId !== undefined ? 'with a session' : 'initialize'})`;
  if (session.fellBackToSse)
    return {
      session,
      needsAuth: false,
      finding: warned(
        'mcp',
        `${summary}: the entry says http but the server speaks only legacy SSE, so every connect tries http first`,
        evidence,
        addCommand(context.name, context.scope, context.template, { transport: 'sse' }),
      ),
    };
  return { session, needsAuth: false, finding: passed('mcp', summary, evidence) };
}

function connectFailure(context: LayerContext, error: ConnectError): McpOutcome {
  const evidence: Evidence = { step: error.step, httpStatus: error.httpStatus ?? null };
  const reason = clean(error.reason, 400);
  // --no-refresh and an expired login with a refresh token: nothing is wrong, the next use renews it.
  if (error.renewsOnUse) return { needsAuth: false, finding: warned('mcp', reason, evidence, error.hint) };
  if (error.status === 'needs-auth')
    return {
      needsAuth: true,
      finding: failed('mcp', reason, evidence, error.hint ?? `patchbay login ${context.name}`),
    };
  return {
    needsAuth: false,
    finding: failed('mcp', reason, evidence, error.hint ?? defaultFix(context, error)),
  };
}

function defaultFix(context: LayerContext, error: ConnectError): string {
  if (context.entry.transport === 'stdio') {
    const line = [context.template.command ?? '', ...(context.template.args ?? [])].map(shellWord).join(' ');
    return `Run the command by hand to see what it prints: ${line}`;
  }
  if (error.step === 'handshake')
    return `The server does not complete the MCP handshake: check its logs, and that the URL is its MCP endpoint (patchbay get ${context.name})`;
  return `Check that the server is running and the entry is right: patchbay get ${context.name}`;
}

export async function checkTools(context: LayerContext, session: Session): Promise<Finding> {
  try {
    const { tools } = await context.deadline.race(
      session.request((client) =>
        client.listTools(undefined, { ...session.requestOptions(), cacheMode: 'bypass' }),
      ),
    );
    const names = tools.map((tool) => clean(String(tool.name), 60));
    const shown = names.slice(0, 8).join(', ') + (names.length > 8 ? ', …' : '');
    return passed(
      'tools',
      `${tools.length} tool${tools.length === 1 ? '' : 's'}${tools.length > 0 ? `: ${shown}` : ''}`,
      {
        count: tools.length,
        names: clean(names.join(', '), 500),
      },
    );
  } catch (error) {
    if (isDeadline(error) || context.deadline.expired())
      return failed(
        'tools',
        `tools/list did not answer within ${formatDuration(context.deadline.budgetMs)}`,
        {},
        `Give it longer: patchbay doctor ${context.name} --timeout 30`,
      );
    const explained = session.explain(error);
    return failed(
      'tools',
      `tools/list failed: ${clean(explained.reason, 300)}`,
      { step: explained.step },
      explained.hint,
    );
  }
}
