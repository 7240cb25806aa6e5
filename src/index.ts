/**
 * patchbay as a library: the registry of servers, connecting to one, checking and diagnosing.
 * Re-exports only; every module keeps the SDK and undici out of its import graph until a
 * function that needs the network is called.
 */

export { EXIT, PatchbayError, type ErrorCode, type ExitCode } from './errors.js';
export type { OAuthSettings, Scope, ServerEntry, TlsSettings, Transport } from './config/entry.js';
export {
  createContext,
  findServer,
  loadRegistry,
  type ConfigContext,
  type EffectiveServer,
  type Registry,
  type ScopedEntry,
} from './config/registry.js';
export { expandEntry } from './config/expand.js';
export { maskEntry } from './config/mask.js';
export { staticState, type ServerStatus, type StaticState } from './config/status.js';
export {
  connect,
  ConnectError,
  type ConnectOptions,
  type ConnectStep,
  type ServerIdentity,
  type Session,
} from './connect/session.js';
export { probeServer, type ProbeOptions, type ProbeResult } from './connect/probe.js';
export { diagnose, diagnoseAll, type DiagnoseOptions } from './diagnose/doctor.js';
export type { Diagnosis, Evidence, Finding, FindingStatus, Layer, Verdict } from './diagnose/findings.js';
