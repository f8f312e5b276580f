/**
 * Runs activities: one attempt at a time per activity, under its timeouts, with retries per
 * its policy. An attempt runs in process when the engine has a function for the activity's
 * type; otherwise it waits in its task queue for a remote worker (`aion/worker`), and the
 * same timeouts, enforced here, end it there. Attempt counts and backoff deadlines are
 * persisted on the activity's task record, so a restart continues counting. The final
 * outcome goes to the engine, which records it in the run's history (at-least-once: an
 * attempt that finished just before a crash runs again after it).
 *
 * @module
 */
import { ApplicationFailure, CancelledFailure, TimeoutFailure, toFailureInfo } from '../../common/failures.js';
import type { FailureInfo, ResolvedActivityOptions, TimeoutType } from '../../common/protocol.js';
import type { ActivityTask } from '../../store/types.js';
import type { Logger } from '../logger.js';
import { fitFailure, payloadProblem, type PayloadLimits } from '../payloads.js';
import { systemClock, type Clock } from '../clock.js';
import { MAX_TIMEOUT_MS } from '../timers.js';
import { ActivityNotFoundError } from '../errors.js';
import { attemptCancellation } from './cancellation.js';
import { activityContext, activityLoggerOf, CompleteAsyncError, Context, type ActivityInfo, type ActivityLogger } from './context.js';
import { InFlightLimit } from './in-flight-limit.js';
import { ActivityTaskQueues, type QueuedAttempt, type TaskQueueDescription } from './task-queues.js';
import { toTaskMessage, type ActivityTaskMessage } from './task-message.js';
import { encodeTaskToken, type TaskRef } from './task-token.js';
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
  /** Persist the task's new state: its next attempt and deadline, its last heartbeat, or that it awaits asynchronous completion. */
  persistTask(task: ActivityTask): Promise<void>;
  /** How long to wait before delivering an outcome again after `error`; undefined: until the task is dispatched again. */
  retryDelay(error: unknown, attempt: number): number | undefined;
  /** The engine the activities run in (handed to their contexts, for their client). */
  engine: object;
  /** The namespace's `maxActivityTasksInFlight` quota, as far as it is known now. */
  inFlightLimitOf?(namespace: string): number | undefined;
  /** An attempt waits in a task queue with no poller. */
  onQueued?(namespace: string, taskQueue: string): void;
}

interface Running {
  task: ActivityTask;
  controller?: AbortController;
  /** Backoff wait or timeout timers of the current attempt. */
  timers: NodeJS.Timeout[];
  /** Records heartbeats for the current attempt (from its context, or from an asynchronous completer). */
  heartbeat?: (details: unknown) => void;
  /** Set while the attempt awaits asynchronous completion. */
  external?: { resolve(result: unknown): void; reject(error: unknown): void };
  /** A completion that came before the activity threw `CompleteAsyncError` (it handed its token on first). */
  earlyCompletion?: ExternalOutcome;
  /** Set once a completion was accepted: further ones are refused. */
  completing?: boolean;
  /** Set once the run deletes the task: nothing writes it again. */
  frozen?: boolean;
  /** Settles once the current attempt ended and its outcome was handed over (recorded, or its retry persisted). */
  ended?: Promise<void>;
  /** Set while the attempt waits in its task queue for a remote worker. */
  queued?: QueuedAttempt<ClaimedAttempt>;
  /** The remote worker running the attempt, once one took it. */
  worker?: string;
  /** The attempt holds one of its namespace's in-flight slots (`maxActivityTasksInFlight`). */
  holdsSlot?: boolean;
  /** Waits that end at a time on the engine's clock (a retry's backoff, an unregistered activity's timeouts). */
  waits?: { deadline: number; onEnd(): void }[];
  /** Heartbeat details are written at most once per `HEARTBEAT_PERSIST_MS`. */
  persistTimer?: NodeJS.Timeout;
  lastPersistAt?: number;
}

type ExternalOutcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/** An attempt a worker took: what it is sent, once the engine recorded which worker took it. */
interface ClaimedAttempt {
  message: ActivityTaskMessage;
  recorded: Promise<void>;
}

