/**
 * `WorkflowHandle`: what callers hold to talk to one workflow (its latest run, or one run).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure, fromFailureInfo } from '../common/failures.js';
import { STACK_TRACE_QUERY } from '../common/protocol.js';
import type { HistoryRange, RunRecord, RunStatus, TaskFailure } from '../store/types.js';
import { InvalidArgumentError, QueryFailedError, WorkflowFailedError, WorkflowNotRunningError, WorkflowUpdateFailedError, WorkflowUpdateNotFoundError } from './errors.js';
import type { HistoryEvent } from './history/events.js';
import type { InspectOptions, RunAtEvent, TimelineStep } from './inspector.js';
import { checkArgs, checkId, checkOptionalString, checkOptionKeys } from './input.js';
import type { PayloadLimits } from './payloads.js';
import type { UpdateOutcome } from './run/update-waiters.js';
import type { PendingWork, WorkflowRun } from './run/workflow-run.js';

/** An accepted update (`startUpdate`): its result once it completes. */
export interface WorkflowUpdateHandle {
  updateId: string;
  workflowId: string;
  runId: string;
  /** The handler's result; rejects with `WorkflowUpdateFailedError` if it failed (or with `signal`'s reason once it aborts). */
  result(options?: { signal?: AbortSignal }): Promise<unknown>;
}

/** What `describe()` returns. */
export interface WorkflowDescription {
  workflowId: string;
  runId: string;
  workflowType: string;
  namespace: string;
  taskQueue: string;
  status: RunStatus;
  startTime: Date;
  closeTime?: Date;
  historyLength: number;
  /** The bundle version the run is pinned to. */
  version: string;
  /** Why a `Failed` run failed. */
  failure?: { message: string; type?: string };
  /** For a running run: what it waits on — activities (attempt, next retry, last failure), timers, children, updates. */
  pending?: PendingWork;
  /** Why a `Running` run is not making progress (a determinism violation, for example). */
  taskFailure?: TaskFailure;
  /**
   * For a running run that makes progress and is in memory: where in its code it waits, one
   * stack per pending operation (activities, timers, children, conditions…), in source lines —
   * the `__stack_trace` query's answer (which, for a parked run, brings it back).
   */
  stackTrace?: string;
  searchAttributes: Record<string, unknown>;
  memo: Record<string, unknown>;
  parent?: { workflowId: string; runId: string };
  /** The first run of the continue-as-new chain this run belongs to. */
  firstExecutionRunId: string;
  continuedFromRunId?: string;
  /** Set once the run continued as new: its successor. */
  continuedToRunId?: string;
  scheduleId?: string;
  /** For a running run: in memory, or how it would be brought back (from its snapshot, or by replay). */
  residency?: 'resident' | 'snapshot' | 'replay';
  /** Set while the run's sandbox keeps crashing: crashes since its last progress, the last one, the next restart. */
  supervision?: { crashes: number; lastCrash: { kind: string; message: string; at: Date }; restartAt?: Date };
  /** Set when a record of the run is damaged: it makes no progress until it is terminated or its data restored. */
  quarantine?: { reason: string; key: string; at: Date };
}

/** The engine side of handles: how a handle finds its run and reads its history. */
export interface RunDirectory {
  resolveRun(namespace: string, workflowId: string, runId?: string): Promise<WorkflowRun>;
  /** Resolves with the closing event once the run closes (or rejects with `signal`'s reason). */
  waitForClose(run: WorkflowRun, signal?: AbortSignal): Promise<HistoryEvent>;
  readHistory(namespace: string, runId: string, range?: HistoryRange): Promise<HistoryEvent[]>;
  followHistory(namespace: string, runId: string, options: { from: number; follow: boolean; signal?: AbortSignal }): AsyncGenerator<HistoryEvent>;
  historyLength(namespace: string, runId: string): Promise<number>;
  /** What one payload may be in the namespace (the engine's limits, and its quota). */
  payloadLimitsOf(namespace: string): PayloadLimits;
  /** The time events are recorded at. */
  now(): number;
}

