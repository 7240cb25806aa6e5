/**
 * A cloned repository's .patchbay.json may only tighten until the user approves it, through the
 * built binary: `patchbay call` (no terminal) and `patchbay serve` (a real host over HTTP with
 * elicitation) in front of a loopback server with a destructive tool. An unapproved `"*": "allow"`
 * still asks; `patchbay approve --policy` takes it; an edit makes it pending again; a deny in an
 * unapproved file applies at once; `patchbay policy` says what waits.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { McpServer } from '@modelcontextprotocol/server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { ServerPolicyView } from '../../src/cli/commands/policy.js';
import { startModernServer, type LoopbackServer } from '../fixtures/modern-servers.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let server: LoopbackServer;
/** Every call the server ran, by tool: what the policy let through. */
const ran: string[] = [];

beforeAll(async () => {
  server = await startModernServer(() => {
    const mcp = new McpServer({ name: 'danger', version: '1.0.0' });
    mcp.registerTool(
      'delete_repo',
      { description: 'Deletes the repository.', annotations: { destructiveHint: true } },
      () => {
        ran.push('delete_repo');
        return { content: [{ type: 'text', text: 'deleted' }] };
      },
    );
    mcp.registerTool('search', { description: 'Searches.', annotations: { readOnlyHint: true } }, () => {
      ran.push('search');
      return { content: [{ type: 'text', text: 'found' }] };
    });
    return mcp;
  });
}, 20_000);

afterAll(async () => {
  await server?.close();
});

let sandbox: Sandbox;
let teamFile: string;
beforeEach(async () => {
  sandbox = await createSandbox();
  teamFile = join(sandbox.project, '.patchbay.json');
  ran.length = 0;
  expect((await sandbox.run(['add', 'danger', server.url])).code).toBe(0);
});
afterEach(async () => {
  await sandbox.cleanup();
});

const ALLOW_ALL = { servers: { danger: { tools: { '*': 'allow' } } } };
const writeTeam = (doc: unknown) => writeFile(teamFile, JSON.stringify(doc, null, 2));

describe('patchbay call with an unapproved project .patchbay.json', () => {
  it('"*": allow does not allow a destructive tool until approved; an edit makes it pending again', async () => {
    await writeTeam(ALLOW_ALL);
    const refused = await sandbox.run(['call', 'danger', 'delete_repo']);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain("danger's tool delete_repo needs approval");
    expect(refused.stderr).toContain('there is no terminal to ask on');
    expect(refused.stderr).toContain(`${teamFile} would allow it, but you have not approved that file`);
    expect(refused.stderr).toContain('patchbay approve --policy');
    expect(ran).toEqual([]);

    const approve = await sandbox.run(['approve', '--policy']);
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stderr).toContain(`Approved ${teamFile}`);
    expect(approve.stderr).toContain('now in effect: allow danger/*');
    const allowed = await sandbox.run(['call', 'danger', 'delete_repo']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toBe('deleted\n');
    expect(ran).toEqual(['delete_repo']);

    // Any change of meaning (here: a default added) is new content, pending again.
    await writeTeam({ default: 'allow', ...ALLOW_ALL });
    const again = await sandbox.run(['call', 'danger', 'delete_repo']);
    expect(again.code).toBe(6);
    expect(again.stderr).toContain('needs approval');
    expect(ran).toEqual(['delete_repo']);
  }, 30_000);

  it('a default allow waits too; reject keeps it waiting, reset-project-choices forgets the decision', async () => {
    await writeTeam({ default: 'allow' });
    expect((await sandbox.run(['call', 'danger', 'delete_repo'])).code).toBe(6);
    const reject = await sandbox.run(['reject', '--policy']);
    expect(reject.code, reject.stderr).toBe(0);
    expect(reject.stderr).toContain('not in effect: default allow');
    const rejected = await sandbox.run(['call', 'danger', 'delete_repo']);
    expect(rejected.code).toBe(6);
    expect(rejected.stderr).toContain('you rejected that file');

    const all = await sandbox.run(['approve', '--all']);
    expect(all.code, all.stderr).toBe(0);
    expect((await sandbox.run(['call', 'danger', 'delete_repo'])).code).toBe(0);
    const reset = await sandbox.run(['reset-project-choices']);
    expect(reset.code).toBe(0);
    expect(reset.stderr).toContain('patchbay approve --policy');
    expect((await sandbox.run(['call', 'danger', 'delete_repo'])).code).toBe(6);
    expect(ran).toEqual(['delete_repo']);
  }, 30_000);

  it('a deny in an unapproved file applies at once, beside an allow that waits', async () => {
    await writeTeam({ servers: { danger: { tools: { '*': 'allow', search: 'deny' } } } });
    const denied = await sandbox.run(['call', 'danger', 'search']);
    expect(denied.code).toBe(6);
    expect(denied.stderr).toContain("patchbay's policy denies danger's tool search");
    expect(denied.stderr).toContain(teamFile);
    expect(ran).toEqual([]);
  }, 30_000);

  it('patchbay policy shows the pending file and what it would change; --json says the same', async () => {
    await writeTeam({
      default: 'allow',
      servers: { danger: { tools: { '*': 'allow', search: 'deny' }, limits: { '*': '5/hour' } } },
    });
    const shown = await sandbox.run(['policy', 'danger']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`pending: ${teamFile} would set default allow, allow danger/*`);
    expect(shown.stdout).toContain('only what it tightens is in effect until you approve it');
    expect(shown.stdout).toMatch(/applies\s+deny danger\/search/);
    expect(shown.stdout).toMatch(/applies\s+limit danger\/\* 5\/hour/);
    expect(shown.stdout).toContain('to take what waits: patchbay approve --policy');
    expect(shown.stdout).toMatch(/ask\s+delete_repo\s+destructive \(its annotations\)/);
    expect(shown.stdout).toMatch(/\*\s+allow .*not in effect: the project file is not approved/);

    const views = async () =>
      JSON.parse((await sandbox.run(['policy', 'danger', '--json'])).stdout) as ServerPolicyView[];
    const [view] = await views();
    expect(view!.default).toBeNull();
    expect(view!.projectPolicy).toMatchObject({
      path: teamFile,
      state: 'pending',
      hint: 'patchbay approve --policy',
    });
    expect(view!.projectPolicy!.changes.map((change) => [change.what, change.effect])).toEqual([
      ['default allow', 'loosens'],
      ['allow danger/*', 'loosens'],
      ['deny danger/search', 'tightens'],
      ['limit danger/* 5/hour', 'tightens'],
    ]);
    expect(view!.tools!.find((tool) => tool.name === 'delete_repo')!.decision).toBe('ask');
    expect(view!.rules.find((rule) => rule.pattern === '*')!.heldBack).toBe(true);

    expect((await sandbox.run(['approve', '--policy'])).code).toBe(0);
    const [approved] = await views();
    expect(approved!.projectPolicy!.state).toBe('approved');
    expect(approved!.default).toMatchObject({ decision: 'allow', scope: 'project' });
    expect(approved!.tools!.find((tool) => tool.name === 'delete_repo')!.decision).toBe('allow');
  }, 30_000);

  it('approve with nothing named says --policy; --policy without a file is a no-op', async () => {
    const bare = await sandbox.run(['approve']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('patchbay approve --policy');
    const none = await sandbox.run(['approve', '--policy']);
    expect(none.code).toBe(0);
    expect(none.stderr).toContain('No .patchbay.json');
  }, 20_000);
});

// ---------------------------------------------------------------------------------------------
// Through patchbay serve

async function host(gateway: RunningGateway) {
  const client = new Client(
    { name: 'test-host', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'legacy' } },
  );
  const asked: string[] = [];
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push(String(request.params.message));
    return { action: 'accept' as const, content: { decision: 'deny' } };
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
    }),
  );
  const call = async (name: string) => {
    const result = await client.callTool({ name, arguments: {} }, { timeout: 30_000 });
    return { isError: Boolean(result.isError), text: JSON.stringify(result.content) };
  };
  return { client, asked, call };
}

