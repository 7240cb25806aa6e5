/**
 * Every request the page makes goes through here: same-origin relative URLs, the session secret
 * in `Authorization: Bearer` (session.ts; never a cookie), JSON in and out, and every failure
 * turned into one `ApiError` the UI can show as it is.
 */
import type {
  ActivityView,
  AuthView,
  CallOutcome,
  CompletionOutcome,
  CompletionRequest,
  ConnectorConfig,
  ConnectorDetail,
  ConnectorEdit,
  EditOutcome,
  ConnectorSummary,
  Decision,
  DoctorView,
  ApiError as ApiErrorBody,
  LoginStart,
  NewConnector,
  PromptOutcome,
  ReadOutcome,
  Scope,
  SessionInfo,
  TaskRun,
  ToolGroup,
} from '../../src/console/api-types';
import { NO_SESSION, openSession, type SessionState } from './session';

export const SESSION_EXPIRED =
  'This console session has ended. Run `patchbay ui` again: it prints a new link to the console.';

let session: Promise<SessionState> = Promise.resolve({ secret: undefined, problem: undefined });

/**
 * Takes the launch token out of the address and exchanges it; called once before the first
 * render. Every request waits for it.
 */
export function startSession(): void {
  session = openSession();
}

export class ApiError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  /** HTTP status; 0 when the request never got an answer. */
  readonly status: number;

  constructor(body: ApiErrorBody, status: number) {
    super(body.message);
    this.name = 'ApiError';
    this.code = body.code;
    this.hint = body.hint;
    this.status = status;
  }
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError({ code: 'client-error', message }, 0);
}

type ExpiredListener = (message: string) => void;
const expiredListeners = new Set<ExpiredListener>();

/**
 * Called on each 401 with what to say: the page shows one banner instead of an error in every
 * panel (no session in this tab, a spent link, or a session the console no longer knows).
 */
export function onSessionExpired(listener: ExpiredListener): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

