/**
 * CONTRACT (being implemented): `headersHelper`, a command whose stdout is a JSON object of
 * headers, run at connect time without a shell, within 10 s; its output is never logged.
 */

export interface HeadersHelperContext {
  /** The server's configured name, passed as PATCHBAY_SERVER_NAME (and CLAUDE_CODE_MCP_SERVER_NAME). */
  serverName?: string;
  /** The server's URL, passed as PATCHBAY_SERVER_URL (and CLAUDE_CODE_MCP_SERVER_URL). */
  url: string;
  cwd?: string;
  /** Where the helper's minimal environment is inherited from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default 10 000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Runs the helper and returns its headers. Throws PatchbayError('headers-helper-failed') whose
 * message says what went wrong (not found, exit code + last stderr line, timeout, not a JSON
 * object of strings) and never contains the helper's stdout.
 */
export declare function runHeadersHelper(
  command: string,
  context: HeadersHelperContext,
): Promise<Record<string, string>>;

/** Splits a command line into argv the way a POSIX shell would, without expanding anything. */
export declare function splitCommandLine(command: string): string[];
