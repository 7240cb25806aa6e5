import { useEffect, useRef, useState } from 'preact/hooks';

import { api } from '../api';
import type { CompletionRequest } from '../types';

/** Wait this long after the last keystroke before asking the server. */
const DEBOUNCE_MS = 250;

/**
 * The server's completions (`completion/complete`) for one prompt argument or template variable,
 * as the person types: asked after a pause in typing, the answer to an older value dropped. Only
 * asked while `active` (the field has focus or was typed in). A server that offers no completions
 * is not asked again by this field; a failure shows no suggestions, as a field without any.
 */
export function useCompletions(
  server: string,
  ref: CompletionRequest['ref'],
  argument: string,
  value: string,
  context: Record<string, string>,
  active: boolean,
): string[] {
  const [values, setValues] = useState<string[]>([]);
  const unsupported = useRef(false);
  const contextKey = JSON.stringify(context);
  const refKey = JSON.stringify(ref);

  useEffect(() => {
    if (!active || unsupported.current) return;
    let current = true;
    const timer = setTimeout(() => {
      const others = JSON.parse(contextKey) as Record<string, string>;
      void api
        .complete(server, {
          ref: JSON.parse(refKey) as CompletionRequest['ref'],
          argument: { name: argument, value },
          ...(Object.keys(others).length > 0 ? { context: others } : {}),
        })
        .then((outcome) => {
          if (!outcome.supported) unsupported.current = true;
          if (current) setValues(outcome.values);
        })
        .catch(() => {
          if (current) setValues([]);
        });
    }, DEBOUNCE_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [server, refKey, argument, value, contextKey, active]);

  return values;
}
