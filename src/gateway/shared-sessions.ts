/**
 * 2025-era host sessions shared by the replicas of one gateway (#20), through the state store: a
 * host behind a load balancer with no affinity may send each request of its session to another
 * replica, and the replica that opened the session may go away. legacy-sessions.ts keeps each
 * replica's live copies; this module is what they share.
 *
 * - The record (namespace `sessions`, key: the session ID) is written before the host gets its
 *   `initialize` answer: the caller it is bound to, the negotiated protocol version, the client's
 *   info and capabilities. A replica that gets a request of a session it does not hold makes a
 *   copy from it (`replayInitialize`). The record lives `idleMs` (+ TOUCH_MS) past the last
 *   activity any replica saw: each replica writes it again at most every TOUCH_MS while it serves
 *   the session or holds its stream. Gone (expired, DELETE) → 404 on every replica.
 * - Which replica tells the host what (each event reaches a host once, on its one GET stream):
 *   - events every replica observes — a config reload (each replica watches the config files)
 *     and an upstream's `list_changed` (each replica has its own session with that upstream, and
 *     is told on it) — are sent by every replica to its own copies: only the copy holding the
 *     host's GET stream writes them. A replica that opens a session's GET stream tells the
 *     others (`stream`), and one that held an older one closes it, so that there is one.
 *   - events one replica observes — an upstream's log message, on that replica's own upstream
 *     session — are sent there to its copies, and published (`log`) for the copies elsewhere.
 *     The upstreams' log level a host sets (gateway-wide, as on one process) is published
 *     (`level`) to every replica's upstreams, and kept in the store (namespace `log-level`, no
 *     expiry: as long as the gateway's state), where a replica that starts later reads it.
 *   - a server→host request during a call (elicitation, sampling) goes on the call's POST stream,
 *     on the replica running the call; its ID names that replica (`tag`). The host's answer, on
 *     whichever replica it lands, is forwarded there (`answer`, on the replica's own channel) and
 *     handed to its transport as if it had been POSTed there. A host's `notifications/cancelled`
 *     of its own request is published (`cancel`) to the replica running the call, wherever that
 *     is; one of such a question (its ID names a replica) goes where an answer would, as an error
 *     answer (`cancelledAnswer`): the question ends there (the relay then declines it upstream).
 *   - DELETE removes the record and tells every replica to drop its copy (`drop`).
 * - The bus keeps nothing for a replica that is away (state/store.ts): a message missed is
 *   caught up by the record (a copy whose record is gone is dropped at its next write).
 * - Counting (the `patchbay_sessions` metric): each session is counted by one replica, the one
 *   its record names (`replica`), so that a sum over replicas counts it once: the replica that
 *   opened it. That one gives it up when it closes its copy (idle here); and a replica that makes
 *   a copy or writes the record (`touch`) takes over a session nobody counts, or one whose
 *   counter no longer listens on the bus (it went away, or the one process restarted): by a
 *   compare-and-set on the record, so one replica does. A counter that went away is noticed at
 *   the session's next activity elsewhere; until then, a session may be counted by none.
 */

import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/server';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type ClientCapabilities,
  type Implementation,
  type WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';

import type { RecordStore, StateStore } from '../state/store.js';

export const SESSIONS_NAMESPACE = 'sessions';
/** A replica writes a session's record again at most this often (bounded store writes per request). */
export const TOUCH_MS = 5_000;
/**
 * How long a replica believes what it learnt of whether another replica listens on the bus, in
 * record writes (touchMs): at most one question per replica named, however many sessions name it.
 */
const HOLDER_CHECK_TOUCHES = 3;

/** Who a session belongs to: the authenticated caller that initialized it. */
export interface SessionOwner {
  auth: string;
  subject: string | null;
}

export interface SessionRecord {
  owner: SessionOwner;
  protocolVersion: string;
  clientInfo: Implementation;
  capabilities: ClientCapabilities;
  /**
   * The bus name of the replica that counts the session as its own: the one that opened it, or
   * the one that took it over when that one was gone. Absent in records of older versions.
   */
  replica?: string;
  /** Epoch milliseconds. */
  created: number;
  lastActive: number;
}

