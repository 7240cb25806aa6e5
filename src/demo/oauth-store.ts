/**
 * Where the demo's authorization server keeps what oidc-provider asks it to: clients, sessions,
 * interactions, grants, codes and tokens, in memory, through oidc-provider's adapter interface.
 *
 * One store per server (oidc-provider's own MemoryAdapter is shared by the whole process), so
 * two demo servers in one process never see each other's tokens and `close()` forgets everything.
 * Entries expire as oidc-provider says; each model holds at most MAX_PER_MODEL entries, the oldest
 * dropped first, which bounds what strangers can make the server remember.
 */

import type { Adapter, AdapterPayload } from 'oidc-provider';

const MAX_PER_MODEL = 1_000;

interface Entry {
  payload: AdapterPayload;
  expiresAt: number;
}

export class DemoOAuthStore {
  private readonly models = new Map<string, Map<string, Entry>>();

  /** The adapter for one oidc-provider model (`Client`, `AccessToken`, `Interaction`…). */
  adapter(model: string): Adapter {
    let entries = this.models.get(model);
    if (!entries) this.models.set(model, (entries = new Map()));
    return new ModelAdapter(entries);
  }

  /** Forget everything, when the server closes. */
  clear(): void {
    for (const entries of this.models.values()) entries.clear();
  }
}

class ModelAdapter implements Adapter {
  constructor(private readonly entries: Map<string, Entry>) {}

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry && entry.expiresAt <= Date.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  private findWhere(predicate: (payload: AdapterPayload) => boolean): AdapterPayload | undefined {
    for (const [id, entry] of this.entries) {
      if (predicate(entry.payload)) return this.live(id)?.payload;
    }
    return undefined;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.entries.delete(id);
    const now = Date.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    while (this.entries.size >= MAX_PER_MODEL) this.entries.delete(this.entries.keys().next().value!);
    const expiresAt = expiresIn === undefined ? Infinity : now + expiresIn * 1000;
    this.entries.set(id, { payload, expiresAt });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.live(id)?.payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.findWhere((payload) => payload.uid === uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.findWhere((payload) => payload.userCode === userCode);
  }

  async consume(id: string): Promise<void> {
    const entry = this.live(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.entries.delete(id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [id, entry] of this.entries) if (entry.payload.grantId === grantId) this.entries.delete(id);
  }
}