describe('patchbay serve with an unapproved project .patchbay.json', () => {
  it('still asks about a destructive tool; after approve --policy it does not; an edit asks again', async () => {
    await writeTeam(ALLOW_ALL);
    const gateway = await startGateway(sandbox);
    const person = await host(gateway);
    try {
      const listed = (await person.client.listTools()).tools.find(
        (tool) => tool.name === 'danger__delete_repo',
      );
      expect(listed?._meta).toMatchObject({ 'io.patchbay/permission': 'ask' });
      const declined = await person.call('danger__delete_repo');
      expect(declined.isError).toBe(true);
      expect(person.asked).toHaveLength(1);
      expect(person.asked[0]).toContain("Allow danger's tool delete_repo?");
      expect(person.asked[0]).toContain('patchbay approve --policy');
      expect(ran).toEqual([]);

      await gateway.applied(async () => {
        const approve = await sandbox.run(['approve', '--policy']);
        expect(approve.code, approve.stderr).toBe(0);
      });
      const allowed = await person.call('danger__delete_repo');
      expect(allowed.text).toContain('deleted');
      expect(person.asked).toHaveLength(1);
      expect(ran).toEqual(['delete_repo']);

      await gateway.applied(() => writeTeam({ default: 'allow', ...ALLOW_ALL }));
      const again = await person.call('danger__delete_repo');
      expect(again.isError).toBe(true);
      expect(person.asked).toHaveLength(2);
      expect(ran).toEqual(['delete_repo']);

      // A deny written into the (unapproved) file applies at once, listing included.
      await gateway.applied(() =>
        writeTeam({ servers: { danger: { tools: { '*': 'allow', 'delete_*': 'deny' } } } }),
      );
      const names = (await person.client.listTools()).tools.map((tool) => tool.name);
      expect(names).not.toContain('danger__delete_repo');
      const denied = await person.call('danger__delete_repo');
      expect(denied.isError).toBe(true);
      expect(denied.text).toContain("patchbay's policy denies danger's tool delete_repo");
      expect(person.asked).toHaveLength(2);
      expect(ran).toEqual(['delete_repo']);
    } finally {
      await person.client.close();
      await gateway.stop();
    }
  }, 60_000);
});
