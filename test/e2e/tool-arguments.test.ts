/**
 * `patchbay call` refuses arguments that do not fit the tool's schema before anything is sent, in
 * patchbay's words: the argument, what it must be, the allowed values, and an example built from
 * the schema; an unknown name gets the nearest one. Against server-everything over HTTP.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

/** What the validator itself would print (ajv's errorsText); none of it may reach the terminal. */
const RAW_VALIDATOR_WORDING =
  /data\/|\/[\w-]+ must |must have required property|equal to one of|must NOT|must be [<>]=?|must match format|must be (number|string)\b/;

let server: EverythingServer;
let sandbox: Sandbox;

beforeAll(async () => {
  server = await startEverything('streamableHttp');
  sandbox = await createSandbox();
  await sandbox.run(['add', 'ev', server.url]);
}, 30_000);
afterAll(async () => {
  await sandbox?.cleanup();
  await server?.close();
});

const call = (...args: string[]) => sandbox.run(['call', 'ev', ...args, '--timeout', '20']);

describe('patchbay call: argument errors a person can act on', () => {
  it.each([
    [
      'a missing argument',
      ['echo'],
      'error: Cannot call echo: argument "message" is required (string).',
      'For example: patchbay call ev echo message=<string>',
    ],
    [
      'a value not allowed',
      ['get-annotated-message', 'messageType=warn'],
      'argument "messageType" must be one of "error", "success", "debug"; got "warn".',
      "For example: patchbay call ev get-annotated-message messageType='<error|success|debug>'",
    ],
    [
      'a wrong type typed on the command line',
      ['get-sum', 'a=two', 'b=2'],
      'argument "a" must be a number; got "two".',
      'For example: patchbay call ev get-sum a=<number> b=<number>',
    ],
    [
      'a wrong type in --args',
      ['echo', '--args', '{"message": 3}'],
      'argument "message" must be a string; got 3.',
      'For example: patchbay call ev echo message=<string>',
    ],
    [
      'a number out of range',
      ['get-resource-links', 'count=50'],
      'argument "count" must be at most 10; got 50.',
      'patchbay tool ev get-resource-links',
    ],
    [
      'a format',
      ['trigger-url-elicitation', 'url=not-a-url'],
      'argument "url" must be a valid uri; got "not-a-url".',
      'For example: patchbay call ev trigger-url-elicitation url=<string>',
    ],
    [
      'a misspelt name',
      ['echo', 'mesage=hi'],
      'echo: it has no argument named "mesage" (did you mean "message"?). It takes: message (string, required).',
      '--allow-unknown-args',
    ],
    [
      'a name on a tool that takes none',
      ['get-tiny-image', 'size=2'],
      'get-tiny-image: it has no argument named "size". It takes no arguments.',
      '--allow-unknown-args',
    ],
  ])('%s: the argument, what it must be, and an example', async (_what, args, said, hint) => {
    const result = await call(...args);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(said);
    expect(result.stderr).toContain(hint);
    expect(result.stderr).not.toMatch(RAW_VALIDATOR_WORDING);
    expect(result.stdout).toBe('');
  });

  it('--allow-unknown-args sends a name the schema does not declare', async () => {
    const result = await call('echo', 'message=hi', 'extra=1', '--allow-unknown-args');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('Echo: hi\n');
  });
});
