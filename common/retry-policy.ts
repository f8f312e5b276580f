/**
 * A retry policy as code writes it (Temporal's `RetryPolicy`): durations as ms or strings.
 *
 * @module
 */
import type { Duration } from './time.js';

export interface RetryPolicyOptions {
  /** Attempts in all, the first included; 0 or absent means unlimited. */
  maximumAttempts?: number;
  initialInterval?: Duration;
  backoffCoefficient?: number;
  maximumInterval?: Duration;
  /** Failure types (`ApplicationFailure.type`, or the error's class name) that are not retried. */
  nonRetryableErrorTypes?: string[];
}
