// Builds the console into dist/web/ with Vite's API: `node web/build.mjs` from anywhere.
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const webDir = fileURLToPath(new URL('.', import.meta.url));

try {
  await build({
    root: webDir,
    configFile: fileURLToPath(new URL('vite.config.ts', import.meta.url)),
    logLevel: 'warn',
  });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
