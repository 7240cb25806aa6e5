/**
 * `patchbay keys create|list|revoke`: the team gateway's API keys (gateway/api-keys.ts), in the
 * state directory `patchbay serve` uses on this machine. The key is printed once, alone on
 * stdout, so that `patchbay keys create ci --service > key` captures exactly it.
 */

import { EXIT, PatchbayError } from '../../errors.js';
import { terminalText } from '../../core/terminal-text.js';
import { DEFAULT_SCOPES } from '../../gateway/deployment.js';
import { ApiKeys, validateKeyName, type ApiKeyView } from '../../gateway/api-keys.js';
import { openState, parseStateOption } from '../../state/open.js';
import { note, paint, printJson, useColor, writeLine, type Io } from '../io.js';

export interface KeysCreateOptions {
  name: string;
  member?: string;
  service: boolean;
  email?: string;
  groups: string[];
  scopes: string[];
  /** Undefined: never expires. */
  expiresInMs?: number;
  /** `--state redis://…`: the store the gateway was started with; unset: files on this machine. */
  state?: string;
}

export const DEFAULT_EXPIRY = '90d';

const DAY_MS = 86_400_000;
const EXPIRY_UNIT_MS: Record<string, number> = {
  m: 60_000,
  h: 3_600_000,
  d: DAY_MS,
  w: 7 * DAY_MS,
  y: 365 * DAY_MS,
};

/** `30d`, `12h`, `2w`, `1y`, `90m` in milliseconds, or undefined for `never`. */
export function parseExpiry(text: string): number | undefined {
  if (text.trim().toLowerCase() === 'never') return undefined;
  const match = /^(\d+)\s*([mhdwy])$/i.exec(text.trim());
  const ms = match ? Number(match[1]) * EXPIRY_UNIT_MS[match[2]!.toLowerCase()]! : NaN;
  if (!(ms >= 60_000) || ms > 100 * 365 * DAY_MS)
    throw new PatchbayError('usage', `--expires: ${JSON.stringify(text)} is not a key lifetime.`, {
      hint: 'Give a number and a unit (m, h, d, w, y), e.g. 90d or 12h, or "never".',
    });
  return ms;
}

const LABEL = /^[\x21-\x7e]{1,200}$/;
/** RFC 6749 §3.3's scope-token. */
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/;

function checkLabel(value: string, flag: string, what: string): string {
  if (!(flag === '--scope' ? SCOPE : LABEL).test(value))
    throw new PatchbayError('usage', `${flag}: ${JSON.stringify(value)} is not ${what}.`, {
      hint: `Give printable characters without spaces, e.g. ${flag} ${flag === '--scope' ? 'mcp' : 'eng'}.`,
    });
  return value;
}

export function parseKeysCreateOptions(
  name: string,
  raw: {
    member?: string;
    service?: boolean;
    email?: string;
    group?: string[];
    scope?: string[];
    expires?: string;
    state?: string;
  },
): KeysCreateOptions {
  validateKeyName(name);
  if ((raw.member === undefined) === !raw.service)
    throw new PatchbayError(
      'usage',
      'Say whom the key acts for: --member <subject> or --service (one of the two).',
      {
        hint: `patchbay keys create ${name} --member alice@example.com   or   patchbay keys create ${name} --service`,
      },
    );
  if (raw.service && raw.email !== undefined)
    throw new PatchbayError('usage', '--email goes with --member: a service key has no email.', {
      hint: `patchbay keys create ${name} --service (without --email)`,
    });
  const expiresInMs = parseExpiry(raw.expires ?? DEFAULT_EXPIRY);
  const state = parseStateOption(raw.state);
  return {
    ...(state !== undefined ? { state } : {}),
    name,
    ...(raw.member !== undefined ? { member: checkLabel(raw.member, '--member', 'a subject') } : {}),
    service: Boolean(raw.service),
    ...(raw.email !== undefined ? { email: checkLabel(raw.email, '--email', 'an email address') } : {}),
    groups: (raw.group ?? []).map((group) => checkLabel(group, '--group', 'a group name')),
    scopes: (raw.scope ?? DEFAULT_SCOPES).map((scope) => checkLabel(scope, '--scope', 'a scope token')),
    ...(expiresInMs !== undefined ? { expiresInMs } : {}),
  };
}

export function parseKeysRevokeOptions(
  name: string,
  raw: { state?: string } = {},
): { name: string; state?: string } {
  const state = parseStateOption(raw.state);
  return { name: validateKeyName(name), ...(state !== undefined ? { state } : {}) };
}

/** The gateway's API keys, in the store `--state` names (the gateway's own); closed after. */
async function withKeys<T>(
  state: string | undefined,
  io: Io,
  run: (keys: ApiKeys) => Promise<T>,
): Promise<T> {
  const store = await openState(state, io.paths.gatewayState);
  try {
    return await run(new ApiKeys(store));
  } finally {
    await store.close();
  }
}

export async function runKeysCreate(options: KeysCreateOptions, io: Io): Promise<number> {
  const { key, record } = await withKeys(options.state, io, (keys) => keys.create(options));
  writeLine(io.stdout, key);
  const owner = record.member !== undefined ? `member ${record.member}` : `service:${record.name}`;
  const expires = record.expiresAt ? `expires ${record.expiresAt}` : 'never expires';
  note(
    io,
    terminalText(
      `Created API key ${record.name} for ${owner} (scopes ${record.scopes.join(' ')}; ${expires}). ` +
        'This is the only time the key is shown: store it now.',
    ),
  );
  return EXIT.ok;
}

export async function runKeysList(options: { json: boolean; state?: string }, io: Io): Promise<number> {
  const views = await withKeys(options.state, io, (keys) => keys.list());
  if (options.json) {
    printJson(io, views);
    return EXIT.ok;
  }
  if (views.length === 0) {
    note(io, 'No API keys yet. Create one: patchbay keys create <key-name> --service');
    return EXIT.ok;
  }
  const p = paint(useColor(io, 'stdout'));
  const rows = views.map((view) => row(view));
  const header = ['NAME', 'OWNER', 'GROUPS', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((cells) => cells[column]!.length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  writeLine(io.stdout, p.dim(line(header)));
  for (const cells of rows) writeLine(io.stdout, terminalText(line(cells)));
  return EXIT.ok;
}

function row(view: ApiKeyView): string[] {
  return [
    view.name,
    view.member ?? `service:${view.service ?? view.name}`,
    view.groups.join(',') || '-',
    view.scopes.join(' ') || '-',
    day(view.createdAt),
    view.expiresAt ? day(view.expiresAt) : 'never',
    view.lastUsedAt ? minute(view.lastUsedAt) : 'never',
    view.state,
  ];
}

const day = (iso: string) => iso.slice(0, 10);
const minute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')}Z`;

export async function runKeysRevoke(options: { name: string; state?: string }, io: Io): Promise<number> {
  const revoked = await withKeys(options.state, io, (keys) => keys.revoke(options.name));
  if (!revoked)
    throw new PatchbayError('not-found', `No API key is named ${options.name}.`, {
      hint: 'See the keys there are: patchbay keys list',
    });
  const now = Date.parse(revoked.revokedAt!) > Date.now() - 2_000;
  note(
    io,
    now
      ? `Revoked API key ${revoked.name}; a running gateway refuses it within 5 seconds.`
      : `API key ${revoked.name} was already revoked (at ${revoked.revokedAt}).`,
  );
  return EXIT.ok;
}
