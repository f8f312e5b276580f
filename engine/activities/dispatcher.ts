/**
 * Runs activities in process: one attempt at a time per activity, under its timeouts, with
 * retries per its policy. Attempt counts and backoff deadlines are persisted on the
 * activity's task record, so a restart continues counting. The final outcome goes to the
 * engine, which records it in the run's history (at-least-once: an attempt that finished
 * just before a crash runs again after it).
 *
 * @module
 */
import { ApplicationFailure, CancelledFailure, TimeoutFailure, toFailureInfo } from '../../common/failures.js';
import type { FailureInfo, ResolvedActivityOptions, TimeoutType } from '../../common/protocol.js';
import type { ActivityTask } from '../../store/types.js';
import type { Logger } from '../logger.js';
import { fitFailure, payloadProblem, type PayloadLimits } from '../payloads.js';
import { activityContext, Context } from './context.js';
import { isRetryable, retryDelayMs } from './retry.js';

// Activities take and return anything JSON carries.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ActivityFunction = (...args: any[]) => unknown;

export type ActivityOutcome = { ok: true; result: unknown; attempt: number } | { ok: false; failure: FailureInfo; attempt: number };

export interface DispatcherHooks {
  /**
   * The activity finished for good (success, or failure after its last attempt): resolves
   * once the outcome is recorded (or no longer wanted by its run).
   */
  onOutcome(task: ActivityTask, outcome: ActivityOutcome): Promise<void>;
  /** An attempt failed and another is scheduled: persist the task's new attempt and deadline. */
  onRetryScheduled(task: ActivityTask): Promise<void>;
  /** How long to wait before delivering an outcome again after `error`; undefined: until the task is dispatched again. */
  retryDelay(error: unknown, attempt: number): number | undefined;
}

interface Running {
  task: ActivityTask;
  controller?: AbortController;
  /** Backoff wait or timeout timers of the current attempt. */
  timers: NodeJS.Timeout[];
}

/** The activity functions an engine runs: for every namespace, and for one namespace only. */
export interface ActivityRegistry {
  all: Readonly<Record<string, ActivityFunction>>;
  byNamespace: Readonly<Record<string, Readonly<Record<string, ActivityFunction>>>>;
}

export class ActivityDispatcher {
  private readonly running = new Map<string, Running>();
  /**
   * Outcomes whose recording failed (the store refused the write): kept, so that dispatching
   * the task again delivers its outcome instead of running the activity again.
   */
  private readonly undelivered = new Map<string, { task: ActivityTask; outcome: ActivityOutcome; timer?: NodeJS.Timeout }>();
  private closed = false;

  constructor(
    private readonly activities: ActivityRegistry,
    private readonly hooks: DispatcherHooks,
    private readonly logger: Logger,
    private readonly payloadLimits: PayloadLimits,
  ) {}

  get inFlight(): number {
    return this.running.size;
  }

  /** Starts the task's next attempt, after its backoff if it has one. Idempotent per task. */
  dispatch(task: ActivityTask): void {
    const key = taskKey(task.namespace, task.runId, task.seq);
    const held = this.undelivered.get(key);
    if (held) {
      clearTimeout(held.timer);
      this.deliver(key, held.task, held.outcome, 1);
      return;
    }
    if (this.running.has(key)) return;
    const entry: Running = { task, timers: [] };
    this.running.set(key, entry);
    this.schedule(key, entry);
  }

  private schedule(key: string, entry: Running): void {
    const wait = entry.task.notBefore - Date.now();
    if (wait > 0) entry.timers.push(setTimeout(() => void this.attempt(key, entry), wait));
    else void this.attempt(key, entry);
  }

  /** Cancels the task's attempt (its outcome will be dropped) and aborts its signal. */
  cancel(namespace: string, runId: string, seq: number): void {
    const key = taskKey(namespace, runId, seq);
    clearTimeout(this.undelivered.get(key)?.timer);
    this.undelivered.delete(key);
    const entry = this.running.get(key);
    if (!entry) return;
    this.running.delete(key);
    this.stop(entry, new CancelledFailure('Activity cancelled'));
  }

