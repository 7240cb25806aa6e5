/**
 * Claude Code's binary, from npm (a devDependency): the real host some tests need. npm installs
 * the platform's binary as an optional package; the main package's postinstall would copy it to
 * its own bin/, but install scripts may not run (npm's install-scripts policy), so the platform
 * package's binary is looked for first.
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The path of the `claude` binary, or an error that says how to get it. */
export function claudeBinary(): string {
  const libc = muslSuffix();
  const candidates = [
    [`@anthropic-ai/claude-code-${process.platform}-${process.arch}${libc}/package.json`, 'claude'],
    [`@anthropic-ai/claude-code-${process.platform}-${process.arch}${libc}/package.json`, 'claude.exe'],
    ['@anthropic-ai/claude-code/package.json', 'bin/claude.exe'],
  ] as const;
  for (const [manifest, file] of candidates) {
    try {
      const path = join(dirname(require.resolve(manifest)), file);
      if (existsSync(path)) return path;
    } catch {
      // Not installed for this platform: the next candidate.
    }
  }
  throw new Error(
    'Claude Code is not installed: run npm ci (it is a devDependency, @anthropic-ai/claude-code).',
  );
}

function muslSuffix(): string {
  if (process.platform !== 'linux') return '';
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ? '' : '-musl';
}

/** An environment for claude in a throwaway home: no updater, telemetry or other traffic. */
export function claudeEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  };
}
