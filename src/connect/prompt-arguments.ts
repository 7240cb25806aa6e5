/** A prompt's arguments checked against what the server declared, before it is asked for. */

import { PatchbayError } from '../errors.js';

export interface DeclaredPrompt {
  name: string;
  arguments?: Array<{ name: string; required?: boolean }>;
}

/** Every missing required argument and every unknown one, in one usage error, with what it takes. */
export function checkPromptArguments(declared: DeclaredPrompt, given: Record<string, string>): void {
  const declaredArguments = declared.arguments ?? [];
  const known = new Set(declaredArguments.map((argument) => argument.name));
  const unknown = Object.keys(given).filter((key) => !known.has(key));
  const missing = declaredArguments.filter(
    (argument) => argument.required && !Object.hasOwn(given, argument.name),
  );
  if (unknown.length === 0 && missing.length === 0) return;
  const expected = declaredArguments
    .map((argument) => `${argument.name}${argument.required ? '' : '?'}`)
    .join(', ');
  throw new PatchbayError(
    'usage',
    [
      missing.length > 0 ? `missing ${missing.map((argument) => argument.name).join(', ')}` : '',
      unknown.length > 0 ? `no argument named ${unknown.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ') + ` for the prompt ${declared.name}.`,
    { hint: `It takes: ${expected || '(no arguments)'}` },
  );
}
