/**
 * A workflow run as a process: a mailbox of jobs, a sandbox (while resident), and the
 * activation loop.
 *
 * One activation = take every job in the mailbox, run them through the sandbox, validate
 * the commands, and append `[new job events…, WorkflowTaskCompleted, command events…]` as
 * one atomic write (with the run record, due-time entries, activity tasks and outbox entries
 * it implies). Only once that write is durable are the commands acted on (record, then act).
 *
 * A run's state has two parts, loaded separately: the host's view (`RunState`, rebuilt from
 * the history without running any code) and the sandbox (restored from a snapshot and the
 * activations recorded after it, or replayed from the start). A sandbox that crashes is
 * handed to its workflow type's supervisor; a history that no longer replays stalls the run.
 *
 * @module
 */
import type { LogEntry, QueryResult } from '../../common/protocol.js';
import { SandboxCrash } from '../../sandbox/index.js';
import { StoreError } from '../../store/errors.js';
import type { EventStore, OutboxEntry, QuarantineRecord, RunRecord } from '../../store/types.js';
import type { ActivityDispatcher } from '../activities/dispatcher.js';
import type { BundleRegistry } from '../bundles.js';
import { InvalidCommandError, validateActivationResult } from '../commands/validate.js';
import { DeterminismViolationError, QueryFailedError, WorkflowNotRunningError } from '../errors.js';
import { HistoryFormatError, parseHistory } from '../history/activations.js';
import { CLOSING_STATUS, type EventOf, type HistoryEvent, type JobEventType, type NewEvent, type NewEventOf } from '../history/events.js';
import { eventOfCommand, jobOf } from '../history/mapping.js';
import type { Logger } from '../logger.js';
import type { EngineMetrics } from '../metrics.js';
import { RunQuarantinedError, type Quarantine } from '../quarantine.js';
import type { ReplayLimits } from '../replay.js';
import { encodeSnapshot } from '../snapshots.js';
import type { Supervisors } from '../supervision.js';
import type { DueTimers } from '../timers.js';
import type { WorkflowSandbox, WorkflowTemplate } from '../workflow-sandbox.js';
import { ActivationBatch } from './activation-batch.js';
import { RunState } from './run-state.js';
import { hasUsableSnapshot, loadSandbox, replaySandbox, type LoadedHistory } from './sandbox-loader.js';

/** Engine services a run uses. */
export interface RunEnvironment {
  store: EventStore<HistoryEvent>;
  bundles: BundleRegistry;
  activities: ActivityDispatcher;
  timers: DueTimers;
  logger: Logger;
  limits: ReplayLimits;
  supervisors: Supervisors;
  metrics: EngineMetrics;
  quarantine: Quarantine;
  /** Bounds how many runs are being brought back into memory at once. */
  wakeSlots: <T>(wake: () => Promise<T>) => Promise<T>;
  /** Effects on other runs the run just recorded (performed after the write). */
  onOutbox(entries: OutboxEntry[]): void;
  /** The run closed: its last event is `closeEvent`. */
  onClosed(run: WorkflowRun, closeEvent: HistoryEvent): void;
  /** The run holds a sandbox and just used it (for the resident set's bookkeeping). */
  onResident(run: WorkflowRun): void;
  /** The run released its sandbox and its state; nothing is waiting on it. */
  onParked(run: WorkflowRun): void;
  /** The run finished everything queued on it (it may be parked now). */
  onIdle(run: WorkflowRun): void;
  /** A new run's first write failed: it does not exist. */
  onCreateFailed(run: WorkflowRun): void;
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

/** How a run not in memory would be brought back. */
export type Residency = 'resident' | 'snapshot' | 'replay';

export class WorkflowRun {
  private state = new RunState();
  private nextEventId = 1;
  private sandbox: WorkflowSandbox | undefined;
  /** Whether `state` and `nextEventId` reflect the stored history. */
  private loaded: boolean;
  private mailbox: PendingJob[] = [];
  /** Set when the history does not replay: the run makes no progress. */
  private stall: { error: DeterminismViolationError; at: number } | undefined;
  /** The whole history as `ensureLoaded` read it, kept for the sandbox's load that usually follows (until the next append). */
  private justRead: LoadedHistory | undefined;
  /** History position the sandbox's last snapshot reflects (none written since: skip). */
  private snapshotEventId = 0;
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

