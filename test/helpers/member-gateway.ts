/**
 * A gateway in this process whose members are fixed bearer strings, for tests of members before
 * real sign-in: the gateway as `startGateway` (src/gateway/serve.ts) puts it together over HTTP —
 * the sandbox's config and policy files, the real Gateway, policy gate and listener, the config
 * watched and the policy updated while serving — with only the Authenticator (patchbay's own
 * interface, not a protocol mock) mapping `Bearer <token>` to a member.
 */

import { teamPolicyPath } from '../../src/config/policy-files.js';
import { createContext, loadRegistry } from '../../src/config/registry.js';
import { staticState } from '../../src/config/status.js';
import { watchConfigFiles } from '../../src/config/watch.js';
import { resolvePaths } from '../../src/core/paths.js';
import { RefreshState } from '../../src/auth/refresh.js';
import { Gateway, type GatewayUpstream } from '../../src/gateway/gateway.js';
import { serveHttp } from '../../src/gateway/http.js';
import type { Authenticator, Identity } from '../../src/gateway/inbound.js';
import { PolicyGate } from '../../src/gateway/policy-gate.js';
import { ToolPolicy } from '../../src/policy/enforce.js';
import { configuredServerKey } from '../../src/policy/pins.js';
import type { Sandbox } from './sandbox.js';

export interface MemberGateway {
  url: string;
  /** Policy updates applied while serving so far. */
  reloads(): number;
  /** Do something that changes a policy file, and wait until the gateway has applied it. */
  applied(action: () => Promise<unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** A test authenticator: each token names one member; anything else is refused. */
export function membersByToken(members: Record<string, Identity>): Authenticator {
  return {
    async authenticate(bearer) {
      const identity = bearer === undefined ? undefined : members[bearer];
      return identity
        ? { ok: true, identity }
        : { ok: false, kind: 'refused', status: 401, error: 'invalid_token', description: 'unknown member' };
    },
    challenge: () => ({ realm: 'patchbay-test' }),
  };
}

export async function startMemberGateway(
  sandbox: Sandbox,
  members: Record<string, Identity>,
): Promise<MemberGateway> {
  const env = sandbox.env;
  const paths = resolvePaths(env);
  const load = () => loadRegistry(createContext(env, sandbox.project, paths));
  const registry = await load();
  const upstreams: GatewayUpstream[] = registry.servers.flatMap((server) => {
    const state = staticState(server, env);
    if (!state.resolved) return [];
    return [
      {
        name: server.name,
        entry: state.resolved,
        timeoutMs: state.resolved.timeout ?? 10_000,
        pinKey: configuredServerKey(server),
      },
    ];
  });
  const policy = new ToolPolicy({ paths, sources: registry.policy.sources });
  const gateway = new Gateway({
    upstreams,
    gate: new PolicyGate({
      policy,
      logArguments: false,
      paths: { userConfigPath: registry.context.userConfigPath, projectRoot: registry.context.projectRoot },
      reload: async () => (await load()).policy.sources,
    }),
    env,
    paths,
    refreshState: new RefreshState(),
    cwd: sandbox.project,
    version: '0.0.0-test',
  });
  let reloads = 0;
  const watcher = watchConfigFiles(
    [...new Set([...registry.files.map((file) => file.path), teamPolicyPath(registry.context.projectRoot)])],
    () =>
      void load().then((next) => {
        policy.update(next.policy.sources);
        reloads++;
      }),
  );
  const served = await serveHttp(gateway, {
    host: '127.0.0.1',
    port: 0,
    authenticator: membersByToken(members),
  });
  return {
    url: served.url,
    reloads: () => reloads,
    async applied(action) {
      const before = reloads;
      await action();
      for (let waited = 0; reloads === before; waited += 50) {
        if (waited > 10_000) throw new Error('the policy change was never applied');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Several events may follow one write: let them settle.
      await new Promise((resolve) => setTimeout(resolve, 300));
    },
    async stop() {
      watcher.close();
      await served.close();
      await gateway.close();
    },
  };
}