/** What the bus carries between replicas (see the module comment). */
type SessionMessage =
  | { kind: 'drop' | 'stream'; from: string; session: string }
  | { kind: 'log'; from: string; params: Record<string, unknown> }
  | { kind: 'level'; from: string; level: string }
  /** Whether a replica still listens (publish counts the listeners); nothing to do on hearing it. */
  | { kind: 'ping'; from: string }
  | { kind: 'cancel' | 'answer'; from: string; session: string; message: JSONRPCMessage };

/** What a replica does with what it hears of the others. */
export interface SharedSessionEvents {
  /** The session ended elsewhere (DELETE) or its record is gone: close this replica's copy. */
  drop(session: string): void;
  /** Another replica opened this session's GET stream: close ours, if we hold one. */
  streamMoved(session: string): void;
  /** An upstream log message another replica observed, for this replica's copies. */
  log(params: Record<string, unknown>): void;
  /** A message of the host for this replica's copy, as if POSTed here (an answer, a cancellation). */
  deliver(session: string, message: JSONRPCMessage): void;
  /** A host set the (gateway-wide) log level of the upstreams on another replica. */
  logLevel(level: string): void;
  /** Whether this replica holds a copy of the session now. */
  holds(session: string): boolean;
}

const BROADCAST = 'sessions';
/** A replica's own channel: answers to the questions it asked. */
const replicaChannel = (replica: string) => `sessions:${replica}`;
/** `<replica>/<n>`: the ID of a request a replica's copy sent, naming that replica. */
const TAGGED = /^([0-9a-f-]{36})\/(\d+)$/;

/** Where the upstreams' log level a host set is kept (one record: the gateway's). */
export const LOG_LEVEL_NAMESPACE = 'log-level';
const LOG_LEVEL_KEY = 'upstreams';
interface LogLevelRecord {
  level: string;
  /** Epoch milliseconds. */
  set: number;
}
/**
 * The error a question of the gateway's ends with when the host cancelled it. JSON-RPC and MCP
 * name no code for it; this is LSP's RequestCancelled. The host never sees it: the relay declines.
 */
export const REQUEST_CANCELLED = -32800;

export class SharedSessions {
  private readonly records: RecordStore<SessionRecord>;
  private readonly logLevels: RecordStore<LogLevelRecord>;
  /** A level was set or heard since this replica started: newer than the one kept in the store. */
  private levelKnown = false;
  /** When this replica last wrote each session's record. */
  private readonly written = new Map<string, number>();
  /** The sessions this replica counts (their records name it). */
  private readonly counted = new Set<string>();
  /** Whether the replicas named in records still listen on the bus, and when that was asked. */
  private readonly listening = new Map<string, { listening: boolean; asked: number }>();
  private subscribed: Promise<Array<() => Promise<void>>> | undefined;
  private readonly ttlMs: number;
  private readonly touchMs: number;
  private readonly holderCheckMs: number;

  constructor(
    private readonly state: StateStore,
    idleMs: number,
    private readonly events: SharedSessionEvents,
  ) {
    this.records = state.records<SessionRecord>(SESSIONS_NAMESPACE);
    this.logLevels = state.records<LogLevelRecord>(LOG_LEVEL_NAMESPACE);
    this.touchMs = Math.min(TOUCH_MS, idleMs / 4);
    this.ttlMs = idleMs + this.touchMs;
    this.holderCheckMs = HOLDER_CHECK_TOUCHES * this.touchMs;
    // Listening from the start; a store away now is tried again by the next session that needs it.
    void this.ready().catch(() => undefined);
  }

  get replica(): string {
    return this.state.bus.replica;
  }

  /** Subscribed to the broadcast and this replica's channel (once; again after a failure). */
  ready(): Promise<void> {
    this.subscribed ??= (async () => {
      const hear = (message: unknown) => this.heard(message as SessionMessage);
      const made = await Promise.allSettled([
        this.state.bus.subscribe(BROADCAST, hear),
        this.state.bus.subscribe(replicaChannel(this.replica), hear),
      ]);
      const stops = made.flatMap((each) => (each.status === 'fulfilled' ? [each.value] : []));
      const failed = made.find((each) => each.status === 'rejected');
      if (!failed) {
        void this.readLogLevel();
        return stops;
      }
      // Both or neither: a channel heard twice after the next try would deliver twice.
      await Promise.all(stops.map((stop) => stop().catch(() => undefined)));
      throw failed.reason;
    })();
    this.subscribed.catch(() => (this.subscribed = undefined));
    return this.subscribed.then(() => undefined);
  }

