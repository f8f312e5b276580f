/**
 * What the engine aborts an activity attempt's signal with: a `CancelledFailure` that carries
 * why (Temporal's `ActivityCancellationDetails`, read by `cancellationDetails()`).
 *
 * @module
 */
import { ActivityCancellationDetails, type ActivityCancellationDetailsOptions } from '../../common/activity-cancellation.js';
import { CancelledFailure } from '../../common/failures.js';

const detailsOf = new WeakMap<object, ActivityCancellationDetails>();

/** The reason an attempt's signal is aborted with: a `CancelledFailure` carrying `why` (also for aion/testing's mock environment). */
export function attemptCancellation(message: string, why: ActivityCancellationDetailsOptions): CancelledFailure {
  const failure = new CancelledFailure(message);
  detailsOf.set(failure, new ActivityCancellationDetails(why));
  return failure;
}

/** The details an abort reason carries (empty ones for a reason the engine did not make). */
export function cancellationDetailsOf(reason: unknown): ActivityCancellationDetails {
  return (typeof reason === 'object' && reason !== null && detailsOf.get(reason)) || new ActivityCancellationDetails();
}
