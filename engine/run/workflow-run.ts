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
import type { FailureInfo, JobKind, LogEntry, QueryResult } from '../../common/protocol.js';
import { SandboxCrash } from '../../sandbox/index.js';
import { StoreError } from '../../store/errors.js';
import type { ActivityTask, EventStore, OutboxEntry, QuarantineRecord, RunRecord, SnapshotRecord } from '../../store/types.js';
import type { ActivityDispatcher } from '../activities/dispatcher.js';
import type { BundleRegistry } from '../bundles.js';
import { InvalidCommandError, validateActivationResult, validateQueryResult } from '../commands/validate.js';
import { DeterminismViolationError, EngineClosedError, QueryFailedError, QuotaExceededError, WorkflowNotRunningError } from '../errors.js';
import { sandboxLimitsIn, type NamespaceQuotas } from '../hosting/quotas.js';
import { HistoryFormatError, parseHistory, type ParsedHistory } from '../history/activations.js';
import { CLOSING_STATUS, historySizeOf, type EventOf, type HistoryEvent, type JobEventType, type NewEvent, type NewEventOf } from '../history/events.js';
import { eventOfCommand, jobOf } from '../history/mapping.js';
import type { Logger } from '../logger.js';
import type { EngineMetrics } from '../metrics.js';
import { RunQuarantinedError, type Quarantine } from '../quarantine.js';
import type { PayloadLimits } from '../payloads.js';
import type { ReplayLimits } from '../replay.js';
import type { Tenant } from '../sandboxes/fair-queue.js';
import type { TemplateSpec } from '../sandboxes/messages.js';
import { RemoteSandbox } from '../sandboxes/remote-sandbox.js';
import { SandboxLostError } from '../sandboxes/sandbox-threads.js';
import { WORKFLOW_ERROR, WorkflowTaskError } from '../supervision.js';
import { snapshotRecord } from '../snapshots.js';
import { locateDivergences } from '../divergence.js';
import { formatDueKey, parseDueKey } from '../due-keys.js';
import { cutHistory, located, runAtEvent, timelineSteps, type CheckpointData, type CheckpointUse, type RunAtEvent, type SandboxInspection, type TimelineStep } from '../inspector.js';
import { BundleLocator, hasFailures, locateFailures } from '../source-maps.js';
import { answerStackTraceQuery, guestQueryName, isStackTraceQuery } from '../stack-traces.js';
import type { Supervisors } from '../supervision.js';
import type { DueTimers } from '../timers.js';
import type { Clock } from '../clock.js';
import type { WorkCounter } from '../time-skipping.js';
import { ActivationBatch } from './activation-batch.js';
import { RunState } from './run-state.js';
import { UpdateWaiters, type UpdateOutcome } from './update-waiters.js';

/** Engine services a run uses. */
export interface RunEnvironment {
  store: EventStore<HistoryEvent>;
  /** The time events are recorded at. */
  clock: Clock;
  /** Counts the run's work in progress (time-skipping tests skip time only when there is none). */
  work: WorkCounter;
  bundles: BundleRegistry;
  activities: ActivityDispatcher;
  timers: DueTimers;
  logger: Logger;
  limits: ReplayLimits;
  supervisors: Supervisors;
  metrics: EngineMetrics;
  quarantine: Quarantine;
  /** Names this engine's sandboxes in the (shared) sandbox threads. */
  newSandboxId(): string;
  /** The namespace as a tenant of the sandbox threads (its activations take turns fairly with other namespaces'). */
  tenantOf(namespace: string): Tenant;
  /** The namespace's quotas as known now. */
  quotasNow(namespace: string): NamespaceQuotas;
  /** What one payload of the namespace's runs may be (the engine's limits, and its quota). */
  payloadLimitsOf(namespace: string): PayloadLimits;
  /** How long the namespace keeps a closed run, in ms (undefined: for ever). */
  retentionOf(namespace: string): Promise<number | undefined>;
  /** How inspections keep checkpoints (see `EngineOptions.checkpoints`). */
  checkpoints: { interval: number; closedRuns: boolean };
  /** Which parked runs get a snapshot (see `EngineOptions.snapshots`). */
  snapshots: { minEvents: number };
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
  /** An activation is being handed to the run's sandbox. */
  onActivation(run: WorkflowRun, jobs: JobKind[]): void;
}

/** A job waiting for an activation. `recorded` jobs are already in the history. */
interface PendingJob {
  event: NewEventOf<JobEventType> | EventOf<JobEventType>;
  recorded: boolean;
  /** Answered once the job is recorded (true), or dropped as no longer applicable (false). */
  onRecorded?: { resolve(recorded: boolean): void; reject(error: unknown): void };
  /** The outbox entry whose effect this job is: deleted in the batch that records it. */
  outboxId?: string;
  /** Sent by a caller (a signal or update through the API), not by the engine or another run: refused when the history is at its quota. */
  fromCaller?: boolean;
  /** Effects that follow from recording this job (an acknowledgement to its sender): written in the same batch. */
  followUps?: OutboxEntry[];
}

/** What a running run waits on (`describe().pending`). */
export interface PendingWork {
  /** `attempt`: the one running or next; `nextAttemptAt`: while it waits out a retry's backoff; `lastFailure`: why the previous attempt failed. */
  activities: {
    seq: number;
    activityType: string;
    attempt: number;
    nextAttemptAt?: Date;
    lastFailure?: { message: string; type?: string };
    /** The last heartbeat's details (of this attempt, or of an earlier one). */
    heartbeatDetails?: unknown;
    /** No function of the engine runs it: it waits in its task queue for a remote worker... */
    waitsForWorker?: true;
    /** ...or the remote worker with this identity runs it. */
    worker?: string;
    cancelRequested?: boolean;
  }[];
  timers: { seq: number; fireAt: Date }[];
  children: { seq: number; workflowId: string; runId: string; workflowType: string }[];
  /** Ids of the updates accepted and still running. */
  updates: string[];
}

/** A run's whole history as read from the store, and parsed into activations. */
interface LoadedHistory {
  events: HistoryEvent[];
  parsed: ParsedHistory;
}

/** The history `ensureLoaded` read, with the snapshot read beside it when the sandbox was to be brought back. */
interface JustRead extends LoadedHistory {
  snapshot?: { record: SnapshotRecord | undefined };
}

/** Times in a row a run's sandbox may be lost with its thread (not its fault) before that counts as a crash. */
const MAX_LOST_IN_A_ROW = 3;

/** How a run not in memory would be brought back. */
export type Residency = 'resident' | 'snapshot' | 'replay';

