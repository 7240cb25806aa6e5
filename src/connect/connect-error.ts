/** The one error `connect()` and the requests of a session throw: a status, a step and a reason. */

import { PatchbayError } from '../errors.js';

/** Where a connect attempt was when it failed. */
export type ConnectStep =
  'config' | 'headers-helper' | 'spawn' | 'connect' | 'tls' | 'http' | 'handshake' | 'request';

export type ConnectFailureStatus = 'failed' | 'needs-auth';

export class ConnectError extends PatchbayError {
  constructor(
    readonly status: ConnectFailureStatus,
    readonly step: ConnectStep,
    /** One sentence a person can act on; never holds a secret. */
    readonly reason: string,
    options: { hint?: string; cause?: unknown; httpStatus?: number; renewsOnUse?: boolean } = {},
  ) {
    super(status === 'needs-auth' ? 'needs-auth' : 'connect-failed', reason, options);
    this.httpStatus = options.httpStatus;
    this.renewsOnUse = options.renewsOnUse === true;
  }
  readonly httpStatus: number | undefined;
  /**
   * needs-auth only because a read-only check (`--no-refresh`) may not renew an expired login
   * that has a refresh token: nothing is wrong, the next use renews it.
   */
  readonly renewsOnUse: boolean;
}
