/**
 * A tool's arguments checked against its input schema before the call is sent, for every front
 * end that calls tools (`patchbay call`, the console's try-it). A refusal is in patchbay's words:
 * which argument, what it must be (type, allowed values, bounds), and an example call built from
 * the schema; a validator's own wording (`data/x must …`) never reaches the person.
 *
 * The SDK's validator (ajv inside, with the dialect picked by `$schema`) does the checking; its
 * structured errors are read where it hands them to `errorsText`, and each kind is worded here.
 */

import { PatchbayError } from '../errors.js';
import { terminalText } from '../core/terminal-text.js';

/** The parts of a JSON Schema this module reads; everything else is passed to the validator as is. */
export interface JsonSchema {
  type?: unknown;
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  required?: unknown;
  additionalProperties?: unknown;
  enum?: unknown;
  const?: unknown;
  examples?: unknown;
  items?: unknown;
  anyOf?: unknown;
  oneOf?: unknown;
}

export interface ToolWithSchema {
  name: string;
  inputSchema?: unknown;
}

export interface CheckOptions {
  /** --allow-unknown-args: names the schema does not declare are sent anyway. */
  allowUnknown: boolean;
  /** The next step the front end offers (the CLI: an example call and `patchbay tool …`). */
  hint?: string;
  /** Said when the schema cannot be compiled here (the server still checks). */
  onUncheckable?: (why: string) => void;
}

/** Every argument problem of one call, in one usage error. */
export async function checkToolArguments(
  args: Record<string, unknown>,
  tool: ToolWithSchema,
  options: CheckOptions,
): Promise<void> {
  const schema = asSchema(tool.inputSchema);
  if (!schema) return;
  const unknown = options.allowUnknown ? [] : unknownArguments(args, schema);
  if (unknown.length > 0) throw unknownArgumentsError(tool.name, unknown, schema, options.hint);
  const issues = await validate(args, schema, options);
  if (issues === undefined) return;
  const sentences = describeIssues(issues, args, schema, options.allowUnknown);
  if (sentences.length === 0 && issues.length > 0) return; // only unknown names, which were allowed
  throw argumentsError(tool.name, sentences, options.hint);
}

function asSchema(value: unknown): JsonSchema | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as JsonSchema)
    : undefined;
}

function propertiesOf(schema: JsonSchema): Record<string, JsonSchema> {
  const properties = asSchema(schema.properties);
  return (properties ?? {}) as Record<string, JsonSchema>;
}

function requiredOf(schema: JsonSchema): string[] {
  return Array.isArray(schema.required)
    ? schema.required.filter((name): name is string => typeof name === 'string')
    : [];
}

/**
 * Names the schema does not declare. A schema that opens its object on purpose (an
 * `additionalProperties` schema or `true`, or `patternProperties` that match) takes any name.
 */
export function unknownArguments(args: Record<string, unknown>, schema: JsonSchema): string[] {
  if (schema.additionalProperties === true || asSchema(schema.additionalProperties)) return [];
  const properties = propertiesOf(schema);
  const patterns = Object.keys(asSchema(schema.patternProperties) ?? {}).flatMap((source) => {
    try {
      return [new RegExp(source, 'u')];
    } catch {
      return [];
    }
  });
  return Object.keys(args).filter(
    (name) => !Object.hasOwn(properties, name) && !patterns.some((pattern) => pattern.test(name)),
  );
}

function unknownArgumentsError(
  tool: string,
  unknown: string[],
  schema: JsonSchema,
  hint: string | undefined,
): PatchbayError {
  const known = Object.keys(propertiesOf(schema));
  const parts = unknown.map((name) => {
    const near = closestName(name, known);
    return near ? `${quote(name)} (did you mean ${quote(near)}?)` : quote(name);
  });
  const message =
    unknown.length === 1
      ? `${tool}: it has no argument named ${parts[0]}.`
      : `${tool}: it has no arguments named ${parts.join(', ')}.`;
  const takes = known.length > 0 ? `It takes: ${argumentSummary(schema)}.` : 'It takes no arguments.';
  return new PatchbayError('usage', `Cannot call ${message} ${takes}`, {
    hint: [hint, '--allow-unknown-args sends names the schema does not declare anyway.']
      .filter(Boolean)
      .join('\n'),
  });
}

