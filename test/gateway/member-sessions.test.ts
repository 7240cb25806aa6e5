import { describe, expect, it } from 'vitest';

import { MemberSessions } from '../../src/gateway/member-sessions.js';
import type { Upstream } from '../../src/gateway/upstream.js';

/** The pool only opens, closes and asks whether a session is connected. */
function fakeUpstream(name: string, closed: string[]): Upstream {
  return {
    name,
    current: () => ({}) as never,
    close: async () => void closed.push(name),
  } as unknown as Upstream;
}

describe('member sessions', () => {
  it('keep one session per member and server, at most `max`, the least recently used closed first', async () => {
    const closed: string[] = [];
    const crm = fakeUpstream('crm', []);
    const sessions = new MemberSessions({
      open: (template, member) => fakeUpstream(`${template.name}/${member}`, closed),
      max: 2,
    });
    const alice = sessions.get(crm, 'alice');
    expect(sessions.get(crm, 'alice')).toBe(alice);
    const bob = sessions.get(crm, 'bob');
    expect(bob).not.toBe(alice);
    sessions.get(crm, 'alice'); // alice used last: bob is the oldest
    sessions.get(crm, 'carol');
    expect(closed).toEqual(['crm/bob']);
    expect(sessions.size).toBe(2);
    expect(sessions.anyOpen(crm)).toBeDefined();
    await sessions.drop('alice', 'crm');
    expect(closed).toEqual(['crm/bob', 'crm/alice']);
    await sessions.close();
    expect(closed).toEqual(['crm/bob', 'crm/alice', 'crm/carol']);
  });

  it('close a session left idle', async () => {
    const closed: string[] = [];
    const crm = fakeUpstream('crm', []);
    const sessions = new MemberSessions({
      open: (template, member) => fakeUpstream(`${template.name}/${member}`, closed),
      idleMs: 50,
    });
    sessions.get(crm, 'alice');
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(closed).toEqual(['crm/alice']);
    expect(sessions.size).toBe(0);
    await sessions.close();
  });
});
