/**
 * One configured server behind the gateway: connected on first use, its listings kept from the
 * last time they were read, and reconnected after a failure with a bounded backoff (1 s, 2 s, 4 s
 * … at most 30 s) — never in a tight loop, and never blocking the other upstreams.
 */

import {
  ProtocolError,
  type Client,
  type Prompt,
  type RequestOptions,
  type Resource,
  type ResourceTemplateType,
  type Tool,
} from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import type { RefreshState } from '../auth/refresh.js';
import type { TokenStore } from '../auth/token-store.js';
import type { Paths } from '../core/paths.js';
import type { ServerEntry } from '../config/entry.js';
import { ConnectError } from '../connect/connect-error.js';
import type { Session } from '../connect/session.js';

/** What an upstream lists, by kind: each item as the SDK checked and typed it. */
export interface Listing {
  tools: Tool;
  resources: Resource;
  templates: ResourceTemplateType;
  prompts: Prompt;
}

export type ListKind = keyof Listing;

export interface UpstreamOptions {
  name: string;
  /** The expanded entry, or why the server cannot be used (pending approval, an unset variable…). */
  entry: ServerEntry | undefined;
  unusable?: { reason: string; hint?: string };
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
  /** Where stored logins are (the gateway's, resolved once). */
  paths: Paths;
  /** What this gateway's token sources share: one refresh per login, whichever upstream asks. */
  refreshState: RefreshState;
  cwd: string;
  /** Request handlers and notification handlers for each new client (elicitation, list_changed…). */
  configureClient: (client: Client, upstream: Upstream) => void;
  /** Called after each (re)connection, to bring the new session up to date (the host's log level). */
  onConnected?: (client: Client, upstream: Upstream) => Promise<void>;
  /** Called when a listing changed from what was kept (or arrived for the first time). */
  onListChanged: (upstream: Upstream, kind: ListKind) => void;
  /** One member's session of a `perMember` upstream: its login, from the member vault. */
  tokenStore?: () => Promise<TokenStore>;
  /**
   * A `perMember` upstream's listings: read through a member's open session when there is one
   * (definitions are the server's, not the member's), else through this upstream's own (shared) login.
   */
  listVia?: () => Upstream | undefined;
}

const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

export class Upstream {
  readonly name: string;
  private session: Session | undefined;
  private connecting: Promise<Session> | undefined;
  private failures = 0;
  private retryAt = 0;
  private lastError: PatchbayError | undefined;
  private readonly listings: { [K in ListKind]?: Array<Listing[K]> } = {};
  /** Closed by the gateway (a reload dropped or replaced it): never connects again. */
  private closed = false;

  constructor(private readonly options: UpstreamOptions) {
    this.name = options.name;
  }

  /** The expanded entry (undefined for one that cannot be used). */
  get entry(): ServerEntry | undefined {
    return this.options.entry;
  }

  /**
   * Called with each member's own login (`perMember` in its entry): on a team gateway, calls never
   * go through this upstream's shared session but through the calling member's (member-sessions.ts).
   */
  get perMember(): boolean {
    return this.options.entry?.perMember === true && this.options.tokenStore === undefined;
  }

  /** What the upstream offers of a kind, as last read (empty before the first good listing). */
  kept<K extends ListKind>(kind: K): Array<Listing[K]> {
    return this.listings[kind] ?? [];
  }

  /** Why the upstream is not usable now, if it is not. */
  problem(): PatchbayError | undefined {
    if (this.options.unusable) {
      const { reason, hint } = this.options.unusable;
      return new PatchbayError('connect-failed', `${this.name}: ${reason}`, hint ? { hint } : {});
    }
    return this.session ? undefined : this.lastError;
  }

  /** The session open now, if there is one (never connects). */
  current(): Session | undefined {
    return this.closed ? undefined : this.session;
  }

