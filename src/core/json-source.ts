/**
 * A JSON (and JSONC) parser that remembers where every value came from, so that a config
 * error can say `file:line:col`. JSON.parse cannot: its messages carry at best an offset, and
 * nothing at all for a value that parses but has the wrong shape.
 *
 * Objects are created without a prototype, so `__proto__`, `constructor` and friends are
 * ordinary keys (server names may be any of them).
 */

import { createHash } from 'node:crypto';

import { PatchbayError } from '../errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export interface Position {
  line: number;
  column: number;
}

export interface ParsedJson {
  value: JsonValue;
  /** Where each value starts, keyed by its JSON path (`mcpServers.foo.url`, `args.0`). */
  positionOf(path: ReadonlyArray<string | number>): Position | undefined;
  /** The indentation the file uses, so a rewrite looks like the original. */
  indent: string | number;
  /** Whether the file had comments or trailing commas (a rewrite would drop the comments). */
  hadComments: boolean;
}

export interface ParseOptions {
  /** Accept `//` and block comments and trailing commas (VS Code's and Cursor's files are JSONC). */
  jsonc?: boolean;
  /** Used in error messages. */
  fileLabel: string;
}

/**
 * The sha256 of a value's canonical JSON (keys sorted): what an approval is bound to, so that
 * reformatting a file does not undo it and any change of meaning does.
 */
export function contentDigest(value: JsonValue): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function createObject(): JsonObject {
  return Object.create(null) as JsonObject;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own-property lookup that never reaches Object.prototype (a server may be called `constructor`). */
export function getOwn(object: JsonObject, key: string): JsonValue | undefined {
  return Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined;
}

export function hasOwn(object: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/** Assignment that defines an own property even for `__proto__`. */
export function setOwn<T>(object: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A prototype-less copy of a string map with each value converted (header or env names may be `__proto__`). */
export function mapOwnValues(
  map: Record<string, string>,
  convert: (value: string, key: string) => string,
): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(map)) setOwn(out, key, convert(value, key));
  return out;
}

/** Deep copy into prototype-less objects (values built in code with `{}` literals become safe). */
export function toJsonValue(value: unknown): JsonValue {
  if (
    value === null ||
    typeof value === 'boolean' ||
    typeof value === 'number' ||
    typeof value === 'string'
  ) {
    return value;
  }
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (typeof value === 'object') {
    const out = createObject();
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      if (inner !== undefined) setOwn(out, key, toJsonValue(inner));
    }
    return out;
  }
  throw new TypeError(`not a JSON value: ${typeof value}`);
}

function pathKey(path: ReadonlyArray<string | number>): string {
  return JSON.stringify(path);
}

class Parser {
  private index = 0;
  private readonly positions = new Map<string, number>();
  hadComments = false;

  constructor(
    private readonly text: string,
    private readonly options: ParseOptions,
  ) {}

  parse(): ParsedJson {
    // A UTF-8 byte order mark is legal at the start of a file some editors write.
    if (this.text.charCodeAt(0) === 0xfeff) this.index = 1;
    this.skipSpace();
    if (this.index >= this.text.length) this.fail('the file is empty; expected a JSON object');
    const value = this.parseValue([]);
    this.skipSpace();
    if (this.index < this.text.length)
      this.fail(`unexpected ${this.describeHere()} after the end of the JSON value`);
    const lineStarts = computeLineStarts(this.text);
    return {
      value,
      positionOf: (path) => {
        const offset = this.positions.get(pathKey(path));
        return offset === undefined ? undefined : offsetToPosition(lineStarts, offset);
      },
      indent: detectIndent(this.text),
      hadComments: this.hadComments,
    };
  }

