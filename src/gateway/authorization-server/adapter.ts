/**
 * oidc-provider's storage (its Adapter interface) on the gateway's state store: one namespace per
 * model (`as-session`, `as-refresh-token`, `as-client`, …), each record expiring when oidc-provider
 * says. The secondary lookups oidc-provider needs (a session by its uid, a device code by its user
 * code, every token of a grant) are index records of their own, so that no lookup scans a
 * namespace: a Redis backend answers them with single reads too.
 *
 * Every namespace is kept as secrets are: an opaque token's id is the token itself.
 */

import type { Adapter, AdapterPayload } from 'oidc-provider';

import type { RecordStore, StateStore } from '../../state/store.js';

interface Stored {
  payload: AdapterPayload;
  /** Epoch milliseconds; kept beside the payload so that `consume` can keep the record's lifetime. */
  expiresAt?: number;
}

interface GrantIndex {
  ids: string[];
  expiresAt?: number;
}

/** `AccessToken` → `access-token`. */
function kebab(model: string): string {
  return model.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase();
}

/** Told before a record that was not there is stored (the Client model: the registration cap). */
export interface NewRecordGate {
  /** Throws to refuse the record (nothing is stored). */
  admit(id: string): Promise<void>;
  /** An admitted record that was not stored after all. */
  undo(id: string): Promise<void>;
}

export class StateAdapter implements Adapter {
  private readonly records: RecordStore<Stored>;
  private readonly byUid: RecordStore<string>;
  private readonly byUserCode: RecordStore<string>;
  private readonly byGrant: RecordStore<GrantIndex>;

  constructor(
    private readonly model: string,
    state: StateStore,
    private readonly gate?: NewRecordGate,
  ) {
    this.records = state.records<Stored>(`as-${kebab(model)}`, { secret: true });
    this.byUid = state.records<string>('as-index-uid', { secret: true });
    this.byUserCode = state.records<string>('as-index-user-code', { secret: true });
    this.byGrant = state.records<GrantIndex>('as-index-grant', { secret: true });
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const expiresAt = expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000;
    const ttl = lifetime(expiresAt);
    const gated = this.gate !== undefined && (await this.records.get(id)) === undefined;
    if (gated) await this.gate!.admit(id);
    try {
      await this.records.put(id, expiresAt === undefined ? { payload } : { payload, expiresAt }, ttl);
    } catch (error) {
      if (gated) await this.gate!.undo(id).catch(() => undefined);
      throw error;
    }
    const indexKey = (value: string) => `${this.model}:${value}`;
    if (typeof payload.uid === 'string') await this.byUid.put(indexKey(payload.uid), id, ttl);
    if (typeof payload.userCode === 'string') await this.byUserCode.put(indexKey(payload.userCode), id, ttl);
    if (typeof payload.grantId === 'string') {
      let kept: number | undefined;
      await this.byGrant.update(
        indexKey(payload.grantId),
        (current) => {
          const ids = current ? [...new Set([...current.ids, id])] : [id];
          // The index lives as long as the longest-lived record it names.
          kept =
            expiresAt === undefined || (current && current.expiresAt === undefined)
              ? undefined
              : Math.max(expiresAt, current?.expiresAt ?? 0);
          return kept === undefined ? { ids } : { ids, expiresAt: kept };
        },
        lifetimeOf(() => kept),
      );
    }
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return (await this.records.get(id))?.payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.byUid.get(`${this.model}:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = await this.byUserCode.get(`${this.model}:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const consumed = Math.floor(Date.now() / 1000);
    let expiresAt: number | undefined;
    await this.records.update(
      id,
      (current) => {
        if (!current) return undefined;
        expiresAt = current.expiresAt;
        return { ...current, payload: { ...current.payload, consumed } };
      },
      lifetimeOf(() => expiresAt),
    );
  }

  async destroy(id: string): Promise<void> {
    await this.records.delete(id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const index = await this.byGrant.take(`${this.model}:${grantId}`);
    for (const id of index?.ids ?? []) await this.records.delete(id);
  }
}

function lifetime(expiresAt: number | undefined): { ttlMs?: number } {
  return expiresAt === undefined ? {} : { ttlMs: Math.max(1, expiresAt - Date.now()) };
}

/**
 * PutOptions whose ttlMs is read when the store applies it — after `update`'s change function
 * has run and decided the lifetime. A getter, so the one atomic update sets value and lifetime.
 */
function lifetimeOf(expiresAt: () => number | undefined): { ttlMs?: number } {
  return {
    get ttlMs() {
      const at = expiresAt();
      return at === undefined ? undefined : Math.max(1, at - Date.now());
    },
  };
}
