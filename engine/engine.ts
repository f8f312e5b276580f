/**
 * `Engine`: the host library's entry point. It owns the store, the bundle registry, the
 * timer and activity services, and the table of runs in memory; `WorkflowHandle`s and the
 * recovery sweep go through it. Transport-agnostic: the HTTP server and the CLI sit on top.
 *
 * @module
 */
import { randomInt, randomUUID } from 'node:crypto';
import { DEFAULT_LIMITS, QuickJSWasm, validateLimits, type SandboxLimits } from '../sandbox/index.js';
import { openLevelDbStore, openMemoryStore } from '../store/open.js';
import type { DueEntry, EventStore, HistoryRange, RunRecord, RunStatus } from '../store/types.js';
import { RUN_STATUSES } from '../store/types.js';
import { ActivityDispatcher, type ActivityFunction, type ActivityOutcome } from './activities/dispatcher.js';
import { BundleRegistry, type DeployResult } from './bundles.js';
import { loadGuestRuntime } from './bundler.js';
import { DEFAULT_COMMAND_LIMITS, type CommandLimits } from './commands/validate.js';
import { EngineClosedError, InvalidArgumentError, WorkflowAlreadyStartedError, WorkflowNotFoundError } from './errors.js';
import { WorkflowHandle, type RunDirectory } from './handle.js';
import type { HistoryEvent } from './history/events.js';
import { checkArgs, checkId } from './input.js';
import { defaultLogger, type Logger } from './logger.js';
import { runKey, WorkflowRun, type RunEnvironment } from './run/workflow-run.js';
import { DueTimers } from './timers.js';

export interface EngineOptions {
  /** LevelDB data folder; omit for an in-memory engine (tests, experiments). */
  dataDir?: string;
  /** A store of your own (takes precedence over `dataDir`). The engine does not close it. */
  store?: EventStore<HistoryEvent>;
  /** In-process activity functions, by activity type. */
  activities?: Record<string, ActivityFunction>;
  /** Per-sandbox resource limits. */
  limits?: Partial<SandboxLimits>;
  /** Limits on what one activation may emit. */
  commandLimits?: Partial<CommandLimits>;
  /** fsync every write before acknowledging it (default true). */
  sync?: boolean;
  logger?: Logger;
  /** Runs kept in memory with their sandbox; beyond this, idle runs are evicted (default 10,000). */
  maxResidentRuns?: number;
}

export interface StartOptions {
  args?: unknown[];
  /** Default: a random UUID. */
  workflowId?: string;
  taskQueue?: string;
  namespace?: string;
}

export interface ListOptions {
  namespace?: string;
  status?: RunStatus;
  workflowType?: string;
  limit?: number;
}

/** One line of `list()`. */
export interface WorkflowSummary {
  workflowId: string;
  runId: string;
  workflowType: string;
  namespace: string;
  taskQueue: string;
  status: RunStatus;
  startTime: Date;
  closeTime?: Date;
  version: string;
}

const DEFAULT_NAMESPACE = 'default';
const DEFAULT_TASK_QUEUE = 'default';
const DEFAULT_MAX_RESIDENT_RUNS = 10_000;

export class Engine implements RunDirectory {
  /** Runs in memory; map order is recency of use (the oldest idle ones are evicted first). */
  private readonly runs = new Map<string, WorkflowRun>();
  private readonly loading = new Map<string, Promise<WorkflowRun | undefined>>();
  private readonly closeWaiters = new Map<string, ((closeEvent: HistoryEvent) => void)[]>();
  private readonly startLocks = new Map<string, Promise<unknown>>();
  private readonly environment: RunEnvironment;
  private readonly activities: ActivityDispatcher;
  private readonly timers: DueTimers;
  private closed = false;

