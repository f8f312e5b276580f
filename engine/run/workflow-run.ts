/**
 * A workflow run as a process: a mailbox of jobs, a sandbox (while resident), and the
 * activation loop.
 *
 * One activation = take every job in the mailbox, run them through the sandbox, validate
 * the commands, and append `[new job events…, WorkflowTaskCompleted, command events…]` as
 * one atomic write (with the run record, due-time entries and activity tasks it implies).
 * Only once that write is durable are the commands acted on: activities dispatched, timers
 * armed, callers answered (record, then act).
 *
 * @module
 */
import type { LogEntry, QueryResult } from '../../guest-sdk/protocol.js';
import { SandboxCrash } from '../../sandbox/index.js';
import type { EventStore, OutboxEntry, RunRecord } from '../../store/types.js';
import type { ActivityDispatcher } from '../activities/dispatcher.js';
import type { BundleRegistry } from '../bundles.js';
import { InvalidCommandError, validateActivationResult } from '../commands/validate.js';
import { DeterminismViolationError, WorkflowNotRunningError } from '../errors.js';
import { parseHistory, type ParsedHistory } from '../history/activations.js';
import { CLOSING_STATUS, type EventOf, type HistoryEvent, type JobEventType, type NewEvent, type NewEventOf } from '../history/events.js';
import { eventOfCommand, jobOf } from '../history/mapping.js';
import type { Logger } from '../logger.js';
import { replayActivations, type ReplayLimits } from '../replay.js';
import type { DueTimers } from '../timers.js';
import type { WorkflowSandbox } from '../workflow-sandbox.js';
import { ActivationBatch } from './activation-batch.js';
import { RunState } from './run-state.js';

/** Engine services a run uses. */
export interface RunEnvironment {
  store: EventStore<HistoryEvent>;
  bundles: BundleRegistry;
  activities: ActivityDispatcher;
  timers: DueTimers;
  logger: Logger;
  limits: ReplayLimits;
  /** Effects on other runs the run just recorded (performed after the write). */
  onOutbox(entries: OutboxEntry[]): void;
  /** The run closed: its last event is `closeEvent`. */
  onClosed(run: WorkflowRun, closeEvent: HistoryEvent): void;
  /** The run holds a sandbox now (for the resident set's bookkeeping). */
  onResident(run: WorkflowRun): void;
}

/** A job waiting for an activation. `recorded` jobs are already in the history. */
interface PendingJob {
  event: NewEventOf<JobEventType> | EventOf<JobEventType>;
  recorded: boolean;
  /** Answered once the job is recorded (true), or dropped as no longer applicable (false). */
  onRecorded?: { resolve(recorded: boolean): void; reject(error: unknown): void };
  /** The outbox entry whose effect this job is: deleted in the batch that records it. */
  outboxId?: string;
}

export type UpdateOutcome = EventOf<'UpdateCompleted'> | EventOf<'UpdateRejected'>;

export class WorkflowRun {
  private state = new RunState();
  private nextEventId = 1;
  private sandbox: WorkflowSandbox | undefined;
  /** Whether `state` and `nextEventId` reflect the stored history. */
  private loaded: boolean;
  private mailbox: PendingJob[] = [];
  /** Set when replay found a determinism violation: the run makes no progress. */
  private stall: DeterminismViolationError | undefined;
  private readonly updateWaiters = new Map<string, (outcome: UpdateOutcome) => void>();
  private lock: Promise<void> = Promise.resolve();
  /** Operations queued on or holding the lock. */
  private busy = 0;
  private drainScheduled = false;

  constructor(
    readonly record: RunRecord,
    private readonly env: RunEnvironment,
    /** A brand-new run: no history yet; its record is written with its first activation. */
    private isNew = false,
  ) {
    this.loaded = isNew;
  }

  get isResident(): boolean {
    return this.sandbox !== undefined;
  }

  /** True when the run can be dropped from memory without losing anything. */
  get isIdle(): boolean {
    return this.busy === 0 && this.mailbox.length === 0 && this.updateWaiters.size === 0;
  }

  get taskFailure(): DeterminismViolationError | undefined {
    return this.stall;
  }

  // Inputs ------------------------------------------------------------------------------