function isErrorBody(value: unknown): value is { error: ApiErrorBody } {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const error = (value as { error: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as ApiErrorBody).code === 'string' &&
    typeof (error as ApiErrorBody).message === 'string'
  );
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const { secret, problem } = await session;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (secret !== undefined) headers.authorization = `Bearer ${secret}`;
  // No ambient credentials at all: the secret above is the only one, and only this page has it.
  const init: RequestInit = { method, credentials: 'omit', headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  let response: Response;
  try {
    response = await fetch(`./api/${path}`, init);
  } catch (error) {
    throw new ApiError(
      {
        code: 'unreachable',
        message: `Could not reach patchbay: ${error instanceof Error ? error.message : String(error)}`,
        hint: 'Is `patchbay ui` still running? Start it again and open the URL it prints.',
      },
      0,
    );
  }

  if (response.status === 401) {
    const message = secret !== undefined ? SESSION_EXPIRED : (problem ?? NO_SESSION);
    for (const listener of expiredListeners) listener(message);
    throw new ApiError({ code: 'session-expired', message }, 401);
  }
  if (response.status === 204) return undefined as T;

  const contentType = response.headers.get('content-type') ?? '';
  let parsed: unknown = undefined;
  if (contentType.includes('json')) {
    try {
      parsed = await response.json();
    } catch {
      parsed = undefined;
    }
  }

  if (!response.ok) {
    if (isErrorBody(parsed)) throw new ApiError(parsed.error, response.status);
    throw new ApiError(
      { code: `http-${response.status}`, message: `${method} ${path} failed with HTTP ${response.status}.` },
      response.status,
    );
  }
  if (parsed === undefined) {
    throw new ApiError(
      {
        code: 'bad-response',
        message: `${method} ${path} did not answer with JSON (${contentType || 'no type'}).`,
      },
      response.status,
    );
  }
  return parsed as T;
}

const enc = encodeURIComponent;

export const api = {
  session: () => request<SessionInfo>('GET', 'session'),
  servers: (check: boolean) => request<ConnectorSummary[]>('GET', `servers?check=${check ? 1 : 0}`),
  add: (connector: NewConnector) => request<ConnectorSummary>('POST', 'servers', connector),
  remove: (name: string, scope: Scope) => request<void>('DELETE', `servers/${enc(name)}?scope=${enc(scope)}`),
  approve: (name: string) => request<void>('POST', `servers/${enc(name)}/approve`),
  setEnabled: (name: string, enabled: boolean, scope?: Scope) =>
    request<void>('POST', `servers/${enc(name)}/enabled`, scope ? { enabled, scope } : { enabled }),
  login: (name: string) => request<LoginStart>('POST', `servers/${enc(name)}/login`),
  auth: (name: string) => request<AuthView>('GET', `servers/${enc(name)}/auth`),
  logout: (name: string) => request<void>('POST', `servers/${enc(name)}/logout`),
  detail: (name: string) => request<ConnectorDetail>('GET', `servers/${enc(name)}`),
  setPermission: (name: string, pattern: string, decision: Decision | 'default', scope?: Scope) =>
    request<void>(
      'PUT',
      `servers/${enc(name)}/permissions`,
      scope ? { pattern, decision, scope } : { pattern, decision },
    ),
  setGroup: (name: string, group: ToolGroup, decision: Decision | 'default', scope?: Scope) =>
    request<void>(
      'PUT',
      `servers/${enc(name)}/groups`,
      scope ? { group, decision, scope } : { group, decision },
    ),
  config: (name: string) => request<ConnectorConfig>('GET', `servers/${enc(name)}/config`),
  edit: (name: string, scope: Scope, edit: ConnectorEdit) =>
    request<EditOutcome>('PUT', `servers/${enc(name)}?scope=${enc(scope)}`, edit),
  complete: (name: string, completion: CompletionRequest) =>
    request<CompletionOutcome>('POST', `servers/${enc(name)}/complete`, completion),
  setLimit: (name: string, pattern: string, limit: string, scope?: Scope) =>
    request<void>(
      'PUT',
      `servers/${enc(name)}/limits`,
      scope ? { pattern, limit, scope } : { pattern, limit },
    ),
  call: (name: string, tool: string, args: Record<string, unknown>, approved = false) =>
    request<CallOutcome>(
      'POST',
      `servers/${enc(name)}/call`,
      approved ? { tool, arguments: args, approved: true } : { tool, arguments: args },
    ),
  task: (name: string, taskId: string) =>
    request<TaskRun>('GET', `servers/${enc(name)}/tasks/${enc(taskId)}`),
  cancelTask: (name: string, taskId: string) =>
    request<TaskRun>('DELETE', `servers/${enc(name)}/tasks/${enc(taskId)}`),
  read: (name: string, uri: string) => request<ReadOutcome>('POST', `servers/${enc(name)}/read`, { uri }),
  prompt: (name: string, prompt: string, args: Record<string, string>) =>
    request<PromptOutcome>('POST', `servers/${enc(name)}/prompt`, { prompt, arguments: args }),
  doctor: (name: string) => request<DoctorView>('GET', `servers/${enc(name)}/doctor`),
  activity: (since: string, server: string | null) =>
    request<ActivityView>('GET', `activity?since=${enc(since)}${server ? `&server=${enc(server)}` : ''}`),
};

/**
 * Sends the browser to the authorization page. The URL comes from a remote authorization server's
 * metadata, so only http(s) is followed: a `javascript:` URL here would run in the console.
 */
export function openAuthorizationUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ApiError(
      { code: 'bad-authorization-url', message: 'The authorization URL is not a valid URL.' },
      0,
    );
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ApiError(
      {
        code: 'bad-authorization-url',
        message: `Refusing to open an authorization URL with scheme ${parsed.protocol}`,
      },
      0,
    );
  }
  location.href = parsed.href;
}