  /** Memory the run's sandbox uses (0 when not resident). */
  get residentBytes(): number {
    return this.sandbox?.residentBytes ?? 0;
  }

  /** Set when a record of the run is damaged: it makes no progress (see quarantine.ts). */
  get quarantine(): QuarantineRecord | undefined {
    return this.env.quarantine.get(this.record.namespace, this.record.runId);
  }

  /** True when the run can be dropped from memory without losing anything. */
  get isIdle(): boolean {
    return this.busy === 0 && this.mailbox.length === 0 && this.updateWaiters.size === 0;
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
      const quarantine = this.quarantine;
      if (quarantine) {
        reject(new RunQuarantinedError(this.record.runId, quarantine.reason));
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

  /** Runs a query against the run's current state (bringing it back into memory if needed). */
  query(name: string, args: unknown[]): Promise<QueryResult> {
    return this.exclusive(async () => {
      const sandbox = await this.sandboxForQuery();
      try {
        return sandbox.query(name, args, Date.now());
      } catch (error) {
        if (!(error instanceof SandboxCrash)) throw error;
        throw new QueryFailedError(`query '${name}' failed: the sandbox crashed (${error.kind}): ${error.message}`);
      } finally {
        // A closed run's throwaway sandbox, or a live one the query crashed, goes back to the pool.
        if (sandbox !== this.sandbox || sandbox.unusable) {
          if (sandbox === this.sandbox) this.sandbox = undefined;
          sandbox.dispose();
        }
      }
    });
  }

  /** Ends the run now without running workflow code (`outboxId`: the effect this performs). */
  terminate(reason: string | undefined, outboxId?: string): Promise<void> {
    const event: NewEvent = { type: 'WorkflowTerminated', time: Date.now(), ...(reason === undefined ? {} : { reason }) };
    return this.exclusive(async () => {
      // A quarantined run can still be terminated (when its history reads): that is how an operator ends it.
      await this.ensureLoaded({ evenIfQuarantined: true });
      if (this.record.status !== 'Running') throw new WorkflowNotRunningError(this.record.workflowId, this.record.status);
      const batch = this.newBatch().add(event);
      if (outboxId) batch.outboxDeletes.push(outboxId);
      await this.commit(batch, []);
    });
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

  /** The supervisor's restart time came: the crashed activation's jobs are delivered again. */
  restart(): Promise<void> {
    return this.exclusive(() => this.ensureLoaded());
  }

  /**
   * Parks the run: writes a snapshot of its sandbox (when it changed since the last one),
   * releases the sandbox and forgets its state. Its next job restores it.
   */
  park(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.sandbox) return;
      const position = this.nextEventId - 1;
      if (this.loaded && !this.stall && this.record.status === 'Running' && !this.sandbox.unusable && position !== this.snapshotEventId) {
        const template = await this.template();
        const snapshot = encodeSnapshot(this.record, position, template.build, this.sandbox.capture());
        // Not synced: a snapshot lost in a power failure only costs a replay.
        await this.env.store.write({ snapshots: { put: [snapshot] } }, { durable: false });
        this.snapshotEventId = position;
        this.env.metrics.snapshotsWritten.inc();
      }
      this.releaseSandbox();
      this.loaded = false;
      this.env.metrics.evictions.inc();
      if (this.mailbox.length === 0 && this.updateWaiters.size === 0) this.env.onParked(this);
    });
  }

  /** How the run would be brought back into memory, were it parked now. */
  async residency(): Promise<Residency> {
    if (this.sandbox) return 'resident';
    return (await hasUsableSnapshot(this.record, await this.template(), this.env.store)) ? 'snapshot' : 'replay';
  }

