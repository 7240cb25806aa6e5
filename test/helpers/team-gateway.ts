/**
 * A team gateway in this process, for per-member tests until real member sign-in (API keys, OAuth)
 * is on main: the real Gateway, member vault, state store and HTTP listener, with a test
 * Authenticator (patchbay's own interface, not a protocol mock) that maps fixed bearer strings
 * to members.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { MemberVault } from '../../src/auth/member-vault.js';
import { RefreshState } from '../../src/auth/refresh.js';
import type { ServerEntry } from '../../src/config/entry.js';
import { resolvePaths } from '../../src/core/paths.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { PolicyGate } from '../../src/gateway/policy-gate.js';
import { ToolPolicy } from '../../src/policy/enforce.js';
import { serveHttp } from '../../src/gateway/http.js';
import type { Authenticator, Identity } from '../../src/gateway/inbound.js';
import { FileState } from '../../src/state/files.js';

export const MEMBERS: Record<string, Identity> = {
  'alice-token': { auth: 'api-key', subject: 'alice', groups: ['eng'], client: 'alice-laptop' },
  'bob-token': { auth: 'api-key', subject: 'bob', groups: ['sales'], client: 'bob-laptop' },
};

export function testAuthenticator(): Authenticator {
  return {
    async authenticate(bearer) {
      if (bearer === undefined) return { ok: false, kind: 'not-mine' };
      const identity = MEMBERS[bearer];
      return identity
        ? { ok: true, identity }
        : {
            ok: false,
            kind: 'refused',
            status: 401,
            error: 'invalid_token',
            description: 'unknown test bearer',
          };
    },
    challenge: () => ({ realm: 'patchbay-test' }),
  };
}

export interface TeamGateway {
  url: string;
  origin: string;
  dir: string;
  stateDir: string;
  key: Buffer;
  gateway: Gateway;
  vault: MemberVault;
  paths: ReturnType<typeof resolvePaths>;
  close(): Promise<void>;
}

export async function startTeamGateway(
  upstreams: Array<{ name: string; entry: ServerEntry }>,
): Promise<TeamGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'patchbay-team-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    PATCHBAY_DATA_DIR: join(dir, 'data'),
    PATCHBAY_CREDENTIAL_STORE: 'file',
  };
  const paths = resolvePaths(env);
  const state = new FileState(paths.gatewayState);
  const key = randomBytes(32);
  const vault = new MemberVault(state, key);
  await vault.check();
  const gateway = new Gateway({
    upstreams: upstreams.map(({ name, entry }) => ({ name, entry, timeoutMs: 10_000, pinKey: name })),
    env,
    paths,
    refreshState: new RefreshState(),
    cwd: dir,
    version: 'test',
    memberVault: { vault, state },
    // No policy files: annotations decide; every call is in the audit log.
    gate: new PolicyGate({
      policy: new ToolPolicy({ paths, sources: [] }),
      logArguments: false,
      paths: { userConfigPath: join(dir, 'config', 'patchbay', 'config.json'), projectRoot: dir },
      reload: async () => [],
    }),
  });
  const authenticator = testAuthenticator();
  const served = await serveHttp(gateway, {
    host: '127.0.0.1',
    port: 0,
    authenticator: undefined,
    front: async (mcpUrl) => ({
      authenticator,
      routes: gateway.members!.routes({ authenticator, base: new URL('/', mcpUrl) }),
    }),
  });
  return {
    url: served.url,
    origin: new URL(served.url).origin,
    dir,
    stateDir: paths.gatewayState,
    key,
    gateway,
    vault,
    paths,
    close: async () => {
      await served.close();
      await gateway.close();
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