export class WorkflowHandle {
  constructor(
    private readonly directory: RunDirectory,
    readonly workflowId: string,
    /** Set when the handle targets one run; otherwise it follows the workflow's latest run. */
    readonly runId: string | undefined,
    readonly namespace: string,
    /** Whether `result()` follows the run's successors (continue-as-new, the next cron run), as Temporal's `followRuns`. */
    private readonly followRuns = true,
  ) {}

  /**
   * Waits for the workflow to close, following its successors — continue-as-new, and the
   * next run of a cron workflow — to the last run (unless the handle was made with
   * `followRuns: false`); resolves with its result or rejects with `WorkflowFailedError`
   * (with `signal`: rejects with its reason once it aborts, the run going on).
   */
  async result(options: { signal?: AbortSignal } = {}): Promise<unknown> {
    let run = await this.run();
    for (;;) {
      const closeEvent = run.record.status === 'Running' ? await this.directory.waitForClose(run, options.signal) : await this.lastEvent(run.record.runId);
      const successor = closeEvent?.type === 'WorkflowContinuedAsNew' ? closeEvent.newRunId : run.record.continuedToRunId;
      if (!this.followRuns || successor === undefined) return outcomeOf(closeEvent);
      run = await this.directory.resolveRun(this.namespace, this.workflowId, successor);
    }
  }

  /** Sends a signal; resolves once it is recorded in the run's history. */
  async signal(name: string, ...args: unknown[]): Promise<void> {
    const event = { type: 'SignalReceived' as const, time: this.directory.now(), name: checkId(name, 'signal name'), args: checkArgs(args, 'signal arguments', this.directory.payloadLimitsOf(this.namespace)) };
    await this.onCurrentRun((run) => run.deliver(event, { fromCaller: true }));
  }

  /** Runs a query handler against the run's current state. */
  async query(name: string, ...args: unknown[]): Promise<unknown> {
    const run = await this.run();
    const outcome = await run.query(checkId(name, 'query name'), checkArgs(args, 'query arguments', this.directory.payloadLimitsOf(this.namespace)));
    if (outcome.ok) return outcome.result;
    throw new QueryFailedError(`query '${name}' failed: ${outcome.failure.message}`, fromFailureInfo(outcome.failure));
  }

  /**
   * Runs an update handler durably and returns its result. A validator that refuses it, or a
   * handler that fails, rejects with `WorkflowUpdateFailedError` (`cause`: the failure).
   */
  async executeUpdate(name: string, ...args: unknown[]): Promise<unknown> {
    return (await this.startUpdate(name, { args })).result();
  }

  /**
   * Sends an update and resolves once it is accepted (its validator passed and it is
   * recorded), with a handle on its result; rejects with `WorkflowUpdateFailedError` if it was
   * rejected. With an `updateId` the run already accepted, nothing is sent again: the handle
   * is that update's (as Temporal deduplicates updates by id).
   */
  async startUpdate(name: string, options: { args?: unknown[]; updateId?: string } = {}): Promise<WorkflowUpdateHandle> {
    checkOptionKeys(options, ['args', 'updateId'], 'startUpdate');
    const run = await this.run();
    const updateId = options.updateId === undefined ? randomUUID() : checkId(options.updateId, 'updateId');
    const { accepted, outcome } = run.startUpdate({
      type: 'UpdateAccepted',
      time: this.directory.now(),
      updateId,
      name: checkId(name, 'update name'),
      args: checkArgs(options.args ?? [], 'update arguments', this.directory.payloadLimitsOf(this.namespace)),
    });
    const result = outcome.then((settled) => updateResult(`update '${name}'`, settled));
    result.catch(() => undefined); // observed through result()
    if (!(await accepted)) await result; // rejected: throws why
    return { updateId, workflowId: this.workflowId, runId: run.record.runId, result: (options = {}) => (options.signal ? unlessAborted(result, options.signal) : result) };
  }

  /**
   * A handle on an update this run accepted, by its id (one sent earlier, perhaps by another
   * process): `result()` waits for it to complete; it rejects with
   * `WorkflowUpdateNotFoundError` if the run has no such update.
   */
  getUpdateHandle(updateId: string): Omit<WorkflowUpdateHandle, 'runId'> & { runId?: string } {
    checkId(updateId, 'updateId');
    let result: Promise<unknown> | undefined;
    return {
      updateId,
      workflowId: this.workflowId,
      ...(this.runId ? { runId: this.runId } : {}),
      // A wait that may be given up is its own; the others share one.
      result: (options = {}) => (options.signal ? this.updateResultById(updateId, options.signal) : (result ??= this.updateResultById(updateId))),
    };
  }

