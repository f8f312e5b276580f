/**
 * Asynchronous completion: an activity that threw `CompleteAsyncError` is completed, failed
 * or cancelled later by whoever holds its task token (`engine.asyncCompletion(token)`),
 * as with Temporal's `client.activity`. The task stays recorded meanwhile, so a restart keeps
 * waiting instead of running the activity again.
 *
 * @module
 */
import { ApplicationFailure, CancelledFailure } from '../../common/failures.js';
import { ActivityCancelledError, ActivityNotFoundError, InvalidArgumentError } from '../errors.js';
import type { ActivityDispatcher } from './dispatcher.js';
import { checkPayload } from '../input.js';
import type { PayloadLimits } from '../payloads.js';
import { decodeTaskToken } from './task-token.js';

export interface AsyncCompletionHandle {
  /** Ends the activity with `result`. */
  complete(result?: unknown): Promise<void>;
  /** Fails the attempt with `error`; the activity's retry policy decides whether it runs again. */
  fail(error: unknown): Promise<void>;
  /** Ends the activity cancelled; only once the workflow asked it to cancel. */
  reportCancellation(details?: unknown): Promise<void>;
  /** Reports liveness and records `details`; rejects with `ActivityCancelledError` once the workflow asked the activity to cancel. */
  heartbeat(details?: unknown): Promise<void>;
}

export function asyncCompletionHandle(
  dispatcher: ActivityDispatcher,
  taskToken: Uint8Array | string,
  options: { assertOpen(): void; namespace?: string; payloadLimitsOf(namespace: string): PayloadLimits },
): AsyncCompletionHandle {
  const ref = decodeTaskToken(taskToken);
  const assertOpen = () => {
    options.assertOpen();
    // A caller limited to one namespace learns nothing of another's activities.
    if (options.namespace !== undefined && options.namespace !== ref.namespace) throw new ActivityNotFoundError(`that task token in namespace ${options.namespace}`);
  };
  return {
    async complete(result) {
      assertOpen();
      await dispatcher.completeAsync(ref, { ok: true, result: checkPayload(result, 'the result', options.payloadLimitsOf(ref.namespace)) });
    },
    async fail(error) {
      assertOpen();
      const failure = error instanceof Error ? error : ApplicationFailure.create({ message: String(error) });
      await dispatcher.completeAsync(ref, { ok: false, error: failure });
    },
    async reportCancellation(details) {
      assertOpen();
      if (!dispatcher.heartbeatAsync(ref, checkPayload(details, 'the cancellation details', options.payloadLimitsOf(ref.namespace))).cancelRequested) {
        throw new InvalidArgumentError(`the workflow did not ask activity ${ref.seq} of run ${ref.runId} to cancel: complete or fail it instead`);
      }
      await dispatcher.completeAsync(ref, { ok: false, error: new CancelledFailure('Activity cancelled', details === undefined ? [] : [details]) });
    },
    async heartbeat(details) {
      assertOpen();
      if (dispatcher.heartbeatAsync(ref, checkPayload(details, 'the heartbeat details', options.payloadLimitsOf(ref.namespace))).cancelRequested) throw new ActivityCancelledError();
    },
  };
}
