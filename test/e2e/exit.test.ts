/**
 * A one-shot command exits once it has printed. HTTP responses are parsed by undici's llhttp, a
 * WebAssembly module; V8 recompiles hot WebAssembly with its optimising tier (TurboFan) on
 * background threads, and node waits for those compilations before it exits, so they used to add
 * their time after the output. With `--trace-wasm-compilation-times` V8 names the tier of every
 * compiled function: a one-shot command must show none compiled by TurboFan.
 */

import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';

let demo: DemoServer;
let sandbox: Sandbox;
beforeAll(async () => {
  demo = await startDemoServer();
});
afterAll(async () => {
  await demo.close();
});
beforeEach(async () => {
  sandbox = await createSandbox();
  await sandbox.run(['add', 'demo', demo.url]);
});
afterEach(async () => {
  await sandbox.cleanup();
});

/** Runs the binary with V8's trace of WebAssembly compilations (V8 prints it on stdout). */
function traced(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--trace-wasm-compilation-times', BINARY, ...args], {
      env: sandbox.env,
      cwd: sandbox.project,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const args of [['list'], ['get', 'demo'], ['call', 'demo', 'echo', 'text=hi']]) {
  it(`patchbay ${args.join(' ')} compiles no WebAssembly with the optimising tier`, async () => {
    const result = await traced(args);
    expect(result.code, result.stderr).toBe(0);
    // The check really parsed HTTP responses with llhttp: its baseline compilations are traced.
    expect(result.stdout).toMatch(/Compiled function .* using Liftoff/);
    expect(result.stdout.split('\n').filter((line) => /using TurboFan/.test(line))).toEqual([]);
  });
}
