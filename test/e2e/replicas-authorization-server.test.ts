/**
 * The gateway's own authorization server across replicas (#20): three `serve --config` replicas
 * of the built binary on one Redis behind haproxy (round-robin per request, no affinity), with
 * `auth.authorizationServer` signing members in at the organisation's IdP (oidc-provider on
 * loopback). A host that registers, is sent to sign in, comes back and exchanges its code — each
 * step on whichever replica the balancer picks — gets a token that every replica takes, because the
 * authorization server's records and signing keys are in the shared state, made once.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { auth, Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MEMBERS, startOrganisationIdp, type OrganisationIdp } from '../fixtures/oauth/organisation-idp.js';
import { MemoryHost } from '../helpers/oauth-host.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';
import {
  balancerPort,
  hasHaproxy,
  REPLICA_HEADER,
  startReplicas,
  type Replicas,
} from '../helpers/replicas.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let idp: OrganisationIdp;
let redis: RedisServer;
let replicas: Replicas;

const ready = hasRedis() && hasHaproxy();

beforeAll(async () => {
  if (!ready) return;
  sandbox = await createSandbox();
  [idp, redis] = await Promise.all([startOrganisationIdp(), startRedis()]);
  sandbox.env.IDP_CLIENT_SECRET = idp.clientSecret;
  const port = await balancerPort();
  const publicUrl = `http://127.0.0.1:${port}`;
  await idp.register(`${publicUrl}/oauth/signed-in`);
  const config = join(sandbox.root, 'deployment.jsonc');
  await writeFile(
    config,
    JSON.stringify({
      publicUrl,
      auth: {
        authorizationServer: {
          idp: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: '${IDP_CLIENT_SECRET}' },
        },
      },
    }),
  );
  replicas = await startReplicas(sandbox, { redis, port, args: ['--config', config] });
}, 90_000);

afterAll(async () => {
  await replicas?.close();
  await redis?.close();
  await idp?.close();
  await sandbox?.cleanup();
});

describe.skipIf(!ready)("the gateway's authorization server on three replicas", () => {
  it('publishes one set of signing keys from every replica', async () => {
    const keySets = await Promise.all(
      replicas.gateways.map(async (gateway) => {
        const answer = await fetch(`http://127.0.0.1:${gateway.port}/oauth/jwks`, {
          headers: { host: new URL(replicas.url).host },
        });
        expect(answer.status).toBe(200);
        return ((await answer.json()) as { keys: JWK[] }).keys.map((key) => key.kid).sort();
      }),
    );
    expect(keySets[0]!.length).toBeGreaterThan(0);
    expect(keySets[1]).toEqual(keySets[0]);
    expect(keySets[2]).toEqual(keySets[0]);
  });

  it('signs a member in with each step on any replica, and every replica takes the token', async () => {
    idp.member = 'bob';
    const host = new MemoryHost();
    const options = { serverUrl: replicas.url };
    expect(await auth(host, options)).toBe('REDIRECT');
    expect(host.page, 'the sign-in ended on a page instead of the host callback').toBeUndefined();
    const code = host.landed!.searchParams.get('code')!;
    const iss = host.landed!.searchParams.get('iss')!;
    expect(await auth(host, { ...options, authorizationCode: code, iss })).toBe('AUTHORIZED');

    const served: string[] = [];
    const client = new Client(
      { name: 'replica-host', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await client.connect(
      new StreamableHTTPClientTransport(new URL(replicas.url), {
        requestInit: { headers: { Authorization: `Bearer ${host.saved!.access_token}` } },
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          const replica = response.headers.get(REPLICA_HEADER);
          if (replica) served.push(replica);
          return response;
        },
      }),
    );
    try {
      for (let i = 0; i < 6; i++) expect((await client.listTools()).tools).toEqual([]);
    } finally {
      await client.close();
    }
    expect(new Set(served)).toEqual(new Set(['r0', 'r1', 'r2']));
    // The member the IdP named is the one every replica knows.
    expect(MEMBERS.bob.sub).toBeTruthy();
  }, 60_000);
});
