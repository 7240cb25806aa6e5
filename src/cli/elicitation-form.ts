/**
 * The fields of a form-mode elicitation (the spec's restricted JSON Schema: strings with an
 * optional format, numbers and integers with a range, booleans, single-select enums — plain,
 * titled with `oneOf`, or legacy `enumNames` — and multi-select arrays), as questions: what to
 * show, how to read an answer, and what the schema's defaults give without asking.
 *
 * Pure functions, so the terminal dialogue in server-requests.ts stays a thin loop.
 */

export interface FieldSchema {
  type?: string;
  title?: string;
  description?: string;
  default?: unknown;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  enumNames?: unknown[];
  oneOf?: Array<{ const?: unknown; title?: string }>;
  minItems?: number;
  maxItems?: number;
  items?: { enum?: unknown[]; anyOf?: Array<{ const?: unknown; title?: string }> };
}

export interface FormSchema {
  properties?: Record<string, FieldSchema>;
  required?: string[];
}

export type FieldValue = string | number | boolean | string[];

/** One choice of an enum: the value sent, and the label shown (the same when untitled). */
export interface Choice {
  value: string;
  label: string;
}

/** The choices of a single- or multi-select field; undefined for a free field. */
export function choicesOf(field: FieldSchema): Choice[] | undefined {
  const titled = (options: Array<{ const?: unknown; title?: string }>) =>
    options.map((option) => ({ value: String(option.const), label: option.title ?? String(option.const) }));
  if (field.type === 'array') {
    if (Array.isArray(field.items?.anyOf)) return titled(field.items.anyOf);
    if (Array.isArray(field.items?.enum)) return field.items.enum.map((value) => plain(value));
    return undefined;
  }
  if (Array.isArray(field.oneOf)) return titled(field.oneOf);
  if (Array.isArray(field.enum)) {
    const names = Array.isArray(field.enumNames) ? field.enumNames : [];
    return field.enum.map((value, index) => ({
      value: String(value),
      label: names[index] === undefined ? String(value) : String(names[index]),
    }));
  }
  return undefined;
}

function plain(value: unknown): Choice {
  return { value: String(value), label: String(value) };
}

/** The question for a field: its title, its kind, its choices and its default. */
export function questionFor(key: string, field: FieldSchema, required: boolean): string {
  const label = field.title ?? key;
  const choices = choicesOf(field);
  const parts: string[] = [];
  if (choices) {
    const listed = choices.map((choice, index) => `${index + 1}) ${choice.label}`).join('  ');
    parts.push(field.type === 'array' ? `pick any, comma-separated: ${listed}` : listed);
  } else {
    const kind = field.format ?? (field.type === 'integer' ? 'whole number' : field.type);
    if (kind && kind !== 'string') parts.push(kind === 'boolean' ? 'y/n' : kind);
    const range = rangeOf(field);
    if (range) parts.push(range);
  }
  const fallback = field.default === undefined ? '' : ` [${displayDefault(field)}]`;
  // A field with a default needs no "optional": Enter takes the default.
  const optional = required || field.default !== undefined ? '' : ' (optional)';
  return `${label}${parts.length > 0 ? ` (${parts.join('; ')})` : ''}${fallback}${optional}: `;
}

function rangeOf(field: FieldSchema): string | undefined {
  if (field.minimum !== undefined && field.maximum !== undefined) return `${field.minimum}–${field.maximum}`;
  if (field.minimum !== undefined) return `at least ${field.minimum}`;
  if (field.maximum !== undefined) return `at most ${field.maximum}`;
  return undefined;
}

function displayDefault(field: FieldSchema): string {
  const choices = choicesOf(field);
  const labelOf = (value: unknown) =>
    choices?.find((choice) => choice.value === String(value))?.label ?? String(value);
  if (Array.isArray(field.default)) return field.default.map(labelOf).join(', ');
  if (field.type === 'boolean') return field.default ? 'y' : 'n';
  return labelOf(field.default);
}