  /** The open session, connecting first if needed (one attempt at a time; none during backoff). */
  async open(): Promise<Session> {
    if (this.closed) throw this.gone();
    if (this.session) return this.session;
    if (this.options.unusable) throw this.problem()!;
    if (this.connecting) return this.connecting;
    if (this.lastError && Date.now() < this.retryAt) throw this.lastError;
    this.connecting = this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<Session> {
    const { connect } = await import('../connect/session.js');
    let session: Session | undefined;
    try {
      session = await connect(this.options.entry!, {
        name: this.name,
        timeoutMs: this.options.timeoutMs,
        credentials: 'refresh',
        env: this.options.env,
        paths: this.options.paths,
        refreshState: this.options.refreshState,
        ...(this.options.tokenStore ? { tokenStore: this.options.tokenStore } : {}),
        cwd: this.options.cwd,
        configureClient: (client) => this.options.configureClient(client, this),
      });
      this.session = session;
      // The session notices a connection that broke under a request (connect/liveness.ts) and
      // fails its requests in flight at once; the gateway then reconnects on next use.
      const opened = session;
      session.lost.addEventListener('abort', () => this.markLost(opened), { once: true });
      this.failures = 0;
      this.lastError = undefined;
    } catch (error) {
      throw this.failed(error);
    }
    const { onConnected } = this.options;
    if (onConnected) await session.request((client) => onConnected(client, this)).catch(() => undefined);
    return session;
  }

  /** Record a failure: the error to show, and when the next attempt may be made. */
  private failed(error: unknown): PatchbayError {
    this.failures++;
    this.retryAt = Date.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.failures - 1));
    const explained =
      error instanceof PatchbayError
        ? error
        : new PatchbayError('connect-failed', error instanceof Error ? error.message : String(error));
    this.lastError = explained;
    return explained;
  }

  /**
   * Run a request on the session. A JSON-RPC error is the server's answer and leaves the session
   * as it is; anything else (a dead connection, a timeout) is explained, closes the session, and
   * makes the next use reconnect (after the backoff).
   */
  async request<T>(run: (client: Client, session: Session, lost: AbortSignal) => Promise<T>): Promise<T> {
    const session = await this.open();
    const lost = session.lost;
    try {
      return await session.request((client) => run(client, session, lost));
    } catch (error) {
      // Closed under the request by a reload: say that, not the transport's "connection closed".
      if (this.closed) throw this.gone();
      if (lost.aborted) throw this.lastError ?? this.failed(lost.reason);
      if (isServerAnswer(error) || isCancelled(error)) throw error;
      const explained = session.explain(error);
      if (this.session === session) {
        this.session = undefined;
        void session.close().catch(() => undefined);
      }
      throw this.failed(explained);
    }
  }

  /** The session's connection is gone (its requests in flight have ended): reconnect on next use. */
  private markLost(session: Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    this.failed(session.lost.reason);
    void session.close().catch(() => undefined);
  }

  /** Read a listing (following every page), keep it, and say so when it changed. */
  async list<K extends ListKind>(kind: K): Promise<Array<Listing[K]>> {
    const via = this.options.listVia?.();
    const items = via
      ? await via.list(kind)
      : await this.request((client, session) => READERS[kind](client, session.requestOptions()));
    const before = this.listings[kind];
    // TypeScript cannot correlate a generic key on the write side; the read side is checked.
    (this.listings as { [P in K]?: Array<Listing[P]> })[kind] = items;
    if (JSON.stringify(before) !== JSON.stringify(items)) this.options.onListChanged(this, kind);
    return items;
  }

  /** Why a closed upstream is not used: a reload removed or changed its entry. */
  private gone(): PatchbayError {
    return new PatchbayError(
      'connect-failed',
      `${this.name} was removed or changed in patchbay's configuration while this request was on its way`,
      { hint: 'patchbay list (and list the tools again)' },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session ?? (await this.connecting?.catch(() => undefined));
    this.session = undefined;
    await session?.close().catch(() => undefined);
  }
}

/** How each kind is read; an upstream without the capability lists nothing of it. */
const READERS: { [K in ListKind]: (client: Client, options: RequestOptions) => Promise<Array<Listing[K]>> } =
  {
    tools: async (client, options) =>
      client.getServerCapabilities()?.tools ? (await client.listTools(undefined, options)).tools : [],
    resources: async (client, options) =>
      client.getServerCapabilities()?.resources
        ? (await client.listResources(undefined, options)).resources
        : [],
    templates: async (client, options) =>
      client.getServerCapabilities()?.resources
        ? (await client.listResourceTemplates(undefined, options)).resourceTemplates
        : [],
    prompts: async (client, options) =>
      client.getServerCapabilities()?.prompts ? (await client.listPrompts(undefined, options)).prompts : [],
  };

/** The server answered with a JSON-RPC error: a reply, not a broken connection. */
function isServerAnswer(error: unknown): boolean {
  return !(error instanceof ConnectError) && ProtocolError.isInstance(error);
}

function isCancelled(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || /aborted|cancel/i.test(error.message));
}
