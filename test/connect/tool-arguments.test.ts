/**
 * Every kind of schema rule a tool's arguments can break is said in patchbay's words, naming the
 * argument, with the SDK's real validator doing the checking (no validator is replaced).
 */

import { describe, expect, it } from 'vitest';

import {
  checkToolArguments,
  closestName,
  editDistance,
  exampleArguments,
} from '../../src/connect/tool-arguments.js';
import { PatchbayError } from '../../src/errors.js';

/** What ajv itself would print; none of it may reach a person. */
const RAW_VALIDATOR_WORDING =
  /data\/|\/[\w-]+ must |must have required property|equal to (one of|constant)|must NOT|must be [<>]=?|must match (pattern|format|a schema|exactly one schema|"then")|must be (number|string|integer|boolean|object|array|null)\b|must be multiple of|property name must|must have property|valid item\(s\)/;

async function refusal(
  schema: Record<string, unknown>,
  args: Record<string, unknown>,
  allowUnknown = false,
): Promise<PatchbayError> {
  try {
    await checkToolArguments(
      args,
      { name: 'tool', inputSchema: { type: 'object', ...schema } },
      { allowUnknown },
    );
  } catch (error) {
    if (error instanceof PatchbayError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(args)}`);
}

const CASES: Array<[string, Record<string, unknown>, Record<string, unknown>, RegExp]> = [
  [
    'type',
    { properties: { n: { type: 'integer' } } },
    { n: 1.5 },
    /argument "n" must be a whole number \(integer\); got 1\.5/,
  ],
  [
    'enum',
    { properties: { c: { enum: ['red', 'blue'] } } },
    { c: 'green' },
    /argument "c" must be one of "red", "blue"; got "green"/,
  ],
  ['const', { properties: { c: { const: 'x' } } }, { c: 'y' }, /argument "c" must be exactly "x"; got "y"/],
  [
    'required',
    { properties: { q: { type: 'string' } }, required: ['q'] },
    {},
    /argument "q" is required \(string\)/,
  ],
  [
    'minimum',
    { properties: { n: { type: 'number', minimum: 1 } } },
    { n: 0 },
    /argument "n" must be at least 1; got 0/,
  ],
  ['maximum', { properties: { n: { type: 'number', maximum: 9 } } }, { n: 10 }, /must be at most 9; got 10/],
  [
    'exclusiveMinimum',
    { properties: { n: { type: 'number', exclusiveMinimum: 0 } } },
    { n: 0 },
    /must be greater than 0/,
  ],
  [
    'exclusiveMaximum',
    { properties: { n: { type: 'number', exclusiveMaximum: 5 } } },
    { n: 5 },
    /must be less than 5/,
  ],
  [
    'multipleOf',
    { properties: { n: { type: 'number', multipleOf: 5 } } },
    { n: 7 },
    /must be a multiple of 5; got 7/,
  ],
  [
    'minLength',
    { properties: { s: { type: 'string', minLength: 3 } } },
    { s: 'ab' },
    /must be at least 3 characters long; got "ab"/,
  ],
  [
    'maxLength',
    { properties: { s: { type: 'string', maxLength: 1 } } },
    { s: 'ab' },
    /must be at most 1 character long/,
  ],
  [
    'pattern',
    { properties: { s: { type: 'string', pattern: '^[a-z]+$' } } },
    { s: 'A1' },
    /must match the pattern \^\[a-z\]\+\$; got "A1"/,
  ],
  [
    'format',
    { properties: { u: { type: 'string', format: 'uri' } } },
    { u: 'not a uri' },
    /argument "u" must be a valid uri/,
  ],
  [
    'minItems',
    { properties: { a: { type: 'array', minItems: 2 } } },
    { a: [1] },
    /must have at least 2 items/,
  ],
  [
    'maxItems',
    { properties: { a: { type: 'array', maxItems: 1 } } },
    { a: [1, 2] },
    /must have at most 1 item\b/,
  ],
  [
    'uniqueItems',
    { properties: { a: { type: 'array', uniqueItems: true } } },
    { a: [1, 1] },
    /must not repeat an item/,
  ],
  [
    'items',
    { properties: { a: { type: 'array', items: { type: 'string' } } } },
    { a: ['x', 2] },
    /argument "a\[1\]" must be a string; got 2/,
  ],
  [
    'prefixItems',
    { properties: { a: { type: 'array', prefixItems: [{ type: 'string' }], items: false } } },
    { a: ['x', 'y'] },
    /must have at most 1 item/,
  ],
  [
    'contains',
    { properties: { a: { type: 'array', contains: { type: 'string' } } } },
    { a: [1] },
    /must contain at least 1 item/,
  ],
  [
    'minProperties',
    { properties: { o: { type: 'object', minProperties: 1 } } },
    { o: {} },
    /must have at least 1 field/,
  ],
  [
    'maxProperties',
    { properties: { o: { type: 'object', maxProperties: 0 } } },
    { o: { a: 1 } },
    /must have at most 0 fields/,
  ],
  [
    'nested additionalProperties',
    {
      properties: {
        o: { type: 'object', properties: { depth: { type: 'number' } }, additionalProperties: false },
      },
    },
    { o: { dpeth: 1 } },
    /argument "o" has no field named "dpeth" \(did you mean "depth"\?\)/,
  ],
  [
    'nested required',
    { properties: { o: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } } },
    { o: {} },
    /argument "o\.id" is required \(string\)/,
  ],
  [
    'dependentRequired',
    { properties: { a: {}, b: {} }, dependentRequired: { a: ['b'] } },
    { a: 1 },
    /argument "a" needs "b" too/,
  ],
  [
    'propertyNames',
    { properties: { o: { type: 'object', propertyNames: { pattern: '^x' } } } },
    { o: { y: 1 } },
    /field name the schema does not allow: "y"/,
  ],
  [
    'anyOf',
    { properties: { v: { anyOf: [{ type: 'string' }, { type: 'number' }] } } },
    { v: true },
    /argument "v" must be a string, or a number; got true/,
  ],
  [
    'oneOf (several match)',
    { properties: { v: { oneOf: [{ type: 'number' }, { type: 'integer' }] } } },
    { v: 1 },
    /matches more than one of the forms/,
  ],
  [
    'not',
    { properties: { v: { not: { type: 'string' } } } },
    { v: 'x' },
    /argument "v" has a form the schema rules out/,
  ],
  ['false schema', { properties: { v: false } }, { v: 1 }, /argument "v" is not allowed here/],
  [
    'if/then',
    {
      properties: { a: { type: 'string' }, b: {} },
      if: { properties: { a: { const: 'x' } }, required: ['a'] },
      then: { required: ['b'] },
    },
    { a: 'x' },
    /argument "b" is required/,
  ],
  [
    'unevaluatedProperties',
    {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      properties: { o: { type: 'object', properties: { a: {} }, unevaluatedProperties: false } },
    },
    { o: { a: 1, b: 2 } },
    /argument "o" has no field named "b"; it takes a/,
  ],
];

describe('checkToolArguments', () => {
  it.each(CASES)(
    '%s: names the argument and says what it must be, in patchbay words',
    async (_kind, schema, args, said) => {
      const error = await refusal(schema, args);
      expect(error.code).toBe('usage');
      expect(error.message).toMatch(said);
      expect(error.message).toMatch(/^Cannot call tool/);
      expect(error.message).not.toMatch(RAW_VALIDATOR_WORDING);
    },
  );

  it('several problems are listed together, one line each', async () => {
    const error = await refusal(
      { properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
      { a: 'x' },
    );
    expect(error.message).toBe(
      'Cannot call tool; its arguments do not fit its input schema:\n  - argument "b" is required (number).\n  - argument "a" must be a number; got "x".',
    );
  });

  it('refuses names the schema does not declare, with the nearest one, unless they are allowed', async () => {
    const schema = { properties: { message: { type: 'string' }, count: { type: 'integer' } } };
    const error = await refusal(schema, { mesage: 'hi', COUNT: 1, zzz: 1 });
    expect(error.message).toBe(
      'Cannot call tool: it has no arguments named "mesage" (did you mean "message"?), "COUNT" (did you mean "count"?), "zzz". It takes: message (string), count (integer).',
    );
    expect(error.hint).toContain('--allow-unknown-args');
    await expect(
      checkToolArguments(
        { mesage: 'hi' },
        { name: 'tool', inputSchema: { type: 'object', ...schema } },
        { allowUnknown: true },
      ),
    ).resolves.toBeUndefined();
    // additionalProperties: false is the same refusal, and --allow-unknown-args sends them anyway.
    const closed = { ...schema, additionalProperties: false };
    expect((await refusal(closed, { extra: 1 })).message).toMatch(/no argument named "extra"/);
    await expect(
      checkToolArguments(
        { extra: 1 },
        { name: 'tool', inputSchema: { type: 'object', ...closed } },
        { allowUnknown: true },
      ),
    ).resolves.toBeUndefined();
  });

  it('takes any name where the schema opens the object on purpose', async () => {
    for (const schema of [
      { additionalProperties: true },
      { additionalProperties: { type: 'string' } },
      { patternProperties: { '^x_': {} } },
    ])
      await expect(
        checkToolArguments(
          { x_any: 'v' },
          { name: 't', inputSchema: { type: 'object', ...schema } },
          { allowUnknown: false },
        ),
      ).resolves.toBeUndefined();
  });

  it('a schema it cannot compile is said once and left to the server', async () => {
    const said: string[] = [];
    await checkToolArguments(
      { a: 1 },
      {
        name: 't',
        inputSchema: { type: 'object', properties: { a: { $ref: 'https://elsewhere.example/s.json' } } },
      },
      { allowUnknown: false, onUncheckable: (why) => said.push(why) },
    );
    expect(said).toHaveLength(1);
  });
});

describe('exampleArguments', () => {
  it('puts the required arguments with a placeholder of their type, choices, or the schema’s own example', () => {
    expect(exampleArguments({ properties: { message: { type: 'string' } }, required: ['message'] })).toBe(
      'message=<string>',
    );
    expect(
      exampleArguments({
        properties: {
          level: { enum: ['debug', 'info', 'warn', 'error', 'fatal'] },
          n: { type: 'integer' },
          on: { type: 'boolean' },
          tags: { type: 'array' },
          city: { type: 'string', examples: ['New York'] },
          skip: { type: 'string' },
        },
        required: ['level', 'n', 'on', 'tags', 'city'],
      }),
    ).toBe(`level='<debug|info|warn|error|…>' n=<integer> on=<true|false> tags='[…]' city='New York'`);
  });
});

describe('closestName', () => {
  it('finds slips (a letter missing, two swapped, another case) and nothing for a different word', () => {
    expect(closestName('mesage', ['message', 'count'])).toBe('message');
    expect(closestName('conut', ['message', 'count'])).toBe('count');
    expect(closestName('Message', ['message'])).toBe('message');
    expect(closestName('zzz', ['message', 'count'])).toBeUndefined();
    expect(editDistance('ab', 'ba')).toBe(1);
  });
});