function argumentsError(tool: string, sentences: string[], hint: string | undefined): PatchbayError {
  const message =
    sentences.length === 0
      ? `The arguments do not fit ${tool}'s input schema.`
      : sentences.length === 1
        ? `Cannot call ${tool}: ${sentences[0]!}`
        : `Cannot call ${tool}; its arguments do not fit its input schema:\n${sentences.map((line) => `  - ${line}`).join('\n')}`;
  return new PatchbayError('usage', message, hint ? { hint } : {});
}

/** `a (number, required), b (one of "x", "y")`: what each argument is, for a message. */
export function argumentSummary(schema: JsonSchema): string {
  const required = new Set(requiredOf(schema));
  return Object.entries(propertiesOf(schema))
    .map(([name, property]) => `${name} (${shortType(property)}${required.has(name) ? ', required' : ''})`)
    .join(', ');
}

/**
 * `message=<string> count=<integer>`: the required arguments (else the first few) as key=value
 * with a placeholder of their type, or the schema's own example value when it gives one.
 */
export function exampleArguments(schema: JsonSchema): string {
  const properties = propertiesOf(schema);
  const required = requiredOf(schema).filter((name) => Object.hasOwn(properties, name));
  const names = required.length > 0 ? required : Object.keys(properties).slice(0, 3);
  return names.map((name) => `${shellWord(name)}=${placeholder(properties[name] ?? {})}`).join(' ');
}

function placeholder(property: JsonSchema): string {
  const example = Array.isArray(property.examples) ? property.examples[0] : undefined;
  if (typeof example === 'string' && example !== '') return shellWord(example);
  if (typeof example === 'number' || typeof example === 'boolean') return String(example);
  const choices = enumValues(property);
  if (choices) {
    const shown = choices
      .slice(0, 4)
      .map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));
    return `'<${shown.join('|')}${choices.length > 4 ? '|…' : ''}>'`;
  }
  const types = typesOf(property);
  if (types.includes('object')) return `'{…}'`;
  if (types.includes('array')) return `'[…]'`;
  if (types.includes('boolean') && types.length === 1) return '<true|false>';
  return `<${types[0] ?? 'value'}>`;
}

function shellWord(text: string): string {
  return /^[\w@%+:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type))
    return schema.type.filter((type): type is string => typeof type === 'string');
  return typeof schema.type === 'string' ? [schema.type] : [];
}

function enumValues(schema: JsonSchema): unknown[] | undefined {
  if (Array.isArray(schema.enum)) return schema.enum;
  if (schema.const !== undefined) return [schema.const];
  return undefined;
}

function shortType(schema: JsonSchema): string {
  const choices = enumValues(schema);
  if (choices)
    return `one of ${choices.slice(0, 6).map(showValue).join(', ')}${choices.length > 6 ? ', …' : ''}`;
  const types = typesOf(schema);
  return types.length > 0 ? types.join(' or ') : 'any JSON';
}

