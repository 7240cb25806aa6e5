/**
 * The one error class of patchbay. Every failure a user can see carries a stable `code`, a
 * sentence saying what failed and why (`message`), and the next command to run (`hint`).
 * The CLI maps `code` to an exit status through EXIT_CODES; nothing else calls process.exit.
 */

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  needsAuth: 4,
  /** A server from the project's .mcp.json that has not been approved (patchbay approve). */
  needsApproval: 5,
  /** Refused by policy: a denied tool, a limit reached, a disabled or administrator-blocked server. */
  refused: 6,
  /** A server could not be reached or failed its check (for list, doctor, policy: servers of mixed troubles). */
  degraded: 8,
  /** 128 + SIGINT: stopped by Ctrl-C (a request in flight was cancelled). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Stable error codes. Adding one is fine; renaming one breaks scripts that match on `--json` output. */
export type ErrorCode =
  | 'usage'
  | 'invalid-name'
  | 'invalid-url'
  | 'invalid-header'
  | 'invalid-env'
  | 'invalid-entry'
  | 'invalid-json'
  | 'config-parse'
  | 'config-shape'
  | 'duplicate'
  | 'not-found'
  | 'ambiguous-scope'
  | 'lock-timeout'
  | 'write-failed'
  | 'editor-failed'
  | 'conflict'
  | 'read-failed'
  | 'unset-variable'
  | 'no-tty'
  | 'needs-auth'
  | 'pending-approval'
  | 'server-disabled'
  | 'no-login-needed'
  | 'connect-failed'
  | 'headers-helper-failed'
  | 'tls-config'
  | 'auth-refused'
  | 'auth-failed'
  | 'server-request-declined'
  | 'policy-denied'
  | 'limit-reached'
  | 'registry-failed'
  | 'unsupported'
  /** A task (use/tasks.ts) that ended failed or cancelled, so it has no result. */
  | 'task-failed'
  | 'internal';

const EXIT_BY_CODE: Record<ErrorCode, ExitCode> = {
  usage: EXIT.usage,
  'invalid-name': EXIT.usage,
  'invalid-url': EXIT.usage,
  'invalid-header': EXIT.usage,
  'invalid-env': EXIT.usage,
  'invalid-entry': EXIT.usage,
  'invalid-json': EXIT.usage,
  'config-parse': EXIT.usage,
  'config-shape': EXIT.usage,
  duplicate: EXIT.usage,
  'not-found': EXIT.usage,
  'ambiguous-scope': EXIT.usage,
  'no-tty': EXIT.usage,
  'unset-variable': EXIT.usage,
  'lock-timeout': EXIT.error,
  'write-failed': EXIT.error,
  // `patchbay edit`: the editor did not exit cleanly, or the entry changed while it was open.
  'editor-failed': EXIT.error,
  conflict: EXIT.error,
  'read-failed': EXIT.error,
  'needs-auth': EXIT.needsAuth,
  'pending-approval': EXIT.needsApproval,
  'server-disabled': EXIT.refused,
  // Not a failure: `login` on a server that answers without one says so and succeeds.
  'no-login-needed': EXIT.ok,
  // Every way a server is not reached (refused, timed out, TLS, a helper that failed, a broken
  // entry) is one situation, with the code `list` gives it.
  'connect-failed': EXIT.degraded,
  'headers-helper-failed': EXIT.degraded,
  'tls-config': EXIT.degraded,
  'auth-refused': EXIT.error,
  'auth-failed': EXIT.needsAuth,
  'server-request-declined': EXIT.error,
  'policy-denied': EXIT.refused,
  'limit-reached': EXIT.refused,
  // An MCP Registry that could not be reached or answered something else than its API.
  'registry-failed': EXIT.error,
  // The server does not offer what was asked of it (completions without the capability).
  unsupported: EXIT.error,
  'task-failed': EXIT.error,
  internal: EXIT.error,
};

export interface PatchbayErrorOptions {
  /** The next command to run, or what to change. */
  hint?: string;
  cause?: unknown;
}

export class PatchbayError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: PatchbayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PatchbayError';
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): ExitCode {
    return EXIT_BY_CODE[this.code];
  }
}

export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof PatchbayError ? error.exitCode : EXIT.error;
}

/**
 * The documented exit codes, for `patchbay help exit-codes` and the README (a test checks that the
 * two say the same). Each situation has one code, whatever the command that meets it.
 */
export const EXIT_CODE_TABLE: ReadonlyArray<{ code: ExitCode; meaning: string }> = [
  {
    code: EXIT.ok,
    meaning: 'success; for list, get, doctor and policy: every server is usable or off on purpose',
  },
  {
    code: EXIT.error,
    meaning: 'an error: a tool result with isError, a failed write, a lock not obtained, a refused login',
  },
  {
    code: EXIT.usage,
    meaning:
      'usage error or invalid input: bad flag, name, URL, header, argument, or a malformed config file',
  },
  { code: EXIT.needsAuth, meaning: 'a login is needed: run patchbay login <name>' },
  {
    code: EXIT.needsApproval,
    meaning: "a server from the project's .mcp.json waits for patchbay approve <name>",
  },
  {
    code: EXIT.refused,
    meaning:
      'refused by policy: a tool denied, or set to ask and not approved; a limit reached; a server disabled or blocked by the administrator',
  },
  {
    code: EXIT.degraded,
    meaning:
      'a server could not be reached or failed its check; for list, doctor and policy also servers with different problems',
  },
  {
    code: EXIT.interrupted,
    meaning: 'interrupted (Ctrl-C): a request in flight was cancelled at the server',
  },
];
