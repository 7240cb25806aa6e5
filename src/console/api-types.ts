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
 *   GET    /api/servers/:name/config?scope=…          → ConnectorConfig (a remote entry as the edit form starts from it; no secret)
 *   PUT    /api/servers/:name?scope=…                 ConnectorEdit → EditOutcome (validated as `patchbay add`, written to the entry's scope)
 *   DELETE /api/servers/:name?scope=local|project|user → 204
 *   POST   /api/servers/:name/approve                 → 204 (a project server pending approval)
 *   POST   /api/servers/:name/enabled                 { enabled: boolean, scope? } → 204
 *   POST   /api/servers/:name/login                   → LoginStart (then the browser goes to authorizationUrl)
 *   GET    /api/servers/:name/auth                    → AuthView
 *   POST   /api/servers/:name/logout                  → 204
 *   GET    /api/servers/:name                         → ConnectorDetail (contacts the server)
 *   PUT    /api/servers/:name/permissions             { pattern, decision, scope? } → 204
 *   PUT    /api/servers/:name/groups                  { group, decision, scope? } → 204 (decision "default" removes)
 *   PUT    /api/servers/:name/limits                  { pattern, limit, scope? } → 204 (limit "none" removes)
 *   POST   /api/servers/:name/call                    { tool, arguments, approved? } → CallOutcome (status "task": started as a task)
 *   GET    /api/servers/:name/tasks/:id               → TaskRun (a task this console started: its status, then its outcome)
 *   DELETE /api/servers/:name/tasks/:id               → TaskRun (the task cancelled)
 *   POST   /api/servers/:name/read                    { uri } → ReadOutcome
 *   POST   /api/servers/:name/prompt                  { prompt, arguments } → PromptOutcome
 *   POST   /api/servers/:name/complete                CompletionRequest → CompletionOutcome (the server's completion/complete)
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
  /** `member`: a team gateway calls it with each member's own login (perMember); absent: one shared login. */
  upstreamCredential?: 'member';
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

/**
 * A remote connector's settings for the edit form. No secret is in it: header values and the
 * client secret stay where they are (the form sends a value only to change one), and the URL is
 * masked as `patchbay get` masks it (sent back unchanged, it keeps the stored one).
 */
export interface ConnectorConfig {
  name: string;
  scope: Scope;
  file: string;
  transport: 'http' | 'sse';
  url: string;
  /** Header names; their values are never sent. */
  headers: string[];
  oauth: {
    clientId: string | null;
    callbackPort: number | null;
    scopes: string | null;
    authServerMetadataUrl: string | null;
    /** A client secret is stored for this server and URL. */
    hasClientSecret: boolean;
  };
}

export interface ConnectorEdit {
  url: string;
  transport?: 'http' | 'sse';
  /**
   * Every header the entry will have. Without `value`, the value stored under `from` (default: the
   * same name) is kept, unseen; a header left out is removed.
   */
  headers?: Array<{ name: string; value?: string; from?: string }>;
  oauth?: {
    clientId?: string;
    callbackPort?: number;
    scopes?: string;
    authServerMetadataUrl?: string;
    /** A new client secret; left out, the stored one is kept (moved along if the URL changes). */
    clientSecret?: string;
    removeClientSecret?: boolean;
  };
}

export interface EditOutcome {
  connector: ConnectorSummary;
  /** What `patchbay add` would warn about (a literal secret in .mcp.json, plain http). */
  warnings: string[];
}

export interface CompletionRequest {
  /** A prompt's argument, or a resource template's variable. */
  ref: { type: 'prompt'; name: string } | { type: 'template'; uri: string };
  argument: { name: string; value: string };
  /** The other arguments already filled in (a server may narrow its answers by them). */
  context?: Record<string, string>;
}

export interface CompletionOutcome {
  values: string[];
  hasMore: boolean;
  /** False when the server does not offer completions at all. */
  supported: boolean;
}

export type ToolGroup = 'read-only' | 'other';

export interface GroupView {
  group: ToolGroup;
  /** What decides the group's tools no rule names, as set in the scope the page writes (local). */
  decision: Decision | null;
  /** Every scope's setting for the group, as the policy reads it. */
  settings: Array<{ scope: Scope; path: string; decision: Decision }>;
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
    group: ToolGroup | null;
  };
  /** The group its annotations put it in (read-only: `readOnlyHint: true`). */
  group: ToolGroup;
  /** Scopes holding a rule for exactly this tool (what "back to default" removes). */
  ownRules: Array<{ scope: Scope; decision: Decision }>;
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
  /** Every limit of the server: on the whole server (pattern `*`), on globs and on single tools. */
  limits: LimitView[];
  /** The group settings (Read-only tools / Other tools). */
  groups: GroupView[];
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
  /**
   * `needs-approval`: the tool is set to ask; confirm and send again with approved: true.
   * `task`: the tool runs as a task (its execution requires one); follow it at
   * GET /api/servers/:name/tasks/:id until its run is done.
   */
  status: 'ok' | 'tool-error' | 'needs-approval' | 'task';
  because?: string;
  content: ContentBlock[];
  structuredContent?: unknown;
  task?: TaskView;
}

/** A task as the server describes it (every string the server's). */
export interface TaskView {
  taskId: string;
  status: string;
  statusMessage?: string;
  createdAt?: string;
  lastUpdatedAt?: string;
  pollInterval?: number;
}

/** A task the console started, as it runs: its latest status, then how it ended. */
export interface TaskRun {
  tool: string;
  task: TaskView;
  done: boolean;
  /** Once done with a result: the tool's result, as a call's. */
  outcome?: CallOutcome;
  /** Once done without a result (failed, cancelled, the connection lost). */
  error?: ApiError;
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