/** A JSON type as a phrase: `a string`, `a whole number`, `true or false`. */
export function typePhrase(type: string): string {
  switch (type) {
    case 'string':
      return 'a string';
    case 'integer':
      return 'a whole number (integer)';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a JSON object';
    case 'array':
      return 'a JSON array';
    case 'null':
      return 'null';
    default:
      return `of type ${type}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The validator and its errors

/** One error as ajv reports it (ErrorObject): which keyword failed where, with its parameters. */
interface Issue {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
}

interface EngineLike {
  compile(schema: unknown): unknown;
  getSchema(key: string): unknown;
  errorsText(errors?: unknown): string;
}

/** The issues, or undefined when the arguments fit (or the schema cannot be compiled here). */
async function validate(
  args: Record<string, unknown>,
  schema: JsonSchema,
  options: CheckOptions,
): Promise<Issue[] | undefined> {
  const { AjvJsonSchemaValidator } = await import('@modelcontextprotocol/client/validators/ajv');
  const provider = new AjvJsonSchemaValidator();
  let issues: Issue[] | undefined;
  // The SDK keeps ajv's structured errors to itself and hands them to the engine's errorsText;
  // they are taken there. Should the SDK's internals change, the check still decides, and the
  // message falls back to a plain sentence without the validator's wording.
  const internals = provider as unknown as { _engineFor?: (schema: unknown) => EngineLike };
  const pick = typeof internals._engineFor === 'function' ? internals._engineFor.bind(provider) : undefined;
  if (pick)
    internals._engineFor = (target) => {
      const engine = pick(target);
      return {
        compile: (value) => engine.compile(value),
        getSchema: (key) => engine.getSchema(key),
        errorsText: (errors) => {
          issues = Array.isArray(errors) ? (errors as Issue[]) : [];
          return engine.errorsText(errors);
        },
      };
    };
  let check: (value: unknown) => { valid: boolean };
  try {
    check = provider.getValidator(schema as never);
  } catch (error) {
    // A $ref to another document (never fetched, SEP-2106), an unknown dialect: the server checks.
    const why = error instanceof Error ? error.message : String(error);
    options.onUncheckable?.(terminalText(why).slice(0, 200));
    return undefined;
  }
  issues = undefined;
  if (check(args).valid) return undefined;
  return issues ?? [];
}

const FOLDED = new Set(['anyOf', 'oneOf', 'contains', 'minContains']);

/** Each issue as a sentence naming the argument; the branches of a failed anyOf/oneOf folded into it. */
function describeIssues(
  issues: Issue[],
  args: Record<string, unknown>,
  schema: JsonSchema,
  allowUnknown: boolean,
): string[] {
  // anyOf, oneOf and contains report why each branch (or item) failed; the sentence about the
  // rule itself says what was expected, and the branches' own errors would mislead.
  const alternatives = issues.filter((issue) => FOLDED.has(issue.keyword));
  const insideAlternative = (issue: Issue) =>
    alternatives.some((parent) => parent !== issue && issue.schemaPath.startsWith(`${parent.schemaPath}/`));
  const sentences: string[] = [];
  for (const issue of issues) {
    if (insideAlternative(issue)) continue;
    if (issue.keyword === 'if' && issues.length > 1) continue; // its then/else errors say more
    if (
      allowUnknown &&
      issue.instancePath === '' &&
      (issue.keyword === 'additionalProperties' || issue.keyword === 'unevaluatedProperties')
    )
      continue;
    const branches = issues.filter((other) => other.schemaPath.startsWith(`${issue.schemaPath}/`));
    const sentence = describeIssue(issue, args, schema, branches);
    if (!sentences.includes(sentence)) sentences.push(sentence);
  }
  return sentences;
}

function describeIssue(
  issue: Issue,
  args: Record<string, unknown>,
  schema: JsonSchema,
  branches: Issue[],
): string {
  const path = pointerParts(issue.instancePath);
  const subject = path.length === 0 ? 'the arguments' : `argument ${quote(argumentPath(path))}`;
  const value = valueAt(args, path);
  const got = `; got ${showValue(value)}`;
  const p = issue.params;
  const n = (key: string) => Number(p[key]);
  switch (issue.keyword) {
    case 'type': {
      const types = String(p.type).split(',');
      return `${subject} must be ${types.map(typePhrase).join(' or ')}${got}.`;
    }
    case 'enum': {
      const allowed = Array.isArray(p.allowedValues) ? p.allowedValues : [];
      return `${subject} must be one of ${allowed.map(showValue).join(', ')}${got}.`;
    }
    case 'const':
      return `${subject} must be exactly ${showValue(p.allowedValue)}${got}.`;
    case 'required': {
      const name = argumentPath([...path, String(p.missingProperty)]);
      const property = propertyAt(schema, [...path, String(p.missingProperty)]);
      return `argument ${quote(name)} is required${property ? ` (${shortType(property)})` : ''}.`;
    }
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const extra = String(p.additionalProperty ?? p.unevaluatedProperty);
      const known = Object.keys(propertiesOf(propertyAt(schema, path) ?? {}));
      const near = closestName(extra, known);
      const where = path.length === 0 ? 'the arguments have' : `${subject} has`;
      return `${where} no field named ${quote(extra)}${near ? ` (did you mean ${quote(near)}?)` : ''}${known.length > 0 ? `; it takes ${known.join(', ')}` : ''}.`;
    }
    case 'minimum':
      return `${subject} must be at least ${n('limit')}${got}.`;
    case 'maximum':
      return `${subject} must be at most ${n('limit')}${got}.`;
    case 'exclusiveMinimum':
      return `${subject} must be greater than ${n('limit')}${got}.`;
    case 'exclusiveMaximum':
      return `${subject} must be less than ${n('limit')}${got}.`;
    case 'multipleOf':
      return `${subject} must be a multiple of ${n('multipleOf')}${got}.`;
    case 'minLength':
      return `${subject} must be at least ${plural(n('limit'), 'character')} long${got}.`;
    case 'maxLength':
      return `${subject} must be at most ${plural(n('limit'), 'character')} long${got}.`;
    case 'pattern':
      return `${subject} must match the pattern ${terminalText(String(p.pattern)).slice(0, 120)}${got}.`;
    case 'format':
      return `${subject} must be a valid ${terminalText(String(p.format)).slice(0, 40)}${got}.`;
    case 'minItems':
      return `${subject} must have at least ${plural(n('limit'), 'item')}.`;
    case 'maxItems':
    case 'additionalItems':
    case 'items':
    case 'unevaluatedItems':
      return Number.isFinite(n('limit'))
        ? `${subject} must have at most ${plural(n('limit'), 'item')}.`
        : `${subject} has items the schema does not allow.`;
    case 'uniqueItems':
      return `${subject} must not repeat an item (items ${n('j')} and ${n('i')} are the same).`;
    case 'minProperties':
      return `${subject} must have at least ${plural(n('limit'), 'field')}.`;
    case 'maxProperties':
      return `${subject} must have at most ${plural(n('limit'), 'field')}.`;
    case 'contains':
    case 'minContains':
      return `${subject} must contain at least ${plural(Number.isFinite(n('minContains')) ? n('minContains') : 1, 'item')} of the kind the schema asks for.`;
    case 'maxContains':
      return `${subject} must contain at most ${plural(n('maxContains'), 'item')} of that kind.`;
    case 'dependentRequired':
    case 'dependencies':
      return `argument ${quote(argumentPath([...path, String(p.property)]))} needs ${quote(argumentPath([...path, String(p.missingProperty)]))} too.`;
    case 'propertyNames':
      return `${subject} has a field name the schema does not allow: ${quote(String(p.propertyName))}.`;
    case 'anyOf':
    case 'oneOf': {
      if (issue.keyword === 'oneOf' && Array.isArray(p.passingSchemas))
        return `${subject} matches more than one of the forms the schema allows; it must match exactly one.`;
      const expected = [
        ...new Set(
          branches
            .filter((branch) => branch.keyword === 'type')
            .flatMap((branch) => String(branch.params.type).split(',')),
        ),
      ];
      return expected.length > 0
        ? `${subject} must be ${expected.map(typePhrase).join(', or ')}${got}.`
        : `${subject} does not match any of the forms the schema allows${got}.`;
    }
    case 'not':
      return `${subject} has a form the schema rules out${got}.`;
    case 'false schema':
      return `${subject} is not allowed here.`;
    case 'if':
      return `${subject} does not meet a condition of the schema.`;
    default:
      return `${subject} does not fit the schema's ${quote(terminalText(issue.keyword).slice(0, 40))} rule${got}.`;
  }
}

