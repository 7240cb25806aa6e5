/**
 * `patchbay demo` (and `npm start`): the main job end to end, for real. An embedded MCP server
 * on loopback, a throwaway config directory and project (never the user's), and the real
 * `patchbay` binary run against them: add → list (connected) → get.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { paint, useColor, writeLine, type Io } from '../cli/io.js';
import { startDemoServer } from './demo-server.js';

const BINARY = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export async function runDemo(io: Io): Promise<number> {
  const p = paint(useColor(io, 'stdout'));
  const workspace = await mkdtemp(join(tmpdir(), 'patchbay-demo-'));
  const env: NodeJS.ProcessEnv = {
    ...io.env,
    PATCHBAY_CONFIG_DIR: join(workspace, 'config'),
    PATCHBAY_PROJECT_DIR: join(workspace, 'project'),
  };
  const server = await startDemoServer();
  try {
    writeLine(io.stdout, p.bold('patchbay demo'));
    writeLine(io.stdout, `An MCP server is running at ${server.url} (embedded, loopback only).`);
    writeLine(
      io.stdout,
      p.dim(`Throwaway config: ${env.PATCHBAY_CONFIG_DIR} — your own config is not touched.`),
    );
    const steps: Array<{ say: string; args: string[] }> = [
      { say: 'Register the server (local scope: you, this project):', args: ['add', 'demo', server.url] },
      { say: 'List servers and check each one (in parallel, with a timeout):', args: ['list'] },
      { say: 'Show one server in full:', args: ['get', 'demo'] },
    ];
    for (const step of steps) {
      writeLine(io.stdout);
      writeLine(io.stdout, step.say);
      writeLine(io.stdout, p.bold(`$ patchbay ${step.args.join(' ')}`));
      const code = await runPatchbay(step.args, env, io, workspace);
      if (code !== 0) {
        writeLine(io.stderr, `The demo step \`patchbay ${step.args.join(' ')}\` exited with ${code}.`);
        return code;
      }
    }
    writeLine(io.stdout);
    writeLine(io.stdout, 'Next, with your own servers:');
    writeLine(io.stdout, '  patchbay add <name> https://…/mcp          a remote server (Streamable HTTP)');
    writeLine(io.stdout, '  patchbay add <name> -- npx -y <package>    a local command (stdio)');
    writeLine(io.stdout, '  patchbay import --from claude-desktop      bring servers from another host');
    return 0;
  } finally {
    await server.close();
    await rm(workspace, { recursive: true, force: true });
  }
}

/** Spawned asynchronously: the embedded server answers from this same process meanwhile. */
function runPatchbay(args: string[], env: NodeJS.ProcessEnv, io: Io, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BINARY, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => io.stdout.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => io.stderr.write(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}
