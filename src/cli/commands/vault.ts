/**
 * `patchbay vault list|revoke`: the operator's view of a team gateway's member vault (the state
 * directory of this machine's gateway). Only the facts beside each sealed login are read, so
 * neither needs the vault key, and no token is ever shown.
 */

import { EXIT, PatchbayError, type ExitCode } from '../../errors.js';
import { openState, parseStateOption } from '../../state/open.js';
import { printJson, writeLine, type Io } from '../io.js';

export interface VaultOptions {
  member?: string;
  server?: string;
  json: boolean;
  /** `--state redis://…`: the store the gateway was started with; unset: files on this machine. */
  state?: string;
}

export function parseVaultOptions(
  raw: { member?: string; server?: string; json?: boolean; state?: string },
  memberRequired: boolean,
): VaultOptions {
  if (memberRequired && !raw.member?.trim())
    throw new PatchbayError('usage', 'Name the member whose links to remove.', {
      hint: 'patchbay vault list shows them; then: patchbay vault revoke --member <subject>',
    });
  const state = parseStateOption(raw.state);
  return {
    ...(state !== undefined ? { state } : {}),
    ...(raw.member ? { member: raw.member } : {}),
    ...(raw.server ? { server: raw.server } : {}),
    json: Boolean(raw.json),
  };
}

/** The vault's facts in the store `--state` names (the gateway's own); closed after. */
async function withLinks<T>(
  options: VaultOptions,
  io: Io,
  run: (facts: import('../../auth/member-vault.js').MemberVaultFacts) => Promise<T>,
): Promise<T> {
  const { MemberVaultFacts } = await import('../../auth/member-vault.js');
  const store = await openState(options.state, io.paths.gatewayState);
  try {
    return await run(new MemberVaultFacts(store));
  } finally {
    await store.close();
  }
}

export async function runVaultList(options: VaultOptions, io: Io): Promise<ExitCode> {
  const { linkView } = await import('../../auth/member-vault.js');
  const links = (await withLinks(options, io, (facts) => facts.links(options))).map(linkView);
  if (options.json) {
    printJson(io, { links });
    return EXIT.ok;
  }
  if (links.length === 0) {
    writeLine(io.stderr, "No member links in this gateway's vault.");
    return EXIT.ok;
  }
  for (const link of links)
    writeLine(io.stdout, `${link.member}  ${link.server}  ${link.issuer}  since ${link.obtainedAt}`);
  return EXIT.ok;
}

export async function runVaultRevoke(options: VaultOptions, io: Io): Promise<ExitCode> {
  const removed = await withLinks(options, io, (facts) => facts.revoke(options.member!, options.server));
  const what = options.server ? `to ${options.server}` : 'to every server';
  writeLine(
    io.stderr,
    removed === 0
      ? `${options.member} has no links ${what}.`
      : `Removed ${removed} link${removed === 1 ? '' : 's'} of ${options.member} ${what}; they sign in again on next use.`,
  );
  return removed === 0 ? EXIT.error : EXIT.ok;
}
