/**
 * What `patchbay serve` tells the person (or the log collector) running it, on stderr: plain
 * sentences by default, or with `--log-format json` (a deployment's `"logs": "json"`) one JSON
 * object per line — `time`, `level`, `event`, `message` and the event's fields — for start, config
 * and certificate reloads, warnings, requests refused before the gateway (status, reason, peer;
 * never a credential), the drain and the stop. Refusals are logged in JSON only: a person at a
 * terminal does not want a line per 401.
 */

import type { RefusedRequest } from '../gateway/http.js';
import { note, writeLine, type Io } from './io.js';

export type LogFormat = 'text' | 'json';

export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

type Level = 'info' | 'warn';

export interface GatewayLog {
  /** An event worth a line in both formats. */
  info(event: string, message: string, fields?: Record<string, unknown>): void;
  warn(event: string, message: string, fields?: Record<string, unknown>): void;
  /** A request refused before the gateway: JSON only. */
  refused(refused: RefusedRequest): void;
}

export function gatewayLog(io: Io, format: LogFormat): GatewayLog {
  if (format === 'text')
    return {
      info: (_event, message) => note(io, message),
      warn: (_event, message) => note(io, message),
      refused: () => undefined,
    };
  const line = (level: Level, event: string, message: string, fields: Record<string, unknown> = {}) =>
    // JSON.stringify escapes control characters: a server's text cannot forge another line.
    writeLine(
      io.stderr,
      JSON.stringify({ time: new Date().toISOString(), level, event, message, ...fields }),
    );
  return {
    info: (event, message, fields) => line('info', event, message, fields),
    warn: (event, message, fields) => line('warn', event, message, fields),
    refused: ({ status, reason, method, path, peer }) =>
      line('info', 'refused', `${method} ${path}: ${status} ${reason}`, {
        status,
        reason,
        method,
        path,
        ...(peer ? { peer } : {}),
      }),
  };
}
