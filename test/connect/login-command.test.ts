/** The login a challenge calls for, as the hint prints it. */

import { describe, expect, it } from 'vitest';

import { loginCommand } from '../../src/connect/classify.js';

describe('loginCommand', () => {
  it('asks for the scopes a challenge names, keeping those already granted (SEP-2350)', () => {
    expect(loginCommand('notion')).toBe('patchbay login notion');
    expect(loginCommand('notion', 'mcp:basic')).toBe('patchbay login notion --oauth-scope "mcp:basic"');
    expect(loginCommand('notion', 'mcp:write', 'mcp:basic offline_access')).toBe(
      'patchbay login notion --oauth-scope "mcp:basic offline_access mcp:write"',
    );
    expect(loginCommand('notion', 'mcp:write', 'mcp:write')).toBe(
      'patchbay login notion --oauth-scope "mcp:write"',
    );
    // A scope that would not survive a command line is not printed in one.
    expect(loginCommand('notion', 'a"; rm -rf ~')).toBe('patchbay login notion');
    expect(loginCommand('notion', 'mcp:write', 'bad"scope')).toBe(
      'patchbay login notion --oauth-scope "mcp:write"',
    );
  });
});
