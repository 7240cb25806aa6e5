/**
 * The console's JSON API: the contract between the local server (src/console/server.ts) and the
 * page (web/). Types only, imported by both sides, so the two cannot drift apart.
 *
 * Every path is under /api and needs the session secret in `Authorization: Bearer …` and a
 * same-origin request; the page gets the secret by exchanging the one-time token of the URL that
 * `patchbay ui` prints (`POST /api/session`, the only call without it; see session.ts).
 * Errors are `{ error: ApiError }` with an HTTP status: 400 bad input, 401 no session, 403 refused
 * (Origin/Host, policy), 404 unknown server or item, 409 conflict (exists), 500 otherwise.
 * Secrets are never sent to the page: header values and URLs are masked as `patchbay list` masks
 * them; a secret once saved cannot be read back.
 *
 *   POST   /api/session                              { token } → 201 SessionGrant (the launch token, once; no session needed)
 *   GET    /api/session                              → SessionInfo
 *   GET    /api/servers?check=0|1                     → ConnectorSummary[] (check=1: each one contacted, in parallel)
 *   POST   /api/servers                               NewConnector → 201 ConnectorSummary
 *   DELETE /api/servers/:name?scope=local|project|user → 204
 *   POST   /api/servers/:name/approve                 → 204 (a project server pending approval)
 *   POST   /api/servers/:name/enabled                 { enabled: boolean, scope? } → 204
 *   POST   /api/servers/:name/login                   → LoginStart (then the browser goes to authorizationUrl)
 *   GET    /api/servers/:name/auth                    → AuthView
 *   POST   /api/servers/:name/logout                  → 204
 *   GET    /api/servers/:name                         → ConnectorDetail (contacts the server)
 *   PUT    /api/servers/:name/permissions             { pattern, decision, scope? } → 204
 *   PUT    /api/servers/:name/limits                  { pattern, limit, scope? } → 204 (limit "none" removes)
 *   POST   /api/servers/:name/call                    { tool, arguments, approved? } → CallOutcome
 *   POST   /api/servers/:name/read                    { uri } → ReadOutcome
 *   POST   /api/servers/:name/prompt                  { prompt, arguments } → PromptOutcome
 *   GET    /api/servers/:name/doctor                  → DoctorView
 *   GET    /api/activity?since=1d&server=NAME         → ActivityView
 */

export type Scope = 'local' | 'project' | 'user';
export type Decision = 'allow' | 'ask' | 'deny';
export type Status = 'connected' | 'needs-auth' | 'failed' | 'pending-approval' | 'disabled' | 'unchecked';

export interface ApiError {
  code: string;
  message: string;
  /** The next thing to do (often the CLI command that does it). */
  hint?: string;
}

export interface SessionInfo {
  version: string;
  projectRoot: string;
  /** Where `user`/`local` policy and servers are written. */
  userConfigPath: string;
}

export interface ConnectorSummary {
  name: string;
  scope: Scope;
  file: string;
  transport: 'http' | 'sse' | 'stdio' | null;
  /** URL (masked) or command line (masked). */
  target: string;
  status: Status;
  reason: string | null;
  hint: string | null;
  server: { name: string; version: string; protocolVersion?: string } | null;
  toolCount: number | null;
  /** Tools whose definition changed since first allowed (review them in the CLI: patchbay review). */
  changedTools: string[];
  auth: AuthView;
}

export interface AuthView {
  kind: 'none' | 'header' | 'oauth';
  /** OAuth: logged in (a token is stored). */
  loggedIn: boolean;
  issuer: string | null;
  scope: string | null;
  /** Epoch milliseconds. */
  expiresAt: number | null;
  refreshable: boolean;
}

export interface NewConnector {
  name: string;
  url: string;
  transport?: 'http' | 'sse';
  /** Values are secrets or `${VAR}` references; kept as given, never sent back. */
  headers?: Record<string, string>;
  oauth?: { clientId?: string; clientSecret?: string; callbackPort?: number };
  scope?: Scope;
}

