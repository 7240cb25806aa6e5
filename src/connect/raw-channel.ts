/**
 * A stdio session's raw side, for a relay that forwards JSON-RPC messages without the SDK's
 * request machinery (the gateway's hot path; the HTTP equivalent is PassThrough). The relay sends
 * a request with an id of its own through the session's transport; the transport's incoming
 * messages are looked at before the SDK client sees them: the response to that id, and progress
 * notifications carrying that request's progress token, go to the relay; everything else (the
 * client's own responses, the server's requests and other notifications) goes on to the client as
 * before. Ids and progress tokens of relayed requests are the relay's own strings, never the SDK
 * client's (numbers), so the two never claim each other's messages.
 */

import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client';

// Type only: importing the library (index.ts → connect/session → here) must not load the SDK.
import type { StdioProcessTransport } from './stdio-transport.js';

type Message = Record<string, unknown>;

export interface RawChannel {
  /**
   * Send `message` (a request whose id is a string of the relay's own); `onMessage` gets each
   * message for it — progress notifications with its `_meta.progressToken`, then the response —
   * until the response arrived or `release` was called.
   */
  send(message: Message, onMessage: (message: Message) => void): Promise<void>;
  /** Stop routing messages of this id and progress token to the relay (cancelled, timed out). */
  release(id: string, progressToken?: string | number): void;
  /** Send a notification (a relayed request's cancellation) through the session's transport. */
  notify(message: Message): Promise<void>;
}

interface Route {
  onMessage: (message: Message) => void;
  progressToken: string | number | undefined;
}

const CHANNELS = new WeakMap<Transport, RawChannel>();

/** The raw channel of a connected transport (made once: it wraps the SDK client's onmessage). */
export function rawChannelOf(transport: Transport): RawChannel {
  const known = CHANNELS.get(transport);
  if (known) return known;
  const byId = new Map<string, Route>();
  const byProgressToken = new Map<string | number, Route>();
  const sdkOnMessage = transport.onmessage?.bind(transport);
  transport.onmessage = (message, extra) => {
    const routed = route(message as unknown as Message);
    if (!routed) sdkOnMessage?.(message, extra);
  };
  // patchbay's own stdio transport shows each line first: the relay's messages are then parsed
  // once, without the SDK's schema check (a relay passes them on as they are); the rest, and every
  // line while nothing is relayed, take the SDK's way.
  if (isLineClaiming(transport))
    transport.claimLine = (line) => {
      if (byId.size === 0) return false;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        return false;
      }
      return (
        typeof message === 'object' &&
        message !== null &&
        !Array.isArray(message) &&
        route(message as Message)
      );
    };
  const release = (id: string, progressToken?: string | number) => {
    byId.delete(id);
    if (progressToken !== undefined) byProgressToken.delete(progressToken);
  };
  function route(message: Message): boolean {
    const { id } = message;
    if (typeof id === 'string' && !('method' in message)) {
      const found = byId.get(id);
      if (!found) return false;
      release(id, found.progressToken);
      found.onMessage(message);
      return true;
    }
    if (message.method === 'notifications/progress' && byProgressToken.size > 0) {
      const token = (message.params as { progressToken?: string | number } | undefined)?.progressToken;
      const found = token === undefined ? undefined : byProgressToken.get(token);
      if (!found) return false;
      found.onMessage(message);
      return true;
    }
    return false;
  }
  const channel: RawChannel = {
    async send(message, onMessage) {
      const id = message.id as string;
      const progressToken = (message.params as { _meta?: { progressToken?: string | number } } | undefined)
        ?._meta?.progressToken;
      const entry = { onMessage, progressToken };
      byId.set(id, entry);
      if (progressToken !== undefined) byProgressToken.set(progressToken, entry);
      try {
        await transport.send(message as unknown as JSONRPCMessage);
      } catch (error) {
        release(id, progressToken);
        throw error;
      }
    },
    release,
    async notify(message) {
      await transport.send(message as unknown as JSONRPCMessage);
    },
  };
  CHANNELS.set(transport, channel);
  return channel;
}

/** patchbay's own stdio transport (it always has the field, unset until a relay claims lines). */
function isLineClaiming(transport: Transport): transport is StdioProcessTransport {
  return 'claimLine' in transport;
}