  private async updateResultById(updateId: string, signal?: AbortSignal): Promise<unknown> {
    const run = await this.run();
    const outcome = await run.updateOutcome(updateId, signal);
    if (!outcome) throw new WorkflowUpdateNotFoundError(updateId, run.record.runId);
    return updateResult(`update ${updateId}`, outcome);
  }

  /** Requests cancellation: the workflow sees a `CancelledFailure` at its next await and may clean up. */
  async cancel(reason?: string): Promise<void> {
    const checked = checkOptionalString(reason, 'reason');
    await this.onCurrentRun((run) => run.deliver({ type: 'CancelRequested', time: this.directory.now(), ...(checked === undefined ? {} : { reason: checked }) }));
  }

  /** Ends the run now; no workflow code runs. */
  async terminate(reason?: string): Promise<void> {
    const checked = checkOptionalString(reason, 'reason');
    await this.onCurrentRun((run) => run.terminate(checked));
  }

  /**
   * Acts on the workflow's current run. A handle on the latest run whose run closed just then
   * into a successor (continue-as-new, the next cron run) acts on the successor, as Temporal
   * sends a workflow id's signals and cancellations to its current run.
   */
  private async onCurrentRun<T>(act: (run: WorkflowRun) => Promise<T>): Promise<T> {
    for (;;) {
      const run = await this.run();
      try {
        return await act(run);
      } catch (error) {
        if (this.runId !== undefined || !(error instanceof WorkflowNotRunningError) || run.record.continuedToRunId === undefined) throw error;
      }
    }
  }

  async describe(): Promise<WorkflowDescription> {
    const run = await this.run();
    const record: RunRecord = run.record;
    const historyLength = await this.directory.historyLength(this.namespace, record.runId);
    const description: WorkflowDescription = {
      workflowId: record.workflowId,
      runId: record.runId,
      workflowType: record.workflowType,
      namespace: record.namespace,
      taskQueue: record.taskQueue,
      status: record.status,
      startTime: new Date(record.startTime),
      historyLength,
      version: record.version,
      // Copies: the run's own record names them as the previous values at its next write.
      searchAttributes: structuredClone(record.searchAttributes ?? {}),
      memo: structuredClone(record.memo ?? {}),
      firstExecutionRunId: record.firstExecutionRunId ?? record.runId,
    };
    if (record.parent) description.parent = { workflowId: record.parent.workflowId, runId: record.parent.runId };
    if (record.continuedFromRunId) description.continuedFromRunId = record.continuedFromRunId;
    if (record.continuedToRunId) description.continuedToRunId = record.continuedToRunId;
    if (record.scheduleId) description.scheduleId = record.scheduleId;
    if (record.status === 'Running') {
      description.residency = await run.residency();
      const pending = await run.pending();
      if (pending) description.pending = pending;
    }
    if (record.supervision) {
      const { crashes, lastCrash, restartAt } = record.supervision;
      description.supervision = { crashes, lastCrash: { ...lastCrash, at: new Date(lastCrash.at) }, ...(restartAt !== undefined ? { restartAt: new Date(restartAt) } : {}) };
    }
    if (record.closeTime !== undefined) description.closeTime = new Date(record.closeTime);
    if (record.status === 'Failed') {
      const last = await this.lastEvent(record.runId);
      if (last?.type === 'WorkflowFailed') description.failure = { message: last.failure.message, type: last.failure.type };
    }
    if (record.taskFailure) description.taskFailure = record.taskFailure;
    const quarantine = run.quarantine;
    if (quarantine) description.quarantine = { reason: quarantine.reason, key: quarantine.key, at: new Date(quarantine.at) };
    // Only from a sandbox in memory: describing a run must not bring a parked one back.
    if (description.residency === 'resident' && !record.taskFailure && !record.supervision && !quarantine) {
      const stackTrace = await this.query(STACK_TRACE_QUERY).catch(() => undefined);
      if (typeof stackTrace === 'string' && stackTrace !== '') description.stackTrace = stackTrace;
    }
    return description;
  }