  /**
   * The upstreams' log level a host set before this replica started (once listening, so that a
   * level set meanwhile is heard): this replica's upstreams log at it too. Off every request's
   * path; a store away now leaves the default.
   */
  private async readLogLevel(): Promise<void> {
    const kept = await this.logLevels.get(LOG_LEVEL_KEY).catch(() => undefined);
    if (kept && !this.levelKnown) {
      this.levelKnown = true;
      this.events.logLevel(kept.level);
    }
  }

  get(id: string): Promise<SessionRecord | undefined> {
    return this.records.get(id);
  }

  /** A session opened here: this replica counts it. */
  async create(id: string, record: Omit<SessionRecord, 'replica'>): Promise<void> {
    await this.records.put(id, { ...record, replica: this.replica }, { ttlMs: this.ttlMs });
    this.written.set(id, Date.now());
    this.counted.add(id);
  }

  /** Whether this replica counts session `id` (see the module comment). */
  counts(id: string): boolean {
    return this.counted.has(id);
  }

  /**
   * The session was active here (a request, or a stream held open): its record lives on, written
   * at most every touchMs. A record gone meanwhile ends this copy. Never awaited on a request's
   * path; a store away now is tried again at the next activity.
   */
  touch(id: string): void {
    const now = Date.now();
    if (now - (this.written.get(id) ?? 0) < this.touchMs) return;
    this.written.set(id, now);
    this.records
      .update(
        id,
        (current) =>
          current && {
            ...current,
            lastActive: now,
            ...(this.mayTake(current.replica) ? { replica: this.replica } : {}),
          },
        { ttlMs: this.ttlMs },
      )
      .then(
        (kept) => {
          if (kept === undefined) {
            this.counted.delete(id);
            return this.events.drop(id);
          }
          this.counting(id, kept);
        },
        () => this.written.delete(id),
      );
  }

  /**
   * This replica's copy is gone (idle, closed); the record stays for the others. A session this
   * replica counted is given up, for the next replica that writes its record.
   */
  forgetCopy(id: string): void {
    this.written.delete(id);
    if (!this.counted.delete(id)) return;
    // The record keeps its expiry: the last activity any replica wrote, and ttlMs.
    let ttlMs = 1;
    void this.records
      .update(
        id,
        (current) => {
          if (!current) return undefined;
          ttlMs = Math.max(1, current.lastActive + this.ttlMs - Date.now());
          return current.replica === this.replica ? { ...current, replica: undefined } : current;
        },
        // Read after the change (state/store.ts update).
        {
          get ttlMs() {
            return ttlMs;
          },
        },
      )
      .catch(() => undefined);
  }

  /**
   * Whether this replica may count a session whose record names `holder`: nobody, itself, or a
   * replica known not to listen on the bus any more.
   */
  private mayTake(holder: string | undefined): boolean {
    return holder === undefined || holder === this.replica || this.listening.get(holder)?.listening === false;
  }

  /** What this replica learnt of session `id` from its record just written or read. */
  private counting(id: string, record: SessionRecord): void {
    if (record.replica === this.replica) {
      this.counted.add(id);
      // The copy closed meanwhile (the record was being written): given up again.
      if (!this.events.holds(id)) this.forgetCopy(id);
      return;
    }
    this.counted.delete(id);
    // Whether that replica is still there, asked at most every holderCheckMs: if not, the next
    // write here takes the session over.
    if (record.replica !== undefined) void this.stillListening(record.replica).catch(() => undefined);
  }

  /** Whether `holder` listens on the bus (its own channel), asked at most every holderCheckMs. */
  private async stillListening(holder: string): Promise<boolean> {
    const known = this.listening.get(holder);
    if (known && Date.now() - known.asked < this.holderCheckMs) return known.listening;
    const listening =
      (await this.state.bus.publish(replicaChannel(holder), { kind: 'ping', from: this.replica })) > 0;
    // Bounded: forget the oldest answers (a replica's name is new at each start).
    if (this.listening.size >= 256) this.listening.delete(this.listening.keys().next().value!);
    this.listening.set(holder, { listening, asked: Date.now() });
    return listening;
  }