  private constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly ownsStore: boolean,
    private readonly bundles: BundleRegistry,
    activityFunctions: Record<string, ActivityFunction>,
    private readonly logger: Logger,
    private readonly commandLimits: CommandLimits,
    private readonly maxResidentRuns: number,
  ) {
    const activities = new ActivityDispatcher(
      activityFunctions,
      {
        onOutcome: (task, outcome) => this.deliverActivityOutcome(task.namespace, task.runId, task.seq, outcome),
        onRetryScheduled: (task) => store.write({ activityTasks: { put: [task] } }),
      },
      logger,
    );
    const timers = new DueTimers((entries) => this.deliverDue(entries));
    this.activities = activities;
    this.timers = timers;
    this.environment = {
      store,
      bundles,
      activities,
      timers,
      logger,
      commandLimits,
      onClosed: (run, closeEvent) => this.onRunClosed(run, closeEvent),
      onResident: (run) => this.touch(run),
    };
  }

  /**
   * Opens an engine. On an existing data folder this is also recovery: timers that came due
   * while the engine was down fire, the others are re-armed, and unfinished activities are
   * dispatched again. Runs themselves are loaded lazily, when they have work.
   */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...options.limits };
    validateLimits(limits);
    const maxResidentRuns = options.maxResidentRuns ?? DEFAULT_MAX_RESIDENT_RUNS;
    if (!Number.isInteger(maxResidentRuns) || maxResidentRuns < 1) throw new InvalidArgumentError('maxResidentRuns must be a positive integer');
    const logger = options.logger ?? defaultLogger();
    const [wasm, runtime] = await Promise.all([QuickJSWasm.load(), loadGuestRuntime()]);
    const store =
      options.store ?? (options.dataDir !== undefined ? await openLevelDbStore<HistoryEvent>(options.dataDir, { sync: options.sync ?? true }) : await openMemoryStore<HistoryEvent>());
    const bundles = new BundleRegistry(store, wasm, runtime, limits);
    const commandLimits = { ...DEFAULT_COMMAND_LIMITS, ...options.commandLimits };
    const engine = new Engine(store, options.store === undefined, bundles, options.activities ?? {}, logger, commandLimits, maxResidentRuns);
    await engine.recover();
    return engine;
  }

  get maxPayloadBytes(): number {
    return this.commandLimits.maxPayloadBytes;
  }

  /** Deploys a bundle: stored under its content hash (idempotent) and current for the types it exports. */
  async deploy(bundle: { code: string; namespace?: string }): Promise<DeployResult> {
    this.assertOpen();
    if (typeof bundle !== 'object' || bundle === null) throw new InvalidArgumentError('deploy takes { code }');
    return this.bundles.deploy(bundle.code, checkId(bundle.namespace ?? DEFAULT_NAMESPACE, 'namespace'));
  }

  /**
   * Starts a run of `workflowType` on the namespace's current version of it. Resolves once
   * the start is recorded; rejects with `WorkflowAlreadyStartedError` if the workflow id has
   * a running run.
   */
  async start(workflowType: string, options: StartOptions = {}): Promise<WorkflowHandle> {
    this.assertOpen();
    const namespace = checkId(options.namespace ?? DEFAULT_NAMESPACE, 'namespace');
    const workflowId = checkId(options.workflowId ?? randomUUID(), 'workflowId');
    const taskQueue = checkId(options.taskQueue ?? DEFAULT_TASK_QUEUE, 'taskQueue');
    checkId(workflowType, 'workflow type');
    const args = checkArgs(options.args, 'args', this.commandLimits.maxPayloadBytes);
    const version = await this.bundles.currentVersion(namespace, workflowType);
    if (version === undefined) {
      throw new InvalidArgumentError(`no deployed bundle exports a workflow named '${workflowType}' in namespace '${namespace}'`);
    }
    return this.withStartLock(`${namespace}\u0000${workflowId}`, async () => {
      const latest = await this.store.getLatestRunId(namespace, workflowId);
      if (latest !== undefined) {
        const current = this.runs.get(runKey(namespace, latest))?.record ?? (await this.store.getRun(namespace, latest));
        if (current?.status === 'Running') throw new WorkflowAlreadyStartedError(workflowId, latest);
      }
      const runId = randomUUID();
      const time = Date.now();
      const record: RunRecord = { namespace, workflowId, runId, workflowType, version, taskQueue, status: 'Running', startTime: time };
      const run = new WorkflowRun(record, this.environment, true);
      this.runs.set(runKey(namespace, runId), run);
      await run.deliver({ type: 'WorkflowStarted', time, workflowType, workflowId, runId, namespace, taskQueue, args, version, randomSeed: randomInt(2 ** 32) });
      return new WorkflowHandle(this, workflowId, runId, namespace);
    });
  }

  /** A handle on a workflow's latest run, or on one run of it. */
  getHandle(workflowId: string, runId?: string, options: { namespace?: string } = {}): WorkflowHandle {
    this.assertOpen();
    return new WorkflowHandle(
      this,
      checkId(workflowId, 'workflowId'),
      runId === undefined ? undefined : checkId(runId, 'runId'),
      checkId(options.namespace ?? DEFAULT_NAMESPACE, 'namespace'),
    );
  }

  async list(options: ListOptions = {}): Promise<WorkflowSummary[]> {
    this.assertOpen();
    if (options.status !== undefined && !RUN_STATUSES.includes(options.status)) {
      throw new InvalidArgumentError(`status must be one of ${RUN_STATUSES.join(', ')}`);
    }
    const records = await this.store.listRuns({
      namespace: checkId(options.namespace ?? DEFAULT_NAMESPACE, 'namespace'),
      status: options.status,
      workflowType: options.workflowType,
      limit: options.limit,
    });
    return records.map(summaryOf);
  }

  /** Stops timers and activities, waits for in-flight activations, and closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.close();
    this.activities.close();
    await Promise.all([...this.runs.values()].map((run) => run.settled()));
    if (this.ownsStore) await this.store.close();
  }

  // RunDirectory (used by handles) ---------------------------------------------------------

  async resolveRun(namespace: string, workflowId: string, runId?: string): Promise<WorkflowRun> {
    this.assertOpen();
    const id = runId ?? (await this.store.getLatestRunId(namespace, workflowId));
    const run = id === undefined ? undefined : await this.runFor(namespace, id);
    if (!run || run.record.workflowId !== workflowId) throw new WorkflowNotFoundError(workflowId, runId);
    return run;
  }

  waitForClose(run: WorkflowRun): Promise<HistoryEvent> {
    const key = runKey(run.record.namespace, run.record.runId);
    return new Promise<HistoryEvent>((resolve) => {
      const waiters = this.closeWaiters.get(key) ?? [];
      waiters.push(resolve);
      this.closeWaiters.set(key, waiters);
    });
  }

  readHistory(namespace: string, runId: string, range?: HistoryRange): Promise<HistoryEvent[]> {
    this.assertOpen();
    return this.store.readHistory(namespace, runId, range);
  }

  async historyLength(namespace: string, runId: string): Promise<number> {
    this.assertOpen();
    return (await this.store.nextEventId(namespace, runId)) - 1;
  }

  // Internals ------------------------------------------------------------------------------

  /** Re-arms every durable timer and re-dispatches every unfinished activity. */
  private async recover(): Promise<void> {
    const [due, tasks] = await Promise.all([this.store.dueEntries(Number.MAX_SAFE_INTEGER), this.store.listActivityTasks()]);
    for (const entry of due) this.timers.add(entry);
    for (const task of tasks) this.activities.dispatch(task);
    if (due.length + tasks.length > 0) this.logger.info({ timers: due.length, activities: tasks.length }, 'recovered durable timers and activities');
  }

  /** The run in memory, or loaded from its record. Closed runs are not kept in the table. */
  private runFor(namespace: string, runId: string): Promise<WorkflowRun | undefined> {
    const key = runKey(namespace, runId);
    const existing = this.runs.get(key);
    if (existing) return Promise.resolve(existing);
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.store.getRun(namespace, runId).then((record) => {
        if (!record) return undefined;
        const run = new WorkflowRun(record, this.environment);
        if (record.status === 'Running' && !this.closed) this.runs.set(key, run);
        return run;
      });
      const settled = () => this.loading.delete(key);
      loading.then(settled, settled);
      this.loading.set(key, loading);
    }
    return loading;
  }

  private deliverDue(entries: DueEntry[]): void {
    for (const entry of entries) {
      const seq = Number(entry.key.slice('timer:'.length));
      void this.runFor(entry.namespace, entry.runId)
        .then((run) => (run?.record.status === 'Running' ? run.deliver({ type: 'TimerFired', time: Date.now(), seq }) : undefined))
        .catch((error: unknown) => this.logger.warn({ err: error, runId: entry.runId }, 'could not deliver a fired timer'));
    }
  }

  private deliverActivityOutcome(namespace: string, runId: string, seq: number, outcome: ActivityOutcome): void {
    if (this.closed) return;
    const time = Date.now();
    void this.runFor(namespace, runId)
      .then((run) => {
        if (run?.record.status !== 'Running') return undefined;
        return run.deliver(
          outcome.ok
            ? { type: 'ActivityCompleted', time, seq, result: outcome.result, attempt: outcome.attempt }
            : { type: 'ActivityFailed', time, seq, failure: outcome.failure, attempt: outcome.attempt },
        );
      })
      .catch((error: unknown) => this.logger.warn({ err: error, runId }, 'could not deliver an activity outcome'));
  }

  private onRunClosed(run: WorkflowRun, closeEvent: HistoryEvent): void {
    const key = runKey(run.record.namespace, run.record.runId);
    this.runs.delete(key);
    for (const resolve of this.closeWaiters.get(key) ?? []) resolve(closeEvent);
    this.closeWaiters.delete(key);
  }

  /** Marks a run as just used, and evicts the least recently used idle runs beyond the limit. */
  private touch(run: WorkflowRun): void {
    const key = runKey(run.record.namespace, run.record.runId);
    this.runs.delete(key);
    this.runs.set(key, run);
    if (this.runs.size <= this.maxResidentRuns) return;
    for (const [candidateKey, candidate] of this.runs) {
      if (this.runs.size <= this.maxResidentRuns) break;
      if (candidate === run || !candidate.isIdle) continue;
      candidate.evict();
      this.runs.delete(candidateKey);
    }
  }

  private async withStartLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.startLocks.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.startLocks.set(key, settled);
    void settled.then(() => {
      if (this.startLocks.get(key) === settled) this.startLocks.delete(key);
    });
    return result;
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineClosedError();
  }
}

function summaryOf(record: RunRecord): WorkflowSummary {
  const summary: WorkflowSummary = {
    workflowId: record.workflowId,
    runId: record.runId,
    workflowType: record.workflowType,
    namespace: record.namespace,
    taskQueue: record.taskQueue,
    status: record.status,
    startTime: new Date(record.startTime),
    version: record.version,
  };
  if (record.closeTime !== undefined) summary.closeTime = new Date(record.closeTime);
  return summary;
}
