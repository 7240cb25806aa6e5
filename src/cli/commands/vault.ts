/**
 * `patchbay vault list|revoke`: the operator's view of a team gateway's member vault (the state
 * directory of this machine's gateway). Only the facts beside each sealed login are read, so
 * neither needs the vault key, and no token is ever shown.
 */

import { EXIT, PatchbayError, type ExitCode } from '../../errors.js';
import { printJson, writeLine, type Io } from '../io.js';

export interface VaultOptions {
  member?: string;
  server?: string;
  json: boolean;
}

export function parseVaultOptions(
  raw: { member?: string; server?: string; json?: boolean },
  memberRequired: boolean,
): VaultOptions {
  if (memberRequired && !raw.member?.trim())
    throw new PatchbayError('usage', 'Name the member whose links to remove.', {
      hint: 'patchbay vault list shows them; then: patchbay vault revoke --member <subject>',
    });
  return {
    ...(raw.member ? { member: raw.member } : {}),
    ...(raw.server ? { server: raw.server } : {}),
    json: Boolean(raw.json),
  };
}

async function openLinks(io: Io) {
  const [{ FileState }, { MemberVaultFacts, linkView }] = await Promise.all([
    import('../../state/files.js'),
    import('../../auth/member-vault.js'),
  ]);
  return { facts: new MemberVaultFacts(new FileState(io.paths.gatewayState)), linkView };
}

export async function runVaultList(options: VaultOptions, io: Io): Promise<ExitCode> {
  const { facts, linkView } = await openLinks(io);
  const links = (await facts.links(options)).map(linkView);
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
  const removed = await (await openLinks(io)).facts.revoke(options.member!, options.server);
  const what = options.server ? `to ${options.server}` : 'to every server';
  writeLine(
    io.stderr,
    removed === 0
      ? `${options.member} has no links ${what}.`
      : `Removed ${removed} link${removed === 1 ? '' : 's'} of ${options.member} ${what}; they sign in again on next use.`,
  );
  return removed === 0 ? EXIT.error : EXIT.ok;
}
