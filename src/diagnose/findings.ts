/**
 * What `patchbay doctor` says about a server: one finding per layer, in the order a connection
 * climbs them, each with its evidence and, when something is wrong, the fix.
 */

import type { Scope, Transport } from '../config/entry.js';

/** `command` is the stdio counterpart of the network layers: is the program there to run? */
export type Layer =
  'config' | 'command' | 'proxy' | 'dns' | 'tcp' | 'tls' | 'http' | 'auth' | 'mcp' | 'tools';

export type FindingStatus = 'pass' | 'fail' | 'warn' | 'skip';

/** Flat and printable: names, counts, yes/no. Never a header value or a token. */
export type Evidence = Record<string, string | number | boolean | null>;

export interface Finding {
  layer: Layer;
  status: FindingStatus;
  /** One line. */
  summary: string;
  evidence: Evidence;
  /** A command to run or an action to take. */
  fix?: string;
}

/**
 * `needs-auth`: the only thing wrong is a missing login; `skipped`: not contacted (pending
 * approval, or rejected for this project).
 */
export type Verdict = 'ok' | 'needs-auth' | 'failed' | 'skipped';

export interface Diagnosis {
  name: string;
  scope: Scope;
  file: string;
  transport: Transport | null;
  /** The URL or command line as configured, secrets masked. */
  target: string;
  verdict: Verdict;
  findings: Finding[];
  durationMs: number;
}

export function passed(layer: Layer, summary: string, evidence: Evidence = {}): Finding {
  return { layer, status: 'pass', summary, evidence };
}

export function failed(layer: Layer, summary: string, evidence: Evidence = {}, fix?: string): Finding {
  return fix === undefined
    ? { layer, status: 'fail', summary, evidence }
    : { layer, status: 'fail', summary, evidence, fix };
}

export function warned(layer: Layer, summary: string, evidence: Evidence = {}, fix?: string): Finding {
  return fix === undefined
    ? { layer, status: 'warn', summary, evidence }
    : { layer, status: 'warn', summary, evidence, fix };
}

export function skippedAfter(layer: Layer, failedLayer: Layer): Finding {
  return { layer, status: 'skip', summary: `skipped: ${failedLayer} failed`, evidence: {} };
}

export function notChecked(layer: Layer, summary: string, evidence: Evidence = {}): Finding {
  return { layer, status: 'skip', summary, evidence };
}
