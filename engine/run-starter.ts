/**
 * Creating runs: a client's start, a child, a continue-as-new successor, a scheduled run.
 * One path, so every run gets the same checks (type deployed, id not running, run id unused)
 * and the same first write: `WorkflowStarted` with the run record, in its first activation.
 *
 * @module
 */
import { randomInt } from 'node:crypto';
import { RUNTIME_FLAGS, type FailureInfo } from '../common/protocol.js';
import type { SearchAttributeValue } from '../common/search-attributes.js';
import type { EventStore, RunRecord } from '../store/types.js';
import type { BundleRegistry } from './bundles.js';
import { KeyedLock } from './keyed-lock.js';
import { pinnedSandboxQuotas } from './hosting/quotas.js';
import { AionError, InvalidArgumentError, WorkflowAlreadyStartedError } from './errors.js';
import type { HistoryEvent, JobEventType, NewEvent, NewEventOf } from './history/events.js';
import type { ParentLink } from './outbox.js';
import type { RunTable } from './runs.js';
import { WorkflowRun, type RunEnvironment } from './run/workflow-run.js';
import { partitionOfRun, partitionOfWorkflow, runIdFor } from '../store/partitions.js';

export interface NewRun {
  namespace: string;
  workflowId: string;
  workflowType: string;
  taskQueue: string;
  args: unknown[];
  /** Chosen by the caller (a parent's recorded child, a successor); default: a new UUID. */
  runId?: string;
  searchAttributes?: Record<string, SearchAttributeValue>;
  memo?: Record<string, unknown>;
  parent?: ParentLink;
  /** The top of the parent chain (a child's parent's root, or its parent). */
  root?: { workflowId: string; runId: string };
  /** A successor's: when its continue-as-new chain started. */
  executionStartTime?: number;
  /** Temporal's cron: the schedule, and the tick the run's first activation waits for. */
  cronSchedule?: string;
  firstTaskAt?: number;
  /** A cron run: what the run before it completed or failed with. */
  lastResult?: unknown;
  lastFailure?: FailureInfo;
  firstExecutionRunId?: string;
  continuedFromRunId?: string;
  runTimeoutMs?: number;
  /** Whole-execution timeout, for a new execution. */
  executionTimeoutMs?: number;
  /** Whole-execution deadline carried over by a successor. */
  executionDeadline?: number;
  scheduleId?: string;
}

export interface CreateOptions {
  /** The outbox entry this creation performs: deleted in the run's first write. */
  outboxId?: string;
  /** Jobs delivered in the run's first activation with the start (a signal of signalWithStart). */
  extraJobs?: NewEventOf<JobEventType>[];
  /** Once the run is known to be startable, before anything is recorded: throws to refuse it (the namespace's quotas). */
  admit?: () => Promise<void>;
}

/** The run id a creation asked for belongs to another run already. */
export class RunIdInUseError extends AionError {
  override name = 'RunIdInUseError';
  constructor(runId: string) {
    super('ALREADY_STARTED', `run id ${runId} is already in use`);
  }
}

