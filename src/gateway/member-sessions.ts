/**
 * The members' own sessions to `perMember` upstreams: a call by member M of such an upstream goes
 * through M's session, opened on first use with M's login from the member vault (never another
 * member's, never the shared login), kept while used, closed after IDLE_MS without use, and at
 * most MAX_MEMBER_SESSIONS at once (the least recently used is closed to open another).
 */

import type { Upstream } from './upstream.js';

export const MAX_MEMBER_SESSIONS = 256;
export const MEMBER_SESSION_IDLE_MS = 10 * 60_000;

interface Held {
  template: Upstream;
  member: string;
  upstream: Upstream;
  usedAt: number;
}

export interface MemberSessionsOptions {
  /** A session of `template`'s server with `member`'s login (not yet connected). */
  open(template: Upstream, member: string): Upstream;
  max?: number;
  idleMs?: number;
}

export class MemberSessions {
  /** By template, then member; Map order is use order (least recent first). */
  private readonly held = new Map<string, Held>();
  private readonly byTemplate = new WeakMap<Upstream, string>();
  private templates = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: MemberSessionsOptions) {
    const idle = options.idleMs ?? MEMBER_SESSION_IDLE_MS;
    this.sweeper = setInterval(() => this.sweep(idle), Math.max(1_000, Math.min(idle / 2, 60_000)));
    this.sweeper.unref();
  }

  /** Member `member`'s session of `template`'s server. */
  get(template: Upstream, member: string): Upstream {
    const key = this.key(template, member);
    const found = this.held.get(key);
    if (found) {
      // Most recently used last.
      this.held.delete(key);
      found.usedAt = Date.now();
      this.held.set(key, found);
      return found.upstream;
    }
    const max = this.options.max ?? MAX_MEMBER_SESSIONS;
    while (this.held.size >= max) {
      const [oldest, held] = this.held.entries().next().value as [string, Held];
      this.held.delete(oldest);
      void held.upstream.close();
    }
    const upstream = this.options.open(template, member);
    this.held.set(key, { template, member, upstream, usedAt: Date.now() });
    return upstream;
  }

  /** A member session of `template`'s server that is connected now (for its listings), the most recent. */
  anyOpen(template: Upstream): Upstream | undefined {
    let found: Upstream | undefined;
    for (const held of this.held.values())
      if (held.template === template && held.upstream.current()) found = held.upstream;
    return found;
  }

  /** Close a member's sessions (their login was removed): of one server, or all. */
  async drop(member: string, server?: string): Promise<void> {
    const closing: Array<Promise<void>> = [];
    for (const [key, held] of this.held) {
      if (held.member !== member || (server !== undefined && held.template.name !== server)) continue;
      this.held.delete(key);
      closing.push(held.upstream.close());
    }
    await Promise.all(closing);
  }

  /** The template is gone (a config reload): its members' sessions go with it. */
  async dropTemplate(template: Upstream): Promise<void> {
    const closing: Array<Promise<void>> = [];
    for (const [key, held] of this.held) {
      if (held.template !== template) continue;
      this.held.delete(key);
      closing.push(held.upstream.close());
    }
    await Promise.all(closing);
  }

  get size(): number {
    return this.held.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.held.values()];
    this.held.clear();
    await Promise.all(all.map((held) => held.upstream.close()));
  }

  private sweep(idleMs: number): void {
    const now = Date.now();
    for (const [key, held] of this.held) {
      if (now - held.usedAt < idleMs) continue;
      this.held.delete(key);
      void held.upstream.close();
    }
  }

  private key(template: Upstream, member: string): string {
    let id = this.byTemplate.get(template);
    if (id === undefined) this.byTemplate.set(template, (id = String(this.templates++)));
    return `${id}\n${member}`;
  }
}
