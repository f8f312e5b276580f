/**
 * `Engine`: the host library's entry point. It wires the store, bundles, runs, timers,
 * activities, the outbox and schedules together, and offers the public API that
 * `WorkflowHandle`s, the HTTP server and the CLI use. Transport-agnostic.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { totalmem } from 'node:os';
import pLimit from 'p-limit';
import type { Registry } from 'prom-client';
import { DEFAULT_LIMITS, validateLimits, type SandboxLimits } from '../sandbox/index.js';
import { checkPartitionCount, runIdFor } from '../store/partitions.js';
import type { JobKind } from '../common/protocol.js';
import type { DamagedRecord, DueEntry, EventStore, HistoryRange, PartitionStatus, RunRecord, RunStatus, StoreEvents } from '../store/types.js';
import { startSearchAttributes, type SearchAttributesInput, type SearchAttributeValue } from '../common/search-attributes.js';
import { toMs, type Duration } from '../common/time.js';
import { ApiKeys } from './hosting/api-keys.js';
import { AuditLog } from './hosting/audit.js';
import { DEFAULT_NAMESPACE, Namespaces } from './hosting/namespaces.js';
import { registerStoredRuns } from './hosting/stored-runs-registration.js';
import { pinnedSandboxQuotas, sandboxLimitsIn, StartRates } from './hosting/quotas.js';
import { asyncCompletionHandle, type AsyncCompletionHandle } from './activities/async-completion.js';
import { ActivityDispatcher, type ActivityFunction, type ActivityOutcome, type ActivityRegistry } from './activities/dispatcher.js';
import type { ActivityTaskMessage } from './activities/task-message.js';
import type { TaskQueueDescription } from './activities/task-queues.js';
import { retryDelayMs } from './backoff.js';
import { SkippingClock, systemClock, type Clock } from './clock.js';
import { TimeSkipper, WorkCounter } from './time-skipping.js';
import { BundleRegistry, bundleVersion, type DeployResult, type VersionInfo } from './bundles.js';
import { loadGuestRuntime } from './guest-runtime.js';
import { defaultThreadCount, SandboxThreads } from './sandboxes/sandbox-threads.js';
import { DeployCheckFailedError, EngineClosedError, InvalidArgumentError, PartitionElsewhereError, QuotaExceededError, WorkflowAlreadyStartedError, WorkflowNotFoundError, WorkflowNotRunningError } from './errors.js';
import { WorkflowHandle, type RunDirectory, type WorkflowUpdateHandle } from './handle.js';
import { canCutAfter } from './history/activations.js';
import { isCommandEvent, type HistoryEvent } from './history/events.js';
import { RunState } from './run/run-state.js';
import { checkArgs, checkId, checkMemo, checkOptionalString, checkOptionKeys } from './input.js';
import { nextCronTick } from './schedules/spec.js';
import { replayHistory } from './replay-history.js';
import { replayHistories } from './replay-histories.js';
import { splitInlineSourceMap } from './source-maps.js';
import { historyEvents, namespaceEvents, type WatchedEvent } from './history-stream.js';
import { parseDueKey } from './due-keys.js';
import { defaultLogger, type Logger } from './logger.js';
import { EngineMetrics, type ThreadMetrics } from './metrics.js';
import { OutboxProcessor } from './outbox-processor.js';
import { payloadLimitsIn, type PayloadLimits } from './payloads.js';
import { Quarantine } from './quarantine.js';
import { DEFAULT_REPLAY_LIMITS, type ReplayLimits } from './replay.js';
import { RunStarter, type NewRun } from './run-starter.js';
import { RunTable } from './runs.js';
import type { RunEnvironment, WorkflowRun } from './run/workflow-run.js';
import { Schedules, type ScheduledRuns, type ScheduleFiredEvent } from './schedules/schedules.js';
import { Supervisors, type SupervisionOptions } from './supervision.js';
import { DUE_WINDOW_MS, DueTimers } from './timers.js';
import { ForwardedWorkflowHandle, type HandleRef } from './threads/forwarded-handle.js';
import type { MainServices, PartitionServices, PartitionSide } from './threads/partition-service.js';
import { checkThreadedOptions, PartitionThreads } from './threads/partition-threads.js';
import { ClusterPartitions } from './cluster-partitions.js';
import { decodeTaskToken } from './activities/task-token.js';
import type { Placement } from './threads/placement.js';
import { asJson, type PortRpc } from './threads/port-rpc.js';
import { unlessGone } from './threads/thread-links.js';
import { PartitionRouter } from './threads/router.js';
import { MainActivityRunner, namesOf } from './threads/main-activities.js';
import { DueDeliveries } from './due-deliveries.js';
import { checkStoreChoice, openStore } from './open-store.js';
import { compileQuery, cursorOfPageToken, indexVisibility, pageTokenOf, rebuildVisibility, type VisibilityQuery } from './visibility.js';

/** `engine.clusterStatus()`. */
export interface ClusterStatus {
  /** Whether the store has partition leases (PostgreSQL). */
  leases: boolean;
  /** This engine's name in the leases. */
  self?: string;
  /**
   * Each engine holding leases, with how many partitions it serves; in cluster mode every
   * engine of the cluster, with its API address and last beat (epoch ms).
   */
  nodes: { name: string; partitions: number; address?: string; lastBeatAt?: number }[];
  partitions: PartitionStatus[];
}

export interface EngineOptions {
  /** LevelDB data folder; omit for an in-memory engine (tests, experiments). */
  dataDir?: string;
  /**
   * Partitions of a new data folder (or in-memory store): a power of two up to 256, default 16.
   * Runs are spread over them by namespace and workflow id, each with its own database and
   * group commit. A folder keeps the count it was created with; asking it for another is refused.
   */
  partitions?: number;
  /**
   * PostgreSQL instead of a data folder (docs/postgres.md): its address
   * (`postgres://user:password@host:port/database`), or the address with the schema holding the
   * engine's tables (default `aion`). The engine creates and migrates the schema and takes
   * every partition's lease: one engine serves a schema. With `cluster`, several engines serve
   * it, each a share of the partitions (docs/cluster.md); `cluster.address` is this engine's
   * API address, to which the others forward calls for its partitions.
   */
  postgres?: string | { url: string; schema?: string; cluster?: { address: string }; leaseTtlMs?: number };
  /** A store of your own (takes precedence over `dataDir`). The engine does not close it. */
  store?: EventStore<HistoryEvent>;
  /** In-process activity functions, by activity type, callable from every namespace. */
  activities?: Record<string, ActivityFunction>;
  /**
   * Partition threads (docs/architecture.md, "Partition threads"): the engine's work on runs —
   * histories, timers, the outbox, activity dispatch — is done by this many worker threads,
   * each serving the partitions `i` with `i mod threads` its number, while this thread keeps
   * the public API and the control store. At most the partition count. Omitted: one thread
   * does everything.
   */
  threads?: number;
  /**
   * With `threads`: a module (path or file URL) whose exported functions are the activities,
   * imported by each partition thread (functions given in `activities` cannot be sent to one).
   */
  activitiesModule?: string;
  /**
   * With `threads`: a partition thread that leaves a sign-of-life request unanswered this long
   * (its event loop blocked) is stopped and restarted, as one that died is. Default 30,000 ms.
   */
  threadHangMs?: number;
  /**
   * In-process activity functions callable from one namespace only (by namespace, then type);
   * a namespace's own function of a type is used before one in `activities`.
   */
  namespaceActivities?: Record<string, Record<string, ActivityFunction>>;
  /**
   * Open a data folder whose log lost confirmed writes (found by the check at open), keeping
   * what survived, instead of refusing it. Use it once, knowingly: see docs/operations.md.
   */
  acceptDataLoss?: boolean;
  /** Per-sandbox resource limits. */
  limits?: Partial<SandboxLimits>;
  /** Limits on what one activation may emit, and when continue-as-new is suggested. */
  commandLimits?: Partial<ReplayLimits>;
  /** fsync every write before acknowledging it (default true). */
  sync?: boolean;
  logger?: Logger;
  /**
   * Bytes of sandbox memory kept resident; beyond it, the least recently used idle runs are
   * parked (snapshot written, sandbox released). Default: a quarter of the machine's memory,
   * at most 4 GiB.
   */
  maxResidentBytes?: number;
  /** Sandboxes kept resident, whatever their size (default 10,000). */
  maxResidentRuns?: number;
  /** Restart policy of crashed sandboxes, by default and per workflow type. */
  supervision?: SupervisionOptions;
  /**
   * Worker threads that run guest code (default: one per core but one, at least two). Shared
   * by the engines of a process that ask for the same number.
   */
  sandboxThreads?: number;
  /** Where to register the engine's metrics (default: a registry of its own, `engine.metrics.registry`). */
  metricsRegistry?: Registry;
  /**
   * For tests: the engine's clock skips to the next durable timer whenever the engine is idle
   * (`engine.timeSkipping`; aion/testing's `TestWorkflowEnvironment.createTimeSkipping`).
   */
  timeSkipping?: boolean;
  /**
   * Error type names that fail a run rather than its workflow task, by workflow type (`'*'`:
   * every type), as Temporal's worker option: `{ '*': ['ValidationError'] }`. A name matches
   * an error's `name` or class name; `'Error'` matches every error, and `'NondeterminismError'`
   * (or `'DeterminismViolationError'`, or `'Error'`) fails a run whose history stops replaying
   * instead of stalling it. Recorded in each run's `WorkflowStarted`: a run keeps the list it
   * started with.
   */
  workflowFailureErrorTypes?: Record<string, string[]>;
  /**
   * Checkpoints that make looking at a long history at any event (`inspect`, `timeline`)
   * cheap: the first look replays the history once and keeps the sandbox's image every
   * `interval` events (default 1,000; 0: none); later looks restore the nearest one at or
   * before their event and replay only the rest. Kept for running runs, and dropped when a
   * run closes unless `closedRuns` is true (then closed runs get them too).
   */
  checkpoints?: CheckpointOptions;
  /**
   * When a parked run's sandbox is written as a snapshot: once its history has at least
   * `minEvents` events (default 32; 0: always; Infinity: never). A shorter history is
   * replayed when the run wakes, which costs less than restoring a snapshot, and parking it
   * writes nothing.
   */
  snapshots?: SnapshotOptions;
}

