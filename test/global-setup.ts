import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The e2e tests run the built binary; build it when `vitest` is run on its own. */
export default function setup(): void {
  if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) {
    execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  }
}
