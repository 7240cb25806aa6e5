/**
 * The OS keychain as a vault, through `@napi-rs/keyring`: one entry per record (service
 * "patchbay", account `<section>:<key>`), holding the record as JSON.
 *
 * The native module is imported only when a credential is touched, and whether the keychain works
 * is decided once per process by a bounded probe (write, read back, delete a throwaway entry):
 * reading alone proves nothing (a locked-down Linux keyring answers "no such entry" to reads and
 * "AccessDenied" to writes). On Linux the Secret Service is required: the kernel keyring that
 * keyring-rs would otherwise fall back to forgets everything at logout and is not shared with a
 * gateway started elsewhere, which would make the keychain behave differently from the files.
 */

import { randomBytes } from 'node:crypto';

import { PatchbayError } from '../errors.js';
import { isObject, type JsonObject } from '../core/json-source.js';
import { describePath, STORE_FIX_HINT } from './store-records.js';
import type { SecretVault, Section, VaultRecord } from './store-vault.js';

export const KEYCHAIN_SERVICE = 'patchbay';

/** The three keychain operations the store needs; tests pass an in-memory one. */
export interface KeychainApi {
  /** Human words for the keychain (which platform store). */
  readonly name: string;
  get(account: string): Promise<string | null>;
  set(account: string, value: string): Promise<void>;
  delete(account: string): Promise<boolean>;
}

export type KeychainVerdict = { usable: true; api: KeychainApi } | { usable: false; reason: string };

export const PROBE_TIMEOUT_MS = 3_000;

function platformKeychainName(): string {
  switch (process.platform) {
    case 'darwin':
      return 'the macOS Keychain';
    case 'win32':
      return 'the Windows Credential Manager';
    default:
      return 'the Secret Service keyring';
  }
}

async function loadNativeKeychain(): Promise<KeychainApi> {
  const { AsyncEntry } = await import('@napi-rs/keyring');
  const options = process.platform === 'linux' ? { linux: { store: 'secret-service' as const } } : undefined;
  const entry = (account: string) => new AsyncEntry(KEYCHAIN_SERVICE, account, options);
  return {
    name: platformKeychainName(),
    get: (account) => entry(account).getPassword(),
    set: (account, value) => entry(account).setPassword(value),
    delete: (account) => entry(account).deletePassword(),
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Whether `api` can store, return and delete an entry, within `timeoutMs`. A keychain that does
 * not answer in time counts as unusable; its pending call is left behind (a native call cannot
 * be cancelled), which is why the CLI ends with process.exit rather than waiting for it.
 */
export async function probeKeychain(
  api: KeychainApi | (() => Promise<KeychainApi>),
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<KeychainVerdict> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<KeychainVerdict>((resolve) => {
    timer = setTimeout(
      () => resolve({ usable: false, reason: `it did not answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    timer.unref();
  });
  const attempt = (async (): Promise<KeychainVerdict> => {
    try {
      const keychain = typeof api === 'function' ? await api() : api;
      // One account per probe: concurrent processes must not read each other's probe value.
      const account = `probe:${process.pid}:${randomBytes(6).toString('hex')}`;
      const value = randomBytes(12).toString('hex');
      await keychain.set(account, value);
      const read = await keychain.get(account);
      await keychain.delete(account);
      if (read !== value) return { usable: false, reason: 'it did not return what was stored in it' };
      return { usable: true, api: keychain };
    } catch (error) {
      return { usable: false, reason: message(error) };
    }
  })();
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

let nativeVerdict: Promise<KeychainVerdict> | undefined;

/** The verdict on the real OS keychain, probed at most once per process. */
export function nativeKeychainVerdict(timeoutMs = PROBE_TIMEOUT_MS): Promise<KeychainVerdict> {
  nativeVerdict ??= probeKeychain(loadNativeKeychain, timeoutMs);
  return nativeVerdict;
}

function accountOf(section: Section, key: string): string {
  return `${section}:${key}`;
}

export class KeychainVault implements SecretVault {
  readonly kind = 'keychain' as const;

  constructor(
    private readonly api: KeychainApi,
    private readonly fallbackHint: string,
  ) {}

  get location(): string {
    return `${this.api.name} (service "${KEYCHAIN_SERVICE}")`;
  }

  private where(section: Section, key: string): string {
    return `the keychain entry ${KEYCHAIN_SERVICE}/${accountOf(section, key)}`;
  }

  private failure(
    code: 'read-failed' | 'write-failed',
    doing: string,
    section: Section,
    key: string,
    error: unknown,
  ) {
    return new PatchbayError(
      code,
      `Could not ${doing} ${this.where(section, key)} in ${this.api.name}: ${message(error)}.`,
      { hint: this.fallbackHint, cause: error },
    );
  }

  async get(section: Section, key: string): Promise<VaultRecord | undefined> {
    let text: string | null;
    try {
      text = await this.api.get(accountOf(section, key));
    } catch (error) {
      throw this.failure('read-failed', 'read', section, key, error);
    }
    if (text === null) return undefined;
    const where = this.where(section, key);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (!isObject(value)) {
      throw new PatchbayError('config-parse', `${where} does not hold a JSON object.`, {
        hint: STORE_FIX_HINT,
      });
    }
    return { value, locate: (path) => (path.length === 0 ? where : `${where} (${describePath(path)})`) };
  }

  async put(section: Section, key: string, value: JsonObject): Promise<void> {
    try {
      await this.api.set(accountOf(section, key), JSON.stringify(value));
    } catch (error) {
      throw this.failure('write-failed', 'write', section, key, error);
    }
  }

  async delete(section: Section, key: string): Promise<boolean> {
    try {
      return await this.api.delete(accountOf(section, key));
    } catch (error) {
      throw this.failure('write-failed', 'delete', section, key, error);
    }
  }
}
