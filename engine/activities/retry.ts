import type { FailureInfo, RetryPolicy } from '../../common/protocol.js';

/** Backoff before attempt `attempt + 1`: `initial × coefficient^(attempt-1)`, capped. */
export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.initialIntervalMs * policy.backoffCoefficient ** (attempt - 1), policy.maximumIntervalMs);
}

/** Whether a failed attempt may be retried under `policy` (ignoring deadlines). */
export function isRetryable(policy: RetryPolicy, failure: FailureInfo, attempt: number): boolean {
  if (failure.nonRetryable) return false;
  if (failure.failureType === 'TimeoutFailure' && failure.timeoutType === 'SCHEDULE_TO_CLOSE') return false;
  if (failure.type !== undefined && policy.nonRetryableErrorTypes.includes(failure.type)) return false;
  return policy.maximumAttempts === 0 || attempt < policy.maximumAttempts;
}