export interface LoginStart {
  /** Open this in the same browser; the login ends on a patchbay page that returns to the console. */
  authorizationUrl: string;
}

export interface ToolView {
  name: string;
  title: string | null;
  description: string | null;
  annotations: Record<string, unknown> | null;
  inputSchema: Record<string, unknown>;
  decision: Decision;
  /** Why, in words, naming the file that decided. */
  because: string;
  /** Where the decision came from. */
  source: {
    kind: 'rule' | 'group' | 'default' | 'annotations' | 'broken';
    scope: Scope | null;
    path: string | null;
    pattern: string | null;
  };
  changed: boolean;
  limits: LimitView[];
}

export interface LimitView {
  /** `*` for the whole server. */
  pattern: string;
  limit: string;
  scope: Scope;
  used: number | null;
  /** ISO time the current window ends. */
  reopensAt: string | null;
}

/**
 * The project's `.patchbay.json`, as `patchbay policy --json` shows it (its entries about this
 * server and its default). pending/rejected: what loosens has no effect until
 * `patchbay approve --policy`; what tightens applies.
 */
export interface ProjectPolicyView {
  path: string;
  sha256: string;
  state: 'approved' | 'pending' | 'rejected' | 'not-needed';
  changes: Array<{
    effect: 'loosens' | 'tightens' | 'none';
    kind: 'default' | 'rule' | 'group' | 'limit' | 'enabled';
    server: string | null;
    pattern: string | null;
    what: string;
    why: string;
  }>;
  /** The command that approves it, when something in it waits (pending, rejected). */
  hint: string | null;
}

export interface ConnectorDetail extends ConnectorSummary {
  instructions: string | null;
  tools: ToolView[];
  /** Limits on the whole server (pattern `*`) and on globs. */
  limits: LimitView[];
  /** The project's policy file, null when there is none. */
  projectPolicy: ProjectPolicyView | null;
  resources: Array<{
    uri: string;
    name: string;
    title: string | null;
    description: string | null;
    mimeType: string | null;
  }>;
  templates: Array<{
    uriTemplate: string;
    name: string;
    title: string | null;
    description: string | null;
    mimeType: string | null;
  }>;
  prompts: Array<{
    name: string;
    title: string | null;
    description: string | null;
    arguments: Array<{ name: string; description: string | null; required: boolean }>;
  }>;
}

/** A content block as the server sent it (text, image, audio, resource, resource_link). */
export type ContentBlock = Record<string, unknown> & { type: string };

export interface CallOutcome {
  /** `needs-approval`: the tool is set to ask; confirm and send again with approved: true. */
  status: 'ok' | 'tool-error' | 'needs-approval';
  because?: string;
  content: ContentBlock[];
  structuredContent?: unknown;
}

export interface ReadOutcome {
  contents: Array<{ uri: string; mimeType: string | null; text?: string; blob?: string }>;
}

export interface PromptOutcome {
  description: string | null;
  messages: Array<{ role: string; content: ContentBlock }>;
}

export interface DoctorView {
  verdict: string;
  findings: Array<{ layer: string; status: string; summary: string; fix: string | null }>;
}

export interface ActivityEntry {
  time: string;
  host: string | null;
  via: 'gateway' | 'call' | 'console';
  server: string;
  tool: string;
  decision: 'allowed' | 'asked' | 'denied' | 'limited';
  outcome: 'ok' | 'tool-error' | 'error' | 'refused';
  durationMs: number;
  argumentBytes: number;
  resultBytes: number;
  error?: string;
}

export interface ActivityView {
  entries: ActivityEntry[];
  stats: Array<{
    server: string;
    tool: string;
    calls: number;
    errors: number;
    denied: number;
    limited: number;
    p50Ms: number | null;
    p95Ms: number | null;
    maxMs: number | null;
  }>;
}

/** The answer to the launch token's exchange: the secret to send as `Authorization: Bearer`. */
export interface SessionGrant {
  session: string;
}