export interface CheckpointOptions {
  interval?: number;
  closedRuns?: boolean;
}

export interface SnapshotOptions {
  minEvents?: number;
}

export interface StartOptions {
  args?: unknown[];
  /** Default: a random UUID. */
  workflowId?: string;
  taskQueue?: string;
  namespace?: string;
  /** Legacy (`{ Name: value }`, or Temporal's `{ Name: [value] }`) or typed (`TypedSearchAttributes`, `[{ key, value }]`). */
  searchAttributes?: SearchAttributesInput;
  /** Temporal's typed form; merged with `searchAttributes`. */
  typedSearchAttributes?: SearchAttributesInput;
  /** Non-indexed fields carried by the run (`workflowInfo().memo`, `describe().memo`). */
  memo?: Record<string, unknown>;
  /** The whole execution (across continue-as-new) must end within this; it ends `TimedOut` otherwise. */
  workflowExecutionTimeout?: Duration;
  /** Each run must end within this. */
  workflowRunTimeout?: Duration;
  /**
   * Temporal's cron: a UTC cron expression. The first run starts at the next tick; each run
   * that ends by itself (completed, failed, timed out) is followed by another, with the same
   * input, at the next tick after its end. Terminating or cancelling a run ends the cron.
   */
  cronSchedule?: string;
}

export interface SignalWithStartOptions extends StartOptions {
  workflowId: string;
  signal: string;
  signalArgs?: unknown[];
}

/**
 * `startUpdateWithStart`: the update and the run to start should the workflow have no running
 * run (Temporal's update-with-start, `workflowIdConflictPolicy` `USE_EXISTING` or `FAIL`).
 */
export interface UpdateWithStartOptions extends StartOptions {
  workflowId: string;
  update: string;
  updateArgs?: unknown[];
  updateId?: string;
  /** With a running run: `USE_EXISTING` (default) sends it the update, `FAIL` refuses with `WorkflowAlreadyStartedError`. */
  workflowIdConflictPolicy?: 'USE_EXISTING' | 'FAIL';
}

export interface ListOptions extends VisibilityQuery {
  /** At most this many (default: all). */
  limit?: number;
}

export interface ListPageOptions extends VisibilityQuery {
  /** Default 100. */
  pageSize?: number;
  nextPageToken?: string;
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
  searchAttributes: Record<string, unknown>;
  parent?: { workflowId: string; runId: string };
}

const DEFAULT_TASK_QUEUE = 'default';
const START_OPTIONS = [
  'args',
  'workflowId',
  'taskQueue',
  'namespace',
  'searchAttributes',
  'typedSearchAttributes',
  'memo',
  'workflowExecutionTimeout',
  'workflowRunTimeout',
  'cronSchedule',
] as const satisfies readonly (keyof StartOptions)[];
const SIGNAL_WITH_START_OPTIONS = [...START_OPTIONS, 'signal', 'signalArgs'] as const satisfies readonly (keyof SignalWithStartOptions)[];
const UPDATE_WITH_START_OPTIONS = [...START_OPTIONS, 'update', 'updateArgs', 'updateId', 'workflowIdConflictPolicy'] as const satisfies readonly (keyof UpdateWithStartOptions)[];
const WITH_START_OPTIONS = { start: START_OPTIONS, signalWithStart: SIGNAL_WITH_START_OPTIONS, updateWithStart: UPDATE_WITH_START_OPTIONS };
const DEFAULT_MAX_RESIDENT_RUNS = 10_000;
/** Runs update-with-start may find closing under it before it gives up. */
const MAX_WITH_START_ATTEMPTS = 5;
const DEFAULT_MAX_RESIDENT_BYTES = Math.min(totalmem() / 4, 4 * 1024 ** 3);
/** What a pooled instance costs resident (measured by the density benchmark). */
const POOLED_SANDBOX_BYTES = 640 * 1024;
/** Runs brought back into memory at once: beyond, wakes queue (each holds a sandbox being rebuilt). */
const CONCURRENT_WAKES = 8;
/**
 * Callers' run lookups (handles) reading the store at once: beyond, they queue. After a restart
 * thousands of clients asking for their runs at once would otherwise put their reads, and the
 * work of answering them, ahead of every run's wake.
 */
const CONCURRENT_CALLER_LOOKUPS = 64;

/** Events on `engine.events`. */
export interface EngineEvents {
  scheduleFired: [ScheduleFiredEvent];
  /** A run left memory: its snapshot (if it changed) is written and its sandbox released. */
  runParked: [{ namespace: string; workflowId: string; runId: string }];
  /** The store refuses writes after a failed write (`available: false`), or accepts them again. */
  /** `fenced`: another engine took over what this one served (PostgreSQL leases); it will not write again. */
  storeAvailability: [{ available: true } | { available: false; reason: string; fenced?: true }];
  /** An activation was handed to a run's sandbox (for tracing): the kinds of its jobs. */
  activation: [{ namespace: string; workflowId: string; runId: string; jobs: JobKind[] }];
  /** A closed run was deleted: its namespace's retention had passed. */
  runPurged: [{ namespace: string; workflowId: string; runId: string }];
}

export class Engine implements RunDirectory {
  /** Cron and interval schedules (`engine.schedules.create(...)`). */
  readonly schedules: Schedules;
  /** The namespaces this engine hosts (`default` always). */
  readonly namespaces: Namespaces;
  /** Credentials of the HTTP API, per namespace and role. */
  readonly apiKeys: ApiKeys;
  /** Who did what to each namespace. */
  readonly audit: AuditLog;
  /** What the engine does, for observers: `scheduleFired`, `runParked`, `storeAvailability`, `activation`, `runPurged`. */
  readonly events = new EventEmitter<EngineEvents>();
  /** Counters and gauges (prom-client); `aion server` serves them at `/metrics`. */
  readonly metrics: EngineMetrics;
  /** Set when the engine was opened with `timeSkipping`: moves its clock (aion/testing). */
  readonly timeSkipping: TimeSkipper | undefined;
  private readonly clock: Clock;
  /** Aborted when the engine closes: ends what streams from it. */
  private readonly closing = new AbortController();
  /** The namespaces' start-rate buckets. */
  private readonly startRates: StartRates;
  /** Work in progress (activations, timer and activity deliveries), which time never skips under. */
  private readonly work = new WorkCounter();
  private readonly callerLookups = pLimit(CONCURRENT_CALLER_LOOKUPS);
  private readonly runs: RunTable;
  private readonly starter: RunStarter;
  private readonly outbox: OutboxProcessor;
  private readonly activities: ActivityDispatcher;
  /** The activity functions given to `open` (the main thread of a threaded engine runs them for its partition threads). */
  private readonly activityFunctions: ActivityRegistry;
  private readonly timers: DueTimers;
  private readonly dueDeliveries: DueDeliveries;
  private readonly scheduleTimers: DueTimers;
  private closed = false;

  private readonly quarantine: Quarantine;
  private readonly store: EventStore<HistoryEvent>;
  private readonly bundles: BundleRegistry;
  private readonly ownsStore: boolean;
  private readonly logger: Logger;
  private readonly limits: ReplayLimits;
  private readonly onStoreAvailability: (change: StoreEvents['availability'][0]) => void;
  private readonly onDamagedRecord: (damage: DamagedRecord) => void;
  /** This engine's sandboxes in the shared threads are named `<prefix><n>`. */
  private readonly sandboxPrefix = `${randomUUID()}/`;
  private nextSandbox = 1;
  /** Set when partition threads serve the runs: where each call goes, and what this thread is. */
  private readonly threading: Threading | undefined;
  /** Set when the store is shared by a cluster of engines: the partitions this one serves now. */
  private readonly cluster: ClusterPartitions | undefined;

