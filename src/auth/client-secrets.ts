/**
 * Pre-registered OAuth client secrets (`add --client-secret`). They never go into a config file
 * a team might commit: they live in patchbay's private credentials file (0600), keyed by the
 * server's name and URL so a secret is never sent to a server it was not given for.
 * (The OS keychain comes with the OAuth work; this file is its fallback.)
 */

import { join } from 'node:path';
import { updateJsonFile } from '../config/file-store.js';
import { createObject, getOwn, isObject, setOwn } from '../config/json-source.js';
import { configDirectory } from '../config/paths.js';

export function credentialsPath(env: NodeJS.ProcessEnv): string {
  return join(configDirectory(env), 'credentials.json');
}

function secretKey(name: string, url: string): string {
  return `${name} ${url}`;
}

export async function storeClientSecret(
  env: NodeJS.ProcessEnv,
  name: string,
  url: string,
  secret: string,
): Promise<string> {
  const path = credentialsPath(env);
  await updateJsonFile(
    path,
    (root) => {
      if (!isObject(root)) return { write: false, result: undefined };
      let secrets = getOwn(root, 'clientSecrets');
      if (!isObject(secrets)) {
        secrets = createObject();
        setOwn(root, 'clientSecrets', secrets);
      }
      setOwn(secrets, secretKey(name, url), secret);
      return { write: true, result: undefined };
    },
    { secret: true },
  );
  return path;
}