export class WorkflowRun {
  private state = new RunState();
  private nextEventId = 1;
  /** Set by an upgrade: the failed task is retried at once, not at its backoff (until it fails again). */
  private retryNow = false;
  private sandbox: RemoteSandbox | undefined;
  /** Sandboxes lost with a stopped thread since the last activation that went through. */
  private lostInARow = 0;
  /** Whether `state` and `nextEventId` reflect the stored history. */
  private loaded: boolean;
  private mailbox: PendingJob[] = [];
  /** Set when the history does not replay: the run makes no progress. */
  private stall: { error: DeterminismViolationError; at: number } | undefined;
  /** The whole history (and the snapshot) as `ensureLoaded` read them, kept for the sandbox's load that usually follows (until the next append). */
  private justRead: JustRead | undefined;
  /** History position the sandbox's last snapshot reflects (none written since: skip). */
  private snapshotEventId = 0;
  private readonly updateWaiters = new UpdateWaiters();
  /** Updates sent to the run and not yet recorded (or refused), by id: how many senders. */
  private readonly updatesSent = new Map<string, number>();
  private versionLocator: { version: string; locator: BundleLocator } | undefined;
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
  deliver(event: NewEventOf<JobEventType>, options: { outboxId?: string; followUps?: OutboxEntry[]; fromCaller?: boolean } = {}): Promise<boolean> {
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
      this.mailbox.push({ event, recorded: false, onRecorded: { resolve, reject }, outboxId: options.outboxId, followUps: options.followUps, fromCaller: options.fromCaller });
      this.scheduleDrain();
    });
  }

  /**
   * Delivers an update: its validator runs first (apart from the run), and a rejected update
   * records nothing. `accepted` resolves true once it is recorded — or if this run already
   * accepted an update with this id: the caller then waits for that one, which does not run
   * again — and false if its validator rejected it (then `outcome` says why). `outcome`
   * resolves once the update completed, and rejects if the run closes (or the engine does)
   * before that.
   */
  startUpdate(event: NewEventOf<'UpdateAccepted'>): { accepted: Promise<boolean>; outcome: Promise<UpdateOutcome> } {
    const { updateId } = event;
    const { outcome, fail } = this.updateWaiters.wait(updateId);
    this.updatesSent.set(updateId, (this.updatesSent.get(updateId) ?? 0) + 1);
    const accepted = this.deliver(event, { fromCaller: true });
    const sent = () => {
      const count = this.updatesSent.get(updateId)! - 1;
      if (count > 0) this.updatesSent.set(updateId, count);
      else this.updatesSent.delete(updateId);
    };
    accepted.then(sent, (error: unknown) => {
      sent();
      fail(error);
      // Refused before the run accepted any update of that id: whoever attached to it learns why too.
      if (!this.state.pendingUpdates.has(updateId) && !this.state.finishedUpdates.has(updateId) && !this.updatesSent.has(updateId)) this.updateWaiters.reject(updateId, error);
    });
    return { accepted, outcome };
  }

  /**
   * The outcome of the update this run accepted under `updateId`: waits while it runs;
   * undefined if the run has no such update (it never came, or its validator rejected it).
   */
  async updateOutcome(updateId: string, signal?: AbortSignal): Promise<UpdateOutcome | undefined> {
    signal?.throwIfAborted();
    // Waiting first: an outcome recorded while the history is read still reaches the caller.
    const { outcome, leave, fail } = this.updateWaiters.wait(updateId);
    if (signal) {
      // A caller that stops waiting (a long poll's end) leaves no waiter behind.
      const stop = () => fail(signal.reason);
      signal.addEventListener('abort', stop, { once: true });
      outcome.then(() => signal.removeEventListener('abort', stop), () => signal.removeEventListener('abort', stop));
    }
    let recorded: UpdateOutcome | 'running' | undefined;
    try {
      // Sent and not yet recorded (in the mailbox, or being validated): it runs, or its sender learns why not.
      recorded = this.updatesSent.has(updateId) ? 'running' : recordedUpdate(await this.readHistory(), updateId);
    } catch (error) {
      leave();
      throw error;
    }
    if (recorded === undefined) {
      leave();
      return undefined;
    }
    if (recorded !== 'running') this.updateWaiters.settle(updateId, recorded);
    else if (this.record.status !== 'Running') this.updateWaiters.settle(updateId, { ok: false, failure: UPDATE_OUTLIVED_RUN, rejected: false });
    return outcome;
  }

  /** Answers the callers of an update sent again after it completed, from the history. */
  private async answerFinishedUpdate(updateId: string): Promise<void> {
    try {
      const recorded = recordedUpdate(await this.readHistory(), updateId);
      if (recorded !== undefined && recorded !== 'running') this.updateWaiters.settle(updateId, recorded);
    } catch (error) {
      this.updateWaiters.reject(updateId, error);
    }
  }

  /**
   * Runs a query against the run's current state (bringing it back into memory if needed);
   * whatever the handler changes is undone, so a query never changes what the run does.
   */
  query(name: string, args: unknown[]): Promise<QueryResult> {
    return this.exclusive(async () => {
      let result: QueryResult;
      try {
        result = await this.runQuery(guestQueryName(name), args, this.env.clock.now());
        if (result.ok && isStackTraceQuery(name)) result = { ok: true, result: await this.answerStackTraceQuery(name, result.result) };
      } catch (error) {
        if (error instanceof SandboxCrash) throw new QueryFailedError(`query '${name}' failed: the sandbox crashed (${error.kind}): ${error.message}`);
        if (error instanceof SandboxLostError) throw new QueryFailedError(`query '${name}' failed: ${error.message}`);
        throw error;
      }
      const problem = validateQueryResult(result, this.env.limits);
      if (problem !== undefined) throw new QueryFailedError(`query '${name}' failed: its result ${problem}`);
      return result;
    });
  }

  /** The engine closed: callers still waiting on an update learn it, and the sandbox is released. */
  dispose(): void {
    this.updateWaiters.rejectAll(new EngineClosedError());
    this.releaseSandbox();
  }

  /**
   * Writes a new run's first events: a prefix of another run's history (a reset), with the
   * effects of what is still pending at its end — activity tasks, timers, the deadline — and
   * none of what the prefix already did (its children were started, its signals sent).
   */
  seed(prefix: NewEvent[]): Promise<void> {
    return this.exclusive(async () => {
      const batch = this.newBatch().add(...prefix);
      const { pendingActivities, pendingTimers } = this.state;
      const keep = <T>(items: T[], wanted: (item: T) => boolean) => items.splice(0, items.length, ...items.filter(wanted));
      keep(batch.taskPuts, (task) => pendingActivities.has(task.seq));
      keep(batch.taskCancels, (task) => pendingActivities.has(task.seq));
      keep(batch.duePuts, (entry) => {
        const key = parseDueKey(entry.key);
        return key?.kind === 'timer' ? pendingTimers.get(key.seq) === entry.dueAt : key?.kind === 'timeout';
      });
      batch.taskDeletes.splice(0);
      batch.dueDeletes.splice(0);
      batch.outboxPuts.splice(0);
      await this.commit(batch, []);
      // A prefix that ends with jobs no activation took yet (a reset between two activations): they are delivered, as a recovered run's are.
      const pendingJobs = parseHistory(prefix.map((event, i) => ({ ...event, eventId: i + 1 }) as HistoryEvent)).pendingJobs;
      if (pendingJobs.length > 0) {
        this.mailbox.unshift(...pendingJobs.map((event) => ({ event, recorded: true })));
        this.scheduleDrain();
      }
    });
  }

  /** Ends the run now without running workflow code (`outboxId`: the effect this performs). */
  terminate(reason: string | undefined, outboxId?: string): Promise<void> {
    const event: NewEvent = { type: 'WorkflowTerminated', time: this.env.clock.now(), ...(reason === undefined ? {} : { reason }) };
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
      if (this.record.status !== 'Running' || !deadline || deadline.at > this.env.clock.now()) return;
      await this.commit(this.newBatch().add({ type: 'WorkflowTimedOut', time: this.env.clock.now(), timeoutType: deadline.timeoutType }), []);
    });
  }

  /**
   * Pins the run to another version of its bundle, if its history replays on it (`replaysOn`
   * rejects otherwise: nothing changes), and retries its pending work at once: a run whose
   * workflow task keeps failing, or that stalled, continues on fixed code.
   */
  upgradeTo(version: string, replaysOn: (history: HistoryEvent[]) => Promise<void>): Promise<void> {
    return this.exclusive(async () => {
      if (this.record.status !== 'Running') throw new WorkflowNotRunningError(this.record.workflowId, this.record.status);
      await replaysOn(await this.readHistory());
      const { namespace, runId } = this.record;
      const next: RunRecord = { ...this.record, version };
      delete next.taskFailure;
      // The snapshot is of the old version's sandbox: the run is rebuilt by replay on the new one.
      await this.env.store.write({ runs: [{ record: next, previousStatus: this.record.status }], snapshots: { delete: [{ namespace, runId }] } });
      this.record.version = version;
      delete this.record.taskFailure;
      this.releaseSandbox();
      this.stall = undefined;
      this.loaded = false;
      this.snapshotEventId = 0;
      // New code deserves a try now, not at the failed task's next retry.
      this.retryNow = true;
      await this.ensureLoaded();
    });
  }

  /** The supervisor's restart time came: the crashed activation's jobs are delivered again. */
  restart(): Promise<void> {
    return this.exclusive(() => this.ensureLoaded());
  }

  /**
   * Parks the run: writes a snapshot of its sandbox (when it changed since the last one and
   * the history is long enough to be worth one), releases the sandbox and forgets its state.
   * Its next job restores it, or replays its history.
   */
  park(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.sandbox) return;
      const position = this.nextEventId - 1;
      // While the store refuses writes the snapshot is skipped: the run is replayed when it wakes.
      const keep = this.loaded && !this.stall && this.record.status === 'Running' && !this.sandbox.unusable && !this.env.store.unavailable;
      const worthASnapshot = position >= this.env.snapshots.minEvents;
      if (keep && worthASnapshot && position !== this.snapshotEventId) {
        const { build, ...image } = await this.sandbox.capture();
        // Not synced: a snapshot lost in a power failure only costs a replay.
        await this.env.store.write({ snapshots: { put: [snapshotRecord(this.record, position, build, image)] } }, { durable: false });
        this.snapshotEventId = position;
        this.env.metrics.snapshotsWritten.inc();
      } else if (keep && !worthASnapshot && this.snapshotEventId !== 0) {
        // Woken from a snapshot taken before minEvents was raised: replaying this history costs less than restoring it.
        await this.dropSnapshot();
        this.snapshotEventId = 0;
      }
      this.releaseSandbox();
      this.loaded = false;
      this.env.metrics.evictions.inc();
      if (this.mailbox.length === 0 && this.updateWaiters.size === 0) this.env.onParked(this);
    });
  }

  /**
   * What the run waits on: its pending activities (with their attempts and retries), timers,
   * children and updates. Read-only: a parked run's history is read into a state of its own
   * (nothing is loaded, queued or restarted); undefined for a run whose history cannot be read.
   */
  async pending(): Promise<PendingWork | undefined> {
    const { namespace, runId } = this.record;
    let state = this.loaded ? this.state : undefined;
    if (!state) {
      if (this.quarantine) return undefined;
      let events: HistoryEvent[];
      try {
        events = await this.env.store.readHistory(namespace, runId);
      } catch (error) {
        if (error instanceof StoreError) return undefined;
        throw error;
      }
      state = RunState.of(events);
    }
    const now = this.env.clock.now();
    return {
      activities: [...state.pendingActivities].map(([seq, activity]) => {
        const task = this.env.activities.taskOf(namespace, runId, seq);
        return {
          seq,
          activityType: activity.activityType,
          attempt: task?.attempt ?? 1,
          ...(task && task.notBefore > now ? { nextAttemptAt: new Date(task.notBefore) } : {}),
          ...(task?.lastFailure ? { lastFailure: task.lastFailure } : {}),
          ...(task?.heartbeatDetails !== undefined ? { heartbeatDetails: task.heartbeatDetails } : {}),
          ...this.env.activities.remoteStateOf(namespace, runId, seq),
          ...(activity.cancelRequested ? { cancelRequested: true } : {}),
        };
      }),
      timers: [...state.pendingTimers].map(([seq, fireAt]) => ({ seq, fireAt: new Date(fireAt) })),
      children: [...state.pendingChildren].map(([seq, child]) => ({ seq, workflowId: child.workflowId, runId: child.runId, workflowType: child.workflowType })),
      updates: [...state.pendingUpdates],
    };
  }

  /**
   * The run as it was after event `at`: its history up to there replayed on its version in a
   * sandbox thread (guest code never runs on the engine's thread), then asked (see inspector.ts).
   */
  async inspect(at: number, query?: { name: string; args: unknown[] }): Promise<RunAtEvent> {
    const cut = cutHistory(await this.readHistory({ evenIfQuarantined: true }), at);
    const locator = await this.locator();
    return runAtEvent(cut, await located(this.inspectOnThread(cut, query), locator), locator);
  }

  /** Each activation of the run up to event `until` (default: all). */
  async timeline(until?: number): Promise<TimelineStep[]> {
    const events = await this.readHistory({ evenIfQuarantined: true });
    const cut = cutHistory(events, until ?? events.length);
    const { logs } = await located(this.inspectOnThread(cut), await this.locator());
    return timelineSteps(cut.history, logs);
  }

  /**
   * Replays `cut` on a sandbox thread and asks it. Starts from the run's nearest checkpoint at
   * or before the cut (of this version), and keeps the checkpoints captured on the way.
   */
  private async inspectOnThread(cut: { eventIndex: number; history: ParsedHistory; time: number }, query?: { name: string; args: unknown[] }): Promise<SandboxInspection> {
    const { bundles, store } = this.env;
    const { namespace, runId, version } = this.record;
    const keep = this.keepsCheckpoints();
    const from = keep ? await store.getCheckpoint(namespace, runId, cut.eventIndex).catch(() => undefined) : undefined;
    const use: CheckpointUse = { ...(from ? { from: from as CheckpointData } : {}), ...(keep ? { every: this.env.checkpoints.interval } : {}) };
    const template = this.template(version);
    const answer = await bundles.threads.withTemplate(template, bundles.code(version), (thread) =>
      bundles.threads.request(thread, { op: 'inspect', template, history: cut.history, limits: this.env.limits, time: cut.time, ...(query ? { query } : {}), checkpoints: use }),
    );
    if (answer.checkpoints.length > 0) {
      const put = answer.checkpoints.map((checkpoint) => ({ namespace, runId, version, createdAt: this.env.clock.now(), ...checkpoint }));
      // An optimisation only: a lost or refused write costs the next look a longer replay.
      await store.write({ checkpoints: { put } }, { durable: false }).catch((error: unknown) => this.env.logger.warn({ err: error, runId }, 'could not keep the inspection\'s checkpoints'));
      // The run closed while this look replayed: what it just kept goes with the rest.
      if (!this.keepsCheckpoints()) await this.dropCheckpoints(cut.eventIndex);
    }
    return answer;
  }

  /** Whether looks at this run keep checkpoints: running runs, and closed ones if asked. */
  private keepsCheckpoints(): boolean {
    const { interval, closedRuns } = this.env.checkpoints;
    return interval > 0 && (this.record.status === 'Running' || closedRuns);
  }

  /**
   * Drops the run's checkpoints, once it closed (unless closed runs keep them). Only a history
   * longer than the checkpoint interval can have any: shorter runs skip the store read.
   */
  private async dropCheckpoints(historyLength: number): Promise<void> {
    const { namespace, runId } = this.record;
    const { store, checkpoints } = this.env;
    if (checkpoints.interval === 0 || historyLength < checkpoints.interval) return;
    try {
      const ids = await store.listCheckpoints(namespace, runId);
      if (ids.length > 0) await store.write({ checkpoints: { delete: ids.map((eventId) => ({ namespace, runId, eventId })) } }, { durable: false });
    } catch (error) {
      this.env.logger.debug({ err: error, runId }, 'could not drop the closed run\'s checkpoints');
    }
  }

  /** How the run would be brought back into memory, were it parked now (a sandbox thread checks the snapshot). */
  async residency(): Promise<Residency> {
    if (this.sandbox && !this.sandbox.unusable) return 'resident';
    const { namespace, runId, version } = this.record;
    // Outside the run's lock: a damaged snapshot is only reported here, dropped by the next wake.
    const snapshot = await this.readSnapshot({ drop: false });
    if (!snapshot || snapshot.version !== version) return 'replay';
    const { bundles } = this.env;
    const template = this.template(version);
    const historyLength = (await this.env.store.nextEventId(namespace, runId)) - 1;
    const unusable = await bundles.threads.withTemplate(template, bundles.code(version), (thread) =>
      bundles.threads.request(thread, { op: 'checkSnapshot', template, snapshot, historyLength }),
    );
    return unusable === null ? 'snapshot' : 'replay';
  }

  /** Resolves once every operation queued so far has finished. */
  settled(): Promise<void> {
    return this.lock;
  }

  // Activation loop ---------------------------------------------------------------------

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    this.exclusive(async () => {
      this.drainScheduled = false;
      await this.drain();
    }).catch((error: unknown) => {
      // `drain` settles the jobs it takes; what is still in the mailbox is answered here.
      this.env.logger.error({ err: error, runId: this.record.runId }, 'the activation loop failed');
      this.abandon(this.mailbox.splice(0), error);
    });
  }

  private async drain(): Promise<void> {
    while (this.mailbox.length > 0 && this.record.status === 'Running') {
      // Nothing could be recorded: do not rebuild the run only to be refused.
      const unavailable = this.env.store.unavailable;
      if (unavailable) {
        this.abandon(this.mailbox.splice(0), unavailable);
        return;
      }
      try {
        await this.ensureLoaded({ toWake: true });
      } catch (error) {
        // Nothing was recorded: whoever delivered a job learns why (an internal source retries on its own).
        this.env.logger.warn({ err: error, runId: this.record.runId }, 'cannot load the run');
        this.abandon(this.mailbox.splice(0), error);
        return;
      }
      const delay = this.stall ? undefined : this.activationDelay();
      const jobs = this.refuseBeyondHistoryQuota(this.stall ? this.mailbox.splice(0) : this.takeDeliverableJobs());
      try {
        if (this.stall) await this.recordWithoutActivation(jobs, this.stall.error);
        else if (delay) {
          await this.recordWithoutActivation(jobs, delay);
          // The start or restart due entry brings every pending job back from the history.
          this.loaded = false;
        } else await this.activateOnce(jobs);
      } catch (error) {
        // Every path settles the jobs it was given; should one fail unexpectedly, they are answered too.
        this.env.logger.error({ err: error, runId: this.record.runId }, 'the activation loop failed');
        this.abandon(jobs, error);
      }
    }
    // Jobs that arrived for a run that closed meanwhile: their callers learn it is closed.
    for (const job of this.mailbox.splice(0)) job.onRecorded?.reject(new WorkflowNotRunningError(this.record.workflowId, this.record.status));
  }

  private async activateOnce(jobs: PendingJob[]): Promise<void> {
    if (jobs.length === 0) return;
    const time = this.env.clock.now();
    let sandbox: RemoteSandbox;
    try {
      sandbox = await this.ensureSandbox();
    } catch (error) {
      return this.failedActivation(jobs, error, time);
    }
    let accepted: PendingJob[];
    try {
      accepted = await this.validateUpdates(sandbox, jobs, time);
    } catch {
      // Its sandbox was lost with its thread before anything ran: the jobs wait for the next try.
      this.loaded = false;
      this.mailbox.unshift(...jobs.filter((job) => !job.recorded));
      return;
    }
    if (accepted.length === 0) return;
    if (sandbox.unusable) {
      // A validator crashed its sandbox: the run itself did not change; bring it back.
      try {
        sandbox = await this.ensureSandbox();
      } catch (error) {
        return this.failedActivation(accepted, error, time);
      }
    }
    const batch = this.newBatch().add(...accepted.filter((job) => !job.recorded).map((job) => job.event as NewEvent));
    try {
      const historyLength = this.nextEventId - 1 + batch.events.length;
      const activationJobs = accepted.map((job) => jobOf(job.event));
      this.env.onActivation(this, activationJobs.map((job) => job.kind));
      // As Temporal counts it: the history up to this activation's jobs, included.
      batch.measured = { count: batch.events.length, bytes: historySizeOf(batch.events.map((event, i) => ({ ...event, eventId: this.nextEventId + i }) as HistoryEvent)) };
      const historySize = this.state.historySize + batch.measured.bytes;
      // New commands are held to the namespace's payload quota; replays only to the engine's limits (a quota lowered later must not break recorded histories).
      const limits = { ...this.env.limits, ...this.env.payloadLimitsOf(this.record.namespace) };
      const { raw, checkPayloads } = await sandbox.activate(
        { time, replaying: false, historyLength, historySize, continueAsNewSuggested: historyLength >= this.state.continueAsNewSuggestedAt, jobs: activationJobs },
        limits,
      );
      const validated = validateActivationResult(raw, this.state, limits, checkPayloads);
      const { logs } = validated;
      // Call sites and failures are recorded with the workflow's own files and lines.
      const locator = await this.locator();
      const { commands, taskFailure } = hasFailures(validated.commands, validated.taskFailure) ? locateFailures(validated.commands, validated.taskFailure, locator) : validated;
      this.emitLogs(logs);
      this.lostInARow = 0;
      if (taskFailure) {
        this.crash(batch, new WorkflowTaskError(taskFailure), time);
      } else {
        const completion: NewEvent[] = [{ type: 'WorkflowTaskCompleted', time, historySize }, ...commands.map((command) => eventOfCommand(command, time, this.record, (callSite) => locator.callSite(callSite)))];
        const beyondQuota = this.historyQuotaPassedBy(batch, completion);
        if (beyondQuota) this.env.logger.warn({ runId: this.record.runId, workflowId: this.record.workflowId }, `terminating the run: ${beyondQuota}`);
        batch.add(...(beyondQuota ? [{ type: 'WorkflowTerminated' as const, time, reason: beyondQuota }] : completion));
      }
    } catch (error) {
      if (this.lostWithItsThread(error)) {
        // Not this run's doing: its state goes back to what the history says, and it tries again.
        this.loaded = false;
        this.mailbox.unshift(...accepted.filter((job) => !job.recorded));
        return;
      }
      this.crash(batch, error, time);
    }
    await this.commitActivation(batch, accepted, time);
  }

  /**
   * Why recording `more` after `batch` would take the history past its namespace's
   * `maxHistoryEvents` or `maxHistoryBytes` quota (as Temporal does, the run is then
   * terminated instead), or undefined.
   */
  private historyQuotaPassedBy(batch: ActivationBatch, more: NewEvent[]): string | undefined {
    const { namespace } = this.record;
    const { maxHistoryEvents, maxHistoryBytes } = this.env.quotasNow(namespace);
    const events = this.nextEventId - 1 + batch.events.length + more.length;
    if (maxHistoryEvents !== undefined && events > maxHistoryEvents) {
      return `its history would pass namespace ${namespace}'s quota maxHistoryEvents = ${maxHistoryEvents} (${events} events)`;
    }
    if (maxHistoryBytes === undefined) return undefined;
    const first = this.nextEventId + batch.events.length;
    const bytes = this.state.historySize + (batch.measured?.bytes ?? 0) + historySizeOf(more.map((event, i) => ({ ...event, eventId: first + i }) as HistoryEvent));
    return bytes > maxHistoryBytes ? `its history would pass namespace ${namespace}'s quota maxHistoryBytes = ${maxHistoryBytes} (${bytes} bytes)` : undefined;
  }

  /** The jobs, but for signals and updates from callers while the history is at its quota: they are refused, and nothing is recorded for them. */
  private refuseBeyondHistoryQuota(jobs: PendingJob[]): PendingJob[] {
    const { namespace, runId } = this.record;
    const { maxHistoryEvents, maxHistoryBytes } = this.env.quotasNow(namespace);
    const events = this.nextEventId - 1;
    const refusal =
      maxHistoryEvents !== undefined && events >= maxHistoryEvents
        ? new QuotaExceededError(namespace, 'maxHistoryEvents', maxHistoryEvents, `run ${runId} has ${events} events`)
        : maxHistoryBytes !== undefined && this.state.historySize >= maxHistoryBytes
          ? new QuotaExceededError(namespace, 'maxHistoryBytes', maxHistoryBytes, `run ${runId} has ${this.state.historySize} bytes of history`)
          : undefined;
    if (!refusal) return jobs;
    return jobs.filter((job) => {
      if (job.recorded || !job.fromCaller) return true;
      job.onRecorded?.reject(refusal);
      return false;
    });
  }

  /**
   * The sandbox could not be brought back: a history that no longer replays stalls the run;
   * a crash while replaying is the run's crash; a lost thread retries.
   */
  private async failedActivation(jobs: PendingJob[], failure: unknown, time: number): Promise<void> {
    const error = failure instanceof DeterminismViolationError ? locateDivergences(failure, await this.locator()) : failure;
    if (error instanceof DeterminismViolationError && this.state.failureErrorTypes.some((type) => NONDETERMINISM_FAILS_RUN.has(type))) {
      // Declared to fail the run (`workflowFailureErrorTypes`): its jobs are recorded with the failure.
      const runFailure: FailureInfo = { failureType: 'ApplicationFailure', type: 'NondeterminismError', message: error.message, nonRetryable: true };
      const batch = this.newBatch().add(...jobs.filter((job) => !job.recorded).map((job) => job.event as NewEvent));
      batch.add({ type: 'WorkflowTaskFailed', time, crashKind: 'nondeterminism', message: error.message }, { type: 'WorkflowFailed', time, failure: runFailure });
      this.env.logger.error({ runId: this.record.runId, workflowId: this.record.workflowId, eventIndex: error.eventIndex }, `${error.message}; the run fails (workflowFailureErrorTypes)`);
      return this.commit(batch, jobs).catch((failed: unknown) => this.abandon(jobs, failed));
    }
    if (error instanceof DeterminismViolationError) {
      this.stallOn(error);
      this.mailbox.unshift(...jobs);
      return;
    }
    if (this.lostWithItsThread(error)) {
      this.mailbox.unshift(...jobs);
      return;
    }
    if (!(error instanceof SandboxCrash)) {
      this.env.logger.warn({ err: error, runId: this.record.runId }, 'cannot bring the run back into memory');
      this.abandon(jobs, error);
      return;
    }
    const batch = this.newBatch().add(...jobs.filter((job) => !job.recorded).map((job) => job.event as NewEvent));
    this.crash(batch, error, time);
    await this.commitActivation(batch, jobs, time);
  }

  /**
   * Why the run may not activate yet — a cron run waiting for its tick, or a workflow task
   * that failed on an error in workflow code waiting for its retry (new jobs must not retry it
   * early: each retry would record another failure) — as the error updates get meanwhile; or
   * undefined when it may activate.
   */
  private activationDelay(): Error | undefined {
    // A cron run waits for its tick before its first activation (its start may still be in the mailbox).
    const start = this.mailbox.find((job) => job.event.type === 'WorkflowStarted')?.event as EventOf<'WorkflowStarted'> | undefined;
    const startsAt = this.state.activated ? undefined : (this.state.firstTaskAt ?? start?.firstTaskAt);
    if (startsAt !== undefined && startsAt > this.env.clock.now()) {
      return new WorkflowNotRunningError(this.record.workflowId, 'Running', `it is a cron run that starts at ${new Date(startsAt).toISOString()}`);
    }
    const last = this.state.crashes.at(-1);
    const { restartAt } = this.state;
    if (this.retryNow || last?.kind !== WORKFLOW_ERROR || restartAt === undefined || restartAt <= this.env.clock.now()) return undefined;
    return new WorkflowNotRunningError(this.record.workflowId, 'Running', `its workflow task is failing (${last.message}); it is retried at ${new Date(restartAt).toISOString()}`);
  }

  /** Has the sandbox threads start evaluating this run's bundle, ahead of its wake (see `SandboxThreads.warm`). */
  warmTemplate(): Promise<void> {
    const { bundles } = this.env;
    return bundles.threads.warm(this.template(this.record.version), bundles.code(this.record.version));
  }

  /** What a sandbox thread needs to run the version for this run: the sandbox quotas it started with are part of it. */
  private template(version: string): TemplateSpec {
    return this.env.bundles.template(version, sandboxLimitsIn(this.env.bundles.limits, this.record.sandboxQuotas));
  }

  /** Whether `error` is a sandbox lost with its thread, to be retried (a few times in a row at most). */
  private lostWithItsThread(error: unknown): boolean {
    this.releaseSandbox();
    return error instanceof SandboxLostError && ++this.lostInARow <= MAX_LOST_IN_A_ROW;
  }

  private async commitActivation(batch: ActivationBatch, jobs: PendingJob[], time: number): Promise<void> {
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
   * Runs the validators of the updates among `jobs` (apart from the run: whatever they do is
   * undone). A rejected update is answered at once and leaves nothing in the history; the
   * accepted ones are marked validated. Returns the jobs to activate; throws only when the
   * sandbox was lost with its thread (to be retried).
   */
  private async validateUpdates(sandbox: RemoteSandbox, jobs: PendingJob[], time: number): Promise<PendingJob[]> {
    const updates = jobs.flatMap((job) => (!job.recorded && job.event.type === 'UpdateAccepted' ? [job.event] : []));
    if (updates.length === 0) return jobs;
    let results: { updateId: string; ok: boolean; failure?: FailureInfo }[];
    try {
      results = await sandbox.validate(
        updates.map(({ updateId, name, args }) => ({ updateId, name, args })),
        time,
      );
    } catch (error) {
      if (this.lostWithItsThread(error)) throw error;
      // The validators crashed the sandbox: the updates are refused; the run itself did not change.
      const message = error instanceof SandboxCrash ? `the validator crashed the sandbox (${error.kind}): ${error.message}` : `the update could not be validated: ${(error as Error).message}`;
      results = updates.map(({ updateId }) => ({ updateId, ok: false, failure: { failureType: 'ApplicationFailure', type: 'ValidatorCrashed', message } }));
    }
    const rejected = new Map(results.filter((result) => !result.ok).map((result) => [result.updateId, this.checkedFailure(result)]));
    return jobs.filter((job) => {
      if (job.recorded || job.event.type !== 'UpdateAccepted') return true;
      const failure = rejected.get(job.event.updateId);
      if (failure === undefined) {
        job.event.validated = true;
        return true;
      }
      this.updateWaiters.settle(job.event.updateId, { ok: false, failure, rejected: true });
      job.onRecorded?.resolve(false);
      return false;
    });
  }

  /** A validator's refusal as the caller may see it: well-formed, within the payload limits. */
  private checkedFailure(result: { ok: boolean; failure?: FailureInfo }): FailureInfo {
    const problem = validateQueryResult(result, this.env.limits);
    if (problem === undefined) return result.failure!;
    return { failureType: 'ApplicationFailure', type: 'InvalidValidatorFailure', message: `the validator refused the update, and its refusal cannot be passed on: ${problem}` };
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
    this.retryNow = false;
    const crash =
      error instanceof SandboxCrash
        ? { time, kind: error.kind, message: error.message }
        : error instanceof InvalidCommandError
          ? { time, kind: 'invalid-command', message: error.message }
          : error instanceof WorkflowTaskError
            ? { time, kind: WORKFLOW_ERROR, message: error.message }
            : { time, kind: 'host-error', message: error instanceof Error ? error.message : String(error) };
    const { workflowType, workflowId, runId } = this.record;
    const decision = this.env.supervisors.for(workflowType).decide(this.state.crashes, crash);
    this.env.metrics.crashes.inc({ workflow_type: workflowType, kind: crash.kind });
    this.releaseSandbox();
    if (decision.restart) {
      this.env.metrics.restarts.inc({ workflow_type: workflowType });
      const what = crash.kind === WORKFLOW_ERROR ? 'workflow task failed (an error in workflow code); retried until the code is fixed' : 'sandbox crashed; its supervisor restarts it';
      this.env.logger.warn({ runId, workflowId, crash, restartInMs: decision.delayMs }, what);
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
    this.stall = { error, at: this.env.clock.now() };
    this.releaseSandbox();
    this.env.logger.error({ runId: this.record.runId, workflowId: this.record.workflowId, eventIndex: error.eventIndex }, error.message);
  }

  /**
   * A stalled run, or one whose failing workflow task waits for its retry, still records
   * signals and cancel requests (nothing acknowledged is lost), but cannot answer updates:
   * their callers get `refusal`. The jobs are delivered when the run activates again.
   */
  private async recordWithoutActivation(taken: PendingJob[], refusal: Error): Promise<void> {
    const jobs: PendingJob[] = [];
    for (const job of taken) {
      if (job.recorded) continue;
      if (job.event.type !== 'UpdateAccepted') jobs.push(job);
      else {
        job.onRecorded?.reject(refusal); // its sender learns why (see startUpdate)
      }
    }
    if (jobs.length === 0) return;
    try {
      await this.commit(this.newBatch().add(...jobs.map((job) => job.event as NewEvent)), jobs);
    } catch (error) {
      this.abandon(jobs, error);
    }
  }

  /**
   * Mailbox jobs that still apply (a timer cancelled meanwhile, for example, is dropped), and
   * of two jobs that settle the same thing (two outcomes of one activity), only the first.
   */
  private takeDeliverableJobs(): PendingJob[] {
    const taken = new Map<string, PendingJob>();
    return this.mailbox.splice(0).filter((job) => {
      const key = settlesKey(job.event);
      const first = key === undefined ? undefined : taken.get(key);
      if (job.recorded || (this.applies(job.event) && !first)) {
        if (key !== undefined) taken.set(key, job);
        return true;
      }
      if (job.event.type !== 'UpdateAccepted') job.onRecorded?.resolve(false);
      else if (first) {
        // The same update twice in one activation: the second is answered as the first (accepted, or rejected by its validator).
        const answer = first.onRecorded;
        first.onRecorded = {
          resolve: (recorded) => (answer?.resolve(recorded), job.onRecorded?.resolve(recorded)),
          reject: (error) => (answer?.reject(error), job.onRecorded?.reject(error)),
        };
      } else {
        // Sent again under the id of an update this run accepted: its callers wait for that one.
        job.onRecorded?.resolve(true);
        if (this.state.finishedUpdates.has(job.event.updateId)) void this.answerFinishedUpdate(job.event.updateId);
      }
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
      case 'ExternalWorkflowSignaled':
      case 'SignalExternalWorkflowFailed':
      case 'ExternalWorkflowCancelRequested':
      case 'RequestCancelExternalWorkflowFailed':
        return this.state.pendingExternal.has(event.seq);
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
    if (batch.closeEvent) {
      // Retention as the run closes applies to it (a later change applies to runs closing later, as in Temporal).
      const retentionMs = await this.env.retentionOf(record.namespace);
      if (retentionMs !== undefined) batch.duePuts.push({ dueAt: batch.closeEvent.time + retentionMs, namespace: record.namespace, owner: record.runId, key: formatDueKey({ kind: 'retention' }) });
    }
    this.justRead = undefined; // no longer the whole history
    const events = batch.events.map((event, i) => ({ ...event, eventId: this.nextEventId + i }) as HistoryEvent);
    const next = this.nextRecord(batch);
    const recordChanged = this.isNew || batch.closeEvent !== undefined || batch.recordChanged || !sameProgress(record, next);
    const outboxDeletes = [...batch.outboxDeletes, ...jobs.flatMap((job) => (job.outboxId ? [job.outboxId] : []))];
    batch.taskCancelPuts.push(...this.cancelledTasks(batch));
    for (const task of batch.taskDeletes) this.env.activities.freeze(task.namespace, task.runId, task.seq);
    batch.outboxPuts.push(...jobs.flatMap((job) => (job.recorded ? [] : (job.followUps ?? []))));
    await this.env.store.write({
      histories: [{ namespace: record.namespace, runId: record.runId, events }],
      runs: recordChanged ? [this.isNew ? { record: next } : { record: next, previousStatus: record.status, previousSearchAttributes: record.searchAttributes ?? {} }] : [],
      latestRuns: this.isNew ? [{ namespace: record.namespace, workflowId: record.workflowId, runId: record.runId }] : [],
      dueEntries: { put: batch.duePuts, delete: batch.dueDeletes },
      activityTasks: { put: [...batch.taskPuts, ...batch.taskCancelPuts], delete: batch.taskDeletes },
      outbox: { put: batch.outboxPuts, delete: outboxDeletes },
      snapshots: { delete: batch.closeEvent ? [{ namespace: record.namespace, runId: record.runId }] : [] },
      quarantine: { delete: batch.closeEvent && this.quarantine ? [{ namespace: record.namespace, runId: record.runId }] : [] },
    });
    for (const key of Object.keys(record) as (keyof RunRecord)[]) if (!(key in next)) delete record[key];
    Object.assign(record, next);
    this.isNew = false;
    this.nextEventId += events.length;
    // The activation's job events were measured for it already.
    const measured = batch.measured ?? { count: 0, bytes: 0 };
    this.state.historySize += measured.bytes + historySizeOf(events.slice(measured.count));
    this.act(events, batch, jobs);
    if (batch.closeEvent && !this.keepsCheckpoints()) void this.dropCheckpoints(this.nextEventId - 1);
  }

  /**
   * The tasks of activities asked to cancel whose end the workflow waits for, marked so in the
   * same write as the request, so a restart does not run them again unasked. A task scheduled
   * in this very batch is marked where it is (it will not run at all); the others are returned.
   */
  private cancelledTasks(batch: ActivationBatch): ActivityTask[] {
    return batch.taskCancels.flatMap(({ namespace, runId, seq }) => {
      const index = batch.taskPuts.findIndex((task) => task.seq === seq);
      if (index >= 0) {
        batch.taskPuts[index] = { ...batch.taskPuts[index], cancelRequested: true };
        return [];
      }
      const task = this.env.activities.taskOf(namespace, runId, seq);
      return task ? [{ ...task, cancelRequested: true }] : [];
    });
  }

  /** The run record as the batch leaves it: status, visibility, supervision, task failure. */
  private nextRecord(batch: ActivationBatch): RunRecord {
    const next: RunRecord = { ...this.record };
    if (batch.recordChanged) {
      next.searchAttributes = { ...this.state.searchAttributes };
      if (Object.keys(this.state.memo).length > 0) next.memo = { ...this.state.memo };
      else delete next.memo;
    }
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
    for (const entry of batch.dueDeletes) this.env.timers.remove(entry);
    for (const entry of batch.duePuts) this.env.timers.add(entry);
    for (const task of batch.taskPuts) this.env.activities.dispatch(task);
    for (const task of batch.taskDeletes) this.env.activities.cancel(namespace, runId, task.seq);
    for (const task of batch.taskCancelPuts) this.env.activities.requestCancel(task);
    for (const event of events) {
      if (event.type === 'UpdateCompleted' || event.type === 'UpdateRejected') {
        this.updateWaiters.settle(event.updateId, updateOutcomeOf(event));
      }
    }
    if (batch.outboxPuts.length > 0) this.env.onOutbox(batch.outboxPuts);
    if (batch.closeEvent) {
      // Updates still running end with the run (as in Temporal); their callers are told so.
      this.updateWaiters.settleAll({ ok: false, failure: UPDATE_OUTLIVED_RUN, rejected: false });
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
  private async ensureLoaded(options: { evenIfQuarantined?: boolean; toWake?: boolean } = {}): Promise<void> {
    if (this.loaded) return;
    // For a caller that brings the sandbox back, the snapshot too: two reads at once, not one after the other.
    const withSnapshot = options.toWake === true && !this.isNew && (!this.sandbox || this.sandbox.unusable);
    const [read, snapshotRead] = await Promise.allSettled([this.readHistory(options), withSnapshot ? this.readSnapshot() : undefined]);
    if (read.status === 'rejected') throw read.reason;
    const events = read.value;
    let history: JustRead | undefined;
    try {
      // A snapshot that could not be read is read again by `ensureSandbox` (which reports the failure).
      history = { events, parsed: parseHistory(events), ...(withSnapshot && snapshotRead.status === 'fulfilled' ? { snapshot: { record: snapshotRead.value } } : {}) };
    } catch (error) {
      if (!(error instanceof HistoryFormatError)) throw error;
      this.stallOn(new DeterminismViolationError({ eventIndex: error.eventIndex, expected: 'a well-formed history', actual: error.message }));
    }
    this.adopt(events);
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
    this.adopt(await this.readHistory());
    this.justRead = undefined;
  }

  /** Takes the host's view of the run (no code runs) from its whole history. */
  private adopt(events: readonly HistoryEvent[]): void {
    this.state = RunState.of(events);
    this.state.historySize = historySizeOf(events);
    this.nextEventId = events.length + 1;
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
   * after it, or replayed from the start (in a sandbox thread). Throws
   * `DeterminismViolationError`, `SandboxCrash` or `SandboxLostError`.
   */
  private async ensureSandbox(): Promise<RemoteSandbox> {
    if (this.sandbox && !this.sandbox.unusable) return this.sandbox;
    const { bundles } = this.env;
    const template = this.template(this.record.version);
    if (this.isNew) {
      this.sandbox = await RemoteSandbox.create(bundles.threads, this.env.newSandboxId(), template, bundles.code(this.record.version), this.env.tenantOf(this.record.namespace));
      return this.sandbox;
    }
    const { justRead } = this;
    this.justRead = undefined;
    const [history, snapshot] = await Promise.all([justRead ?? this.readParsedHistory(), justRead?.snapshot ? justRead.snapshot.record : this.readSnapshot()]);
    const woken = await this.env.wakeSlots(() =>
      RemoteSandbox.wake(
        bundles.threads,
        this.env.newSandboxId(),
        template,
        bundles.code(this.record.version),
        { parsed: history.parsed, length: history.events.length, snapshot: snapshot?.version === this.record.version ? snapshot : undefined, limits: this.env.limits },
        this.env.tenantOf(this.record.namespace),
      ),
    );
    this.sandbox = woken.sandbox;
    this.snapshotEventId = woken.snapshotEventId;
    this.env.metrics.wakes.inc({ from: woken.from });
    if (woken.unusedSnapshot) {
      const { reason, permanent } = woken.unusedSnapshot;
      this.env.logger.debug({ runId: this.record.runId, reason }, 'snapshot not used; the history was replayed');
      if (permanent) await this.dropSnapshot();
    }
    return woken.sandbox;
  }

  /** Maps the run's version's bundle locations to its sources (kept while the run stays on that version). */
  private async locator(): Promise<BundleLocator> {
    const { version } = this.record;
    if (this.versionLocator?.version !== version) {
      try {
        this.versionLocator = { version, locator: await this.env.bundles.locator(version) };
      } catch (error) {
        // Without its source map the run goes on, in bundle locations (until it is brought back into memory).
        this.env.logger.warn({ err: error, runId: this.record.runId, version }, 'cannot read the bundle\'s source map; locations are the bundle\'s');
        this.versionLocator = { version, locator: new BundleLocator(undefined) };
      }
    }
    return this.versionLocator.locator;
  }

  /** The stack trace query `name` answered from the guest's stacks, in the workflow's source locations. */
  private async answerStackTraceQuery(name: string, guestStacks: unknown): Promise<unknown> {
    const locator = await this.locator();
    // Half the payload limit for sources leaves room for the stacks.
    return answerStackTraceQuery(name, String(guestStacks ?? ''), locator, this.env.limits.maxPayloadBytes / 2);
  }

  /** A query on the live sandbox, or — for a closed run — on one replayed from the history, thrown away after. */
  private async runQuery(name: string, args: unknown[], time: number): Promise<QueryResult> {
    if (this.record.status === 'Running') {
      await this.ensureLoaded({ toWake: true });
      if (this.stall) throw this.stall.error;
      const sandbox = await this.ensureSandbox();
      const result = await sandbox.query(name, args, time);
      if (!sandbox.unusable) this.env.onResident(this);
      return result;
    }
    const { bundles } = this.env;
    const template = this.template(this.record.version);
    const { parsed } = await this.readParsedHistory();
    return bundles.threads.withTemplate(template, bundles.code(this.record.version), (thread) =>
      bundles.threads.request(thread, { op: 'queryReplayed', template, history: parsed, limits: this.env.limits, name, args, time }),
    );
  }

  /** The run's snapshot; a damaged one counts as none (it only costs a replay), and is dropped unless `drop` is false. */
  private async readSnapshot(options: { drop?: boolean } = {}): Promise<SnapshotRecord | undefined> {
    const { namespace, runId } = this.record;
    try {
      return await this.env.store.getSnapshot(namespace, runId);
    } catch (error) {
      if (!(error instanceof StoreError) || error.code !== 'AION_STORE_CORRUPT') throw error;
      if (options.drop === false) return undefined;
      this.env.logger.warn({ err: error, runId }, 'the run\'s snapshot is damaged; it is dropped and the run replayed');
      this.env.metrics.damagedRecords.inc({ kind: 'snapshot' });
      await this.dropSnapshot();
      return undefined;
    }
  }

  /** Deletes the run's snapshot. Not synced, and a failure is ignored: a snapshot kept only costs a read. */
  private async dropSnapshot(): Promise<void> {
    const { namespace, runId } = this.record;
    await this.env.store.write({ snapshots: { delete: [{ namespace, runId }] } }, { durable: false }).catch(() => undefined);
  }

  private async readParsedHistory(): Promise<LoadedHistory> {
    const events = await this.readHistory();
    return { events, parsed: parseHistory(events) };
  }

  private releaseSandbox(): void {
    this.sandbox?.release();
    this.sandbox = undefined;
  }

  /** Serialises everything that touches the run's sandbox or history. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.busy++;
    const result = this.env.work.track(() => this.lock.then(fn)).finally(() => {
      if (--this.busy === 0 && this.sandbox) this.env.onIdle(this);
    });
    this.lock = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** The names in `workflowFailureErrorTypes` that make a history that stopped replaying fail its run. */
const NONDETERMINISM_FAILS_RUN = new Set(['NondeterminismError', 'DeterminismViolationError', 'Error']);

/** What the history says of update `updateId`: its outcome, 'running' (accepted, not completed), or undefined (never accepted). */
function recordedUpdate(history: readonly HistoryEvent[], updateId: string): UpdateOutcome | 'running' | undefined {
  let accepted = false;
  for (const event of history) {
    if (event.type === 'UpdateAccepted' && event.updateId === updateId) accepted = true;
    else if ((event.type === 'UpdateCompleted' || event.type === 'UpdateRejected') && event.updateId === updateId) return updateOutcomeOf(event);
  }
  return accepted ? 'running' : undefined;
}

/** The outcome an update's closing event records. */
function updateOutcomeOf(event: EventOf<'UpdateCompleted'> | EventOf<'UpdateRejected'>): UpdateOutcome {
  return event.failure ? { ok: false, failure: event.failure, rejected: event.type === 'UpdateRejected' } : { ok: true, result: event.type === 'UpdateCompleted' ? event.result : undefined };
}

/** How Temporal ends an update that was still running when its workflow closed. */
const UPDATE_OUTLIVED_RUN: FailureInfo = {
  failureType: 'ApplicationFailure',
  type: 'AcceptedUpdateCompletedWorkflow',
  message: 'Workflow Update failed because the Workflow completed before the Update completed.',
  nonRetryable: true,
};

/** Whether two records agree on what a batch without a close or an upsert can change. */
function sameProgress(a: RunRecord, b: RunRecord): boolean {
  return (
    a.taskFailure?.message === b.taskFailure?.message &&
    a.supervision?.crashes === b.supervision?.crashes &&
    a.supervision?.restartAt === b.supervision?.restartAt &&
    a.continuedToRunId === b.continuedToRunId
  );
}

/** What a job settles (an activity's outcome, a timer, an update…): two jobs settling the same thing are one too many. */
function settlesKey(event: PendingJob['event']): string | undefined {
  switch (event.type) {
    case 'TimerFired':
      return `timer:${event.seq}`;
    case 'ActivityCompleted':
    case 'ActivityFailed':
      return `activity:${event.seq}`;
    case 'ChildWorkflowCompleted':
    case 'ChildWorkflowFailed':
      return `child:${event.seq}`;
    case 'ExternalWorkflowSignaled':
    case 'SignalExternalWorkflowFailed':
    case 'ExternalWorkflowCancelRequested':
    case 'RequestCancelExternalWorkflowFailed':
      return `external:${event.seq}`;
    case 'UpdateAccepted':
      return `update:${event.updateId}`;
    case 'CancelRequested':
      return 'cancel';
    default:
      return undefined;
  }
}