  private constructor(parts: EngineParts) {
    const { store, bundles, logger, limits, clock } = parts;
    this.clock = clock;
    this.store = store;
    this.bundles = bundles;
    this.ownsStore = parts.ownsStore;
    this.logger = logger;
    this.limits = limits;
    this.threading = parts.threading;
    this.activityFunctions = parts.activities;
    const threading = parts.threading;
    this.metrics = new EngineMetrics(parts.metricsRegistry, {
      loadedTemplates: async () => (await bundles.threads.stats()).templates,
      ...(store.partitionStatus ? { partitions: () => store.partitionStatus!() } : {}),
      // A thread that dies while it is asked is left out of this scrape.
      ...(threading?.role === 'main'
        ? { threads: async () => (await Promise.all(threading.threads.links.live().map((thread) => unlessGone(thread, thread.call<Awaited<ReturnType<ThreadMetrics>>[number]>('metrics', []), undefined)))).filter((metrics) => metrics !== undefined) }
        : {}),
    });
    this.quarantine = new Quarantine(store, logger, this.metrics);
    this.activities = new ActivityDispatcher(
      parts.activities,
      {
        onOutcome: (task, outcome) => this.work.track(() => this.deliverActivityOutcome(task.namespace, task.runId, task.seq, outcome)),
        persistTask: (task) => store.write({ activityTasks: { put: [task] } }),
        // An outcome for a run whose partition moved to another engine is that engine's to get (it runs the activity again).
        retryDelay: (error, attempt) => (error instanceof PartitionElsewhereError ? undefined : retryDelayMs(store, attempt)),
        engine: this,
        inFlightLimitOf: (namespace) => this.namespaces.quotasNow(namespace)?.maxActivityTasksInFlight,
        onQueued: (namespace, taskQueue) => {
          if (this.threading?.role === 'partitions') this.threading.main.notify('taskQueued', { namespace, taskQueue });
        },
      },
      logger,
      (namespace) => this.payloadLimitsOf(namespace),
      clock,
    );
    // Time-skipping tests skip to the next entry, so they keep all in memory; the engine keeps a window.
    this.timers = new DueTimers((entries) => this.dueDeliveries.deliver(entries), clock, clock === systemClock ? DUE_WINDOW_MS : undefined);
    this.dueDeliveries = new DueDeliveries((entry) => this.deliverOneDue(entry), { timers: this.timers, work: this.work, clock, logger, store, closed: () => this.closed });
    this.timeSkipping =
      clock instanceof SkippingClock
        ? new TimeSkipper(clock, this.timers, this.activities, (work) => this.work.busy || this.outbox.pending > 0 || (work === 'all' && this.activities.attemptsRunning > 0))
        : undefined;
    const placement = this.threading?.placement;
    // A namespace's resident quota is shared by the partition threads.
    const quotaShare = this.threading?.role === 'partitions' ? 1 / this.threading.threads : 1;
    const residentQuotaOf = (namespace: string) => {
      const quota = this.namespaces.quotasNow(namespace)?.maxResidentBytes;
      return quota === undefined ? undefined : quota * quotaShare;
    };
    this.cluster = store.assignment && new ClusterPartitions(store.assignment, store);
    this.runs = new RunTable(store, parts.residency, this.metrics, this.quarantine, residentQuotaOf, this.cluster ?? placement);
    const environment: RunEnvironment = {
      store,
      clock,
      work: this.work,
      bundles,
      activities: this.activities,
      timers: this.timers,
      logger,
      limits,
      supervisors: parts.supervisors,
      metrics: this.metrics,
      quarantine: this.quarantine,
      newSandboxId: () => `${this.sandboxPrefix}${this.nextSandbox++}`,
      tenantOf: (namespace) => this.namespaces.tenant(namespace),
      quotasNow: (namespace) => this.namespaces.quotasNow(namespace) ?? {},
      payloadLimitsOf: (namespace) => this.payloadLimitsOf(namespace),
      retentionOf: async (namespace) => (await this.namespaces.policyOf(namespace)).retentionMs,
      wakeSlots: pLimit(CONCURRENT_WAKES),
      checkpoints: parts.checkpoints,
      snapshots: parts.snapshots,
      onOutbox: (entries) => this.outbox.process(entries),
      onClosed: (run, closeEvent) => {
        this.runs.onClosed(run, closeEvent);
        // The main thread keeps the schedules.
        if (this.threading?.role !== 'partitions') {
          if (this.cluster?.assignment.servesControl() !== false) this.schedules.onRunClosed(run.record);
        } else if (run.record.scheduleId !== undefined) this.threading.main.notify('scheduledRunClosed', run.record);
      },
      onResident: (run) => this.runs.touch(run),
      onParked: (run) => {
        this.runs.onParked(run);
        const { namespace, workflowId, runId } = run.record;
        this.events.emit('runParked', { namespace, workflowId, runId });
      },
      onIdle: () => this.runs.enforce(),
      onCreateFailed: (run) => this.runs.onCreateFailed(run),
      onActivation: (run, jobs) => {
        const { namespace, workflowId, runId } = run.record;
        this.events.emit('activation', { namespace, workflowId, runId, jobs });
      },
    };
    this.runs.attach(environment);
    this.starter = new RunStarter(store, bundles, this.runs, () => environment, {
      // Runs are told to continue as new before they reach their namespace's history quota.
      continueAsNewSuggestedAt: (namespace) => Math.min(limits.continueAsNewSuggestedAt, Math.floor((this.namespaces.quotasNow(namespace)?.maxHistoryEvents ?? Infinity) * 0.8)),
      failureErrorTypes: parts.failureErrorTypes,
    });
    this.outbox = new OutboxProcessor(store, this.runs, this.starter, logger, clock, this.threading?.placement ?? this.cluster);
    // Schedules run on the real clock: with a skipping clock they keep timers of their own.
    this.scheduleTimers = clock === systemClock ? this.timers : new DueTimers((entries) => this.dueDeliveries.deliver(entries));
    this.namespaces = new Namespaces(store, {
      inUse: async (namespace) => {
        const running = await this.count({ namespace, status: 'Running' });
        if (running > 0) return `${running} running run${running === 1 ? '' : 's'}`;
        const schedules = (await this.schedules.list({ namespace })).length;
        return schedules > 0 ? `${schedules} schedule${schedules === 1 ? '' : 's'}` : undefined;
      },
      storedRuns: (namespace) => this.count({ namespace }),
      deletions: async (namespace) => {
        const { control, typeVersions } = await this.bundles.forgetNamespace(namespace);
        return { control: { put: await this.apiKeys.revocationsOf(namespace), delete: control?.delete ?? [] }, typeVersions: typeVersions ?? [] };
      },
      changed: async () => this.controlChanged(),
    });
    this.apiKeys = new ApiKeys(store, this.namespaces, () => this.controlChanged());
    this.startRates = new StartRates(() => this.clock.now());
    this.audit = new AuditLog(store);
    this.schedules = new Schedules(
      store,
      this.scheduledRuns(),
      this.outbox,
      this.scheduleTimers,
      logger,
      (namespace) => this.payloadLimitsOf(namespace),
      () => this.assertOpen(),
      (event) => this.events.emit('scheduleFired', event),
      // The main thread keeps the schedules and their timers: a partition thread's changes (an activity's `Context.client`) are made there.
      threading?.role === 'partitions' ? (change, args) => threading.main.call('changeSchedule', [change, asJson(args)]) : undefined,
    );
    this.onDamagedRecord = (damage) => this.quarantine.onDamaged(damage);
    this.onStoreAvailability = (change) => {
      if (!change.available) {
        this.metrics.storeAvailable.set(0);
        if (change.error.code === 'AION_STORE_FENCED') this.logger.error({ err: change.error }, 'another engine took over what this engine served (its leases): it can no longer write; stop it');
        else this.logger.error({ err: change.error }, 'the store refuses writes; callers get errors until it has been reopened and checked');
        this.events.emit('storeAvailability', { available: false, reason: change.error.message, ...(change.error.code === 'AION_STORE_FENCED' ? { fenced: true as const } : {}) });
        return;
      }
      this.metrics.storeAvailable.set(1);
      this.logger.warn({}, 'the store was reopened and checked; it accepts writes again');
      this.events.emit('storeAvailability', { available: true });
      // Whatever could not be delivered meanwhile is driven again from what the store holds.
      this.recover().catch((error: unknown) => this.logger.error({ err: error }, 'the recovery sweep after the store came back failed'));
    };
    store.events.on('damaged', this.onDamagedRecord);
    store.events.on('availability', this.onStoreAvailability);
  }

