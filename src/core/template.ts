/**
 * `${VAR}` and `${VAR:-default}` references in text, split from the literal parts: what config/
 * expands and what the secret redactor must leave visible (a reference is not a secret).
 */

export const TEMPLATE_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface TemplatePart {
  literal?: string;
  variable?: string;
  fallback?: string;
}

/** Split a value into literal text and `${VAR}` references (expansion and masking both use it). */
export function splitTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of text.matchAll(TEMPLATE_REFERENCE)) {
    if (match.index > last) parts.push({ literal: text.slice(last, match.index) });
    parts.push(
      match[2] === undefined ? { variable: match[1]! } : { variable: match[1]!, fallback: match[2] },
    );
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push({ literal: text.slice(last) });
  return parts;
}
