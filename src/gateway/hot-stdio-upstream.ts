/**
 * The hot path's upstream side over stdio: a relayed request written to an open 2025-era stdio
 * session through its raw channel (connect/raw-channel.ts), beside the SDK client that shares the
 * child's pipes. The channel hands back the response to the gateway's own id and the progress
 * notifications of its own token; everything else the upstream says (log messages, list_changed,
 * its questions) goes to the SDK client, which handles it as on the full path.
 *
 * The host's progress token is replaced upstream by the gateway's id (a string no SDK client
 * uses, where the host's token — often a number — could be one the SDK client uses too) and put
 * back in each progress notification on the way to the host. The stdio transport parsed each
 * message already: the response is serialized again with the host's id.
 */

import type { RawChannel } from '../connect/raw-channel.js';
import { PatchbayError } from '../errors.js';
import { resultBytes, summarize, type LinkCall, type Outcome, type UpstreamLink } from './hot-wire.js';
import { CALL_TIMEOUT_MS } from './relay.js';

type Message = Record<string, unknown>;

export class StdioLink implements UpstreamLink {
  constructor(
    private readonly channel: RawChannel,
    /** The session's: aborted when its connection (the child) is gone. */
    private readonly lost: AbortSignal,
    private readonly server: string,
  ) {}

  exchange(call: LinkCall): Promise<Outcome> {
    const { upstreamId, host, signal, progressToken } = call;
    const ownToken = progressToken === undefined ? undefined : upstreamId;
    const params =
      ownToken === undefined
        ? call.params
        : {
            ...call.params,
            _meta: { ...(call.params._meta as object | undefined), progressToken: ownToken },
          };
    return new Promise<Outcome>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.lost.removeEventListener('abort', onLost);
        if (outcome.kind !== 'answered') this.channel.release(upstreamId, ownToken);
        resolve(outcome);
      };
      const onAbort = () => settle({ kind: 'cancelled' });
      const onLost = () => settle({ kind: 'broke' });
      // As the full path's request: progress resets the clock.
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.cancel(upstreamId, 'timed out');
          settle({
            kind: 'broke',
            reason: new PatchbayError(
              'connect-failed',
              `${this.server} did not answer within ${CALL_TIMEOUT_MS / 1000} s`,
            ),
          });
        }, CALL_TIMEOUT_MS);
      };
      if (signal.aborted) return settle({ kind: 'cancelled' });
      if (this.lost.aborted) return settle({ kind: 'refused' });
      signal.addEventListener('abort', onAbort, { once: true });
      this.lost.addEventListener('abort', onLost, { once: true });
      arm();
      const onMessage = (message: Message) => {
        if (settled) return;
        if (message.method === 'notifications/progress') {
          arm();
          const note = message.params as Message;
          host.send(JSON.stringify({ ...message, params: { ...note, progressToken } }));
          return;
        }
        message.id = call.hostId;
        const text = JSON.stringify(message);
        call.answered(summarize(message, resultBytes(Buffer.byteLength(text), call.hostId)));
        host.finish(text);
        settle({ kind: 'answered' });
      };
      this.channel.send({ jsonrpc: '2.0', id: upstreamId, method: call.method, params }, onMessage).then(
        // Written: the answer will follow (as an HTTP upstream's accepted POST opens the host's).
        () => {
          if (!settled) host.open();
        },
        () => settle(signal.aborted ? { kind: 'cancelled' } : { kind: 'refused' }),
      );
    });
  }

  cancel(upstreamId: string, reason: string | undefined): void {
    this.channel
      .notify({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: upstreamId, ...(reason ? { reason } : {}) },
      })
      .catch(() => undefined);
  }

  broken(): void {
    // A stdio session notices its own child going away (its `lost` signal).
  }
}
