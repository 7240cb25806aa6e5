/** What every OAuth test of the built binary sets up: a headless browser and a private credential store. */

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Sandbox } from './sandbox.js';

/** The PATCHBAY_BROWSER program: follows the redirects to the loopback callback. */
export const BROWSER = fileURLToPath(new URL('../fixtures/oauth/browser.mjs', import.meta.url));

/** A JWT (an access token here) anywhere in a text: what no output may contain. */
export const JWT = /eyJ[\w-]+\.[\w-]+\./;

/**
 * The environment a login runs in: the headless browser (logging what it opens to BROWSER_LOG),
 * and the credential store in files inside the sandbox, never the machine's keychain.
 */
export function oauthEnv(sandbox: Sandbox): NodeJS.ProcessEnv {
  return {
    PATCHBAY_BROWSER: `"${process.execPath}" "${BROWSER}"`,
    PATCHBAY_CREDENTIAL_STORE: 'file',
    PATCHBAY_DATA_DIR: join(sandbox.root, 'data'),
    BROWSER_LOG: join(sandbox.root, 'browser.log'),
  };
}
