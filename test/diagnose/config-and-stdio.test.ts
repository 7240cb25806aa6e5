/** diagnose() for what is decided before the network (config) and for stdio servers. */

import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { diagnose } from '../../src/diagnose/doctor.js';
import { EVERYTHING_SCRIPT } from '../fixtures/everything.js';
import { CONFIG_PATH, layer, optionsWith, serverFor, statuses } from './helpers.js';

const EXIT_CODE_SCRIPT = fileURLToPath(new URL('../fixtures/stdio/exit-code.mjs', import.meta.url));

describe('the config layer', () => {
  it('an unset variable fails config, names every unset variable, and the fix is export', async () => {
    const diagnosis = await diagnose(
      serverFor('api', {
        type: 'http',
        url: 'https://${DOCTOR_HOST}/mcp',
        headers: { Authorization: 'Bearer ${DOCTOR_TOKEN}', 'X-Team': '${DOCTOR_TEAM:-core}' },
      }),
      optionsWith(),
    );
    expect(diagnosis.verdict).toBe('failed');
    const config = layer(diagnosis, 'config');
    expect(config.status).toBe('fail');
    expect(config.summary).toBe('environment variables DOCTOR_HOST, DOCTOR_TOKEN not set (and no default)');
    expect(config.fix).toMatch(/^export DOCTOR_HOST=… DOCTOR_TOKEN=…/);
    expect(config.evidence).toMatchObject({
      scope: 'local',
      file: CONFIG_PATH,
      unset: 'DOCTOR_HOST, DOCTOR_TOKEN',
    });
    expect(String(config.evidence.variables).split(', ').sort()).toEqual([
      'DOCTOR_HOST',
      'DOCTOR_TEAM',
      'DOCTOR_TOKEN',
    ]);
    expect(diagnosis.findings.slice(1).every((finding) => finding.summary === 'skipped: config failed')).toBe(
      true,
    );
  });

  it('passes with the variables set, and never reports their values', async () => {
    const diagnosis = await diagnose(
      serverFor('api', {
        type: 'http',
        url: 'http://127.0.0.1:1/mcp',
        headers: { 'X-Key': '${DOCTOR_KEY}' },
      }),
      optionsWith({ DOCTOR_KEY: 'value-that-must-not-show' }),
    );
    expect(layer(diagnosis, 'config')).toMatchObject({
      status: 'pass',
      evidence: { variables: 'DOCTOR_KEY', unset: null },
    });
    expect(JSON.stringify(diagnosis)).not.toContain('value-that-must-not-show');
  });

  it('a project server awaiting approval is not contacted, and the fix is approve', async () => {
    const diagnosis = await diagnose(
      serverFor(
        'shared',
        { type: 'http', url: 'http://127.0.0.1:1/mcp' },
        { scope: 'project', projectChoice: 'pending' },
      ),
      optionsWith(),
    );
    expect(diagnosis.verdict).toBe('skipped');
    const config = layer(diagnosis, 'config');
    expect(config.status).toBe('fail');
    expect(config.fix).toMatch(/patchbay approve shared/);
    expect(layer(diagnosis, 'tcp').summary).toBe('skipped: config failed');
  });

  it('a rejected project server is skipped without a failure', async () => {
    const diagnosis = await diagnose(
      serverFor(
        'shared',
        { type: 'http', url: 'http://127.0.0.1:1/mcp' },
        { scope: 'project', projectChoice: 'rejected' },
      ),
      optionsWith(),
    );
    expect(diagnosis.verdict).toBe('skipped');
    expect(layer(diagnosis, 'config').status).toBe('skip');
    expect(diagnosis.findings.some((finding) => finding.status === 'fail')).toBe(false);
  });

  it('an invalid entry fails config with the problem', async () => {
    const diagnosis = await diagnose(serverFor('broken', { type: 'http', url: 42 }), optionsWith());
    expect(diagnosis.verdict).toBe('failed');
    expect(diagnosis.transport).toBeNull();
    expect(layer(diagnosis, 'config').summary).toMatch(/^invalid entry: url: expected a URL string/);
  });
});

describe('stdio servers', () => {
  it('a healthy command: config, command, MCP and tools, and no network layers', async () => {
    const diagnosis = await diagnose(
      serverFor('everything', {
        command: process.execPath,
        args: [EVERYTHING_SCRIPT, 'stdio'],
      }),
      optionsWith({}, 15_000),
    );
    expect(statuses(diagnosis)).toEqual(['config:pass', 'command:pass', 'mcp:pass', 'tools:pass']);
    expect(layer(diagnosis, 'command').evidence.path).toBe(process.execPath);
    expect(layer(diagnosis, 'mcp').evidence.transport).toBe('stdio');
    expect(diagnosis.verdict).toBe('ok');
  });

  it('a command that does not exist fails the command layer', async () => {
    const diagnosis = await diagnose(
      serverFor('missing', { command: 'patchbay-no-such-command-xyz' }),
      optionsWith(),
    );
    expect(diagnosis.verdict).toBe('failed');
    const command = layer(diagnosis, 'command');
    expect(command.summary).toBe(
      'command not found: patchbay-no-such-command-xyz (not in any PATH directory)',
    );
    expect(command.fix).toMatch(/^Install patchbay-no-such-command-xyz, give its full path/);
    expect(layer(diagnosis, 'mcp').summary).toBe('skipped: command failed');
    expect(diagnosis.findings.map((finding) => finding.layer)).toEqual(['config', 'command', 'mcp', 'tools']);
  });

  it('a path that is not executable says so', async () => {
    const diagnosis = await diagnose(serverFor('script', { command: EXIT_CODE_SCRIPT }), optionsWith());
    expect(layer(diagnosis, 'command')).toMatchObject({
      status: 'fail',
      summary: expect.stringMatching(/not executable$/),
    });
  });

  it('a command that exits at once: the MCP layer shows the exit code and the last stderr line', async () => {
    const diagnosis = await diagnose(
      serverFor('crash', { command: process.execPath, args: [EXIT_CODE_SCRIPT] }),
      optionsWith(),
    );
    expect(diagnosis.verdict).toBe('failed');
    expect(layer(diagnosis, 'command').status).toBe('pass');
    const mcp = layer(diagnosis, 'mcp');
    expect(mcp.status).toBe('fail');
    expect(mcp.summary).toMatch(/code 3/);
    expect(mcp.summary).toMatch(/boom: missing API key/);
    expect(mcp.summary).not.toContain(String.fromCharCode(27));
    expect(mcp.evidence.step).toBeTruthy();
    expect(layer(diagnosis, 'tools').summary).toBe('skipped: mcp failed');
  });
});