  /**
   * Queues a job for the next activation. Resolves `true` once it is recorded, `false` if it
   * no longer applied (a duplicate cancel request, a timer cancelled meanwhile).
   */
  deliver(event: NewEventOf<JobEventType>, options: { outboxId?: string } = {}): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (this.record.status !== 'Running') {
        reject(new WorkflowNotRunningError(this.record.workflowId, this.record.status));
        return;
      }
      this.mailbox.push({ event, recorded: false, onRecorded: { resolve, reject }, outboxId: options.outboxId });
      this.scheduleDrain();
    });
  }

  /** Delivers an update and resolves with its outcome event once that is recorded. */
  update(event: NewEventOf<'UpdateAccepted'>): Promise<UpdateOutcome> {
    return new Promise<UpdateOutcome>((resolve, reject) => {
      this.updateWaiters.set(event.updateId, resolve);
      this.deliver(event).catch((error: unknown) => {
        this.updateWaiters.delete(event.updateId);
        reject(error);
      });
    });
  }

  /** Runs a query against the run's current state (replaying it into memory if needed). */
  query(name: string, args: unknown[]): Promise<QueryResult> {
    return this.exclusive(async () => {
      const sandbox = await this.sandboxForQuery();
      return sandbox.query(name, args, Date.now());
    });
  }

  /** Ends the run now without running workflow code (`outboxId`: the effect this performs). */
  terminate(reason: string | undefined, outboxId?: string): Promise<void> {
    const event: NewEvent = { type: 'WorkflowTerminated', time: Date.now(), ...(reason === undefined ? {} : { reason }) };
    return this.closeByHost(event, outboxId);
  }

  /** The run's deadline passed: it ends `TimedOut` (ignored if it already closed or the deadline moved). */
  timeOut(): Promise<void> {
    return this.exclusive(async () => {
      await this.ensureLoaded();
      const deadline = this.state.deadline;
      if (this.record.status !== 'Running' || !deadline || deadline.at > Date.now()) return;
      await this.commit(this.newBatch().add({ type: 'WorkflowTimedOut', time: Date.now(), timeoutType: deadline.timeoutType }), []);
    });
  }

  private closeByHost(event: NewEvent, outboxId: string | undefined): Promise<void> {
    return this.exclusive(async () => {
      await this.ensureLoaded();
      if (this.record.status !== 'Running') throw new WorkflowNotRunningError(this.record.workflowId, this.record.status);
      const batch = this.newBatch().add(event);
      if (outboxId) batch.outboxDeletes.push(outboxId);
      await this.commit(batch, []);
    });
  }

  /** Resolves once every operation queued so far has finished. */
  settled(): Promise<void> {
    return this.lock;
  }

  /** Releases the sandbox and the in-memory state (the next job replays the history). */
  evict(): void {
    this.sandbox?.dispose();
    this.sandbox = undefined;
    this.loaded = false;
  }

  // Activation loop ---------------------------------------------------------------------

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    void this.exclusive(async () => {
      this.drainScheduled = false;
      await this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.mailbox.length > 0 && this.record.status === 'Running') {
      try {
        await this.ensureLoaded();
      } catch (error) {
        this.env.logger.error({ err: error, runId: this.record.runId }, 'cannot load the run; its jobs wait for the next attempt');
        this.retryLater();
        return;
      }
      if (this.stall) await this.recordWithoutActivation();
      else await this.activateOnce();
    }
    // Jobs that arrived for a run that closed meanwhile: their callers learn it is closed.
    for (const job of this.mailbox.splice(0)) job.onRecorded?.reject(new WorkflowNotRunningError(this.record.workflowId, this.record.status));
  }

  private activation(time: number, historyLength: number, jobs: PendingJob[]) {
    return {
      time,
      replaying: false,
      historyLength,
      continueAsNewSuggested: historyLength >= this.state.continueAsNewSuggestedAt,
      jobs: jobs.map((job) => jobOf(job.event)),
    };
  }

  private async activateOnce(): Promise<void> {
    const jobs = this.takeDeliverableJobs();
    if (jobs.length === 0) return;
    const time = Date.now();
    const batch = this.newBatch().add(...jobs.filter((job) => !job.recorded).map((job) => job.event as NewEvent));
    try {
      const sandbox = await this.ensureSandbox();
      const raw = sandbox.activate(this.activation(time, this.nextEventId - 1 + batch.events.length, jobs));
      const { commands, logs } = validateActivationResult(raw, this.state, this.env.limits);
      batch.add({ type: 'WorkflowTaskCompleted', time }, ...commands.map((command) => eventOfCommand(command, time)));
      this.emitLogs(logs);
    } catch (error) {
      batch.add(...this.crash(error, time));
    }
    try {
      await this.commit(batch, jobs);
    } catch (error) {
      this.env.logger.error({ err: error, runId: this.record.runId }, 'could not record an activation; it will be retried from the history');
      // Nothing of it was recorded: rebuild from the history and try the same jobs again.
      this.evict();
      this.mailbox.unshift(...jobs);
      this.retryLater();
    }
  }

  /** A sandbox that crashed (or returned something invalid) fails its run. */
  private crash(error: unknown, time: number): NewEvent[] {
    const crash =
      error instanceof SandboxCrash
        ? { kind: error.kind, message: error.message }
        : error instanceof InvalidCommandError
          ? { kind: 'invalid-command', message: error.message }
          : { kind: 'host-error', message: error instanceof Error ? error.message : String(error) };
    this.env.logger.warn({ runId: this.record.runId, workflowId: this.record.workflowId, crash }, 'sandbox crashed; failing the run');
    this.sandbox?.dispose();
    this.sandbox = undefined;
    return [
      { type: 'WorkflowTaskFailed', time, crashKind: crash.kind, message: crash.message },
      {
        type: 'WorkflowFailed',
        time,
        failure: { failureType: 'ApplicationFailure', type: 'SandboxCrash', message: `sandbox crashed (${crash.kind}): ${crash.message}`, nonRetryable: true },
      },
    ];
  }

  /**
   * A stalled run still records signals and cancel requests (nothing acknowledged is lost),
   * but cannot answer updates: their callers get the stall's error.
   */
  private async recordWithoutActivation(): Promise<void> {
    const jobs: PendingJob[] = [];
    for (const job of this.mailbox.splice(0)) {
      if (job.recorded) continue;
      if (job.event.type !== 'UpdateAccepted') jobs.push(job);
      else {
        this.updateWaiters.delete(job.event.updateId);
        job.onRecorded?.reject(this.stall);
      }
    }
    if (jobs.length === 0) return;
    await this.commit(this.newBatch().add(...jobs.map((job) => job.event as NewEvent)), jobs);
  }

  /** Mailbox jobs that still apply (a timer cancelled meanwhile, for example, is dropped). */
  private takeDeliverableJobs(): PendingJob[] {
    return this.mailbox.splice(0).filter((job) => {
      if (job.recorded || this.applies(job.event)) return true;
      job.onRecorded?.resolve(false);
      return false;
    });
  }

  private applies(event: PendingJob['event']): boolean {
    switch (event.type) {
      case 'TimerFired':
        return this.state.pendingTimers.has(event.seq);
      case 'ActivityCompleted':
      case 'ActivityFailed':
        return this.state.pendingActivities.has(event.seq);
      case 'ChildWorkflowCompleted':
      case 'ChildWorkflowFailed':
        return this.state.pendingChildren.has(event.seq);
      case 'UpdateAccepted':
        return !this.state.pendingUpdates.has(event.updateId) && !this.state.finishedUpdates.has(event.updateId);
      case 'CancelRequested':
        return !this.state.cancelRequested;
      default:
        return true;
    }
  }

  private retryLater(): void {
    setTimeout(() => this.scheduleDrain(), 1000).unref();
  }

  // Recording and acting -------------------------------------------------------------------

  private newBatch(): ActivationBatch {
    return new ActivationBatch(this.record, this.state);
  }

  /** Appends the batch (numbered here) with its index writes in one atomic write; then acts on it. */
  private async commit(batch: ActivationBatch, jobs: PendingJob[]): Promise<void> {
    const { record } = this;
    const events = batch.events.map((event, i) => ({ ...event, eventId: this.nextEventId + i }) as HistoryEvent);
    const previousStatus = record.status;
    const next: RunRecord = { ...record };
    if (batch.recordChanged) next.searchAttributes = { ...this.state.searchAttributes };
    if (this.state.continuedToRunId) next.continuedToRunId = this.state.continuedToRunId;
    // Progress clears a task failure recorded earlier (a stalled run only records jobs).
    const clearsTaskFailure = record.taskFailure !== undefined && !this.stall;
    if (clearsTaskFailure) delete next.taskFailure;
    if (batch.closeEvent) {
      next.status = CLOSING_STATUS[batch.closeEvent.type as keyof typeof CLOSING_STATUS];
      next.closeTime = batch.closeEvent.time;
    }
    const writeRecord = this.isNew || batch.closeEvent !== undefined || clearsTaskFailure || batch.recordChanged;
    const outboxDeletes = [...batch.outboxDeletes, ...jobs.flatMap((job) => (job.outboxId ? [job.outboxId] : []))];
    await this.env.store.write({
      histories: [{ namespace: record.namespace, runId: record.runId, events }],
      runs: writeRecord ? [{ record: next, previousStatus: this.isNew ? undefined : previousStatus }] : [],
      latestRuns: this.isNew ? [{ namespace: record.namespace, workflowId: record.workflowId, runId: record.runId }] : [],
      dueEntries: { put: batch.duePuts, delete: batch.dueDeletes },
      activityTasks: { put: batch.taskPuts, delete: batch.taskDeletes },
      outbox: { put: batch.outboxPuts, delete: outboxDeletes },
    });
    Object.assign(record, next);
    if (clearsTaskFailure) delete record.taskFailure;
    this.isNew = false;
    this.nextEventId += events.length;
    this.act(events, batch, jobs);
  }

  /** Effects of a durable commit. */
  private act(events: HistoryEvent[], batch: ActivationBatch, jobs: PendingJob[]): void {
    const { namespace, runId } = this.record;
    for (const job of jobs) job.onRecorded?.resolve(true);
    for (const entry of batch.duePuts) this.env.timers.add(entry);
    for (const task of batch.taskPuts) this.env.activities.dispatch(task);
    for (const task of batch.taskDeletes) this.env.activities.cancel(namespace, runId, task.seq);
    for (const event of events) {
      if (event.type === 'UpdateCompleted' || event.type === 'UpdateRejected') {
        this.updateWaiters.get(event.updateId)?.(event);
        this.updateWaiters.delete(event.updateId);
      }
    }
    if (batch.outboxPuts.length > 0) this.env.onOutbox(batch.outboxPuts);
    if (batch.closeEvent) {
      this.sandbox?.dispose();
      this.sandbox = undefined;
      this.env.onClosed(this, events[events.length - 1]);
    }
  }

  private emitLogs(logs: LogEntry[]): void {
    for (const entry of logs) {
      this.env.logger[entry.level]({ workflowId: this.record.workflowId, runId: this.record.runId, ...entry.attributes }, entry.message);
    }
  }

  // Loading ---------------------------------------------------------------------------------

  /** Rebuilds state and sandbox from the history when the run is not in memory. */
  private async ensureLoaded(): Promise<void> {
    if (this.loaded) return;
    const events = await this.env.store.readHistory(this.record.namespace, this.record.runId);
    const parsed = parseHistory(events);
    const state = new RunState();
    const sandbox = await this.newSandbox();
    this.stall = undefined;
    try {
      replayActivations(sandbox, parsed, state, this.env.limits);
    } catch (error) {
      sandbox.dispose();
      if (!(error instanceof DeterminismViolationError)) throw error;
      await this.stallOn(error, events, state);
      return;
    }
    this.state = state;
    this.nextEventId = events.length + 1;
    this.loaded = true;
    this.sandbox = sandbox;
    this.env.onResident(this);
    this.requeueRecordedJobs(parsed);
  }

  private async ensureSandbox(): Promise<WorkflowSandbox> {
    if (this.sandbox && !this.sandbox.unusable) return this.sandbox;
    if (!this.isNew) {
      // An existing run without a sandbox: replay into a new one.
      this.loaded = false;
      await this.ensureLoaded();
      if (this.sandbox) return this.sandbox;
      throw this.stall ?? new Error('the run could not be loaded');
    }
    this.sandbox = await this.newSandbox();
    this.env.onResident(this);
    return this.sandbox;
  }

  /** The live sandbox, or — for a closed run — a throwaway one replayed from the history. */
  private async sandboxForQuery(): Promise<WorkflowSandbox> {
    if (this.record.status === 'Running') {
      await this.ensureLoaded();
      if (this.stall) throw this.stall;
      return this.ensureSandbox();
    }
    const events = await this.env.store.readHistory(this.record.namespace, this.record.runId);
    const sandbox = await this.newSandbox();
    replayActivations(sandbox, parseHistory(events), new RunState(), this.env.limits);
    return sandbox;
  }

  private async newSandbox(): Promise<WorkflowSandbox> {
    return (await this.env.bundles.template(this.record.version)).newSandbox();
  }

  /** Recorded but undelivered jobs go first, in recorded order. */
  private requeueRecordedJobs(parsed: ParsedHistory): void {
    if (parsed.pendingJobs.length === 0) return;
    this.mailbox.unshift(...parsed.pendingJobs.map((event) => ({ event, recorded: true })));
    this.scheduleDrain();
  }

  private async stallOn(error: DeterminismViolationError, events: HistoryEvent[], state: RunState): Promise<void> {
    for (const event of events) state.apply(event);
    this.state = state;
    this.nextEventId = events.length + 1;
    this.loaded = true;
    this.stall = error;
    this.env.logger.error({ runId: this.record.runId, workflowId: this.record.workflowId, eventIndex: error.eventIndex }, error.message);
    this.record.taskFailure = { message: error.message, eventIndex: error.eventIndex, at: Date.now() };
    await this.env.store.write({ runs: [{ record: { ...this.record }, previousStatus: this.record.status }] });
  }

  /** Serialises everything that touches the run's sandbox or history. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.busy++;
    const result = this.lock.then(fn).finally(() => this.busy--);
    this.lock = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export const runKey = (namespace: string, runId: string): string => `${namespace}\u0000${runId}`;
