/**
 * Pre-registered OAuth client secrets (`add --client-secret`). They never go into a config file
 * a team might commit: they live in the credential store (the OS keychain, or a 0600 file under
 * the data directory), keyed by the server's name and URL so a secret is never sent to a server
 * it was not given for. Secrets stored before the credential store existed, in
 * `${configDir}/credentials.json`, are still read, and moved into the store on the next write.
 */

import type { Paths } from '../core/paths.js';
import { openCredentialStore } from './store.js';

/** What opening the store reads: its locations, and PATCHBAY_CREDENTIAL_STORE from `env`. */
export interface StorePlace {
  env: NodeJS.ProcessEnv;
  paths: Paths;
}

/** Store the secret; returns where it went, in words fit for a message (never the secret). */
export async function storeClientSecret(
  place: StorePlace,
  name: string,
  url: string,
  secret: string,
): Promise<string> {
  const store = await openCredentialStore(place.env, { paths: place.paths });
  await store.saveClientSecret(name, url, secret);
  return store.describe().location;
}

export async function readClientSecret(
  place: StorePlace,
  name: string,
  url: string,
): Promise<string | undefined> {
  return (await openCredentialStore(place.env, { paths: place.paths })).getClientSecret(name, url);
}