/** How often, at most, an activity's heartbeat details are written to its task. */
const HEARTBEAT_PERSIST_MS = 1000;

/** `setTimeout` for any delay (activity timeouts may be years): re-armed in steps past Node's limit; every timer it sets goes to `timers`. */
function armTimer(timers: NodeJS.Timeout[], fn: () => void, ms: number): NodeJS.Timeout {
  const step = Math.min(Math.max(0, ms), MAX_TIMEOUT_MS);
  const timer = setTimeout(() => (ms > MAX_TIMEOUT_MS ? armTimer(timers, fn, ms - MAX_TIMEOUT_MS) : fn()), step);
  timers.push(timer);
  return timer;
}

/** Whether `error` is `CompleteAsyncError` (of this copy of aion/activity or another). */
const isCompleteAsync = (error: unknown): boolean => error instanceof CompleteAsyncError || (error as Error | undefined)?.name === 'CompleteAsyncError';


/** The activity functions an engine runs: for every namespace, and for one namespace only. */
export interface ActivityRegistry {
  all: Readonly<Record<string, ActivityFunction>>;
  byNamespace: Readonly<Record<string, Readonly<Record<string, ActivityFunction>>>>;
}

/** A remote worker's identity for an attempt it ran before the engine restarted and reports on now. */
const RECLAIMING_WORKER = 'a worker that ran this attempt before the engine restarted';