  /**
   * Opens an engine. On an existing data folder this is also recovery: timers that came due
   * while the engine was down fire, the others are re-armed, unfinished activities are
   * dispatched again, and recorded effects on other runs (children, successors, parent
   * notifications, scheduled starts) are performed. Runs are loaded lazily, when they have work.
   */
  static async open(options: EngineOptions = {}, partitionSide?: PartitionSide): Promise<Engine> {
    checkStoreChoice(options);
    if (options.timeSkipping === true && (options.dataDir !== undefined || options.store !== undefined || options.threads !== undefined || options.postgres !== undefined)) {
      throw new InvalidArgumentError('timeSkipping is for in-memory test engines of one thread: a skipped clock is not kept, so a reopened folder would see time go back');
    }
    const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...options.limits };
    validateLimits(limits);
    if (options.partitions !== undefined) {
      try {
        checkPartitionCount(options.partitions);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    }
    // A partition thread keeps its share of the engine's resident budgets.
    const share = partitionSide?.threads ?? 1;
    const maxResidentRuns = options.maxResidentRuns ?? DEFAULT_MAX_RESIDENT_RUNS;
    if (!Number.isInteger(maxResidentRuns) || maxResidentRuns < 1) throw new InvalidArgumentError('maxResidentRuns must be a positive integer');
    const maxResidentBytes = options.maxResidentBytes ?? DEFAULT_MAX_RESIDENT_BYTES;
    if (!Number.isFinite(maxResidentBytes) || maxResidentBytes < 0) throw new InvalidArgumentError('maxResidentBytes must be a non-negative number');
    const failureErrorTypes = checkFailureErrorTypes(options.workflowFailureErrorTypes);
    const checkpoints = checkCheckpoints(options.checkpoints);
    const snapshots = checkSnapshots(options.snapshots);
    const supervisors = new Supervisors(options.supervision);
    const logger = options.logger ?? defaultLogger();
    const unthreaded = options.threads === undefined && partitionSide === undefined;
    if (unthreaded && options.activitiesModule !== undefined) throw new InvalidArgumentError('activitiesModule is for partition threads (threads): without them, give the functions in activities');
    if (unthreaded && options.threadHangMs !== undefined) throw new InvalidArgumentError('threadHangMs is for partition threads (threads)');
    // Checked before any partition thread starts (they are given the same option).
    const { sandboxThreads } = options;
    if (sandboxThreads !== undefined && (!Number.isInteger(sandboxThreads) || sandboxThreads < 1 || sandboxThreads > 256)) throw new InvalidArgumentError('sandboxThreads must be an integer between 1 and 256');
    const threaded = partitionSide === undefined && options.threads !== undefined ? checkThreadedOptions(options) : undefined;
    // The main thread of a threaded engine runs no workflow: one sandbox thread evaluates deployed bundles.
    const threadCount = threaded ? 1 : (sandboxThreads ?? defaultThreadCount());
    // The guest runtime (prebuilt, or built by esbuild in its own process while the store opens); the threads start as soon as it is there.
    const threadsStarted = loadGuestRuntime().then((runtime) => {
      const threads = SandboxThreads.shared(threadCount, runtime);
      threads.start();
      return threads;
    });
    threadsStarted.catch(() => undefined); // awaited below, unless the store fails to open first
    const activities = activityRegistry(options);
    const ownsStore = options.store === undefined && partitionSide === undefined;
    let store: EventStore<HistoryEvent>;
    let threading: Threading | undefined;
    let partitionThreads: PartitionThreads | undefined;
    if (partitionSide) {
      store = partitionSide.store;
      threading = { role: 'partitions', placement: partitionSide.placement, router: new PartitionRouter(partitionSide.placement), main: partitionSide.main, threads: partitionSide.threads };
    } else if (threaded) {
      partitionThreads = await PartitionThreads.start(options, threaded, logger, namesOf(activities));
      store = partitionThreads.store;
      threading = { role: 'main', placement: partitionThreads.placement, router: new PartitionRouter(partitionThreads.placement), threads: partitionThreads };
    } else {
      store = options.store ?? (await openStore(options, logger));
    }
    let threads: SandboxThreads;
    try {
      threads = await threadsStarted;
    } catch (error) {
      // The build's error is the one to report, not a close's.
      await partitionThreads?.close().catch(() => undefined);
      if (ownsStore) await store.close().catch(() => undefined);
      throw error;
    }
    // A quarter of the resident budget may hold instances ready for new sandboxes (spread over the threads).
    const poolSize = Math.max(4, Math.min(1024, Math.floor(maxResidentBytes / share / 4 / POOLED_SANDBOX_BYTES / threads.size)));
    const bundles = new BundleRegistry(store, threads, limits, { size: poolSize, bytes: poolSize * POOLED_SANDBOX_BYTES });
    const replayLimits = { ...DEFAULT_REPLAY_LIMITS, ...options.commandLimits };
    const engine = new Engine({
      store,
      ownsStore,
      bundles,
      activities,
      logger,
      limits: replayLimits,
      residency: { maxResidentBytes: maxResidentBytes / share, maxResidentRuns: Math.max(1, Math.ceil(maxResidentRuns / share)) },
      supervisors,
      metricsRegistry: options.metricsRegistry,
      clock: options.timeSkipping === true ? new SkippingClock() : systemClock,
      failureErrorTypes,
      checkpoints,
      snapshots,
      threading,
    });
    try {
      // Folders from before namespaces and indexes: a PostgreSQL schema shared by a cluster never is one.
      if (partitionSide === undefined && !store.assignment) {
        await registerStoredRuns(store);
        const indexed = await indexVisibility(store);
        if (indexed > 0) logger.info({ runs: indexed }, 'indexed the runs of a data folder from before the type, status and search attribute indexes');
      }
      partitionThreads?.serveMain(engine.mainServices());
      // Each partition thread recovers its partitions before this thread recovers the control store's effects (scheduled starts).
      await partitionThreads?.openEngines();
      await engine.namespaces.load();
      await engine.quarantine.load();
      // The first wake's bundle is evaluated in the sandbox threads while this thread sweeps.
      const warming = engine.warmFirstWake();
      await engine.recover();
      await warming;
      await engine.joinCluster();
      // Only now: an effect another thread forwards during this recovery could wake a run whose new activity task the recovery would dispatch again.
      partitionSide?.serve(engine.partitionServices());
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }

  /** Worker threads running this engine's guest code (shared with the engines that asked for as many). */
  get sandboxThreads(): number {
    return this.bundles.threads.size;
  }

  /** The limits every sandbox of this engine runs under (memory, CPU per activation, stack). */
  get sandboxLimits(): SandboxLimits {
    return { ...this.bundles.limits };
  }

  /** What one payload (arguments, a result, a failure...) may be: bytes of JSON and nesting depth. */
  get payloadLimits(): PayloadLimits {
    return { maxPayloadBytes: this.limits.maxPayloadBytes, maxPayloadDepth: this.limits.maxPayloadDepth };
  }

  /** What one payload may be in `namespace`: the engine's limits, with the namespace's `maxPayloadBytes` quota when it is lower. */
  payloadLimitsOf(namespace: string): PayloadLimits {
    return payloadLimitsIn(this.payloadLimits, namespace, this.namespaces.quotasNow(namespace)?.maxPayloadBytes);
  }

  /**
   * Deploys a bundle (`code`) or a WebAssembly component (`component`, see wit/workflow.wit):
   * stored under its content hash (idempotent) and current for the types it exports.
   */
  async deploy(bundle: { code?: string; component?: Uint8Array; namespace?: string; check?: boolean }): Promise<DeployResult> {
    this.assertOpen();
    if (typeof bundle !== 'object' || bundle === null) throw new InvalidArgumentError('deploy takes { code } or { component }');
    checkOptionKeys(bundle, ['code', 'component', 'namespace', 'check'], 'deploy');
    if ((bundle.code === undefined) === (bundle.component === undefined)) throw new InvalidArgumentError('deploy takes either { code } (a bundle) or { component } (a WebAssembly component)');
    if (bundle.check !== undefined && typeof bundle.check !== 'boolean') throw new InvalidArgumentError('check must be true or false');
    if (bundle.component !== undefined && bundle.check === true) throw new InvalidArgumentError('deploy { check: true } replays bundles; it does not take a component yet');
    const namespace = namespaceOf(bundle.namespace);
    if (typeof bundle.code === 'string') await this.admitDeploy(Buffer.byteLength(bundle.code, 'utf8'), bundleVersion(splitInlineSourceMap(bundle.code).code), namespace);
    if (bundle.component instanceof Uint8Array) await this.admitDeploy(bundle.component.byteLength, bundleVersion(bundle.component), namespace);
    if (bundle.check === true) await this.checkOpenRuns(bundle.code!, namespace);
    // Evaluated under the sandbox limits the namespace's new runs will have.
    const limits = sandboxLimitsIn(this.bundles.limits, pinnedSandboxQuotas(await this.namespaces.quotasOf(namespace)).sandboxQuotas);
    const deployed = bundle.component !== undefined ? await this.bundles.deployComponent(bundle.component, namespace, limits) : await this.bundles.deploy(bundle.code, namespace, limits);
    await this.controlChanged();
    return deployed;
  }

  /**
   * `deploy({ check: true })`: the namespace's running runs of the types `code` exports,
   * replayed against it on the sandbox threads; a `DeployCheckFailedError` naming the runs
   * (and where each diverges) if any would not replay there.
   */
  private async checkOpenRuns(code: string, namespace: string): Promise<void> {
    const types = await this.bundles.typesOf(code);
    const version = bundleVersion(splitInlineSourceMap(code).code);
    const open: WorkflowSummary[] = [];
    for (const workflowType of types) open.push(...(await this.list({ namespace, status: 'Running', workflowType })).filter((run) => run.version !== version));
    const histories = (async function* (engine: Engine) {
      // A run that closed and was removed meanwhile has nothing left to break.
      for (const run of open) yield await engine.store.readHistory(namespace, run.runId);
    })(this);
    const report = await replayHistories({ code }, histories, { threads: this.sandboxThreads, limits: this.sandboxLimits });
    const broken = [
      ...report.diverged.map(
        ({ workflowId, runId, divergences: [first] }) =>
          `run ${workflowId} (${runId}) diverges at event ${first.eventIndex}: it recorded ${first.expected}${first.recordedAt ? ` (at ${first.recordedAt})` : ''}, the bundle makes ${first.actual}${first.producedAt ? ` (at ${first.producedAt})` : ''}`,
      ),
      ...report.failed.map(({ workflowId, runId, message }) => `run ${workflowId ?? '?'} (${runId ?? '?'}) cannot be replayed: ${message}`),
    ];
    if (broken.length > 0) throw new DeployCheckFailedError(report.replayed, broken);
  }

  /** A start from outside the namespace's runs, within its quotas (running runs, start rate); refused with `QuotaExceededError`. */
  private async admitStart(namespace: string): Promise<void> {
    // The main thread keeps the start-rate buckets and counts across partitions.
    if (this.threading?.role === 'partitions') return this.threading.main.call('admitStart', [namespace]);
    const quotas = await this.namespaces.quotasOf(namespace);
    if (quotas.maxRunningRuns !== undefined) {
      const running = await this.store.countRuns({ namespace, status: 'Running', limit: quotas.maxRunningRuns });
      if (running >= quotas.maxRunningRuns) throw new QuotaExceededError(namespace, 'maxRunningRuns', quotas.maxRunningRuns, `${running} runs are running`);
    }
    this.startRates.take(namespace, quotas);
  }

  /** A deploy within the namespace's quotas (bundle bytes, versions kept); refused with `QuotaExceededError`. */
  private async admitDeploy(bytes: number, version: string, namespace: string): Promise<void> {
    const quotas = await this.namespaces.quotasOf(namespace);
    if (quotas.maxBundleBytes !== undefined && bytes > quotas.maxBundleBytes) throw new QuotaExceededError(namespace, 'maxBundleBytes', quotas.maxBundleBytes, `the bundle is ${bytes} bytes`);
    if (quotas.maxVersions !== undefined) {
      const versions = await this.bundles.versions(namespace);
      if (versions.length >= quotas.maxVersions && !versions.some((deployed) => deployed.version === version)) {
        throw new QuotaExceededError(namespace, 'maxVersions', quotas.maxVersions, `it keeps ${versions.length} versions: unload one first (aion unload)`);
      }
    }
  }

  /** The versions deployed in the namespace, newest first, with the types new runs start on each. */
  async versions(options: { namespace?: string } = {}): Promise<VersionInfo[]> {
    this.assertOpen();
    return this.bundles.versions(namespaceOf(options.namespace));
  }

  /**
   * Routes new runs of `target` (a workflow type, or `'all'` the version exports) to a version
   * the namespace deployed — a rollback, or a roll forward; persisted. Running runs stay on
   * their versions (see `upgrade`).
   */
  async route(target: string, version: string, options: { namespace?: string } = {}): Promise<{ version: string; workflowTypes: string[] }> {
    this.assertOpen();
    const workflowTypes = await this.bundles.route(namespaceOf(options.namespace), checkId(target, 'workflow type'), checkId(version, 'version'));
    await this.controlChanged();
    return { version, workflowTypes };
  }

  /** Removes a version from the namespace; refused while runs are pinned to it or types routed to it. */
  async unload(version: string, options: { namespace?: string } = {}): Promise<void> {
    this.assertOpen();
    const namespace = namespaceOf(options.namespace);
    checkId(version, 'version');
    await this.bundles.unload(namespace, version, async () => {
      const pinned = (await this.list({ namespace, status: 'Running' })).filter((run) => run.version === version);
      if (pinned.length === 0) return undefined;
      const names = pinned.map((run) => run.workflowId).sort().slice(0, 5).join(', ');
      return `${pinned.length} running run${pinned.length === 1 ? '' : 's'} pinned to it (${names}${pinned.length > 5 ? ', …' : ''})`;
    });
    await this.controlChanged();
  }

  /**
   * Starts a run of `workflowType` on the namespace's current version of it. Resolves once
   * the start is recorded; rejects with `WorkflowAlreadyStartedError` if the workflow id has
   * a running run.
   */
  async start(workflowType: string, options: StartOptions = {}): Promise<WorkflowHandle> {
    this.assertOpen();
    if (this.threading) {
      const routed = this.threading.router.withWorkflowId(options);
      const forwarded = this.threading.router.start(workflowType, routed);
      if (forwarded) return this.forwardedHandle(await forwarded);
      options = routed;
    }
    if (this.cluster && typeof options === 'object' && options !== null && options.workflowId === undefined) {
      options = { ...options, workflowId: this.cluster.workflowIdServedHere(namespaceOf(options.namespace)) };
    }
    const spec = this.newRun(workflowType, options);
    this.cluster?.checkWorkflow(spec.namespace, spec.workflowId);
    const run = await this.starter.create(spec, { admit: () => this.admitStart(spec.namespace) });
    return new WorkflowHandle(this, spec.workflowId, run.record.runId, spec.namespace);
  }

  /**
   * Resets a workflow to event `toEvent` of its run's history (the latest run, or `runId`): a
   * new run under the same workflow id whose history is that prefix — on the run's version, or
   * `version`, checked by replaying the prefix there first — carries on from there; the old run,
   * if running, is terminated with a reason naming the new one, whose `WorkflowStarted` says
   * where it came from (`resetFrom`). Signals the old run received after that point are
   * delivered to the new one. `toEvent` must not cut an activation (it is the last event of one,
   * or a job between them), and the prefix must have no child workflow or external signal still
   * pending (they would not be linked to the new run).
   */
  async reset(
    workflowId: string,
    options: { toEvent: number; version?: string; runId?: string; reason?: string; namespace?: string },
  ): Promise<{ workflowId: string; runId: string; fromRunId: string; version: string }> {
    this.assertOpen();
    const forwarded = this.threading?.router.reset(workflowId, options);
    if (forwarded) return forwarded;
    checkOptionKeys(options, ['toEvent', 'version', 'runId', 'reason', 'namespace'], 'reset');
    const namespace = namespaceOf(options.namespace);
    const old = await this.resolveRun(namespace, checkId(workflowId, 'workflowId'), options.runId === undefined ? undefined : checkId(options.runId, 'runId'));
    const { runId: fromRunId, workflowType } = old.record;
    const version = options.version === undefined ? old.record.version : checkId(options.version, 'version');
    const bundle = await this.bundles.deployedIn(namespace, version);
    if (!bundle.workflowTypes.includes(workflowType)) throw new InvalidArgumentError(`bundle version ${version} does not export a workflow named '${workflowType}'`);
    const prefix = resetPrefix(await this.store.readHistory(namespace, fromRunId), options.toEvent);
    await (bundle.component ? this.bundles.replayInThread(version, prefix) : replayHistory(bundle, prefix, { limits: this.bundles.limits }));
    const runId = runIdFor(namespace, old.record.workflowId);
    if (old.record.status === 'Running') {
      const why = options.reason === undefined ? '' : `: ${checkOptionalString(options.reason, 'reason', 1024)}`;
      await old.terminate(`reset to event ${options.toEvent}, continued by run ${runId}${why}`);
    }
    // Read once the old run ended: every signal it received after the reset point.
    const later = (await this.store.readHistory(namespace, fromRunId, { from: options.toEvent + 1 })).flatMap((event) => (event.type === 'SignalReceived' ? [event] : []));
    const run = await this.starter.createFromPrefix(prefix, { runId, version, resetFrom: { runId: fromRunId, eventIndex: options.toEvent } });
    for (const signal of later) await run.deliver({ type: 'SignalReceived', time: this.clock.now(), name: signal.name, args: signal.args });
    this.logger.info({ workflowId, fromRunId, runId, toEvent: options.toEvent, version }, 'workflow reset');
    return { workflowId, runId, fromRunId, version };
  }

  /**
   * Moves a running run to another version of its workflow type (default: the version new
   * runs start on), for a run whose workflow task keeps failing or that stalled: allowed only
   * if its history replays on that version (a `DeterminismViolationError` says where it does
   * not). Its pending work is retried at once on the new version.
   */
  async upgrade(runId: string, options: { version?: string; namespace?: string } = {}): Promise<{ workflowId: string; runId: string; fromVersion: string; toVersion: string }> {
    this.assertOpen();
    const forwarded = this.threading?.router.upgrade(runId, options);
    if (forwarded) return forwarded;
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('upgrade options must be an object');
    checkOptionKeys(options, ['version', 'namespace'], 'upgrade');
    const namespace = namespaceOf(options.namespace);
    const run = await this.runs.runFor(namespace, checkId(runId, 'runId'));
    if (!run) throw new WorkflowNotFoundError(`run ${runId}`);
    const { workflowId, workflowType, version: fromVersion, status } = run.record;
    if (status !== 'Running') throw new WorkflowNotRunningError(workflowId, status);
    const toVersion = options.version ?? (await this.bundles.currentVersion(namespace, workflowType));
    if (toVersion === undefined) throw new InvalidArgumentError(`no deployed bundle exports a workflow named '${workflowType}' in namespace '${namespace}'`);
    const bundle = await this.bundles.deployedIn(namespace, checkId(toVersion, 'version'));
    if (!bundle.workflowTypes.includes(workflowType)) throw new InvalidArgumentError(`bundle version ${toVersion} does not export a workflow named '${workflowType}'`);
    // Checked on the history as it is when the run switches: nothing is recorded in between.
    await run.upgradeTo(toVersion, (history) => (bundle.component ? this.bundles.replayInThread(toVersion, history) : replayHistory(bundle, history, { limits: this.bundles.limits })));
    this.logger.info({ workflowId, runId, fromVersion, toVersion }, 'run upgraded to another version of its bundle');
    return { workflowId, runId, fromVersion, toVersion };
  }

  /**
   * Completes, fails or heartbeats an activity that threw `CompleteAsyncError`, named by its
   * task token (`activityInfo().taskToken`, as bytes or base64). Each call rejects with
   * `ActivityNotFoundError` once no attempt of that activity awaits completion. With
   * `namespace`, a token of another namespace names nothing (as over HTTP).
   */
  asyncCompletion(taskToken: Uint8Array | string, options: { namespace?: string } = {}): AsyncCompletionHandle {
    this.assertOpen();
    const forwarded = this.threading?.router.asyncCompletion(taskToken, options);
    if (forwarded) return forwarded;
    this.cluster?.checkRun(decodeTaskToken(taskToken).runId);
    return asyncCompletionHandle(this.activities, taskToken, { assertOpen: () => this.assertOpen(), namespace: options.namespace, payloadLimitsOf: (namespace) => this.payloadLimitsOf(namespace) });
  }

  /**
   * For a remote activity worker (`aion/worker`, over `aion server`): the oldest activity
   * attempt waiting in the namespace's task queue, started for `identity` — its start-to-close
   * and heartbeat timeouts run from now — or undefined when none came within `waitMs` (or
   * `signal` aborted). The worker reports on it with `asyncCompletion(info.base64TaskToken)`.
   * Activity types the engine has a function for never reach a task queue: they run in process.
   */
  pollActivityTask(options: { namespace?: string; taskQueue: string; identity: string; waitMs?: number; signal?: AbortSignal }): Promise<ActivityTaskMessage | undefined> {
    this.assertOpen();
    const waitMs = options.waitMs ?? 20_000;
    if (!Number.isFinite(waitMs) || waitMs < 0) throw new InvalidArgumentError('waitMs must be a number of milliseconds, at least 0');
    const poll = { namespace: namespaceOf(options.namespace), taskQueue: checkId(options.taskQueue, 'taskQueue'), identity: checkId(options.identity, 'identity'), waitMs, signal: options.signal };
    if (this.threading?.role === 'main') return this.threading.threads.taskPolls.poll(poll);
    return this.activities.pollTask(poll.namespace, poll.taskQueue, poll.identity, poll);
  }

  /** The task queue's backlog (attempts waiting for a worker) and the workers polling it (now or in the last minute). */
  async describeTaskQueue(taskQueue: string, options: { namespace?: string } = {}): Promise<TaskQueueDescription> {
    this.assertOpen();
    const namespace = namespaceOf(options.namespace);
    checkId(taskQueue, 'taskQueue');
    if (this.threading?.role === 'main') return this.threading.threads.taskPolls.describe(namespace, taskQueue);
    return this.activities.describeTaskQueue(namespace, taskQueue);
  }

  /** Signals the workflow's running run, or starts it with the signal delivered in its first activation. */
  async signalWithStart(workflowType: string, options: SignalWithStartOptions): Promise<WorkflowHandle> {
    this.assertOpen();
    const forwarded = this.threading?.router.signalWithStart(workflowType, options);
    if (forwarded) return this.forwardedHandle(await forwarded);
    if (typeof options !== 'object' || options === null || options.workflowId === undefined) throw new InvalidArgumentError('signalWithStart needs a workflowId');
    const spec = this.newRun(workflowType, options, 'signalWithStart');
    this.cluster?.checkWorkflow(spec.namespace, spec.workflowId);
    const signal = { type: 'SignalReceived' as const, time: this.clock.now(), name: checkId(options.signal, 'signal'), args: checkArgs(options.signalArgs, 'signalArgs', this.payloadLimitsOf(spec.namespace)) };
    for (;;) {
      const latest = await this.store.getLatestRunId(spec.namespace, spec.workflowId);
      const running = latest === undefined ? undefined : await this.runs.runFor(spec.namespace, latest);
      if (running?.record.status === 'Running') {
        try {
          await running.deliver(signal, { fromCaller: true });
          return new WorkflowHandle(this, spec.workflowId, running.record.runId, spec.namespace);
        } catch (error) {
          if (!(error instanceof WorkflowNotRunningError)) throw error;
          continue; // it closed meanwhile: start a new run
        }
      }
      try {
        const run = await this.starter.create(spec, { extraJobs: [signal], admit: () => this.admitStart(spec.namespace) });
        return new WorkflowHandle(this, spec.workflowId, run.record.runId, spec.namespace);
      } catch (error) {
        if ((error as { code?: string }).code !== 'ALREADY_STARTED') throw error;
        // Started meanwhile by someone else: signal that run.
      }
    }
  }

  /**
   * Sends an update to the workflow's running run, or starts a run and sends it the update
   * once its first activation has registered its handlers (Temporal's update-with-start).
   * Resolves once the update is accepted, with handles on the run and the update.
   */
  async startUpdateWithStart(workflowType: string, options: UpdateWithStartOptions): Promise<{ workflow: WorkflowHandle; update: WorkflowUpdateHandle }> {
    this.assertOpen();
    const forwarded = this.threading?.router.startUpdateWithStart(workflowType, options);
    if (forwarded) {
      const { workflow, updateId } = await forwarded;
      const handle = this.forwardedHandle(workflow);
      return { workflow: handle, update: { ...handle.getUpdateHandle(updateId), runId: workflow.runId! } };
    }
    if (typeof options !== 'object' || options === null || options.workflowId === undefined) throw new InvalidArgumentError('startUpdateWithStart needs a workflowId');
    const spec = this.newRun(workflowType, options, 'updateWithStart');
    this.cluster?.checkWorkflow(spec.namespace, spec.workflowId);
    const policy = options.workflowIdConflictPolicy ?? 'USE_EXISTING';
    if (policy !== 'USE_EXISTING' && policy !== 'FAIL') throw new InvalidArgumentError(`workflowIdConflictPolicy is USE_EXISTING or FAIL, not ${String(policy)}`);
    // Checked before a run is started for it: an update refused later would leave a run behind.
    const update = { args: checkArgs(options.updateArgs, 'update arguments', this.payloadLimitsOf(spec.namespace)), ...(options.updateId !== undefined ? { updateId: options.updateId } : {}) };
    // A run that closes between being found and taking the update is replaced, a few times at most.
    for (let attempt = 1; ; attempt++) {
      let runId: string;
      let existing = false;
      try {
        runId = (await this.starter.create(spec, { admit: () => this.admitStart(spec.namespace) })).record.runId;
      } catch (error) {
        if (!(error instanceof WorkflowAlreadyStartedError) || policy === 'FAIL') throw error;
        runId = error.runId;
        existing = true;
      }
      const workflow = new WorkflowHandle(this, spec.workflowId, runId, spec.namespace);
      try {
        return { workflow, update: await workflow.startUpdate(options.update, update) };
      } catch (error) {
        // The running run it found closed meanwhile: start a new one. Not for a run that cannot take it now but runs
        // (its task waits for a retry, its cron tick has not come), nor for one it started that closed at once.
        if (!(error instanceof WorkflowNotRunningError) || error.status === 'Running' || !existing || attempt >= MAX_WITH_START_ATTEMPTS) throw error;
      }
    }
  }

  /** `startUpdateWithStart`, then the update's result. */
  async executeUpdateWithStart(workflowType: string, options: UpdateWithStartOptions): Promise<unknown> {
    return (await this.startUpdateWithStart(workflowType, options)).update.result();
  }

  /** A handle on a workflow's latest run, or on one run of it (`followRuns: false`: its `result()` is that run's own). */
  getHandle(workflowId: string, runId?: string, options: { namespace?: string; followRuns?: boolean } = {}): WorkflowHandle {
    this.assertOpen();
    checkOptionKeys(options, ['namespace', 'followRuns'], 'getHandle');
    const ref = { workflowId: checkId(workflowId, 'workflowId'), ...(runId === undefined ? {} : { runId: checkId(runId, 'runId') }), namespace: namespaceOf(options.namespace), followRuns: options.followRuns !== false };
    return this.threading?.router.routeOf(ref) ? this.forwardedHandle(ref) : new WorkflowHandle(this, ref.workflowId, ref.runId, ref.namespace, ref.followRuns);
  }

  /** A handle whose calls the partition thread serving the workflow performs. */
  private forwardedHandle(ref: HandleRef): WorkflowHandle {
    return new ForwardedWorkflowHandle(this, this.threading!.router.routeOf(ref)!, ref);
  }

  /** Runs matching the query, newest first (all of them, or `limit`). */
  async list(options: ListOptions = {}): Promise<WorkflowSummary[]> {
    const summaries: WorkflowSummary[] = [];
    let nextPageToken: string | undefined;
    do {
      const page = await this.listPage({ ...options, pageSize: Math.min(1000, (options.limit ?? Infinity) - summaries.length), nextPageToken });
      summaries.push(...page.workflows);
      nextPageToken = page.nextPageToken;
    } while (nextPageToken !== undefined && summaries.length < (options.limit ?? Infinity));
    return summaries;
  }

  /** One page of runs matching the query, newest first; pass `nextPageToken` back for the next. */
  async listPage(options: ListPageOptions = {}): Promise<{ workflows: WorkflowSummary[]; nextPageToken?: string }> {
    this.assertOpen();
    const pageSize = options.pageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new InvalidArgumentError('pageSize must be a positive integer');
    const namespace = namespaceOf(options.namespace);
    const cursor = options.nextPageToken === undefined ? undefined : cursorOfPageToken(options.nextPageToken, namespace, options);
    const page = await this.store.scanRuns({ namespace, ...compileQuery(options), pageSize, cursor });
    return { workflows: page.runs.map(summaryOf), ...(page.nextCursor === undefined ? {} : { nextPageToken: pageTokenOf(page.nextCursor, namespace, options) }) };
  }

  /** How many runs match the query. */
  async count(query: VisibilityQuery = {}): Promise<number> {
    this.assertOpen();
    return (await this.store.scanRuns({ namespace: namespaceOf(query.namespace), ...compileQuery(query) })).runs.length;
  }

  /** Rewrites every run's visibility record from its history (after a loss or corruption of the index). */
  async rebuildVisibility(): Promise<number> {
    this.assertOpen();
    return rebuildVisibility(this.store);
  }

  /** Whether the engine can take writes: `unavailable` (with the reason) while its store refuses them. */
  /**
   * Who serves the store's partitions: for a store with partition leases (PostgreSQL), each
   * lease's holder, epoch and expiry, and how far behind each partition's work is. A LevelDB
   * folder or memory has no leases: the one engine that opened it serves it.
   */
  async clusterStatus(): Promise<ClusterStatus> {
    this.assertOpen();
    const status = await this.store.partitionStatus?.();
    if (!status) return { leases: false, nodes: [], partitions: [] };
    const served = new Map<string, number>();
    for (const { owner, partition } of status.partitions) if (owner !== null && partition >= 0) served.set(owner, (served.get(owner) ?? 0) + 1);
    const members = new Map((status.nodes ?? []).map((node) => [node.name, node]));
    const names = [...new Set([...members.keys(), ...served.keys()])];
    const nodes = names.map((name) => {
      const member = members.get(name);
      return { name, partitions: served.get(name) ?? 0, ...(member ? { address: member.address, lastBeatAt: member.lastBeatAt } : {}) };
    });
    return { leases: true, self: status.self, nodes, partitions: status.partitions };
  }

  /** Cluster mode: the engines of the cluster, with their API addresses and whether they beat (empty when the store is not shared). */
  async clusterNodes(): Promise<{ node: string; address: string; self: boolean; live: boolean }[]> {
    this.assertOpen();
    const assignment = this.store.assignment;
    if (!assignment) return [];
    return (await assignment.nodes()).map((node) => ({ node: node.name, address: node.address, self: node.name === assignment.self, live: node.live }));
  }

  /**
   * Cluster mode: the engine serving a partition (-1: the control plane) — its name, its API
   * address, whether it is this engine — or undefined while none does (it is moving).
   */
  async partitionOwner(partition: number): Promise<{ node: string; address: string; self: boolean } | undefined> {
    this.assertOpen();
    const assignment = this.store.assignment;
    const owner = await assignment?.ownerOf(partition);
    return owner && { node: owner.name, address: owner.address, self: owner.name === assignment!.self };
  }

  health(): { status: 'ok' } | { status: 'unavailable'; reason: string } {
    const unavailable = this.store.unavailable;
    return unavailable ? { status: 'unavailable', reason: unavailable.message } : { status: 'ok' };
  }

  /**
   * Stops timers, activities and effects, waits for in-flight work, releases the engine's
   * sandboxes and closes the store. Callers still waiting on a run (a result, an update) get
   * `EngineClosedError`.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.store.events.off('availability', this.onStoreAvailability);
    this.store.events.off('damaged', this.onDamagedRecord);
    this.timers.close();
    this.scheduleTimers.close();
    this.activities.close();
    this.outbox.close();
    await this.runs.close();
    this.bundles.threads.releaseAll(this.sandboxPrefix);
    if (this.threading?.role === 'main') await this.threading.threads.close();
    if (this.ownsStore) await this.store.close();
  }

  // RunDirectory (used by handles) ---------------------------------------------------------

  /** The time events are recorded at (the system clock, or a test's skipping clock). */
  now(): number {
    return this.clock.now();
  }

  async resolveRun(namespace: string, workflowId: string, runId?: string): Promise<WorkflowRun> {
    this.assertOpen();
    // A creation in flight includes the new run's first activation: waited for outside the slots, so it holds none.
    await (runId === undefined ? this.runs.creationOfWorkflow(namespace, workflowId) : this.runs.creationOf(namespace, runId))?.catch(() => undefined);
    const run = await this.callerLookups(() => {
      this.assertOpen(); // it may have closed while the lookup queued
      return this.runs.resolve(namespace, workflowId, runId);
    });
    if (!run) throw new WorkflowNotFoundError(workflowId, runId);
    return run;
  }

  waitForClose(run: WorkflowRun, signal?: AbortSignal): Promise<HistoryEvent> {
    return this.runs.waitForClose(run, signal);
  }

  readHistory(namespace: string, runId: string, range?: HistoryRange): Promise<HistoryEvent[]> {
    this.assertOpen();
    return this.store.readHistory(namespace, runId, range);
  }

  followHistory(namespace: string, runId: string, options: { from: number; follow: boolean; signal?: AbortSignal }): AsyncGenerator<HistoryEvent> {
    this.assertOpen();
    const signal = anySignal(this.closing.signal, options.signal);
    // In a cluster, only the engine serving the run sees its appends: a follower stops when the run moves.
    if (this.cluster && options.follow) return this.cluster.whileServed(runId, (moved) => historyEvents(this.store, namespace, runId, { ...options, signal: AbortSignal.any([signal, moved]) }));
    return historyEvents(this.store, namespace, runId, { ...options, signal });
  }

  /**
   * Every event committed to the namespace's runs from now on — of one workflow type, of runs
   * in one status (as they are once it is committed), if given — each with its run; until
   * `signal` aborts or the engine closes.
   */
  watch(options: { namespace?: string; workflowType?: string; status?: RunStatus; signal?: AbortSignal } = {}): AsyncGenerator<WatchedEvent> {
    this.assertOpen();
    checkOptionKeys(options, ['namespace', 'workflowType', 'status', 'signal'], 'watch');
    const { workflowType, status } = options;
    return namespaceEvents(this.store, namespaceOf(options.namespace), { ...(workflowType !== undefined ? { workflowType } : {}), ...(status !== undefined ? { status } : {}), signal: anySignal(this.closing.signal, options.signal) });
  }

  async historyLength(namespace: string, runId: string): Promise<number> {
    this.assertOpen();
    return (await this.store.nextEventId(namespace, runId)) - 1;
  }

  // Internals ------------------------------------------------------------------------------

  /** Validates start options into the spec of a new run. */
  private newRun(workflowType: string, options: StartOptions, allowed: keyof typeof WITH_START_OPTIONS = 'start'): NewRun {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('start options must be an object');
    checkOptionKeys(options, WITH_START_OPTIONS[allowed], allowed);
    const timeout = (value: Duration | undefined, field: string) => {
      if (value === undefined) return undefined;
      try {
        return toMs(value);
      } catch (error) {
        throw new InvalidArgumentError(`${field}: ${(error as Error).message}`);
      }
    };
    let searchAttributes: Record<string, SearchAttributeValue> | undefined;
    try {
      searchAttributes = startSearchAttributes(options.searchAttributes, options.typedSearchAttributes);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
    const namespace = namespaceOf(options.namespace);
    const payloadLimits = this.payloadLimitsOf(namespace);
    const memo = options.memo === undefined ? undefined : checkMemo(options.memo, payloadLimits);
    const cronSchedule = options.cronSchedule === undefined ? undefined : checkOptionalString(options.cronSchedule, 'cronSchedule', 256);
    const firstTaskAt = cronSchedule === undefined ? undefined : nextCronTick(cronSchedule, this.clock.now());
    return {
      namespace,
      workflowId: checkId(options.workflowId ?? randomUUID(), 'workflowId'),
      workflowType: checkId(workflowType, 'workflow type'),
      taskQueue: checkId(options.taskQueue ?? DEFAULT_TASK_QUEUE, 'taskQueue'),
      args: checkArgs(options.args, 'args', payloadLimits),
      searchAttributes,
      ...(memo ? { memo } : {}),
      ...(cronSchedule !== undefined ? { cronSchedule, firstTaskAt } : {}),
      executionTimeoutMs: timeout(options.workflowExecutionTimeout, 'workflowExecutionTimeout'),
      runTimeoutMs: timeout(options.workflowRunTimeout, 'workflowRunTimeout'),
    };
  }

  /** What schedules need of their runs: here, or (threaded) from the store and the partition threads. */
  private scheduledRuns(): ScheduledRuns {
    return {
      creationOf: (namespace, runId) => this.runs.creationOf(namespace, runId),
      statusOf: async (namespace, runId) =>
        // The run may be another thread's or another engine's: its record says.
        this.threading?.role === 'main' || this.cluster ? (await this.store.getRun(namespace, runId))?.status : (await this.runs.runFor(namespace, runId))?.record.status,
      requestCancel: async (namespace, { workflowId, runId }, reason) => {
        await this.getHandle(workflowId, runId, { namespace })
          .cancel(reason)
          .catch((error: unknown) => {
            if (!(error instanceof WorkflowNotRunningError)) throw error;
          });
      },
    };
  }

  /** Namespaces, versions or routes changed: the partition threads (or the cluster's other engines) read their copies again. */
  private async controlChanged(): Promise<void> {
    if (this.threading?.role === 'main') await this.threading.threads.controlChanged();
    // Not announced (the database out of reach): the others read the records again when they listen again.
    await this.store.assignment?.announceControlChange().catch((error: unknown) => this.logger.warn({ err: error }, 'could not tell the other engines of the cluster that control records changed'));
  }

  /** Reads the control records again (another engine changed them). */
  private async reloadControl(): Promise<void> {
    this.bundles.forgetRoutes();
    this.apiKeys.forgetAbsence();
    await this.namespaces.load();
  }

  /** Cluster mode: takes this engine's share of the partitions, and follows its changes from then on. */
  private async joinCluster(): Promise<void> {
    await this.cluster?.join({
      logger: this.logger,
      closed: () => this.closed,
      recover: async (taken) => {
        await this.quarantine.load();
        await this.recover(taken);
      },
      sweepOutbox: () => this.outbox.recover(),
      reloadControl: () => this.reloadControl(),
      runs: this.runs,
      timers: this.timers,
      activities: this.activities,
    });
  }

  /** What the main thread of a threaded engine does for its partition threads. */
  private mainServices(): MainServices {
    return {
      admitStart: (namespace) => this.admitStart(namespace),
      scheduledRunClosed: (record) => this.schedules.onRunClosed(record),
      schedules: this.schedules,
      events: this.events,
      activities: new MainActivityRunner(this.activityFunctions, this.logger, this),
      retryEffects: () => this.outbox.retryNow(),
    };
  }

  /** What a partition thread does when another thread asks (see engine/threads/partition-service.ts). */
  private partitionServices(): PartitionServices {
    const placement = this.threading!.placement;
    return {
      engine: this,
      performEffect: (entry, home) => placement.performing(entry, home, () => this.outbox.performForwarded(entry)),
      deliverEffect: (entry, home, target, event) => placement.performing(entry, home, () => this.outbox.deliverTo(entry, target, event)),
      reloadControl: () => this.reloadControl(),
      retryEffects: () => this.outbox.retryNow(),
    };
  }

  /**
   * Re-arms timers, re-dispatches unfinished activities, performs recorded effects. In a
   * cluster, for partitions taken over (`taken`): their activity tasks only — a task of a
   * partition served all along may be between its attempt and its recording — and the
   * schedules when the control plane is among them.
   */
  private async recover(taken?: { partitions: readonly number[]; control: boolean }): Promise<void> {
    const listed = await this.store.listActivityTasks();
    const cluster = this.cluster;
    const tasks = taken && cluster ? listed.filter((task) => taken.partitions.includes(cluster.partitionOfRun(task.runId))) : listed;
    const effects = await this.outbox.recover();
    const due = await this.timers.refill(
      (upTo) => this.store.dueEntries(upTo),
      (error) => this.logger.warn({ err: error }, 'could not load the next due entries from the store; trying again'),
    );
    // In a cluster, a partition may have started moving to another engine meanwhile: its tasks are that engine's.
    for (const task of tasks) if (cluster?.ownsRun(task.runId) !== false) this.activities.dispatch(task);
    const schedules = taken ? taken.control : this.cluster?.assignment.servesControl() !== false;
    if (this.threading?.role !== 'partitions' && schedules) await this.schedules.recover();
    if (due + tasks.length + effects > 0) {
      this.logger.info({ timers: due, activities: tasks.length, effects }, 'recovered durable timers, activities and effects');
    }
  }

  /**
   * At open, beside the recovery sweep: has the sandbox threads start evaluating the bundle of
   * the run due first (read from the store, not from the sweep, which reads every due entry)
   * before the open returns. They are idle meanwhile, while this thread sweeps and then serves
   * the clients that come back at once (thousands of lookups can take it for a few hundred
   * milliseconds). Not on later sweeps (the store back, partitions taken over in a cluster):
   * there the threads are busy, and the runs' own wakes load what they need. Not on the main
   * thread of partition threads: it runs no workflow.
   */
  private async warmFirstWake(): Promise<void> {
    if (this.threading?.role === 'main') return;
    try {
      const entry = await this.store.nextDueEntry();
      const kind = entry && entry.dueAt <= this.clock.now() ? parseDueKey(entry.key)?.kind : undefined;
      if (!entry || kind === undefined || kind === 'schedule' || kind === 'retention' || this.quarantine.get(entry.namespace, entry.owner)) return;
      const run = await this.runs.runFor(entry.namespace, entry.owner);
      if (run?.record.status === 'Running') await run.warmTemplate();
    } catch {
      // The run's wake meets the same failure, and reports it.
    }
  }

  private async deliverOneDue(entry: DueEntry): Promise<void> {
    const key = parseDueKey(entry.key);
    if (key === undefined) {
      this.logger.warn({ owner: entry.owner, key: entry.key }, 'ignoring a due entry of an unknown kind');
      return;
    }
    // Taken over by another engine of the cluster meanwhile: its engine delivers it.
    if (this.cluster && !this.cluster.servesDueEntry(entry)) return;
    if (key.kind === 'schedule') return this.schedules.onDue(entry);
    if (this.quarantine.get(entry.namespace, entry.owner)) return;
    if (key.kind === 'retention') return this.purgeRun(entry);
    const run = await this.runs.runFor(entry.namespace, entry.owner);
    if (run?.record.status !== 'Running') return;
    if (key.kind === 'timeout') await run.timeOut();
    else if (key.kind === 'restart' || key.kind === 'start') await run.restart();
    else await run.deliver({ type: 'TimerFired', time: this.clock.now(), seq: key.seq });
  }

  /**
   * Deletes a closed run whose retention passed, in one write with its due entry — while no run
   * of its workflow id is being started, since the purge removes the id's pointer if it still
   * names this run.
   */
  private async purgeRun(entry: DueEntry): Promise<void> {
    const { namespace, owner: runId } = entry;
    const record = await this.store.getRun(namespace, runId);
    if (record?.status === 'Running') {
      await this.store.write({ dueEntries: { delete: [entry] } });
      return;
    }
    if (record?.continuedToRunId !== undefined && !(await this.store.getRun(namespace, record.continuedToRunId))) {
      // Its successor is recorded but not started yet (the outbox will): until it is, this run is what keeps the id taken.
      const later = { ...entry, dueAt: this.clock.now() + PURGE_RETRY_MS };
      await this.store.write({ dueEntries: { put: [later], delete: [entry] } });
      this.timers.add(later);
      return;
    }
    const purge = () => this.store.write({ purgeRuns: [{ namespace, runId }], dueEntries: { delete: [entry] } });
    await (record ? this.starter.whileNotStarting(namespace, record.workflowId, purge) : purge());
    if (!record) return;
    this.logger.debug({ namespace, workflowId: record.workflowId, runId }, 'deleted a closed run: its retention passed');
    this.events.emit('runPurged', { namespace, workflowId: record.workflowId, runId });
  }

  private async deliverActivityOutcome(namespace: string, runId: string, seq: number, outcome: ActivityOutcome): Promise<void> {
    if (this.closed || this.quarantine.get(namespace, runId)) return;
    const time = this.clock.now();
    const run = await this.runs.runFor(namespace, runId);
    if (run?.record.status !== 'Running') return;
    await run.deliver(
      outcome.ok
        ? { type: 'ActivityCompleted', time, seq, result: outcome.result, attempt: outcome.attempt }
        : { type: 'ActivityFailed', time, seq, failure: outcome.failure, attempt: outcome.attempt },
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineClosedError();
  }
}

/** How long the deletion of a closed run waits for its successor to be started. */
const PURGE_RETRY_MS = 60_000;

/** Aborts when either does. */
const anySignal = (engine: AbortSignal, caller: AbortSignal | undefined): AbortSignal => (caller ? AbortSignal.any([engine, caller]) : engine);

const namespaceOf = (namespace: string | undefined): string => checkId(namespace ?? DEFAULT_NAMESPACE, 'namespace');

/** What `Engine.open` resolved its options to. */
interface EngineParts {
  store: EventStore<HistoryEvent>;
  ownsStore: boolean;
  bundles: BundleRegistry;
  activities: ActivityRegistry;
  logger: Logger;
  limits: ReplayLimits;
  residency: { maxResidentBytes: number; maxResidentRuns: number };
  supervisors: Supervisors;
  metricsRegistry: Registry | undefined;
  clock: Clock;
  failureErrorTypes: Record<string, string[]>;
  checkpoints: Required<CheckpointOptions>;
  snapshots: Required<SnapshotOptions>;
  threading: Threading | undefined;
}

/** What an engine is when partition threads serve the runs: their main thread, or one of them. */
type Threading = { role: 'main'; placement: Placement; router: PartitionRouter; threads: PartitionThreads } | { role: 'partitions'; placement: Placement; router: PartitionRouter; main: PortRpc; threads: number };

const DEFAULT_CHECKPOINT_INTERVAL = 1000;

function checkCheckpoints(options: CheckpointOptions = {}): Required<CheckpointOptions> {
  checkOptionKeys(options, ['interval', 'closedRuns'], 'checkpoints');
  const interval = options.interval ?? DEFAULT_CHECKPOINT_INTERVAL;
  if (!Number.isInteger(interval) || interval < 0) throw new InvalidArgumentError('checkpoints.interval must be a number of events (an integer, 0 for none)');
  return { interval, closedRuns: options.closedRuns === true };
}

/**
 * Where replay stops being cheaper than a snapshot: a light workflow's history of 17 events
 * replayed with less CPU than its snapshot restored, one of 77 events with more
 * (docs/performance.md, "Snapshots only where they pay").
 */
const DEFAULT_SNAPSHOT_MIN_EVENTS = 32;

function checkSnapshots(options: SnapshotOptions = {}): Required<SnapshotOptions> {
  checkOptionKeys(options, ['minEvents'], 'snapshots');
  const minEvents = options.minEvents ?? DEFAULT_SNAPSHOT_MIN_EVENTS;
  if (!(Number.isInteger(minEvents) || minEvents === Infinity) || minEvents < 0) {
    throw new InvalidArgumentError('snapshots.minEvents must be a number of events (an integer, 0 for every parked run, Infinity for none)');
  }
  return { minEvents };
}

/** The history a reset keeps: up to `toEvent`, which must end an activation (or be a job between two), with nothing the new run could not take over. */
function resetPrefix(events: HistoryEvent[], toEvent: number): HistoryEvent[] {
  if (!Number.isInteger(toEvent) || toEvent < 1 || toEvent > events.length) throw new InvalidArgumentError(`toEvent must be an event of the history (1 to ${events.length})`);
  if (!canCutAfter(events, toEvent)) {
    const activationEnd = events.findIndex((event, i) => i >= toEvent && !isCommandEvent(event));
    const marker = events.findLastIndex((event, i) => i < toEvent && event.type === 'WorkflowTaskCompleted') + 1;
    throw new InvalidArgumentError(`event ${toEvent} is inside the activation of event ${marker}: reset to event ${marker - 1}, or to ${activationEnd === -1 ? events.length : activationEnd} (its last command)`);
  }
  const prefix = events.slice(0, toEvent);
  const state = RunState.of(prefix);
  if (state.pendingChildren.size > 0 || state.pendingExternal.size > 0) {
    throw new InvalidArgumentError(`at event ${toEvent} the run waits on a child workflow or an external signal or cancel, which a reset run could not take over: reset to an event before it was started, or after it ended`);
  }
  return prefix;
}

function checkFailureErrorTypes(types: unknown): Record<string, string[]> {
  if (types === undefined) return {};
  const valid =
    typeof types === 'object' && types !== null && !Array.isArray(types) && Object.values(types).every((names) => Array.isArray(names) && names.every((name) => typeof name === 'string' && name !== ''));
  if (!valid) throw new InvalidArgumentError("workflowFailureErrorTypes maps workflow types (or '*') to arrays of error type names");
  return types as Record<string, string[]>;
}

function activityRegistry(options: EngineOptions): ActivityRegistry {
  const objectOf = (value: unknown, field: string): Record<string, unknown> => {
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`${field} must be an object`);
    return value as Record<string, unknown>;
  };
  const functionsOf = (value: unknown, field: string): Record<string, ActivityFunction> => {
    const functions = objectOf(value, field);
    for (const [name, fn] of Object.entries(functions)) if (typeof fn !== 'function') throw new InvalidArgumentError(`${field}.${name} is not a function`);
    return functions as Record<string, ActivityFunction>;
  };
  const byNamespace: Record<string, Record<string, ActivityFunction>> = {};
  for (const [namespace, functions] of Object.entries(objectOf(options.namespaceActivities, 'namespaceActivities'))) {
    byNamespace[checkId(namespace, 'namespaceActivities namespace')] = functionsOf(functions, `namespaceActivities.${namespace}`);
  }
  return { all: functionsOf(options.activities, 'activities'), byNamespace };
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
    searchAttributes: record.searchAttributes ?? {},
  };
  if (record.closeTime !== undefined) summary.closeTime = new Date(record.closeTime);
  if (record.parent) summary.parent = { workflowId: record.parent.workflowId, runId: record.parent.runId };
  return summary;
}
