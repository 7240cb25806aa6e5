/**
 * CONTRACT (being implemented): the stdio transport patchbay uses instead of the SDK's, because
 * it needs the process group (to kill grandchildren), the exit status and stderr's last lines.
 */

import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client';

export interface StdioServerParameters {
  command: string;
  args?: string[];
  /** The entry's env, laid over a minimal inherited environment (PATH, HOME, locale, temp, ...). */
  env?: Record<string, string>;
  cwd?: string;
  /** Where the minimal inherited environment is taken from; defaults to process.env. */
  inheritFrom?: NodeJS.ProcessEnv;
}

export interface StdioExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export declare class StdioProcessTransport implements Transport {
  constructor(parameters: StdioServerParameters);
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  start(): Promise<void>;
  send(message: JSONRPCMessage): Promise<void>;
  close(): Promise<void>;
  readonly pid: number | undefined;
  /** Null while the process runs (or before it started). */
  readonly exit: StdioExit | null;
  /** The last 8 KiB of stderr, as text. */
  readonly stderrTail: string;
  /** The first stdout line that was not JSON-RPC (a server logging to the MCP channel). */
  readonly strayStdout: string | undefined;
  /** Resolves when the process has exited and its stderr has drained. */
  exited(): Promise<StdioExit>;
}

export declare function lastStderrLine(stderrTail: string): string | undefined;