  /** Resolves once every operation queued so far has finished. */
  settled(): Promise<void> {
    return this.lock;
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
        // Nothing was recorded: whoever delivered a job learns why (an internal source retries on its own).
        this.env.logger.warn({ err: error, runId: this.record.runId }, 'cannot load the run');
        this.abandon(this.mailbox.splice(0), error);
        return;
      }
      if (this.stall) await this.recordWithoutActivation();
      else await this.activateOnce();
    }
    // Jobs that arrived for a run that closed meanwhile: their callers learn it is closed.
    for (const job of this.mailbox.splice(0)) job.onRecorded?.reject(new WorkflowNotRunningError(this.record.workflowId, this.record.status));
  }

  private async activateOnce(): Promise<void> {
    const jobs = this.takeDeliverableJobs();
    if (jobs.length === 0) return;
    const time = Date.now();
    const batch = this.newBatch().add(...jobs.filter((job) => !job.recorded).map((job) => job.event as NewEvent));
    try {
      const sandbox = await this.ensureSandbox();
      const historyLength = this.nextEventId - 1 + batch.events.length;
      const raw = sandbox.activate({
        time,
        replaying: false,
        historyLength,
        continueAsNewSuggested: historyLength >= this.state.continueAsNewSuggestedAt,
        jobs: jobs.map((job) => jobOf(job.event)),
      });
      const { commands, logs } = validateActivationResult(raw, this.state, this.env.limits);
      batch.add({ type: 'WorkflowTaskCompleted', time }, ...commands.map((command) => eventOfCommand(command, time)));
      this.emitLogs(logs);
    } catch (error) {
      if (error instanceof DeterminismViolationError) this.stallOn(error);
      else this.crash(batch, error, time);
    }
    try {
      await this.commit(batch, jobs);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'AION_STORE_INVALID_VALUE' && !batch.events.some((event) => event.type === 'WorkflowTaskFailed')) {
        await this.recordUnstorable(jobs, error, time);
      } else {
        this.env.logger.warn({ err: error, runId: this.record.runId }, 'could not record an activation');
        this.abandon(jobs, error);
      }
      return;
    }
    // After a crash the jobs are recorded but not delivered: they come back from the history
    // when the supervisor restarts the sandbox.
    if (batch.events.some((event) => event.type === 'WorkflowTaskFailed') && this.record.status === 'Running') this.loaded = false;
  }

  /**
   * Nothing of these jobs was recorded: their senders get the error (a caller sees it; an
   * internal source — a timer, an activity, the outbox — retries, or is driven again when
   * the store accepts writes again). Jobs the history holds come back with it. Nothing is
   * retried here, so a store that refuses writes is never written to in a loop.
   */
  private abandon(jobs: PendingJob[], error: unknown): void {
    this.releaseSandbox();
    this.loaded = false;
    for (const job of jobs) if (!job.recorded) job.onRecorded?.reject(error);
    if (this.isNew) this.env.onCreateFailed(this);
  }

  /**
   * The activation's result could not be encoded for the store (what validation lets through
   * always can; this is the last line): a crash of the run, recorded on the state before the
   * activation, never a retry of the write.
   */
  private async recordUnstorable(jobs: PendingJob[], error: StoreError, time: number): Promise<void> {
    this.releaseSandbox();
    try {
      await this.reloadState();
      const batch = this.newBatch().add(...jobs.filter((job) => !job.recorded).map((job) => job.event as NewEvent));
      this.crash(batch, new SandboxCrash('guest-error', `the activation result cannot be stored: ${error.message}`), time);
      await this.commit(batch, jobs);
    } catch (failure) {
      this.abandon(jobs, failure);
    }
  }

  /** A crashed sandbox: its supervisor decides between a restart (after a backoff) and failing the run. */
  private crash(batch: ActivationBatch, error: unknown, time: number): void {
    const crash =
      error instanceof SandboxCrash
        ? { time, kind: error.kind, message: error.message }
        : error instanceof InvalidCommandError
          ? { time, kind: 'invalid-command', message: error.message }
          : { time, kind: 'host-error', message: error instanceof Error ? error.message : String(error) };
    const { workflowType, workflowId, runId } = this.record;
    const decision = this.env.supervisors.for(workflowType).decide(this.state.crashes, crash);
    this.env.metrics.crashes.inc({ workflow_type: workflowType, kind: crash.kind });
    this.releaseSandbox();
    if (decision.restart) {
      this.env.metrics.restarts.inc({ workflow_type: workflowType });
      this.env.logger.warn({ runId, workflowId, crash, restartInMs: decision.delayMs }, 'sandbox crashed; its supervisor restarts it');
      batch.add({ type: 'WorkflowTaskFailed', time, crashKind: crash.kind, message: crash.message, restartAt: time + decision.delayMs });
      return;
    }
    this.env.metrics.failedBySupervisor.inc({ workflow_type: workflowType });
    this.env.logger.warn({ runId, workflowId, crash, reason: decision.reason }, 'sandbox crashed; its supervisor gives up and fails the run');
    batch.add(
      { type: 'WorkflowTaskFailed', time, crashKind: crash.kind, message: crash.message },
      {
        type: 'WorkflowFailed',
        time,
        failure: { failureType: 'ApplicationFailure', type: 'SandboxCrash', message: `sandbox crashed (${crash.kind}): ${crash.message}; ${decision.reason}`, nonRetryable: true },
      },
    );
  }

  /** The history does not replay: the run stops making progress (its jobs are still recorded). */
  private stallOn(error: DeterminismViolationError): void {
    this.stall = { error, at: Date.now() };
    this.releaseSandbox();
    this.env.logger.error({ runId: this.record.runId, workflowId: this.record.workflowId, eventIndex: error.eventIndex }, error.message);
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
        job.onRecorded?.reject(this.stall!.error);
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

  // Recording and acting -------------------------------------------------------------------

  private newBatch(): ActivationBatch {
    return new ActivationBatch(this.record, this.state);
  }

  /** Appends the batch (numbered here) with its index writes in one atomic write; then acts on it. */
  private async commit(batch: ActivationBatch, jobs: PendingJob[]): Promise<void> {
    const { record } = this;
    this.justRead = undefined; // no longer the whole history
    const events = batch.events.map((event, i) => ({ ...event, eventId: this.nextEventId + i }) as HistoryEvent);
    const next = this.nextRecord(batch);
    const recordChanged = this.isNew || batch.closeEvent !== undefined || batch.recordChanged || !sameProgress(record, next);
    const outboxDeletes = [...batch.outboxDeletes, ...jobs.flatMap((job) => (job.outboxId ? [job.outboxId] : []))];
    await this.env.store.write({
      histories: [{ namespace: record.namespace, runId: record.runId, events }],
      runs: recordChanged ? [{ record: next, previousStatus: this.isNew ? undefined : record.status }] : [],
      latestRuns: this.isNew ? [{ namespace: record.namespace, workflowId: record.workflowId, runId: record.runId }] : [],
      dueEntries: { put: batch.duePuts, delete: batch.dueDeletes },
      activityTasks: { put: batch.taskPuts, delete: batch.taskDeletes },
      outbox: { put: batch.outboxPuts, delete: outboxDeletes },
      snapshots: { delete: batch.closeEvent ? [{ namespace: record.namespace, runId: record.runId }] : [] },
      quarantine: { delete: batch.closeEvent && this.quarantine ? [{ namespace: record.namespace, runId: record.runId }] : [] },
    });
    for (const key of Object.keys(record) as (keyof RunRecord)[]) if (!(key in next)) delete record[key];
    Object.assign(record, next);
    this.isNew = false;
    this.nextEventId += events.length;
    this.act(events, batch, jobs);
  }

  /** The run record as the batch leaves it: status, visibility, supervision, task failure. */
  private nextRecord(batch: ActivationBatch): RunRecord {
    const next: RunRecord = { ...this.record };
    if (batch.recordChanged) next.searchAttributes = { ...this.state.searchAttributes };
    if (this.state.continuedToRunId) next.continuedToRunId = this.state.continuedToRunId;
    if (batch.closeEvent) {
      next.status = CLOSING_STATUS[batch.closeEvent.type as keyof typeof CLOSING_STATUS];
      next.closeTime = batch.closeEvent.time;
    }
    // A stall is recorded for describe; progress clears it.
    if (this.stall) next.taskFailure = { message: this.stall.error.message, eventIndex: this.stall.error.eventIndex, at: this.stall.at };
    else delete next.taskFailure;
    const lastCrash = this.state.crashes.at(-1);
    if (lastCrash && !batch.closeEvent) {
      next.supervision = {
        crashes: this.state.crashes.length,
        lastCrash: { kind: lastCrash.kind, message: lastCrash.message, at: lastCrash.time },
        ...(this.state.restartAt !== undefined ? { restartAt: this.state.restartAt } : {}),
      };
    } else {
      delete next.supervision;
    }
    return next;
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
      this.releaseSandbox();
      this.env.quarantine.release(namespace, runId);
      this.env.onClosed(this, events[events.length - 1]);
    } else if (this.sandbox) {
      this.env.onResident(this);
    }
  }

  private emitLogs(logs: LogEntry[]): void {
    for (const entry of logs) {
      this.env.logger[entry.level]({ workflowId: this.record.workflowId, runId: this.record.runId, ...entry.attributes }, entry.message);
    }
  }

  // Loading ---------------------------------------------------------------------------------

  /** Rebuilds the host's view of the run from its history (no code runs); requeues undelivered jobs. */
  private async ensureLoaded(options: { evenIfQuarantined?: boolean } = {}): Promise<void> {
    if (this.loaded) return;
    const events = await this.readHistory(options);
    const state = new RunState();
    for (const event of events) state.apply(event);
    let history: LoadedHistory | undefined;
    try {
      history = { events, parsed: parseHistory(events) };
    } catch (error) {
      if (!(error instanceof HistoryFormatError)) throw error;
      this.stallOn(new DeterminismViolationError({ eventIndex: error.eventIndex, expected: 'a well-formed history', actual: error.message }));
    }
    this.state = state;
    this.nextEventId = events.length + 1;
    this.justRead = history;
    this.loaded = true;
    const pendingJobs = history?.parsed.pendingJobs ?? [];
    if (pendingJobs.length > 0) {
      this.mailbox.unshift(...pendingJobs.map((event) => ({ event, recorded: true })));
      this.scheduleDrain();
    }
  }

  /** The state the stored history gives, without requeuing its undelivered jobs. */
  private async reloadState(): Promise<void> {
    const events = await this.readHistory();
    this.state = new RunState();
    for (const event of events) this.state.apply(event);
    this.nextEventId = events.length + 1;
    this.justRead = undefined;
  }

  /** The run's whole history; a damaged one quarantines the run. */
  private async readHistory(options: { evenIfQuarantined?: boolean } = {}): Promise<HistoryEvent[]> {
    const { namespace, runId } = this.record;
    if (!options.evenIfQuarantined) this.env.quarantine.assertFree(namespace, runId);
    try {
      return await this.env.store.readHistory(namespace, runId);
    } catch (error) {
      if (!(error instanceof StoreError) || error.code !== 'AION_STORE_CORRUPT') throw error;
      const record = await this.env.quarantine.add(namespace, runId, error.message, `history of ${runId}`);
      throw new RunQuarantinedError(runId, record.reason);
    }
  }

  /**
   * The run's sandbox: resident, or restored from its snapshot with the activations recorded
   * after it, or replayed from the start. Throws `DeterminismViolationError` or `SandboxCrash`.
   */
  private async ensureSandbox(): Promise<WorkflowSandbox> {
    if (this.sandbox && !this.sandbox.unusable) return this.sandbox;
    const template = await this.template();
    if (this.isNew) {
      this.sandbox = await template.newSandbox();
      return this.sandbox;
    }
    const history = this.justRead;
    this.justRead = undefined;
    const loaded = await this.env.wakeSlots(() => loadSandbox(this.record, template, this.env, history));
    this.sandbox = loaded.sandbox;
    this.snapshotEventId = loaded.snapshotEventId;
    this.env.metrics.wakes.inc({ from: loaded.from });
    return loaded.sandbox;
  }

  /** The live sandbox, or — for a closed run — a throwaway one replayed from the history. */
  private async sandboxForQuery(): Promise<WorkflowSandbox> {
    if (this.record.status === 'Running') {
      await this.ensureLoaded();
      if (this.stall) throw this.stall.error;
      const sandbox = await this.ensureSandbox();
      this.env.onResident(this);
      return sandbox;
    }
    return replaySandbox(await this.template(), parseHistory(await this.readHistory()), this.env.limits);
  }

  private template(): Promise<WorkflowTemplate> {
    return this.env.bundles.template(this.record.version);
  }

  private releaseSandbox(): void {
    this.sandbox?.dispose();
    this.sandbox = undefined;
  }

  /** Serialises everything that touches the run's sandbox or history. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.busy++;
    const result = this.lock.then(fn).finally(() => {
      if (--this.busy === 0 && this.sandbox) this.env.onIdle(this);
    });
    this.lock = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export const runKey = (namespace: string, runId: string): string => `${namespace}\u0000${runId}`;

/** Whether two records agree on what a batch without a close or an upsert can change. */
function sameProgress(a: RunRecord, b: RunRecord): boolean {
  return (
    a.taskFailure?.message === b.taskFailure?.message &&
    a.supervision?.crashes === b.supervision?.crashes &&
    a.supervision?.restartAt === b.supervision?.restartAt &&
    a.continuedToRunId === b.continuedToRunId
  );
}
