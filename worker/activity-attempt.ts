/**
 * Runs one activity attempt a worker received: the activity function in its `Context` (the
 * same `aion/activity` API as in the engine's process), then the report to the server —
 * completed, failed (the server's retry policy decides what follows) or cancelled. Reports
 * are retried while the server is unreachable (a restart), up to `REPORT_RETRY_MS`; a report
 * the server no longer wants (the attempt timed out and was re-dispatched) is dropped and logged.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, attemptCancellation, CancelledFailure, infoOfTaskMessage, type ActivityFunction, type ActivityTaskMessage, type Logger } from '../engine/index.js';
import { activityContext, activityLoggerOf, Context } from '../engine/activities/context.js';
import { Heartbeats } from './heartbeats.js';
import { WorkerCallError, type FailureReport, type WorkerTransport } from './worker-transport.js';

/** How long a worker keeps trying to report an attempt's outcome to a server it cannot reach. */
const REPORT_RETRY_MS = 60_000;
/** The longest delay `setTimeout` takes (the server enforces longer timeouts alone). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface AttemptEnvironment {
  activities: Readonly<Record<string, ActivityFunction>>;
  transport: WorkerTransport;
  logger: Logger;
  /** What `Context.current().client` of aion/activity talks to: the worker's connection. */
  clientConnection: object;
}

type Report = { kind: 'complete'; result: unknown } | { kind: 'fail'; failure: FailureReport } | { kind: 'cancelled'; details: unknown } | { kind: 'none' };

/** A running attempt: `abort` cancels it (the worker's shutdown grace time passed). */
export interface RunningAttempt {
  done: Promise<void>;
  abort(reason: CancelledFailure): void;
}

export function runAttempt(message: ActivityTaskMessage, environment: AttemptEnvironment): RunningAttempt {
  const controller = new AbortController();
  const abort = (reason: CancelledFailure) => controller.abort(reason);
  const done = execute(message, environment, controller, abort).catch((error: unknown) =>
    // A task the worker cannot even read (a server of another version): its attempt times out on the server.
    environment.logger.error({ err: error, activityType: message.activityType }, 'could not run an activity task'),
  );
  return { done, abort };
}

async function execute(message: ActivityTaskMessage, environment: AttemptEnvironment, controller: AbortController, abort: (reason: CancelledFailure) => void): Promise<void> {
  const info = infoOfTaskMessage(message);
  const ids = { namespace: info.namespace, workflowId: info.workflowId, runId: info.runId, activityType: info.activityType, activityId: info.activityId, attempt: info.attempt };
  const logger = environment.logger;
  const heartbeats = new Heartbeats(environment.transport, info.base64TaskToken, info.heartbeatTimeoutMs, abort, logger);
  const context = new Context(info, controller.signal, (details) => heartbeats.record(details), activityLoggerOf(logger, ids), environment.clientConnection);
  const fn = environment.activities[message.activityType];
  // The server times the attempt out then (and dispatches it again): the activity hears of it here too.
  const timeout =
    info.startToCloseTimeoutMs === undefined || info.startToCloseTimeoutMs > MAX_TIMEOUT_MS
      ? undefined
      : setTimeout(() => abort(attemptCancellation(`activity start-to-close timeout (${info.startToCloseTimeoutMs} ms)`, { timedOut: true })), info.startToCloseTimeoutMs);
  let report: Report;
  try {
    if (typeof fn !== 'function') {
      // As Temporal's workers: a retryable failure, so that a worker that has the function can take a later attempt.
      throw ApplicationFailure.create({
        type: 'NotFoundError',
        message: `Activity function ${message.activityType} is not registered on this worker, available activities: ${JSON.stringify(Object.keys(environment.activities))}`,
      });
    }
    const result = await activityContext.run(context, () => fn(...message.args));
    report = { kind: 'complete', result };
  } catch (error) {
    report = reportOfError(error, context);
  } finally {
    heartbeats.stop();
    clearTimeout(timeout);
  }
  await deliver(report, info.base64TaskToken, environment, ids);
}

function reportOfError(error: unknown, context: Context): Report {
  // Completed later by whoever holds the task token (client.activity.complete): nothing to report now.
  if ((error as Error | undefined)?.name === 'CompleteAsyncError') return { kind: 'none' };
  const why = context.cancellationDetails;
  if (why && error instanceof CancelledFailure) {
    if (why.cancelRequested) return { kind: 'cancelled', details: error.details[0] };
    // The server no longer runs the attempt: whatever is reported would be ignored.
    if (why.notFound || why.timedOut) return { kind: 'none' };
  }
  const failure: FailureReport =
    error instanceof ApplicationFailure
      ? { message: error.message, ...(error.type !== undefined ? { type: error.type } : {}), nonRetryable: error.nonRetryable, details: error.details as unknown[] }
      : { message: error instanceof Error ? error.message : String(error), type: error instanceof Error ? error.name : 'Error' };
  if (error instanceof Error && error.stack !== undefined) failure.stack = error.stack;
  return { kind: 'fail', failure };
}

async function deliver(report: Report, taskToken: string, environment: AttemptEnvironment, ids: Record<string, unknown>): Promise<void> {
  if (report.kind === 'none') return;
  const { transport, logger } = environment;
  const send = (current: Exclude<Report, { kind: 'none' }>): Promise<void> => {
    if (current.kind === 'complete') return transport.complete(taskToken, current.result);
    if (current.kind === 'fail') return transport.fail(taskToken, current.failure);
    return transport.reportCancellation(taskToken, current.details);
  };
  const giveUpAt = Date.now() + REPORT_RETRY_MS;
  for (let delay = 100; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      return await send(report);
    } catch (error) {
      if (error instanceof WorkerCallError && error.status === 404) {
        logger.warn({ ...ids }, 'the server no longer waits for this activity attempt (it timed out and was dispatched again, or its run closed): its outcome was dropped');
        return;
      }
      // A result the server refuses (too large, not JSON): the attempt fails with why.
      if (error instanceof WorkerCallError && error.permanent && report.kind === 'complete') {
        report = { kind: 'fail', failure: { message: error.message, type: 'InvalidResult', nonRetryable: true } };
        continue;
      }
      if ((error instanceof WorkerCallError && error.permanent) || Date.now() + delay > giveUpAt) {
        logger.error({ ...ids, err: error }, 'could not report the outcome of an activity attempt: the server dispatches it again after its timeout');
        return;
      }
      await sleep(delay);
    }
  }
}