export class RunStarter {
  /** One creation at a time per workflow id: the "is it running?" check and the start are one step. */
  private readonly locks = new KeyedLock();

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly bundles: BundleRegistry,
    private readonly runs: RunTable,
    private readonly environment: () => RunEnvironment,
    private readonly policy: {
      /** History length from which runs are told to continue as new. */
      continueAsNewSuggestedAt: (namespace: string) => number;
      /** Error types that fail runs rather than tasks, by workflow type or `'*'` (`EngineOptions.workflowFailureErrorTypes`). */
      failureErrorTypes: Record<string, string[]>;
    },
  ) {}

  /** Runs `fn` while no run of the workflow id is being created. */
  whileNotStarting<T>(namespace: string, workflowId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(`${namespace}\u0000${workflowId}`, fn);
  }

  /**
   * Creates the run and resolves once its start is recorded. Rejects with
   * `WorkflowAlreadyStartedError` if the workflow id has a running run (or a recorded
   * successor that is being started), `RunIdInUseError`, or `InvalidArgumentError` when no
   * deployed bundle exports the type.
   */
  create(spec: NewRun, options: CreateOptions = {}): Promise<WorkflowRun> {
    const partitions = this.store.partitionCount ?? 1;
    if (spec.runId !== undefined && partitionOfRun(spec.runId, partitions) !== partitionOfWorkflow(spec.namespace, spec.workflowId, partitions)) {
      // Only a tampered guest runtime names a child run so (the others are named by the engine).
      return Promise.reject(new InvalidArgumentError(`run id ${spec.runId} does not carry the partition key of workflow ${spec.workflowId}`));
    }
    return this.whileNotStarting(spec.namespace, spec.workflowId, async () => {
      const version = await this.bundles.currentVersion(spec.namespace, spec.workflowType);
      if (version === undefined) {
        throw new InvalidArgumentError(`no deployed bundle exports a workflow named '${spec.workflowType}' in namespace '${spec.namespace}'`);
      }
      await this.assertStartable(spec);
      await options.admit?.();
      const time = this.environment().clock.now();
      const runId = spec.runId ?? runIdFor(spec.namespace, spec.workflowId);
      const deadline = deadlineOf(spec, time);
      const record: RunRecord = {
        namespace: spec.namespace,
        workflowId: spec.workflowId,
        runId,
        workflowType: spec.workflowType,
        version,
        taskQueue: spec.taskQueue,
        status: 'Running',
        startTime: time,
        searchAttributes: { ...spec.searchAttributes },
        ...(spec.memo && Object.keys(spec.memo).length > 0 ? { memo: { ...spec.memo } } : {}),
        firstExecutionRunId: spec.firstExecutionRunId ?? runId,
        ...(spec.parent ? { parent: spec.parent } : {}),
        ...(spec.continuedFromRunId ? { continuedFromRunId: spec.continuedFromRunId } : {}),
        ...(spec.scheduleId ? { scheduleId: spec.scheduleId } : {}),
        ...pinnedSandboxQuotas(this.environment().quotasNow(spec.namespace)),
      };
      const run = new WorkflowRun(record, this.environment(), true);
      this.runs.add(run);
      const started = run.deliver(
        {
          type: 'WorkflowStarted',
          time,
          workflowType: spec.workflowType,
          workflowId: spec.workflowId,
          runId,
          namespace: spec.namespace,
          taskQueue: spec.taskQueue,
          args: spec.args,
          version,
          randomSeed: randomInt(2 ** 32),
          flags: [...RUNTIME_FLAGS],
          searchAttributes: { ...spec.searchAttributes },
          ...(spec.memo && Object.keys(spec.memo).length > 0 ? { memo: { ...spec.memo } } : {}),
          firstExecutionRunId: record.firstExecutionRunId!,
          ...(spec.continuedFromRunId ? { continuedFromRunId: spec.continuedFromRunId } : {}),
          ...(spec.executionStartTime !== undefined ? { executionStartTime: spec.executionStartTime } : {}),
          ...(spec.parent ? { parent: spec.parent } : {}),
          ...(spec.root ? { root: spec.root } : {}),
          ...(spec.runTimeoutMs !== undefined ? { runTimeoutMs: spec.runTimeoutMs } : {}),
          ...(spec.cronSchedule !== undefined ? { cronSchedule: spec.cronSchedule, firstTaskAt: spec.firstTaskAt } : {}),
          ...(spec.lastResult !== undefined ? { lastResult: spec.lastResult } : {}),
          ...(spec.lastFailure ? { lastFailure: spec.lastFailure } : {}),
          ...(deadline.deadline ? { deadline: deadline.deadline } : {}),
          ...(deadline.executionDeadline !== undefined ? { executionDeadline: deadline.executionDeadline } : {}),
          ...(spec.scheduleId ? { scheduleId: spec.scheduleId } : {}),
          continueAsNewSuggestedAt: this.policy.continueAsNewSuggestedAt(spec.namespace),
          ...this.failureErrorTypesOf(spec.workflowType),
        },
        { outboxId: options.outboxId },
      );
      const extra = (options.extraJobs ?? []).map((job) => run.deliver(job));
      await Promise.all([started, ...extra]);
      return run;
    });
  }

  private failureErrorTypesOf(workflowType: string): { failureErrorTypes?: string[] } {
    const types = this.policy.failureErrorTypes;
    const names = [...new Set([...(types['*'] ?? []), ...(types[workflowType] ?? [])])];
    return names.length > 0 ? { failureErrorTypes: names } : {};
  }

  /**
   * Creates a run whose history starts as `prefix` (another run's, up to an activation
   * boundary: a reset), on `version`, under the same workflow id; its `WorkflowStarted`
   * says where it came from. Rejects like `create` if the workflow id has a running run.
   */
  createFromPrefix(prefix: readonly HistoryEvent[], options: { runId: string; version: string; resetFrom: { runId: string; eventIndex: number } }): Promise<WorkflowRun> {
    const [first, ...rest] = prefix;
    if (first?.type !== 'WorkflowStarted') throw new InvalidArgumentError('a reset starts from a history that begins with WorkflowStarted');
    return this.whileNotStarting(first.namespace, first.workflowId, async () => {
      const { runId } = options;
      await this.assertStartable({ namespace: first.namespace, workflowId: first.workflowId, runId } as NewRun);
      const time = this.environment().clock.now();
      const { eventId: _eventId, ...started } = first;
      const record: RunRecord = {
        namespace: first.namespace,
        workflowId: first.workflowId,
        runId,
        workflowType: first.workflowType,
        version: options.version,
        taskQueue: first.taskQueue,
        status: 'Running',
        startTime: time,
        searchAttributes: { ...first.searchAttributes },
        ...(first.memo ? { memo: { ...first.memo } } : {}),
        firstExecutionRunId: first.firstExecutionRunId,
        ...(first.parent ? { parent: first.parent } : {}),
        ...pinnedSandboxQuotas(this.environment().quotasNow(first.namespace)),
      };
      const run = new WorkflowRun(record, this.environment(), true);
      this.runs.add(run);
      const events = [{ ...started, runId, version: options.version, resetFrom: options.resetFrom } as NewEvent, ...rest.map(({ eventId: _id, ...event }) => event as NewEvent)];
      try {
        await run.seed(events);
      } catch (error) {
        this.environment().onCreateFailed(run);
        throw error;
      }
      return run;
    });
  }

  private async assertStartable(spec: NewRun): Promise<void> {
    const latest = await this.store.getLatestRunId(spec.namespace, spec.workflowId);
    if (latest !== undefined) {
      const current = this.runs.get(spec.namespace, latest)?.record ?? (await this.store.getRun(spec.namespace, latest));
      if (current?.status === 'Running') throw new WorkflowAlreadyStartedError(spec.workflowId, latest);
      // A run that continued as new whose successor is not written yet: the id is taken.
      const successor = current?.continuedToRunId;
      if (successor && successor !== spec.runId && !(await this.store.getRun(spec.namespace, successor))) {
        throw new WorkflowAlreadyStartedError(spec.workflowId, successor);
      }
    }
    if (spec.runId !== undefined && (this.runs.get(spec.namespace, spec.runId) || (await this.store.getRun(spec.namespace, spec.runId)))) {
      throw new RunIdInUseError(spec.runId);
    }
  }
}

/** The run's deadline: its run timeout or the execution deadline, whichever comes first. */
function deadlineOf(spec: NewRun, time: number): { deadline?: { at: number; timeoutType: 'WORKFLOW_RUN' | 'WORKFLOW_EXECUTION' }; executionDeadline?: number } {
  const executionDeadline = spec.executionDeadline ?? (spec.executionTimeoutMs !== undefined ? time + spec.executionTimeoutMs : undefined);
  // A cron run's own time starts at its tick.
  const runDeadline = spec.runTimeoutMs !== undefined ? (spec.firstTaskAt ?? time) + spec.runTimeoutMs : undefined;
  if (runDeadline === undefined && executionDeadline === undefined) return {};
  const deadline =
    executionDeadline === undefined || (runDeadline !== undefined && runDeadline < executionDeadline)
      ? { at: runDeadline!, timeoutType: 'WORKFLOW_RUN' as const }
      : { at: executionDeadline, timeoutType: 'WORKFLOW_EXECUTION' as const };
  return { deadline, executionDeadline };
}

