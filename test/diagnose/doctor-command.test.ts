/** `patchbay doctor`'s option parsing and exit status, without running anything. */

import { describe, expect, it } from 'vitest';

import { exitCode, parseDoctorOptions } from '../../src/cli/commands/doctor.js';
import type { Diagnosis, Verdict } from '../../src/diagnose/findings.js';
import { PatchbayError } from '../../src/errors.js';

function diagnosis(verdict: Verdict, configStatus: 'pass' | 'fail' | 'skip' = 'pass'): Diagnosis {
  return {
    name: 'x',
    scope: 'local',
    file: '/f',
    transport: 'http',
    target: 'http://127.0.0.1/mcp',
    verdict,
    findings: [{ layer: 'config', status: configStatus, summary: '', evidence: {} }],
    durationMs: 1,
  };
}

describe('parseDoctorOptions', () => {
  it('one server or all; --json; --timeout in seconds, else PATCHBAY_TIMEOUT, else 10 s', () => {
    expect(parseDoctorOptions(undefined, {}, {})).toEqual({ json: false, timeoutMs: 10_000, refresh: true });
    expect(parseDoctorOptions('notion', { json: true, timeout: '2.5', refresh: false }, {})).toEqual({
      name: 'notion',
      json: true,
      timeoutMs: 2_500,
      refresh: false,
    });
    expect(parseDoctorOptions(undefined, {}, { PATCHBAY_TIMEOUT: '3' }).timeoutMs).toBe(3_000);
  });

  it('refuses a bad name or timeout as a usage error', () => {
    expect(() => parseDoctorOptions('no spaces', {}, {})).toThrow(PatchbayError);
    expect(() => parseDoctorOptions(undefined, { timeout: 'soon' }, {})).toThrow(/--timeout/);
  });
});

describe('exit status', () => {
  it('0 when every server is fine (a rejected one is the user’s choice)', () => {
    expect(exitCode([diagnosis('ok'), diagnosis('skipped', 'skip')])).toBe(0);
  });
  it('4 when the only problems are logins', () => {
    expect(exitCode([diagnosis('ok'), diagnosis('needs-auth'), diagnosis('needs-auth')])).toBe(4);
  });
  it('8 when anything else is wrong: a failure, a pending approval, a broken config file', () => {
    expect(exitCode([diagnosis('needs-auth'), diagnosis('failed')])).toBe(8);
    expect(exitCode([diagnosis('skipped', 'fail')])).toBe(8);
    expect(exitCode([diagnosis('ok')], true)).toBe(8);
  });
});