export class ActivityDispatcher {
  private readonly running = new Map<string, Running>();
  private readonly taskQueues: ActivityTaskQueues<ClaimedAttempt>;
  private readonly slots: InFlightLimit;
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
    private readonly payloadLimitsOf: (namespace: string) => PayloadLimits,
    private readonly clock: Clock = systemClock,
  ) {
    this.taskQueues = new ActivityTaskQueues((namespace, taskQueue) => hooks.onQueued?.(namespace, taskQueue));
    this.slots = new InFlightLimit((namespace) => hooks.inFlightLimitOf?.(namespace));
  }

  /** Runs `start` once the entry's namespace has a free in-flight slot (at once, usually), while the entry is still the task's current attempt. */
  private withSlot(key: string, entry: Running, start: () => void): void {
    this.slots.acquire(entry.task.namespace, () => {
      if (this.running.get(key) !== entry || entry.frozen) return false;
      entry.holdsSlot = true;
      start();
      return true;
    });
  }

  private releaseSlot(entry: Running): void {
    if (!entry.holdsSlot) return;
    entry.holdsSlot = false;
    this.slots.release(entry.task.namespace);
  }

  /** Starts the task's next attempt, after its backoff if it has one. Idempotent per task. */
  dispatch(task: ActivityTask): void {
    const key = taskKey(task.namespace, task.runId, task.seq);
    const held = this.undelivered.get(key);
    if (held) {
      clearTimeout(held.timer);
      void this.deliver(key, held.task, held.outcome, 1);
      return;
    }
    const current = this.running.get(key);
    if (current) {
      if (task.cancelRequested) this.stopForCancellation(key, current);
      return;
    }
    const entry: Running = { task, timers: [] };
    this.running.set(key, entry);
    // Asked to cancel before a restart: an in-process attempt died with the process; one a worker
    // or an asynchronous completer holds goes on, told of the cancellation at its next heartbeat.
    if (task.cancelRequested && task.worker === undefined && !task.asyncCompletion) this.deliverCancelled(key, entry);
    else this.schedule(key, entry);
  }

  /** The task as the dispatcher holds it (with its current attempt), while it runs or waits for one. */
  taskOf(namespace: string, runId: string, seq: number): ActivityTask | undefined {
    return this.running.get(taskKey(namespace, runId, seq))?.task;
  }

  /** Where a remote attempt is: waiting in its task queue, or run by a worker (undefined for in-process attempts). */
  remoteStateOf(namespace: string, runId: string, seq: number): { waitsForWorker: true } | { worker: string } | undefined {
    const entry = this.running.get(taskKey(namespace, runId, seq));
    if (entry?.queued) return { waitsForWorker: true };
    return entry?.worker !== undefined ? { worker: entry.worker } : undefined;
  }

  /**
   * The workflow asked the activity to cancel and waits for its end: the attempt's signal
   * aborts, no further attempt starts, and its outcome is delivered as usual. An activity that
   * ended meanwhile (its outcome is on its way) is left alone.
   */
  requestCancel(task: ActivityTask): void {
    const key = taskKey(task.namespace, task.runId, task.seq);
    const entry = this.running.get(key);
    if (entry) this.stopForCancellation(key, entry);
  }

  /**
   * The run is about to delete the task (the activity ended, was cancelled, or its run
   * closed): nothing of the task is written any more, so a late heartbeat cannot bring it back.
   */
  freeze(namespace: string, runId: string, seq: number): void {
    const entry = this.running.get(taskKey(namespace, runId, seq));
    if (!entry) return;
    entry.frozen = true;
    // Not handed to a worker any more while the run records its end.
    this.unqueue(entry);
    clearTimeout(entry.persistTimer);
    entry.persistTimer = undefined;
  }

  private stopForCancellation(key: string, entry: Running): void {
    entry.task = { ...entry.task, cancelRequested: true };
    if (entry.controller) entry.controller.abort(attemptCancellation('Activity cancelled', { cancelRequested: true }));
    else this.deliverCancelled(key, entry); // between attempts: nothing runs to tell
  }

  private deliverCancelled(key: string, entry: Running): void {
    for (const timer of entry.timers) clearTimeout(timer);
    this.unqueue(entry);
    this.releaseSlot(entry);
    this.running.delete(key);
    const { task } = entry;
    const cause = toFailureInfo(new CancelledFailure('Activity cancelled'));
    void this.deliver(key, task, { ok: false, attempt: task.attempt, failure: activityFailure(task, 'Activity cancelled', cause) }, 1);
  }

  private schedule(key: string, entry: Running): void {
    if (entry.task.notBefore > this.clock.now()) this.waitUntil(entry, entry.task.notBefore, () => this.attempt(key, entry));
    else this.attempt(key, entry);
  }

  /**
   * Waits until `deadline` on the engine's clock: a real timer, and `catchUp` when the clock
   * skips ahead (the time-skipping test environment). The first of an entry's waits to end
   * ends the others.
   */
  private waitUntil(entry: Running, deadline: number, onEnd: () => void): void {
    const wait = { deadline, onEnd };
    (entry.waits ??= []).push(wait);
    armTimer(entry.timers, () => this.endWait(entry, wait), deadline - this.clock.now());
  }

  private endWait(entry: Running, wait: { deadline: number; onEnd(): void }): void {
    if (!entry.waits?.includes(wait)) return;
    entry.waits = undefined;
    for (const timer of entry.timers) clearTimeout(timer);
    wait.onEnd();
  }

  /** Attempts running now (not waiting for a backoff, a function, or an asynchronous completion). */
  get attemptsRunning(): number {
    let count = 0;
    for (const entry of this.running.values()) if (entry.controller && !entry.external) count++;
    return count;
  }

  /** When the earliest wait ends (for the time-skipping environment), if any. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const entry of this.running.values()) for (const wait of entry.waits ?? []) if (next === undefined || wait.deadline < next) next = wait.deadline;
    return next;
  }

  /** Ends the waits whose deadline the clock has passed (it skipped ahead). */
  catchUp(): void {
    const now = this.clock.now();
    for (const entry of [...this.running.values()]) {
      const ended = entry.waits?.find((wait) => wait.deadline <= now);
      if (ended) this.endWait(entry, ended);
    }
  }

  /** Cancels the task's attempt (its outcome will be dropped) and aborts its signal. */
  cancel(namespace: string, runId: string, seq: number): void {
    const key = taskKey(namespace, runId, seq);
    clearTimeout(this.undelivered.get(key)?.timer);
    this.undelivered.delete(key);
    const entry = this.running.get(key);
    if (!entry) return;
    this.running.delete(key);
    this.stop(entry, attemptCancellation('Activity cancelled', { cancelRequested: true }));
  }

  /**
   * Stops the attempts of the tasks `moved` names and drops their outcomes not recorded yet:
   * their run's partition moved to another engine of the cluster, which runs them again.
   */
  release(moved: (task: ActivityTask) => boolean): void {
    for (const [key, entry] of this.running) {
      if (!moved(entry.task)) continue;
      this.running.delete(key);
      this.stop(entry, attemptCancellation('Activity moved to another engine', { workerShutdown: true }));
    }
    for (const [key, held] of this.undelivered) {
      if (!moved(held.task)) continue;
      clearTimeout(held.timer);
      this.undelivered.delete(key);
    }
  }

  /** Cancels everything; used when the engine closes (the tasks stay recorded for recovery, with their last heartbeat details). */
  close(): void {
    for (const [key, entry] of this.running) if (entry.persistTimer) void this.persist(key, entry);
    this.closed = true;
    for (const entry of this.running.values()) this.stop(entry, attemptCancellation('Engine shutting down', { workerShutdown: true }));
    this.running.clear();
    for (const held of this.undelivered.values()) clearTimeout(held.timer);
    this.undelivered.clear();
    this.taskQueues.close();
  }

  /**
   * The oldest attempt waiting in the task queue, started for `worker` (its start-to-close and
   * heartbeat timeouts run from now); waits up to `waitMs` for one. Undefined when none came.
   */
  async pollTask(namespace: string, taskQueue: string, worker: string, options: { waitMs: number; signal?: AbortSignal }): Promise<ActivityTaskMessage | undefined> {
    if (this.closed) return undefined;
    const claimed = await this.taskQueues.poll(namespace, taskQueue, worker, options);
    // Sent once recorded: a restart then waits for this worker's report instead of handing the attempt to another.
    await claimed?.recorded;
    return claimed?.message;
  }

  describeTaskQueue(namespace: string, taskQueue: string): TaskQueueDescription {
    return this.taskQueues.describe(namespace, taskQueue);
  }

  /** Hands an outcome to the engine; if it cannot be recorded, holds it and retries. Settles once the first try did. */
  private deliver(key: string, task: ActivityTask, outcome: ActivityOutcome, attempt: number): Promise<void> {
    this.undelivered.delete(key);
    return this.hooks.onOutcome(task, outcome).catch((error: unknown) => {
      if (this.closed) return;
      const held: { task: ActivityTask; outcome: ActivityOutcome; timer?: NodeJS.Timeout } = { task, outcome };
      this.undelivered.set(key, held);
      const delay = this.hooks.retryDelay(error, attempt);
      this.logger.warn({ err: error, runId: task.runId, seq: task.seq, retryInMs: delay }, 'could not record an activity outcome; it is kept and delivered again');
      if (delay !== undefined) held.timer = setTimeout(() => this.undelivered.get(key) === held && void this.deliver(key, task, outcome, attempt + 1), delay).unref();
    });
  }

  private stop(entry: Running, reason: CancelledFailure): void {
    for (const timer of entry.timers) clearTimeout(timer);
    this.unqueue(entry);
    this.releaseSlot(entry);
    clearTimeout(entry.persistTimer);
    entry.persistTimer = undefined;
    entry.controller?.abort(reason);
    // An attempt awaiting asynchronous completion ends too (its outcome is dropped).
    entry.external?.reject(reason);
  }

  /**
   * Ends an attempt that awaits asynchronous completion (`CompleteAsyncError`): with a result,
   * or with a failure (retried per the activity's retry policy). Throws
   * `ActivityNotFoundError` when no attempt of that task awaits completion.
   */
  async completeAsync(ref: TaskRef, outcome: ExternalOutcome): Promise<void> {
    const entry = this.awaitingCompletion(ref, 'completion');
    entry.completing = true;
    // Before the activity threw CompleteAsyncError: it may itself be awaiting this call.
    if (!entry.external) {
      entry.earlyCompletion = outcome;
      return;
    }
    if (outcome.ok) entry.external.resolve(outcome.result);
    else entry.external.reject(outcome.error);
    // Answered once the outcome is recorded: a reporter told "done" need never report again (a restart waits for nobody).
    await entry.ended;
  }

  /** Records a heartbeat for an attempt that awaits asynchronous completion; true when the workflow asked it to cancel. */
  heartbeatAsync(ref: TaskRef, details: unknown): { cancelRequested: boolean } {
    const entry = this.awaitingCompletion(ref, 'heartbeat');
    entry.heartbeat!(details);
    return { cancelRequested: entry.task.cancelRequested === true };
  }

  /**
   * The running attempt a task token names: awaiting completion (from outside, or from a remote
   * worker), or still in the function that will throw `CompleteAsyncError`. A token of an
   * earlier attempt names nothing: its report is ignored, and logged. An attempt queued again
   * by a restart (the engine crashed before recording which worker took it) is started for the
   * worker that reports on it: that worker still runs it.
   */
  private awaitingCompletion(ref: TaskRef, report: 'completion' | 'heartbeat'): Running {
    const key = taskKey(ref.namespace, ref.runId, ref.seq);
    const entry = this.running.get(key);
    if (entry?.queued && entry.task.attempt === ref.attempt) entry.queued.claim(RECLAIMING_WORKER);
    if (!entry?.controller || entry.completing || entry.task.attempt !== ref.attempt) {
      const ids = { namespace: ref.namespace, runId: ref.runId, seq: ref.seq, attempt: ref.attempt, currentAttempt: entry?.task.attempt };
      if (report === 'completion') this.logger.warn(ids, 'ignored the completion of an activity attempt that is no longer running (it timed out, was retried or cancelled, or completed already)');
      else this.logger.debug(ids, 'ignored a heartbeat of an activity attempt that is no longer running');
      throw new ActivityNotFoundError(`attempt ${ref.attempt} of activity ${ref.seq} of run ${ref.runId} in namespace ${ref.namespace}`);
    }
    return entry;
  }

  /** Records heartbeat details on the task, written at most once per HEARTBEAT_PERSIST_MS (the last details always). */
  private recordHeartbeat(key: string, entry: Running, details: unknown): void {
    entry.task = { ...entry.task, heartbeatDetails: details };
    if (entry.persistTimer) return;
    const wait = (entry.lastPersistAt ?? -Infinity) + HEARTBEAT_PERSIST_MS - Date.now();
    if (wait <= 0) void this.persist(key, entry);
    else entry.persistTimer = setTimeout(() => void this.persist(key, entry), wait);
  }

  /** Writes the entry's task, while the entry is the task's current attempt and the run has not deleted it. */
  private async persist(key: string, entry: Running): Promise<void> {
    entry.persistTimer = undefined;
    if (this.closed || entry.frozen || this.running.get(key) !== entry) return;
    entry.lastPersistAt = Date.now();
    const { task } = entry;
    // Not persisted: the activity runs on; a restart would only hand it older details (or queue a worker's attempt again).
    await this.hooks.persistTask(task).catch((error: unknown) => this.logger.warn({ err: error, runId: task.runId, seq: task.seq }, 'could not record an activity task'));
  }

  /**
   * The attempt will be completed from outside: recorded, so that a restart waits for it too
   * instead of running it again (a remote worker's attempt is recorded by `claim`).
   */
  private awaitExternalCompletion(key: string, entry: Running, record = true): Promise<unknown> {
    if (record && !entry.task.asyncCompletion) {
      entry.task = { ...entry.task, asyncCompletion: true };
      void this.persist(key, entry);
    }
    const early = entry.earlyCompletion;
    if (early) return early.ok ? Promise.resolve(early.result) : Promise.reject(early.error);
    return new Promise((resolve, reject) => (entry.external = { resolve, reject }));
  }

  /** The engine's logger with the activity's ids on every line (`Context.log`). */
  private activityLogger(task: ActivityTask): ActivityLogger {
    return activityLoggerOf(this.logger, { namespace: task.namespace, workflowId: task.workflowId, runId: task.runId, activityType: task.activityType, activityId: String(task.seq), attempt: task.attempt });
  }

  /** The function of the task's activity type, as registered for its namespace. */
  private functionFor(task: ActivityTask): ActivityFunction | undefined {
    const fn = this.activities.byNamespace[task.namespace]?.[task.activityType] ?? this.activities.all[task.activityType];
    return typeof fn === 'function' ? fn : undefined;
  }

  /**
   * A local activity no function of this engine runs (local activities are never routed to a
   * task queue): it waits — using up no attempt — until its schedule-to-start or
   * schedule-to-close timeout, or until an engine with the function picks the recorded task up.
   */
  private awaitRegistration(key: string, entry: Running): void {
    const { task } = entry;
    const message = `local activity '${task.activityType}' is not registered for namespace '${task.namespace}'`;
    this.logger.warn({ runId: task.runId, seq: task.seq, activityType: task.activityType }, `${message}: it waits for an engine that has it`);
    entry.timers = [];
    this.timeOutWaiting(key, entry, message, () => true);
  }

  /** Ends a waiting attempt (not taken yet) at its schedule-to-start or schedule-to-close timeout, while `stillWaiting`. */
  private timeOutWaiting(key: string, entry: Running, message: string, stillWaiting: () => boolean): void {
    const { task } = entry;
    const options = task.options as ResolvedActivityOptions;
    const timeOut = (type: 'SCHEDULE_TO_START' | 'SCHEDULE_TO_CLOSE', deadline: number) =>
      this.waitUntil(entry, deadline, () => {
        if (this.running.get(key) !== entry || !stillWaiting()) return;
        this.unqueue(entry);
        this.releaseSlot(entry);
        this.running.delete(key);
        const cause = toFailureInfo(new TimeoutFailure(`${message} (${type.toLowerCase().replaceAll('_', '-')} timeout)`, type));
        void this.deliver(key, task, { ok: false, attempt: task.attempt, failure: activityFailure(task, 'Activity task timed out', cause) }, 1);
      });
    if (options.scheduleToStartTimeoutMs !== undefined) timeOut('SCHEDULE_TO_START', Math.max(task.scheduledAt, task.notBefore) + options.scheduleToStartTimeoutMs);
    if (options.scheduleToCloseTimeoutMs !== undefined) timeOut('SCHEDULE_TO_CLOSE', task.scheduledAt + options.scheduleToCloseTimeoutMs);
  }

  /**
   * No function of this engine runs the task's type: the attempt waits in its task queue for a
   * remote worker — no attempt is used up — until a worker polls it, or its schedule-to-start
   * or schedule-to-close timeout passes.
   */
  private queueForWorker(key: string, entry: Running): void {
    const { task } = entry;
    const queued: QueuedAttempt<ClaimedAttempt> = { claim: (worker) => this.claim(key, entry, queued, worker) };
    const where = `task queue '${task.taskQueue}' of namespace '${task.namespace}'`;
    this.logger.debug({ runId: task.runId, seq: task.seq, activityType: task.activityType, attempt: task.attempt }, `activity waits in ${where} for a worker`);
    entry.timers = [];
    entry.queued = queued;
    this.timeOutWaiting(key, entry, `no worker of ${where} took activity '${task.activityType}'`, () => entry.queued === queued);
    // Offered to workers once the namespace has an in-flight slot for it.
    this.withSlot(key, entry, () => entry.queued === queued && this.taskQueues.offer(task.namespace, task.taskQueue, queued));
  }

  /** A worker took the queued attempt: it starts now, and ends with the worker's report or a timeout. */
  private claim(key: string, entry: Running, queued: QueuedAttempt<ClaimedAttempt>, worker: string): ClaimedAttempt | undefined {
    if (this.running.get(key) !== entry || entry.queued !== queued || entry.frozen) return undefined;
    this.unqueue(entry);
    for (const timer of entry.timers) clearTimeout(timer);
    entry.waits = undefined;
    entry.worker = worker;
    const { task } = entry;
    this.logger.debug({ runId: task.runId, seq: task.seq, activityType: task.activityType, attempt: task.attempt, worker }, 'activity attempt handed to a worker');
    entry.task = { ...task, worker };
    const recorded = this.persist(key, entry);
    void this.runAttempt(key, entry, () => this.awaitExternalCompletion(key, entry, false));
    return { message: toTaskMessage(activityInfo(task, task.options as ResolvedActivityOptions), task.args), recorded };
  }

  private unqueue(entry: Running): void {
    if (!entry.queued) return;
    this.taskQueues.withdraw(entry.task.namespace, entry.task.taskQueue, entry.queued);
    entry.queued = undefined;
  }

  private attempt(key: string, entry: Running): void {
    const { task } = entry;
    // After a restart, an attempt that awaited asynchronous completion goes on waiting...
    if (task.asyncCompletion || task.worker !== undefined) {
      // Already in flight before the restart: it holds a slot whatever the limit.
      this.slots.take(task.namespace);
      entry.holdsSlot = true;
    }
    if (task.asyncCompletion) return void this.runAttempt(key, entry, () => this.awaitExternalCompletion(key, entry));
    // ...and one a remote worker took goes on waiting for that worker (its timeouts run from now).
    if (task.worker !== undefined) {
      entry.worker = task.worker;
      return void this.runAttempt(key, entry, () => this.awaitExternalCompletion(key, entry, false));
    }
    const fn = this.functionFor(task);
    if (!fn) return (task.options as ResolvedActivityOptions).local ? this.awaitRegistration(key, entry) : this.queueForWorker(key, entry);
    this.withSlot(key, entry, () => {
      void this.runAttempt(key, entry, async (context) => {
        try {
          return await activityContext.run(context, () => fn(...task.args));
        } catch (error) {
          if (!isCompleteAsync(error)) throw error;
          return this.awaitExternalCompletion(key, entry);
        }
      });
    });
  }

  /** Runs the entry's attempt with `execute` under its timeouts, then delivers its outcome or schedules its retry. */
  private runAttempt(key: string, entry: Running, execute: (context: Context) => Promise<unknown>): Promise<void> {
    entry.ended = this.attemptToItsEnd(key, entry, execute);
    return entry.ended;
  }

  private async attemptToItsEnd(key: string, entry: Running, execute: (context: Context) => Promise<unknown>): Promise<void> {
    const { task } = entry;
    const options = task.options as ResolvedActivityOptions;
    const controller = new AbortController();
    entry.controller = controller;
    entry.timers = [];
    entry.waits = undefined;
    entry.external = undefined;
    entry.earlyCompletion = undefined;
    entry.completing = false;
    let armHeartbeat: () => void = () => undefined;

    const timedOut = new Promise<never>((_, reject) => {
      const timeout = (type: TimeoutType, ms: number) =>
        armTimer(
          entry.timers,
          () => {
            const failure = new TimeoutFailure(`activity ${type.toLowerCase().replaceAll('_', '-')} timeout (${ms} ms)`, type);
            controller.abort(attemptCancellation(failure.message, { timedOut: true }));
            reject(failure);
          },
          ms,
        );
      if (options.startToCloseTimeoutMs !== undefined) timeout('START_TO_CLOSE', options.startToCloseTimeoutMs);
      if (options.scheduleToCloseTimeoutMs !== undefined) timeout('SCHEDULE_TO_CLOSE', task.scheduledAt + options.scheduleToCloseTimeoutMs - this.clock.now());
      if (options.heartbeatTimeoutMs !== undefined) {
        const heartbeatMs = options.heartbeatTimeoutMs;
        let heartbeatTimer = timeout('HEARTBEAT', heartbeatMs);
        armHeartbeat = () => {
          clearTimeout(heartbeatTimer);
          heartbeatTimer = timeout('HEARTBEAT', heartbeatMs);
        };
      }
    });
    timedOut.catch(() => undefined);

    entry.heartbeat = (details) => {
      // An attempt that ended (timed out, cancelled, retried) and still heartbeats changes nothing.
      if (this.running.get(key) !== entry || entry.controller !== controller) return;
      const problem = payloadProblem(details, this.payloadLimitsOf(task.namespace));
      if (problem !== undefined) throw ApplicationFailure.nonRetryable(`heartbeat details ${problem}`, 'PayloadTooLarge');
      this.recordHeartbeat(key, entry, details === undefined ? undefined : JSON.parse(JSON.stringify(details)));
      armHeartbeat();
    };
    const context = new Context(activityInfo(task, options), controller.signal, entry.heartbeat, this.activityLogger(task), this.hooks.engine);

    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      const result = await Promise.race([execute(context), timedOut]);
      const problem = payloadProblem(result, this.payloadLimitsOf(task.namespace));
      if (problem !== undefined) throw ApplicationFailure.nonRetryable(`the result of activity '${task.activityType}' ${problem}`, 'PayloadTooLarge');
      outcome = { ok: true, result: result === undefined ? undefined : JSON.parse(JSON.stringify(result)) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    for (const timer of entry.timers) clearTimeout(timer);
    clearTimeout(entry.persistTimer);
    entry.persistTimer = undefined;
    entry.external = undefined;
    entry.earlyCompletion = undefined;
    this.releaseSlot(entry);
    // Cancelled or closed meanwhile: nobody wants this outcome.
    if (this.running.get(key) !== entry) return;

    if (outcome.ok) {
      this.running.delete(key);
      return this.deliver(key, task, { ok: true, result: outcome.result, attempt: task.attempt }, 1);
    }
    const failure = fitFailure(withoutHostPaths(toFailureInfo(outcome.error)), this.payloadLimitsOf(task.namespace));
    const delay = retryDelayMs(options.retry, task.attempt);
    const deadline = options.scheduleToCloseTimeoutMs === undefined ? Infinity : task.scheduledAt + options.scheduleToCloseTimeoutMs;
    const cancelRequested = entry.task.cancelRequested === true;
    if (cancelRequested || !isRetryable(options.retry, failure, task.attempt) || this.clock.now() + delay >= deadline) {
      this.running.delete(key);
      const message = failure.failureType === 'TimeoutFailure' ? 'Activity task timed out' : cancelRequested ? 'Activity cancelled' : 'Activity task failed';
      return this.deliver(key, entry.task, { ok: false, attempt: task.attempt, failure: activityFailure(task, message, failure) }, 1);
    }
    const { asyncCompletion: _, worker: _worker, ...retried } = entry.task;
    const lastFailure = { message: failure.message, ...(failure.type !== undefined ? { type: failure.type } : {}) };
    const next: Running = { task: { ...retried, attempt: task.attempt + 1, notBefore: this.clock.now() + delay, lastFailure }, timers: [] };
    this.logger.debug({ activityType: task.activityType, runId: task.runId, attempt: task.attempt, delay, error: failure.message }, 'activity attempt failed; retrying');
    // Registered before persisting, so a cancellation meanwhile is not lost.
    this.running.set(key, next);
    try {
      await this.hooks.persistTask(next.task);
    } catch (error) {
      // Not persisted: the retry still happens; a restart would only repeat this attempt's count.
      this.logger.warn({ err: error, runId: task.runId, seq: task.seq }, 'could not persist the activity retry');
    }
    if (this.running.get(key) === next) this.schedule(key, next);
  }
}

