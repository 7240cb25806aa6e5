/**
 * Messages and hints from the API, as a person reads them. A hint often names the command that
 * does the next thing (`patchbay login x`): where the page has a button for that, the button is
 * the way and the command is not shown beside it; where it has none, the command is shown as code.
 * Text between backticks is code, never a raw backtick.
 */

import type { ComponentChildren } from 'preact';

/** The CLI commands whose job the page has a button for (by verb), so their hints are dropped. */
export type CoveredVerb =
  | 'login'
  | 'get'
  | 'logout'
  | 'doctor'
  | 'approve'
  | 'enable'
  | 'disable'
  | 'remove'
  | 'permit'
  | 'limit'
  | 'add'
  | 'ui';

/**
 * Whether a hint only restates a button: it is a `patchbay <verb> …` command (maybe in words
 * around it, like "To use it again: patchbay enable x") for a verb the page offers.
 */
export function restatesButton(hint: string, covered: readonly CoveredVerb[]): boolean {
  const verbs = [...hint.matchAll(/`?patchbay (\w[\w-]*)/g)].map((match) => match[1]!);
  return verbs.length > 0 && verbs.every((verb) => (covered as readonly string[]).includes(verb));
}

/**
 * Text between backticks as <code>; a command that ends a sentence ("… with: patchbay review x")
 * as <code> too. Unpaired backticks are dropped rather than shown.
 */
export function RichText({ text }: { text: string }) {
  const parts: ComponentChildren[] = [];
  let last = 0;
  let key = 0;
  for (const match of text.matchAll(/`([^`]+)`/g)) {
    if (match.index > last) parts.push(...trailingCommand(text.slice(last, match.index), () => key++));
    parts.push(<code key={key++}>{match[1]}</code>);
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(...trailingCommand(text.slice(last), () => key++));
  return <>{parts.map((part) => (typeof part === 'string' ? part.replace(/`/g, '') : part))}</>;
}

function trailingCommand(text: string, key: () => number): ComponentChildren[] {
  const match = /^(.*?(?:^|: |\n))(patchbay [^\n]*?)(\.?)$/s.exec(text);
  if (!match) return [text];
  return [match[1]!, <code key={key()}>{match[2]}</code>, match[3]!];
}

/** A hint line, unless it restates one of the page's buttons. */
export function Hint({
  hint,
  covered = [],
  class: className = 'notice-hint',
}: {
  hint: string | null | undefined;
  covered?: readonly CoveredVerb[];
  class?: string;
}) {
  if (!hint || restatesButton(hint, covered)) return null;
  return (
    <p class={className}>
      <RichText text={hint} />
    </p>
  );
}
