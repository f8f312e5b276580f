/**
 * `MockActivityEnvironment` (Temporal's): runs an activity function outside any engine, with
 * a context of its own, so activity code is unit-tested as it is in Temporal — `run(fn,
 * ...args)`, `cancel(reason?)`, and a `'heartbeat'` event for each `heartbeat(details)`.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { activityContext, ActivityCancellationDetails, Context, type ActivityInfo, type ActivityLogger } from '../activity/index.js';
import { attemptCancellation } from '../engine/index.js';

const TOKEN = Buffer.from('test');

/** What a mock attempt knows of itself unless told otherwise (Temporal's defaults). */
export const defaultActivityInfo: ActivityInfo = {
  taskToken: TOKEN,
  base64TaskToken: TOKEN.toString('base64'),
  activityId: 'test',
  activityType: 'unknown',
  attempt: 1,
  isLocal: false,
  workflowId: 'test',
  runId: 'test',
  workflowType: 'test',
  namespace: 'default',
  workflowExecution: { workflowId: 'test', runId: 'test' },
  workflowNamespace: 'default',
  activityNamespace: 'default',
  taskQueue: 'test',
  scheduledTime: new Date(0),
  scheduledTimestampMs: 0,
  currentAttemptScheduledTimestampMs: 0,
  startToCloseTimeoutMs: 1000,
  scheduleToCloseTimeoutMs: 1000,
  retryPolicy: { maximumAttempts: 0, initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 100_000, nonRetryableErrorTypes: [] },
};

const silent: ActivityLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export class MockActivityEnvironment extends EventEmitter {
  readonly context: Context;
  private readonly controller = new AbortController();

  constructor(info: Partial<ActivityInfo> = {}, options: { logger?: ActivityLogger } = {}) {
    super();
    this.context = new Context({ ...defaultActivityInfo, ...info }, this.controller.signal, (details) => this.emit('heartbeat', details), options.logger ?? silent);
  }

  /** Cancels the attempt: `cancelled()` rejects and the signal aborts, with `cancelRequested` details by default. */
  cancel(reason = 'CANCELLED', details: ActivityCancellationDetails = new ActivityCancellationDetails({ cancelRequested: true })): void {
    this.controller.abort(attemptCancellation(String(reason), details));
  }

  /** Runs `fn` as an activity attempt in this environment's context. */
  run<P extends unknown[], R>(fn: (...args: P) => Promise<R> | R, ...args: P): Promise<R> {
    return activityContext.run(this.context, async () => fn(...args));
  }
}
