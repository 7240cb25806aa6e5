/** The form fields of an elicitation, as questions and answers (the terminal loop is tested on a pty). */

import { describe, expect, it } from 'vitest';

import { choicesOf, defaultAnswers, questionFor, readAnswer } from '../../src/cli/elicitation-form.js';

const titled = {
  type: 'string',
  title: 'Hero',
  oneOf: [
    { const: 'hero-1', title: 'Superman' },
    { const: 'hero-2', title: 'Wonder Woman' },
  ],
  default: 'hero-2',
};
const multi = {
  type: 'array',
  title: 'Fish',
  minItems: 1,
  maxItems: 2,
  items: {
    anyOf: [
      { const: 'f1', title: 'Tuna' },
      { const: 'f2', title: 'Salmon' },
      { const: 'f3', title: 'Trout' },
    ],
  },
  default: ['f1'],
};

describe('choicesOf', () => {
  it('reads plain, titled (oneOf), legacy (enumNames) and multi-select choices', () => {
    expect(choicesOf({ type: 'string', enum: ['a', 'b'] })).toEqual([
      { value: 'a', label: 'a' },
      { value: 'b', label: 'b' },
    ]);
    expect(choicesOf(titled)?.map((choice) => choice.label)).toEqual(['Superman', 'Wonder Woman']);
    expect(choicesOf({ type: 'string', enum: ['p1', 'p2'], enumNames: ['Cats'] })).toEqual([
      { value: 'p1', label: 'Cats' },
      { value: 'p2', label: 'p2' },
    ]);
    expect(choicesOf(multi)?.map((choice) => choice.value)).toEqual(['f1', 'f2', 'f3']);
    expect(choicesOf({ type: 'array', items: { enum: ['x'] } })).toEqual([{ value: 'x', label: 'x' }]);
    expect(choicesOf({ type: 'string' })).toBeUndefined();
  });
});

describe('questionFor', () => {
  it('names the kind, the range, the choices and the default, and marks optional fields without one', () => {
    expect(
      questionFor('n', { type: 'integer', title: 'Count', minimum: 1, maximum: 9, default: 2 }, true),
    ).toBe('Count (whole number; 1–9) [2]: ');
    expect(questionFor('hero', titled, false)).toBe('Hero (1) Superman  2) Wonder Woman) [Wonder Woman]: ');
    expect(questionFor('fish', multi, false)).toBe(
      'Fish (pick any, comma-separated: 1) Tuna  2) Salmon  3) Trout) [Tuna]: ',
    );
    expect(questionFor('mail', { type: 'string', format: 'email' }, false)).toBe('mail (email) (optional): ');
    expect(questionFor('ok', { type: 'boolean', default: false }, true)).toBe('ok (y/n) [n]: ');
  });
});

describe('readAnswer', () => {
  it('takes a choice by number, value or label, and refuses anything else', () => {
    expect(readAnswer('2', titled)).toEqual({ value: 'hero-2' });
    expect(readAnswer('hero-1', titled)).toEqual({ value: 'hero-1' });
    expect(readAnswer('superman', titled)).toEqual({ value: 'hero-1' });
    expect(readAnswer('Batman', titled)).toEqual({ problem: 'Answer one of Superman, Wonder Woman.' });
  });

  it('takes several choices, without repeats, within minItems and maxItems', () => {
    expect(readAnswer('1, salmon, 1', multi)).toEqual({ value: ['f1', 'f2'] });
    expect(readAnswer('1,2,3', multi)).toEqual({ problem: 'Pick at most 2.' });
    expect(readAnswer(' , ', multi)).toEqual({ problem: 'Pick at least 1.' });
    expect(readAnswer('Carp', multi)).toEqual({ problem: 'Carp is not one of the choices.' });
  });

  it('checks numbers, whole numbers, ranges, booleans, lengths and formats', () => {
    const count = { type: 'integer', minimum: 1, maximum: 9 };
    expect(readAnswer('5', count)).toEqual({ value: 5 });
    expect(readAnswer('5.5', count)).toEqual({ problem: 'That is not a whole number.' });
    expect(readAnswer('12', count)).toEqual({ problem: 'It must be at most 9.' });
    expect(readAnswer('0', count)).toEqual({ problem: 'It must be at least 1.' });
    expect(readAnswer('x', { type: 'number' })).toEqual({ problem: 'That is not a number.' });
    expect(readAnswer('2.5', { type: 'number' })).toEqual({ value: 2.5 });
    expect(readAnswer('YES', { type: 'boolean' })).toEqual({ value: true });
    expect(readAnswer('false', { type: 'boolean' })).toEqual({ value: false });
    expect(readAnswer('maybe', { type: 'boolean' })).toEqual({ problem: 'Answer y or n.' });
    expect(readAnswer('ab', { type: 'string', minLength: 3 })).toEqual({
      problem: 'It must be at least 3 characters.',
    });
    expect(readAnswer('ada@example.com', { type: 'string', format: 'email' })).toEqual({
      value: 'ada@example.com',
    });
    expect(readAnswer('ada', { type: 'string', format: 'email' })).toEqual({
      problem: 'That is not a valid email.',
    });
    expect(readAnswer('https://x.example', { type: 'string', format: 'uri' })).toEqual({
      value: 'https://x.example',
    });
    expect(readAnswer('1815-12-10', { type: 'string', format: 'date' })).toEqual({ value: '1815-12-10' });
    expect(readAnswer('10/12/1815', { type: 'string', format: 'date' })).toEqual({
      problem: 'That is not a valid date.',
    });
  });
});

describe('defaultAnswers', () => {
  it('gives every default (SEP-1034) and names required fields that have none', () => {
    expect(
      defaultAnswers({
        properties: {
          name: { type: 'string', default: 'John Doe' },
          age: { type: 'integer', default: 30 },
          verified: { type: 'boolean', default: true },
          fish: multi,
          note: { type: 'string' },
        },
        required: [],
      }),
    ).toEqual({ content: { name: 'John Doe', age: 30, verified: true, fish: ['f1'] }, missing: [] });
    expect(defaultAnswers({ properties: { pin: { type: 'string' } }, required: ['pin'] }).missing).toEqual([
      'pin',
    ]);
    expect(defaultAnswers(undefined)).toEqual({ content: {}, missing: [] });
  });
});
