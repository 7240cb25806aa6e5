/**
 * The deadline of a connect attempt (core/deadline.ts): the connect timeout and the caller's
 * cancellation, told apart from the SDK's own request timeout.
 */

import { Deadline, type DeadlineKind } from '../core/deadline.js';
import type { ClientModule } from './session-types.js';

export function connectDeadline(timeoutMs: number, signal: AbortSignal | undefined): Deadline {
  return new Deadline(timeoutMs, { signal, timeoutMessage: 'the connect timeout passed' });
}

/** Whether a failure is (or was caused by) this deadline, whatever the SDK wrapped it in. */
export function deadlineKind(
  deadline: Deadline,
  error: unknown,
  sdk: ClientModule | undefined,
): DeadlineKind | undefined {
  const kind = deadline.reached(error);
  if (kind !== undefined) return kind;
  // The SDK's own request timeout (set to the remaining budget) may fire a moment earlier.
  if (sdk?.SdkError.isInstance(error) && error.code === sdk.SdkErrorCode.RequestTimeout) return 'timeout';
  return undefined;
}