function pointerParts(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `config.depth`, `items[0]`: a path into the arguments as a person writes it. */
function argumentPath(parts: string[]): string {
  return parts.reduce(
    (path, part, index) =>
      /^\d+$/.test(part) && index > 0 ? `${path}[${part}]` : index === 0 ? part : `${path}.${part}`,
    '',
  );
}

function valueAt(value: unknown, parts: string[]): unknown {
  let current = value;
  for (const part of parts) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = Object.hasOwn(current, part) ? (current as Record<string, unknown>)[part] : undefined;
  }
  return current;
}

function propertyAt(schema: JsonSchema, parts: string[]): JsonSchema | undefined {
  let current: JsonSchema | undefined = schema;
  for (const part of parts) {
    if (!current) return undefined;
    const properties = propertiesOf(current);
    if (Object.hasOwn(properties, part)) current = properties[part];
    else if (/^\d+$/.test(part) && asSchema(current.items)) current = asSchema(current.items);
    else return undefined;
  }
  return current;
}

function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return terminalText(text.length > 60 ? `${text.slice(0, 57)}…` : text);
}

function quote(name: string): string {
  return JSON.stringify(terminalText(name).slice(0, 80));
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------
// Did you mean

/** The declared name nearest a mistyped one: same letters in another case, or a few edits away. */
export function closestName(name: string, candidates: string[]): string | undefined {
  const lower = name.toLowerCase();
  const exact = candidates.find((candidate) => candidate.toLowerCase() === lower);
  if (exact) return exact;
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  if (!best) return undefined;
  // Close enough to be a slip: up to a third of the longer name, at least one edit.
  const allowed = Math.max(1, Math.floor(Math.max(name.length, best.candidate.length) / 3));
  // …and never all of a short name ("b" is not a slip of "a").
  const shorter = Math.min(name.length, best.candidate.length);
  return best.distance <= allowed && best.distance < shorter ? best.candidate : undefined;
}

/** Levenshtein distance with adjacent transpositions (Damerau, optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, d[i - 2]![j - 2]! + 1);
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}
