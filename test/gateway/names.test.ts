/** The gateway's naming rule: <server>__<name>, hashed where it must be. */

import { describe, expect, it } from 'vitest';

import { exposedNames } from '../../src/gateway/names.js';

describe('exposedNames', () => {
  it('joins server and name, and keeps them apart in the map', () => {
    const names = exposedNames([
      { server: 'notion', name: 'search' },
      { server: 'sentry', name: 'search' },
    ]);
    expect([...names.keys()]).toEqual(['notion__search', 'sentry__search']);
    expect(names.get('sentry__search')).toEqual({ server: 'sentry', name: 'search' });
  });

  it('hashes names that had to change, are too long, or collide — the same way whatever the order', () => {
    const originals = [
      { server: 'a__b', name: 'c' },
      { server: 'a', name: 'b__c' },
      { server: 'docs', name: 'files.read' },
      { server: 'x'.repeat(40), name: 'y'.repeat(40) },
    ];
    const forward = exposedNames(originals);
    const backward = exposedNames([...originals].reverse());
    expect(new Map([...forward].sort())).toEqual(new Map([...backward].sort()));
    const exposed = [...forward.keys()];
    for (const name of exposed) expect(name).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(new Set(exposed).size).toBe(4);
    expect(exposed.find((name) => name.startsWith('docs__files_read_'))).toMatch(/_[0-9a-f]{8}$/);
    expect(exposed.filter((name) => name.startsWith('a__b__c_'))).toHaveLength(2);
  });
});