  /** Cancels everything; used when the engine closes (the tasks stay recorded for recovery). */
  close(): void {
    this.closed = true;
    for (const entry of this.running.values()) this.stop(entry, new CancelledFailure('Engine shutting down'));
    this.running.clear();
    for (const held of this.undelivered.values()) clearTimeout(held.timer);
    this.undelivered.clear();
  }

  /** Hands an outcome to the engine; if it cannot be recorded, holds it and retries. */
  private deliver(key: string, task: ActivityTask, outcome: ActivityOutcome, attempt: number): void {
    this.undelivered.delete(key);
    this.hooks.onOutcome(task, outcome).catch((error: unknown) => {
      if (this.closed) return;
      const held: { task: ActivityTask; outcome: ActivityOutcome; timer?: NodeJS.Timeout } = { task, outcome };
      this.undelivered.set(key, held);
      const delay = this.hooks.retryDelay(error, attempt);
      this.logger.warn({ err: error, runId: task.runId, seq: task.seq, retryInMs: delay }, 'could not record an activity outcome; it is kept and delivered again');
      if (delay !== undefined) held.timer = setTimeout(() => this.undelivered.get(key) === held && this.deliver(key, task, outcome, attempt + 1), delay).unref();
    });
  }

  private stop(entry: Running, reason: CancelledFailure): void {
    for (const timer of entry.timers) clearTimeout(timer);
    entry.controller?.abort(reason);
  }

  /** The function of the task's activity type, as registered for its namespace. */
  private functionFor(task: ActivityTask): ActivityFunction {
    const fn = this.activities.byNamespace[task.namespace]?.[task.activityType] ?? this.activities.all[task.activityType];
    if (typeof fn === 'function') return fn;
    throw ApplicationFailure.retryable(`activity '${task.activityType}' is not registered for namespace '${task.namespace}'`, 'ActivityNotRegistered');
  }