function activityInfo(task: ActivityTask, options: ResolvedActivityOptions): ActivityInfo {
  const taskToken = encodeTaskToken(task);
  return {
    taskToken,
    base64TaskToken: Buffer.from(taskToken).toString('base64'),
    activityId: String(task.seq),
    activityType: task.activityType,
    attempt: task.attempt,
    isLocal: false,
    workflowId: task.workflowId,
    runId: task.runId,
    workflowType: task.workflowType,
    namespace: task.namespace,
    workflowExecution: { workflowId: task.workflowId, runId: task.runId },
    workflowNamespace: task.namespace,
    activityNamespace: task.namespace,
    taskQueue: task.taskQueue,
    scheduledTime: new Date(task.scheduledAt),
    scheduledTimestampMs: task.scheduledAt,
    currentAttemptScheduledTimestampMs: Math.max(task.scheduledAt, task.notBefore),
    ...(options.startToCloseTimeoutMs !== undefined ? { startToCloseTimeoutMs: options.startToCloseTimeoutMs } : {}),
    ...(options.scheduleToCloseTimeoutMs !== undefined ? { scheduleToCloseTimeoutMs: options.scheduleToCloseTimeoutMs } : {}),
    ...(options.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: options.heartbeatTimeoutMs } : {}),
    retryPolicy: options.retry,
    heartbeatDetails: task.heartbeatDetails,
  };
}

function activityFailure(task: ActivityTask, message: string, cause: FailureInfo): FailureInfo {
  return { failureType: 'ActivityFailure', message, activityType: task.activityType, activityId: String(task.seq), cause };
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
