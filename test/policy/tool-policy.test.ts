/**
 * ToolPolicy remembers each tool's verdict and limits per caller (a gateway decides every call
 * with them): what it remembers must never outlive what it was worked out from.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { PolicyDoc, PolicySource } from '../../src/config/policy-files.js';
import { resolvePaths } from '../../src/core/paths.js';
import { ToolPolicy } from '../../src/policy/enforce.js';
import type { Member } from '../../src/policy/rules.js';

const local = (doc: PolicyDoc): PolicySource => ({ scope: 'local', path: '/c/config.json', doc });
const alice: Member = { subject: 'alice', email: 'alice@example.com', groups: ['eng'] };
const aliceInSales: Member = { ...alice, groups: ['sales'] };

let dir: string;
let policy: ToolPolicy;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'patchbay-tool-policy-'));
  const paths = resolvePaths({
    HOME: dir,
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CONFIG_HOME: join(dir, 'config'),
  });
  policy = new ToolPolicy({
    paths,
    sources: [
      local({
        servers: { gh: { tools: { '*': 'allow' }, rules: [{ groups: ['sales'], tools: { '*': 'deny' } }] } },
      }),
    ],
  });
});

afterEach(async () => {
  await policy.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ToolPolicy verdicts, remembered', () => {
  it('change as soon as the policy files do', () => {
    expect(policy.verdict('gh', 'gh-key', { name: 'push' }).decision).toBe('allow');
    policy.update([local({ servers: { gh: { tools: { push: 'deny' } } } })]);
    expect(policy.verdict('gh', 'gh-key', { name: 'push' }).decision).toBe('deny');
  });

  it('are per caller: a member whose groups changed is decided again', () => {
    expect(policy.verdict('gh', 'gh-key', { name: 'push' }, alice).decision).toBe('allow');
    expect(policy.verdict('gh', 'gh-key', { name: 'push' }, aliceInSales).decision).toBe('deny');
    expect(policy.verdict('gh', 'gh-key', { name: 'push' }, alice).decision).toBe('allow');
  });

  it('follow a new listing of the tool (its annotations)', () => {
    policy.update([local({ servers: { gh: {} } })]);
    const readOnly = { name: 'search', annotations: { readOnlyHint: true } };
    const destructive = { name: 'search', annotations: { destructiveHint: true } };
    const first = policy.verdict('gh', 'gh-key', readOnly);
    expect(policy.verdict('gh', 'gh-key', destructive).decision).not.toBe(first.decision);
  });

  it('count limits changed while serving at once', async () => {
    const limited = (text: string) => [
      local({ servers: { gh: { tools: { '*': 'allow' }, limits: { push: text } } } }),
    ];
    policy.update(limited('1/hour'));
    expect(await policy.consumeLimits('gh', 'push')).toBeUndefined();
    expect(await policy.consumeLimits('gh', 'push')).toMatchObject({ ok: false });
    policy.update(limited('3/hour'));
    expect(await policy.consumeLimits('gh', 'push')).toBeUndefined();
    policy.update([local({ servers: { gh: { tools: { '*': 'allow' } } } })]);
    expect(await policy.consumeLimits('gh', 'push')).toBeUndefined();
  });
});