  private parseValue(path: Array<string | number>): JsonValue {
    this.positions.set(pathKey(path), this.index);
    const char = this.text[this.index];
    switch (char) {
      case '{':
        return this.parseObject(path);
      case '[':
        return this.parseArray(path);
      case '"':
        return this.parseString();
      case 't':
        return this.parseLiteral('true', true);
      case 'f':
        return this.parseLiteral('false', false);
      case 'n':
        return this.parseLiteral('null', null);
      default:
        if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) return this.parseNumber();
        return this.fail(`expected a value but found ${this.describeHere()}`);
    }
  }

  private parseObject(path: Array<string | number>): JsonObject {
    const object = createObject();
    this.index++; // {
    this.skipSpace();
    if (this.text[this.index] === '}') {
      this.index++;
      return object;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.index] !== '"') {
        if (this.text[this.index] === '}' && this.options.jsonc) {
          this.index++;
          return object;
        }
        this.fail(`expected a property name in double quotes but found ${this.describeHere()}`);
      }
      const keyStart = this.index;
      const key = this.parseString();
      this.skipSpace();
      if (this.text[this.index] !== ':')
        this.fail(`expected ':' after "${key}" but found ${this.describeHere()}`);
      this.index++;
      this.skipSpace();
      const childPath = [...path, key];
      const value = this.parseValue(childPath);
      // Point errors about a key at the key itself when the value position is less helpful.
      if (!this.positions.has(pathKey(childPath))) this.positions.set(pathKey(childPath), keyStart);
      setOwn(object, key, value);
      this.skipSpace();
      const next = this.text[this.index];
      if (next === ',') {
        this.index++;
        continue;
      }
      if (next === '}') {
        this.index++;
        return object;
      }
      this.fail(`expected ',' or '}' but found ${this.describeHere()}`);
    }
  }

  private parseArray(path: Array<string | number>): JsonValue[] {
    const array: JsonValue[] = [];
    this.index++; // [
    this.skipSpace();
    if (this.text[this.index] === ']') {
      this.index++;
      return array;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.index] === ']' && this.options.jsonc) {
        this.index++;
        return array;
      }
      array.push(this.parseValue([...path, array.length]));
      this.skipSpace();
      const next = this.text[this.index];
      if (next === ',') {
        this.index++;
        continue;
      }
      if (next === ']') {
        this.index++;
        return array;
      }
      this.fail(`expected ',' or ']' but found ${this.describeHere()}`);
    }
  }

  private parseString(): string {
    const start = this.index;
    this.index++; // opening quote
    let out = '';
    for (;;) {
      const char = this.text[this.index];
      if (char === undefined) {
        this.index = start;
        this.fail("a string is not closed (missing '\"')");
      }
      if (char === '"') {
        this.index++;
        return out;
      }
      if (char === '\\') {
        const escape = this.text[this.index + 1];
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (escape !== undefined && escape in simple) {
          out += simple[escape];
          this.index += 2;
          continue;
        }
        if (escape === 'u') {
          const hex = this.text.slice(this.index + 2, this.index + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape in a string');
          out += String.fromCharCode(parseInt(hex, 16));
          this.index += 6;
          continue;
        }
        this.fail(`invalid escape '\\${escape ?? ''}' in a string`);
      }
      if (char === '\n' || char === '\r') {
        this.index = start;
        this.fail("a string is not closed on its line (missing '\"')");
      }
      if (char < ' ') this.fail('a control character inside a string (write it as an escape such as \\t)');
      out += char;
      this.index++;
    }
  }

  private parseNumber(): number {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(this.text.slice(this.index));
    if (!match) return this.fail(`invalid number starting with ${this.describeHere()}`);
    this.index += match[0].length;
    return Number(match[0]);
  }

  private parseLiteral<T extends JsonValue>(word: string, value: T): T {
    if (this.text.startsWith(word, this.index)) {
      this.index += word.length;
      return value;
    }
    return this.fail(`expected a value but found ${this.describeHere()}`);
  }

  private skipSpace(): void {
    for (;;) {
      const char = this.text[this.index];
      if (char === ' ' || char === '\t' || char === '\n' || char === '\r') {
        this.index++;
      } else if (this.options.jsonc && char === '/' && this.text[this.index + 1] === '/') {
        this.hadComments = true;
        const end = this.text.indexOf('\n', this.index);
        this.index = end === -1 ? this.text.length : end + 1;
      } else if (this.options.jsonc && char === '/' && this.text[this.index + 1] === '*') {
        this.hadComments = true;
        const end = this.text.indexOf('*/', this.index + 2);
        if (end === -1) this.fail('a /* comment is not closed');
        this.index = end + 2;
      } else {
        return;
      }
    }
  }

  private describeHere(): string {
    if (this.index >= this.text.length) return 'the end of the file';
    const char = this.text[this.index]!;
    if (char === '\n' || char === '\r') return 'a line break';
    return `'${char}'`;
  }

  private fail(what: string): never {
    const position = offsetToPosition(computeLineStarts(this.text), Math.min(this.index, this.text.length));
    throw new PatchbayError(
      'config-parse',
      `${this.options.fileLabel}:${position.line}:${position.column}: ${what}`,
    );
  }
}

function computeLineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return starts;
}

function offsetToPosition(lineStarts: number[], offset: number): Position {
  let low = 0;
  let high = lineStarts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (lineStarts[mid]! <= offset) low = mid;
    else high = mid - 1;
  }
  return { line: low + 1, column: offset - lineStarts[low]! + 1 };
}

function detectIndent(text: string): string | number {
  const match = /\n([ \t]+)["}\]]/.exec(text);
  if (!match) return 2;
  const indent = match[1]!;
  return indent.startsWith('\t') ? '\t' : indent.length;
}

export function parseJsonSource(text: string, options: ParseOptions): ParsedJson {
  return new Parser(text, options).parse();
}

/** Serialise the way the file was written (its indentation), with a final newline. */
export function stringifyJson(value: JsonValue, indent: string | number = 2): string {
  return JSON.stringify(value, null, indent) + '\n';
}

/** Get (creating on the way) the object at `path`; throws if something else is in the way. */
export function objectAt(root: JsonValue, path: string[], file: string): JsonObject {
  if (!isObject(root))
    throw new PatchbayError(
      'config-shape',
      `${file}: expected a JSON object at the top level; the file was left unchanged.`,
    );
  let current: JsonObject = root;
  for (const key of path) {
    let next = getOwn(current, key);
    if (next === undefined) {
      next = createObject();
      setOwn(current, key, next);
    }
    if (!isObject(next)) {
      throw new PatchbayError(
        'config-shape',
        `${file}: ${path.join('.')}: expected an object; the file was left unchanged.`,
        {
          hint: `Fix ${file} by hand first.`,
        },
      );
    }
    current = next;
  }
  return current;
}