  private async attempt(key: string, entry: Running): Promise<void> {
    const { task } = entry;
    const options = task.options as ResolvedActivityOptions;
    const controller = new AbortController();
    entry.controller = controller;
    entry.timers = [];
    let heartbeatDetails = task.heartbeatDetails;
    let armHeartbeat: () => void = () => undefined;

    const timedOut = new Promise<never>((_, reject) => {
      const timeout = (type: TimeoutType, ms: number) =>
        setTimeout(() => {
          const failure = new TimeoutFailure(`activity ${type.toLowerCase().replaceAll('_', '-')} timeout (${ms} ms)`, type);
          controller.abort(new CancelledFailure(failure.message));
          reject(failure);
        }, Math.max(0, ms));
      if (options.startToCloseTimeoutMs !== undefined) entry.timers.push(timeout('START_TO_CLOSE', options.startToCloseTimeoutMs));
      if (options.scheduleToCloseTimeoutMs !== undefined) {
        entry.timers.push(timeout('SCHEDULE_TO_CLOSE', task.scheduledAt + options.scheduleToCloseTimeoutMs - Date.now()));
      }
      if (options.heartbeatTimeoutMs !== undefined) {
        const heartbeatMs = options.heartbeatTimeoutMs;
        let heartbeatTimer = timeout('HEARTBEAT', heartbeatMs);
        entry.timers.push(heartbeatTimer);
        armHeartbeat = () => {
          clearTimeout(heartbeatTimer);
          heartbeatTimer = timeout('HEARTBEAT', heartbeatMs);
          entry.timers.push(heartbeatTimer);
        };
      }
    });
    timedOut.catch(() => undefined);

    const context = new Context(
      {
        activityId: String(task.seq),
        activityType: task.activityType,
        attempt: task.attempt,
        workflowId: task.workflowId,
        runId: task.runId,
        workflowType: task.workflowType,
        namespace: task.namespace,
        taskQueue: task.taskQueue,
        scheduledTime: new Date(task.scheduledAt),
        heartbeatDetails: task.heartbeatDetails,
      },
      controller.signal,
      (details) => {
        const problem = payloadProblem(details, this.payloadLimits);
        if (problem !== undefined) throw ApplicationFailure.nonRetryable(`heartbeat details ${problem}`, 'PayloadTooLarge');
        heartbeatDetails = details === undefined ? undefined : JSON.parse(JSON.stringify(details));
        armHeartbeat();
      },
    );

    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      const fn = this.functionFor(task);
      const result = await Promise.race([activityContext.run(context, () => fn(...task.args)), timedOut]);
      const problem = payloadProblem(result, this.payloadLimits);
      if (problem !== undefined) throw ApplicationFailure.nonRetryable(`the result of activity '${task.activityType}' ${problem}`, 'PayloadTooLarge');
      outcome = { ok: true, result: result === undefined ? undefined : JSON.parse(JSON.stringify(result)) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    for (const timer of entry.timers) clearTimeout(timer);
    // Cancelled or closed meanwhile: nobody wants this outcome.
    if (this.running.get(key) !== entry) return;

    if (outcome.ok) {
      this.running.delete(key);
      this.deliver(key, task, { ok: true, result: outcome.result, attempt: task.attempt }, 1);
      return;
    }
    const failure = fitFailure(withoutHostPaths(toFailureInfo(outcome.error)), this.payloadLimits);
    const delay = retryDelayMs(options.retry, task.attempt);
    const deadline = options.scheduleToCloseTimeoutMs === undefined ? Infinity : task.scheduledAt + options.scheduleToCloseTimeoutMs;
    if (!isRetryable(options.retry, failure, task.attempt) || Date.now() + delay >= deadline) {
      this.running.delete(key);
      const timedOutFinally = failure.failureType === 'TimeoutFailure';
      this.deliver(
        key,
        task,
        {
          ok: false,
          attempt: task.attempt,
          failure: {
            failureType: 'ActivityFailure',
            message: timedOutFinally ? 'Activity task timed out' : 'Activity task failed',
            activityType: task.activityType,
            activityId: String(task.seq),
            cause: failure,
          },
        },
        1,
      );
      return;
    }
    const next: Running = { task: { ...task, attempt: task.attempt + 1, notBefore: Date.now() + delay, heartbeatDetails }, timers: [] };
    this.logger.debug({ activityType: task.activityType, runId: task.runId, attempt: task.attempt, delay, error: failure.message }, 'activity attempt failed; retrying');
    // Registered before persisting, so a cancellation meanwhile is not lost.
    this.running.set(key, next);
    try {
      await this.hooks.onRetryScheduled(next.task);
    } catch (error) {
      // Not persisted: the retry still happens; a restart would only repeat this attempt's count.
      this.logger.warn({ err: error, runId: task.runId, seq: task.seq }, 'could not persist the activity retry');
    }
    if (this.running.get(key) === next) this.schedule(key, next);
  }
}

const taskKey = (namespace: string, runId: string, seq: number): string => `${namespace}\u0000${runId}\u0000${seq}`;

/** A stack frame's location, with the folders before the file name. */
const HOST_PATH = /(?<=[\s(]|^)(?:file:\/\/)?(?:\/[^\s():]*\/|[A-Za-z]:\\[^\s():]*\\)([^/\\\s():]+:\d+(?::\d+)?)/gm;

/**
 * A failure as the workflow may see it: stack frames keep their file names but not the
 * folders of the host they ran on (workflow code is untrusted; the host's layout is not its business).
 */
export function withoutHostPaths(failure: FailureInfo): FailureInfo {
  const out: FailureInfo = { ...failure };
  if (out.stack !== undefined) out.stack = out.stack.replace(HOST_PATH, '$1');
  if (out.cause) out.cause = withoutHostPaths(out.cause);
  return out;
}
