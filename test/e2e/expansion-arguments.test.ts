/**
 * `${VAR}` in a command is one argument, end to end: the built binary runs a headersHelper and a
 * stdio server whose argv each record themselves, with a value full of spaces, quotes and shell
 * syntax. Before, a headersHelper's expanded text was split and re-parsed into several arguments.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const HOSTILE = `two words 'single' "double" \\ $(id) \`id\` ; | & # > x`;

// Writes its argv to the file named by ARGV_FILE, then behaves as its role needs: a headersHelper
// prints a JSON object of headers; a stdio "server" just exits (the check then fails, which is fine:
// only the argv it was started with matters here).
const RECORDER = `
import { writeFileSync } from 'node:fs';
writeFileSync(process.env.ARGV_FILE, JSON.stringify(process.argv.slice(2)));
if (process.env.ROLE === 'helper') process.stdout.write('{"X-Probe":"1"}');
`;

let sandbox: Sandbox;
let recorder: string;
let argvFile: string;

beforeEach(async () => {
  sandbox = await createSandbox();
  recorder = join(sandbox.root, 'recorder.mjs');
  argvFile = join(sandbox.root, 'argv.json');
  await writeFile(recorder, RECORDER);
});
afterEach(() => sandbox.cleanup());

async function recordedArgv(): Promise<string[]> {
  return JSON.parse(await readFile(argvFile, 'utf8')) as string[];
}

describe('${VAR} in a command line', () => {
  it('a headersHelper gets a value with spaces, quotes and shell syntax as one argument', async () => {
    await writeFile(
      sandbox.projectConfig,
      JSON.stringify({
        mcpServers: {
          // Nothing listens on port 9: the helper runs before the connection is tried.
          api: {
            type: 'http',
            url: 'http://127.0.0.1:9/mcp',
            headersHelper: `node ${recorder} --token \${HOSTILE} "--label=\${HOSTILE}" last`,
          },
        },
      }),
    );
    await sandbox.run(['approve', 'api']);
    const env = { HOSTILE, ARGV_FILE: argvFile, ROLE: 'helper', PATCHBAY_TIMEOUT: '5' };
    const result = await sandbox.run(['get', 'api', '--json'], { env });
    expect(result.stderr).not.toMatch(/headersHelper is not a valid command|shell syntax/);
    expect(await recordedArgv()).toEqual(['--token', HOSTILE, `--label=${HOSTILE}`, 'last']);
  });

  it("a stdio server's command and args get such a value as one argument each", async () => {
    await writeFile(
      sandbox.projectConfig,
      JSON.stringify({
        mcpServers: {
          local: {
            command: '${NODE}',
            args: [recorder, '${HOSTILE}', '--k=${HOSTILE}'],
            env: { ARGV_FILE: argvFile },
          },
        },
      }),
    );
    await sandbox.run(['approve', 'local']);
    const env = { HOSTILE, NODE: process.execPath, PATCHBAY_TIMEOUT: '5' };
    await sandbox.run(['get', 'local', '--json'], { env });
    expect(await recordedArgv()).toEqual([HOSTILE, `--k=${HOSTILE}`]);
  });
});