  /** The host ended the session (DELETE): gone on every replica. */
  async end(id: string): Promise<void> {
    this.written.delete(id);
    this.counted.delete(id);
    await this.records.delete(id);
    await this.publish(BROADCAST, { kind: 'drop', from: this.replica, session: id });
  }

  /** This replica now holds the session's GET stream. */
  streamOpened(id: string): void {
    void this.publish(BROADCAST, { kind: 'stream', from: this.replica, session: id });
  }

  /** An upstream log message observed here (already sent to this replica's copies). */
  shareLog(params: Record<string, unknown>): void {
    void this.publish(BROADCAST, { kind: 'log', from: this.replica, params });
  }

  /**
   * A host set the upstreams' log level here: the other replicas' upstreams log at it too, and so
   * will those of a replica that starts later (kept before it is published: a replica starting
   * now reads it or hears it).
   */
  shareLogLevel(level: string): void {
    this.levelKnown = true;
    void this.logLevels
      .put(LOG_LEVEL_KEY, { level, set: Date.now() })
      .catch(() => undefined)
      .then(() => this.publish(BROADCAST, { kind: 'level', from: this.replica, level }));
  }

  /**
   * This replica has just made a copy of session `id` from `record`: it counts it if the record
   * names it, or takes the session over if the record names nobody or a replica that no longer
   * listens on the bus. Off the request's path.
   */
  async claim(id: string, record: SessionRecord): Promise<void> {
    const holder = record.replica;
    if (holder !== undefined && holder !== this.replica && (await this.stillListening(holder)))
      return this.counting(id, record);
    // A copy made here is an activity of the session: its record lives on from now.
    const now = Date.now();
    const kept = await this.records.update(
      id,
      (current) =>
        current && {
          ...current,
          lastActive: now,
          ...(current.replica === holder ? { replica: this.replica } : {}),
        },
      { ttlMs: this.ttlMs },
    );
    if (kept) this.counting(id, kept);
  }

  /** The ID a copy here gives a request it sends the host: the host's answer names this replica. */
  tag(id: RequestId): string {
    return `${this.replica}/${id}`;
  }

  /**
   * A host's POSTed body, before this replica's copy handles it: answers to another replica's
   * requests (and cancellations of them) are forwarded there, a cancellation of the host's own
   * request is also published (the call may run elsewhere), and answers to this replica's own
   * requests get their own IDs back. Returns what is left for this copy, undefined when nothing
   * is; rejects when an answer could not be forwarded.
   */
  async route(session: string, body: unknown): Promise<unknown> {
    const messages = Array.isArray(body) ? body : [body];
    const left: unknown[] = [];
    for (const message of messages) {
      const kept = await this.routeOne(session, message);
      if (kept !== undefined) left.push(kept);
    }
    if (left.length === 0) return undefined;
    return Array.isArray(body) ? left : left[0];
  }

  private async routeOne(session: string, message: unknown): Promise<unknown> {
    const candidate = message as JSONRPCMessage;
    if (isJSONRPCResultResponse(candidate) || isJSONRPCErrorResponse(candidate)) {
      const tagged = typeof candidate.id === 'string' ? TAGGED.exec(candidate.id) : null;
      if (!tagged) return message;
      return this.answer(session, tagged[1]!, { ...candidate, id: Number(tagged[2]) } as JSONRPCMessage);
    }
    if (isJSONRPCNotification(candidate) && candidate.method === 'notifications/cancelled') {
      const params = candidate.params as { requestId?: unknown; reason?: unknown } | undefined;
      const tagged = typeof params?.requestId === 'string' ? TAGGED.exec(params.requestId) : null;
      // A question this gateway asked: it ends where it was asked, as an answer would reach it.
      if (tagged) return this.answer(session, tagged[1]!, cancelledAnswer(Number(tagged[2]), params!.reason));
      await this.publish(BROADCAST, { kind: 'cancel', from: this.replica, session, message: candidate });
    }
    return message;
  }

  /** An answer (untagged) to a question `replica` asked: for this copy, or forwarded there. */
  private async answer(session: string, replica: string, answer: JSONRPCMessage): Promise<unknown> {
    if (replica === this.replica) return answer;
    // Nobody hears it when that replica is gone: so is the call that asked. A store away now
    // rejects (the host is told, not left waiting).
    await this.state.bus.publish(replicaChannel(replica), {
      kind: 'answer',
      from: this.replica,
      session,
      message: answer,
    });
    return undefined;
  }

