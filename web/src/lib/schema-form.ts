/**
 * A form generated from a tool's JSON Schema: one field per top-level property, each edited as
 * the simplest control that fits (text, number, checkbox, select) and anything richer as JSON.
 */

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';

export interface Field {
  name: string;
  label: string;
  description: string | null;
  required: boolean;
  kind: FieldKind;
  /** For `enum`: the allowed values, shown as their JSON (or the string itself). */
  options: Array<{ label: string; value: unknown }>;
  /** What the JSON field should hold (`array`, `object`, …), for its hint. */
  expected: string | null;
  hasDefault: boolean;
  initial: string | boolean;
}

export type FieldValues = Record<string, string | boolean>;

/** The name under which the whole-arguments JSON box is kept when the schema lists no properties. */
export const WHOLE = '\u0000arguments';

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeOf(schema: Schema): string | null {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    const concrete = type.filter((entry): entry is string => typeof entry === 'string' && entry !== 'null');
    return concrete.length === 1 ? concrete[0]! : null;
  }
  return null;
}

function optionLabel(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function fieldFor(name: string, schema: Schema, required: boolean): Field {
  const title = typeof schema.title === 'string' && schema.title.trim() ? schema.title : null;
  const description = typeof schema.description === 'string' ? schema.description : null;
  const hasDefault = 'default' in schema;
  const type = typeOf(schema);
  const base = { name, label: title ?? name, description, required, hasDefault, options: [], expected: null };

  const choices = Array.isArray(schema.enum) ? schema.enum : 'const' in schema ? [schema.const] : null;
  if (choices && choices.length > 0) {
    const options = choices.map((value) => ({ label: optionLabel(value), value }));
    const index = hasDefault
      ? choices.findIndex((value) => JSON.stringify(value) === JSON.stringify(schema.default))
      : -1;
    return { ...base, kind: 'enum', options, initial: index >= 0 ? String(index) : '' };
  }
  switch (type) {
    case 'string':
      return { ...base, kind: 'string', initial: typeof schema.default === 'string' ? schema.default : '' };
    case 'number':
    case 'integer':
      return {
        ...base,
        kind: type,
        initial: typeof schema.default === 'number' ? String(schema.default) : '',
      };
    case 'boolean':
      return { ...base, kind: 'boolean', initial: schema.default === true };
    default:
      return {
        ...base,
        kind: 'json',
        expected:
          type ??
          (Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf) ? 'one of several shapes' : 'any JSON'),
        initial: hasDefault ? JSON.stringify(schema.default, null, 2) : '',
      };
  }
}

/** The fields of an input schema; one JSON box for the whole arguments when it names no properties. */
export function fieldsFromSchema(inputSchema: Record<string, unknown>): Field[] {
  const properties = isSchema(inputSchema.properties) ? inputSchema.properties : null;
  const required = new Set(
    Array.isArray(inputSchema.required)
      ? inputSchema.required.filter((n): n is string => typeof n === 'string')
      : [],
  );
  if (!properties || Object.keys(properties).length === 0) {
    // `{ type: 'object' }` alone is how tools without arguments describe themselves.
    const open = inputSchema.additionalProperties !== undefined && inputSchema.additionalProperties !== false;
    if (!open) return [];
    return [
      {
        name: WHOLE,
        label: 'Arguments (JSON object)',
        description: null,
        required: false,
        kind: 'json',
        options: [],
        expected: 'object',
        hasDefault: false,
        initial: '{}',
      },
    ];
  }
  return Object.entries(properties).map(([name, schema]) =>
    fieldFor(name, isSchema(schema) ? schema : {}, required.has(name)),
  );
}

export function initialValues(fields: Field[]): FieldValues {
  return Object.fromEntries(fields.map((field) => [field.name, field.initial]));
}

export type BuildResult =
  { ok: true; arguments: Record<string, unknown> } | { ok: false; errors: Record<string, string> };

/** The arguments to send, or one message per field that cannot be sent as typed. */
export function buildArguments(fields: Field[], values: FieldValues): BuildResult {
  const args: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const raw = values[field.name] ?? field.initial;
    if (field.kind === 'boolean') {
      if (raw === true || field.required || field.hasDefault) args[field.name] = raw === true;
      continue;
    }
    const text = typeof raw === 'string' ? raw : '';
    if (text.trim() === '') {
      if (field.required) errors[field.name] = 'Required.';
      else if (field.kind === 'string' && text !== '') args[field.name] = text;
      continue;
    }
    switch (field.kind) {
      case 'string':
        args[field.name] = text;
        break;
      case 'number':
      case 'integer': {
        const number = Number(text);
        if (!Number.isFinite(number)) errors[field.name] = 'Enter a number.';
        else if (field.kind === 'integer' && !Number.isInteger(number))
          errors[field.name] = 'Enter a whole number.';
        else args[field.name] = number;
        break;
      }
      case 'enum': {
        const option = field.options[Number(text)];
        if (option) args[field.name] = option.value;
        else errors[field.name] = 'Choose one of the values.';
        break;
      }
      case 'json':
        try {
          const value: unknown = JSON.parse(text);
          if (field.name === WHOLE) {
            if (!isSchema(value)) errors[field.name] = 'Enter a JSON object.';
            else Object.assign(args, value);
          } else {
            args[field.name] = value;
          }
        } catch (error) {
          errors[field.name] = `Not valid JSON: ${error instanceof Error ? error.message : String(error)}`;
        }
        break;
    }
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, arguments: args };
}
