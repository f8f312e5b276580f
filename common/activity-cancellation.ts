/**
 * Why an activity attempt was cancelled (Temporal's `ActivityCancellationDetails`): what
 * `cancellationDetails()` in aion/activity answers once the attempt's signal aborted.
 *
 * @module
 */
export interface ActivityCancellationDetailsOptions {
  notFound?: boolean;
  cancelRequested?: boolean;
  paused?: boolean;
  timedOut?: boolean;
  workerShutdown?: boolean;
  reset?: boolean;
}

export class ActivityCancellationDetails {
  /** The activity no longer exists (never here: kept for Temporal's shape). */
  readonly notFound: boolean;
  /** The workflow asked for the cancellation (or stopped waiting for the activity). */
  readonly cancelRequested: boolean;
  /** Never here: activities are not paused. */
  readonly paused: boolean;
  /** One of the activity's timeouts passed. */
  readonly timedOut: boolean;
  /** The engine is shutting down. */
  readonly workerShutdown: boolean;
  /** Never here: activities are not reset. */
  readonly reset: boolean;

  constructor(options: ActivityCancellationDetailsOptions = {}) {
    this.notFound = options.notFound ?? false;
    this.cancelRequested = options.cancelRequested ?? false;
    this.paused = options.paused ?? false;
    this.timedOut = options.timedOut ?? false;
    this.workerShutdown = options.workerShutdown ?? false;
    this.reset = options.reset ?? false;
  }
}