  private async publish(channel: string, message: SessionMessage): Promise<void> {
    await this.state.bus.publish(channel, message).catch(() => undefined);
  }

  private heard(message: SessionMessage): void {
    if (message.from === this.replica) return;
    switch (message.kind) {
      case 'drop':
        this.written.delete(message.session);
        this.counted.delete(message.session);
        return this.events.drop(message.session);
      case 'stream':
        return this.events.streamMoved(message.session);
      case 'log':
        return this.events.log(message.params);
      case 'level':
        this.levelKnown = true;
        return this.events.logLevel(message.level);
      case 'ping':
        return;
      case 'answer':
      case 'cancel':
        return this.events.deliver(message.session, message.message);
    }
  }

  async close(): Promise<void> {
    const unsubscribe = await this.subscribed?.catch(() => []);
    await Promise.all((unsubscribe ?? []).map((stop) => stop()));
  }
}

/**
 * Requests a session's copy sends the host carry IDs that name this replica (SharedSessions.tag),
 * so that the host's answer can find its way back here from any replica: the SDK numbers them
 * per server, and copies on two replicas would send the same numbers.
 */
export function tagOutgoing(message: JSONRPCMessage, tag: (id: RequestId) => string): JSONRPCMessage {
  if (isJSONRPCRequest(message)) return { ...message, id: tag(message.id) };
  // The server cancels its own request (a timeout, the call ended): by the ID the host was given.
  if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
    const params = message.params as { requestId?: RequestId } | undefined;
    if (params?.requestId !== undefined)
      return { ...message, params: { ...params, requestId: tag(params.requestId) } } as JSONRPCMessage;
  }
  return message;
}

/**
 * The host's cancellation of a question this gateway asked, as the error answer that ends the
 * question where it waits (the SDK acts on a cancellation of requests it serves only, and by a
 * bare number it would end the host's own request of that number instead).
 */
function cancelledAnswer(id: number, reason: unknown): JSONRPCMessage {
  const why = typeof reason === 'string' && reason !== '' ? `: ${reason.slice(0, 200)}` : '';
  return {
    jsonrpc: '2.0',
    id,
    error: { code: REQUEST_CANCELLED, message: `The host cancelled the request${why}` },
  };
}

const LOCAL = 'http://patchbay.invalid/mcp';
const ACCEPT = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };

/**
 * Make a fresh transport and server what the host's own `initialize` made them on the replica
 * that served it: the session's ID, the negotiated version, the client's info and capabilities
 * (which decide what the server may ask the host). The SDK sets these only as it handles an
 * `initialize` (the server's fields are private; the transport takes its ID from its generator
 * then), so the handshake is replayed, through the transport's public handleRequest, with what
 * the record keeps; nothing of it reaches the host. The transport must generate `id`.
 */
export async function replayInitialize(
  transport: WebStandardStreamableHTTPServerTransport,
  id: string,
  record: SessionRecord,
): Promise<void> {
  const initialize = {
    jsonrpc: '2.0',
    id: 'patchbay-restore',
    method: 'initialize',
    params: {
      protocolVersion: record.protocolVersion,
      capabilities: record.capabilities,
      clientInfo: record.clientInfo,
    },
  };
  const answer = await transport.handleRequest(
    new Request(LOCAL, { method: 'POST', headers: ACCEPT, body: JSON.stringify(initialize) }),
    { parsedBody: initialize },
  );
  // The answer's SSE stream ends with the initialize result.
  const text = await answer.text();
  if (!answer.ok || !text.includes('"result"') || transport.sessionId !== id)
    throw new Error(`the session could not be restored (${answer.status})`);
  await deliverTo(transport, id, { jsonrpc: '2.0', method: 'notifications/initialized' });
}

/** A message of the host, handed to a session's transport as if it had been POSTed to it. */
export async function deliverTo(
  transport: WebStandardStreamableHTTPServerTransport,
  id: string,
  message: JSONRPCMessage,
): Promise<void> {
  const answer = await transport.handleRequest(
    new Request(LOCAL, {
      method: 'POST',
      headers: { ...ACCEPT, 'mcp-session-id': id },
      body: JSON.stringify(message),
    }),
    { parsedBody: message },
  );
  await answer.body?.cancel();
}
