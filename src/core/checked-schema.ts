/**
 * A Standard Schema object made from a plain check function: what the SDK's generic `request()`
 * and `setRequestHandler()` take to check a message it has no schema of its own for (task
 * methods, which SDK 2.4 knows only as wire types). Structural, so this module loads no SDK.
 */

export interface CheckedSchema<T> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => { value: T } | { issues: ReadonlyArray<{ message: string }> };
    /** For the SDK's type inference of the request's result (never read at run time). */
    readonly types?: { readonly input: unknown; readonly output: T };
  };
}

/** `check` returns the value as T, or undefined when it is not one: "not a valid <what>". */
export function checkedSchema<T>(what: string, check: (value: unknown) => T | undefined): CheckedSchema<T> {
  return {
    '~standard': {
      version: 1,
      vendor: 'patchbay',
      validate: (value) => {
        const checked = check(value);
        return checked === undefined ? { issues: [{ message: `not a valid ${what}` }] } : { value: checked };
      },
    },
  };
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Any JSON object, read further by the code that asked for it. */
export const ANY_JSON_OBJECT = checkedSchema('JSON object', (value) =>
  isJsonObject(value) ? value : undefined,
);