/** An answer typed at the prompt, read as the field's type: the value, or why it does not fit. */
export function readAnswer(answer: string, field: FieldSchema): { value: FieldValue } | { problem: string } {
  const choices = choicesOf(field);
  if (field.type === 'array') {
    const picked = answer
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    const values: string[] = [];
    for (const part of picked) {
      const choice = choices ? pick(part, choices) : { value: part, label: part };
      if (!choice) return { problem: `${part} is not one of the choices.` };
      if (!values.includes(choice.value)) values.push(choice.value);
    }
    if (field.minItems !== undefined && values.length < field.minItems)
      return { problem: `Pick at least ${field.minItems}.` };
    if (field.maxItems !== undefined && values.length > field.maxItems)
      return { problem: `Pick at most ${field.maxItems}.` };
    return { value: values };
  }
  if (choices) {
    const choice = pick(answer, choices);
    return choice
      ? { value: choice.value }
      : { problem: `Answer one of ${choices.map((c) => c.label).join(', ')}.` };
  }
  switch (field.type) {
    case 'number':
    case 'integer': {
      const number = Number(answer);
      if (!Number.isFinite(number) || answer === '') return { problem: 'That is not a number.' };
      if (field.type === 'integer' && !Number.isInteger(number))
        return { problem: 'That is not a whole number.' };
      if (field.minimum !== undefined && number < field.minimum)
        return { problem: `It must be at least ${field.minimum}.` };
      if (field.maximum !== undefined && number > field.maximum)
        return { problem: `It must be at most ${field.maximum}.` };
      return { value: number };
    }
    case 'boolean':
      if (/^(y|yes|true)$/i.test(answer)) return { value: true };
      if (/^(n|no|false)$/i.test(answer)) return { value: false };
      return { problem: 'Answer y or n.' };
    default: {
      if (field.minLength !== undefined && answer.length < field.minLength)
        return { problem: `It must be at least ${field.minLength} characters.` };
      if (field.maxLength !== undefined && answer.length > field.maxLength)
        return { problem: `It must be at most ${field.maxLength} characters.` };
      const format = field.format ? FORMATS[field.format] : undefined;
      if (format && !format.test(answer)) return { problem: `That is not a valid ${field.format}.` };
      return { value: answer };
    }
  }
}

/** A choice by its number in the list, its value or its label (case-insensitive). */
function pick(answer: string, choices: Choice[]): Choice | undefined {
  const index = /^\d+$/.test(answer) ? Number(answer) - 1 : -1;
  if (index >= 0 && index < choices.length && !choices.some((choice) => choice.value === answer))
    return choices[index];
  const lower = answer.toLowerCase();
  return (
    choices.find((choice) => choice.value === answer) ??
    choices.find((choice) => choice.value.toLowerCase() === lower || choice.label.toLowerCase() === lower)
  );
}

const FORMATS: Record<string, { test(value: string): boolean }> = {
  email: /^[^\s@]+@[^\s@]+\.[^\s@]+$/,
  uri: { test: (value) => URL.canParse(value) },
  date: /^\d{4}-\d{2}-\d{2}$/,
  'date-time': { test: (value) => /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value)) },
};

/**
 * The answers the schema's defaults give (SEP-1034): every field with a default gets it. Fields
 * that are required and have none are returned as `missing`, since accepting without them would
 * send an incomplete form.
 */
export function defaultAnswers(schema: FormSchema | undefined): {
  content: Record<string, FieldValue>;
  missing: string[];
} {
  const content: Record<string, FieldValue> = {};
  const missing: string[] = [];
  const required = new Set(schema?.required ?? []);
  for (const [key, field] of Object.entries(schema?.properties ?? {})) {
    if (field.default !== undefined) content[key] = field.default as FieldValue;
    else if (required.has(key)) missing.push(key);
  }
  return { content, missing };
}