  /** The run's events, oldest first (JSON-serialisable; what `replayHistory` takes). */
  async history(): Promise<HistoryEvent[]> {
    const run = await this.run();
    return this.directory.readHistory(this.namespace, run.record.runId);
  }

  /**
   * The run's events from event `from` (default 1) on and, with `follow`, each one as it is
   * committed, until the run's closing event — or until `signal` aborts or the engine closes.
   * Resuming after event N is `from: N + 1`.
   */
  async *events(options: { from?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<HistoryEvent> {
    checkOptionKeys(options, ['from', 'follow', 'signal'], 'events');
    const from = options.from ?? 1;
    if (!Number.isInteger(from) || from < 1) throw new InvalidArgumentError('from must be an event id (an integer from 1)');
    const run = await this.run();
    yield* this.directory.followHistory(this.namespace, run.record.runId, { from, follow: options.follow === true, ...(options.signal ? { signal: options.signal } : {}) });
  }

  /**
   * The run as it was after event `at` of its history, replayed on its own version in a
   * throwaway sandbox: `workflowInfo()`, what it waited on, a query's answer, its log lines.
   */
  async inspect(options: Omit<InspectOptions, 'limits'>): Promise<RunAtEvent> {
    checkOptionKeys(options, ['at', 'query', 'args'], 'inspect');
    const run = await this.run();
    const query = options.query === undefined ? undefined : { name: checkId(options.query, 'query name'), args: checkArgs(options.args ?? [], 'query arguments', this.directory.payloadLimitsOf(this.namespace)) };
    return run.inspect(options.at, query);
  }

  /** Each activation of the run (up to event `until`): what it received, what it did and where, what it logged. */
  async timeline(options: { until?: number } = {}): Promise<TimelineStep[]> {
    checkOptionKeys(options, ['until'], 'timeline');
    return (await this.run()).timeline(options.until);
  }

  private async lastEvent(runId: string): Promise<HistoryEvent | undefined> {
    const length = await this.directory.historyLength(this.namespace, runId);
    const [last] = await this.directory.readHistory(this.namespace, runId, { from: length });
    return last;
  }

  private run(): Promise<WorkflowRun> {
    return this.directory.resolveRun(this.namespace, this.workflowId, this.runId);
  }
}

/** An update's result, or the `WorkflowUpdateFailedError` saying why it has none. */
function updateResult(what: string, settled: UpdateOutcome): unknown {
  if (settled.ok) return settled.result;
  throw new WorkflowUpdateFailedError(`${what} ${settled.rejected ? 'was rejected' : 'failed'}: ${settled.failure.message}`, fromFailureInfo(settled.failure));
}

/** The result a closing event stands for, or the `WorkflowFailedError` it stands for. */
function outcomeOf(event: HistoryEvent | undefined): unknown {
  switch (event?.type) {
    case 'WorkflowCompleted':
      return event.result;
    case 'WorkflowFailed':
      throw new WorkflowFailedError('Workflow execution failed', 'Failed', fromFailureInfo(event.failure));
    case 'WorkflowCanceled':
      throw new WorkflowFailedError('Workflow execution cancelled', 'Canceled', new CancelledFailure(event.failure.message));
    case 'WorkflowTerminated':
      throw new WorkflowFailedError('Workflow execution terminated', 'Terminated', new TerminatedFailure(event.reason ?? 'Terminated'));
    case 'WorkflowTimedOut':
      throw new WorkflowFailedError('Workflow execution timed out', 'TimedOut', new TimeoutFailure('Workflow timed out', event.timeoutType));
    case 'WorkflowContinuedAsNew':
      // Only for a handle that does not follow runs: this run's own end.
      throw new WorkflowFailedError('Workflow execution continued as new', 'ContinuedAsNew', ApplicationFailure.create({ message: `continued as new as run ${event.newRunId}`, type: 'ContinuedAsNew' }));
    default:
      throw new Error(`the run closed without a closing event (last event: ${event?.type ?? 'none'})`);
  }
}

/** `promise`, or `signal`'s reason if it aborts first. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(signal.reason);
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}
