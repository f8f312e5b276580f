/**
 * Schedules: start a workflow on a cron expression or an interval, durably.
 *
 * A schedule's definition and state live in the store; its next fire time is an entry of the
 * due-time index. A fire is one atomic write — the new state, the next due entry, and an
 * outbox entry per run to start — so a crash never fires a tick twice nor loses one: the
 * outbox starts the runs exactly once, and an unfired tick is still due after a restart
 * (where the catch-up policy decides what to do with the ticks missed meanwhile).
 *
 * @module
 */
import type { DueEntry, EventStore, OutboxEntry, RunStatus, ScheduleRecord } from '../../store/types.js';
import { AionError, InvalidArgumentError } from '../errors.js';
import type { HistoryEvent } from '../history/events.js';
import { checkArgs, checkId } from '../input.js';
import type { Logger } from '../logger.js';
import { outboxEntry, type OutboxEffect } from '../outbox.js';
import type { OutboxProcessor } from '../outbox-processor.js';
import type { PayloadLimits } from '../payloads.js';
import type { DueTimers } from '../timers.js';
import { formatDueKey } from '../due-keys.js';
import { KeyedLock } from '../keyed-lock.js';
import { compileSpec, type ScheduleSpec } from './spec.js';
import { runIdFor } from '../../store/partitions.js';

export type { ScheduleSpec } from './spec.js';

/** What to do when a tick comes while the previous run is still running. */
export type OverlapPolicy = 'Skip' | 'BufferOne' | 'CancelOther' | 'AllowAll';
/** What to do with the ticks missed while the engine was down. */
export type CatchupPolicy = 'One' | 'All' | 'Skip';

const OVERLAP_POLICIES: OverlapPolicy[] = ['Skip', 'BufferOne', 'CancelOther', 'AllowAll'];
const CATCHUP_POLICIES: CatchupPolicy[] = ['One', 'All', 'Skip'];
/** A tick fired less than this late is on time, not a catch-up. */
const ON_TIME_MS = 60_000;
/** At most this many missed ticks are fired by the `All` catch-up policy. */
const MAX_CATCHUP = 1000;
const RECENT_ACTIONS = 10;

export interface ScheduleAction {
  workflowType: string;
  args?: unknown[];
  /** Started runs get the id `<prefix>-<scheduled time ISO>` (default prefix: the schedule id). */
  workflowIdPrefix?: string;
  taskQueue?: string;
}

export interface ScheduleOptions {
  scheduleId: string;
  namespace?: string;
  spec: ScheduleSpec;
  action: ScheduleAction;
  /** Default `Skip`. */
  overlap?: OverlapPolicy;
  /** Default `One`. */
  catchup?: CatchupPolicy;
  paused?: boolean;
}

export interface ScheduleUpdate {
  spec?: ScheduleSpec;
  action?: ScheduleAction;
  overlap?: OverlapPolicy;
  catchup?: CatchupPolicy;
}

interface Definition {
  spec: ScheduleSpec;
  action: Required<Pick<ScheduleAction, 'workflowType' | 'args' | 'taskQueue'>> & { workflowIdPrefix: string };
  overlap: OverlapPolicy;
  catchup: CatchupPolicy;
  paused: boolean;
  createdAt: number;
}

export interface ScheduleActionRecord {
  scheduledAt: number;
  startedAt: number;
  workflowId: string;
  runId: string;
}

interface State {
  nextFireAt?: number;
  lastFireAt?: number;
  fires: number;
  skipped: number;
  /** Scheduled time of the tick buffered behind the running run (`BufferOne`). */
  buffered?: number;
  running?: { workflowId: string; runId: string };
  recentActions: ScheduleActionRecord[];
}

export interface ScheduleDescription {
  scheduleId: string;
  namespace: string;
  spec: ScheduleSpec;
  action: ScheduleAction;
  overlap: OverlapPolicy;
  catchup: CatchupPolicy;
  paused: boolean;
  nextFireTimes: Date[];
  fires: number;
  skipped: number;
  buffered: boolean;
  running?: { workflowId: string; runId: string };
  recentActions: ScheduleActionRecord[];
}

type Schedule = { namespace: string; scheduleId: string; definition: Definition; state: State };

/** Emitted (as `scheduleFired` on `engine.events`) once a fire is recorded. */
export interface ScheduleFiredEvent {
  namespace: string;
  scheduleId: string;
  /** The ticks handled by this fire (several when catching up, none when all were skipped). */
  ticks: Date[];
  /** Runs it starts (their creation follows the record). */
  started: { workflowId: string; runId: string }[];
  /** Ticks skipped so far in all (overlap or catch-up policy). */
  skipped: number;
  buffered: boolean;
}

/** What schedules need of the runs they start: wherever those runs are served. */
export interface ScheduledRuns {
  /** Settles once a run being created now is (undefined: none is). */
  creationOf(namespace: string, runId: string): Promise<unknown> | undefined;
  statusOf(namespace: string, runId: string): Promise<RunStatus | undefined>;
  /** Asks the run to cancel (nothing if it is no longer running). */
  requestCancel(namespace: string, target: { workflowId: string; runId: string }, reason: string): Promise<void>;
}

/** The calls that change schedules: a partition thread has the main thread make them (`changedBy`). */
export const SCHEDULE_CHANGES = ['create', 'update', 'pause', 'resume', 'trigger', 'backfill', 'delete'] as const;
export type ScheduleChange = (typeof SCHEDULE_CHANGES)[number];

export class Schedules {
  /** One operation at a time per schedule (ticks, changes, buffered fires). */
  private readonly locks = new KeyedLock();

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly runs: ScheduledRuns,
    private readonly outbox: OutboxProcessor,
    private readonly timers: DueTimers,
    private readonly logger: Logger,
    private readonly payloadLimitsOf: (namespace: string) => PayloadLimits,
    private readonly assertOpen: () => void,
    private readonly emitFired: (event: ScheduleFiredEvent) => void,
    /** Set where the schedules and their timers are kept by another thread (a partition thread's: the main thread), which makes the changes. */
    private readonly changedBy?: (change: ScheduleChange, args: unknown[]) => Promise<unknown>,
  ) {
    outbox.handle('startScheduled', (entry, effect) => this.startScheduled(entry, effect as Extract<OutboxEffect, { kind: 'startScheduled' }>));
  }

  async create(options: ScheduleOptions): Promise<ScheduleDescription> {
    if (this.changedBy) return this.changedBy('create', [options]) as Promise<ScheduleDescription>;
    this.assertOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('schedules.create takes options');
    const namespace = checkId(options.namespace ?? 'default', 'namespace');
    const scheduleId = checkId(options.scheduleId, 'scheduleId');
    return this.exclusive(namespace, scheduleId, async () => {
      if (await this.store.getSchedule(namespace, scheduleId)) throw new InvalidArgumentError(`schedule ${scheduleId} already exists`);
      const now = Date.now();
      const definition = this.definitionOf({ ...options, scheduleId }, now, namespace);
      const state: State = { fires: 0, skipped: 0, recentActions: [] };
      if (!definition.paused) state.nextFireAt = compileSpec(definition.spec, definition.createdAt).next(now);
      const schedule: Schedule = { namespace, scheduleId, definition, state };
      await this.save(schedule, undefined);
      return describe(schedule);
    });
  }

  async describe(scheduleId: string, options: { namespace?: string } = {}): Promise<ScheduleDescription> {
    this.assertOpen();
    return describe(await this.load(checkId(options.namespace ?? 'default', 'namespace'), checkId(scheduleId, 'scheduleId')));
  }

  async list(options: { namespace?: string } = {}): Promise<ScheduleDescription[]> {
    this.assertOpen();
    const records = await this.store.listSchedules(checkId(options.namespace ?? 'default', 'namespace'));
    return records.map((record) => describe(asSchedule(record)));
  }

  async update(scheduleId: string, update: ScheduleUpdate, options: { namespace?: string } = {}): Promise<ScheduleDescription> {
    if (this.changedBy) return this.changedBy('update', [scheduleId, update, options]) as Promise<ScheduleDescription>;
    return this.change(scheduleId, options.namespace, (schedule) => {
      const merged = { ...schedule.definition, ...update, scheduleId, action: { ...schedule.definition.action, ...update.action } } as ScheduleOptions;
      schedule.definition = { ...this.definitionOf(merged, schedule.definition.createdAt, schedule.namespace), paused: schedule.definition.paused };
    });
  }

  async pause(scheduleId: string, options: { namespace?: string } = {}): Promise<ScheduleDescription> {
    if (this.changedBy) return this.changedBy('pause', [scheduleId, options]) as Promise<ScheduleDescription>;
    return this.change(scheduleId, options.namespace, (schedule) => {
      schedule.definition.paused = true;
    });
  }

  /** Resumes a paused schedule from now on (ticks that passed while paused are not caught up). */
  async resume(scheduleId: string, options: { namespace?: string } = {}): Promise<ScheduleDescription> {
    if (this.changedBy) return this.changedBy('resume', [scheduleId, options]) as Promise<ScheduleDescription>;
    return this.change(scheduleId, options.namespace, (schedule) => {
      schedule.definition.paused = false;
    });
  }

  /** Fires now (under `overlap`, default the schedule's); the regular ticks are not affected. */
  async trigger(scheduleId: string, options: { namespace?: string; overlap?: OverlapPolicy } = {}): Promise<ScheduleDescription> {
    if (this.changedBy) return this.changedBy('trigger', [scheduleId, options]) as Promise<ScheduleDescription>;
    if (options.overlap !== undefined && !OVERLAP_POLICIES.includes(options.overlap)) throw new InvalidArgumentError(`overlap must be one of ${OVERLAP_POLICIES.join(', ')}`);
    return this.withSchedule(scheduleId, options.namespace, async (schedule) => {
      // Strictly after the last tick: the tick names the started workflow id.
      const lastTick = schedule.state.recentActions.at(-1)?.scheduledAt ?? -Infinity;
      await this.fire(schedule, [Math.max(Date.now(), lastTick + 1)], schedule.state.nextFireAt, { overlap: options.overlap, keepNextFire: true });
      return describe(schedule);
    });
  }

  /**
   * Fires the ticks the spec has from `start` to `end` (both included, at most 1,000), as if
   * they were happening now, under `overlap` (default: the schedule's): runs for times in the
   * past, Temporal's backfill. The regular ticks are not affected.
   */
  async backfill(scheduleId: string, backfill: { start: Date | number | string; end: Date | number | string; overlap?: OverlapPolicy }, options: { namespace?: string } = {}): Promise<ScheduleDescription> {
    if (this.changedBy) return this.changedBy('backfill', [scheduleId, backfill, options]) as Promise<ScheduleDescription>;
    const start = backfill.start === null || backfill.start === undefined ? NaN : new Date(backfill.start).getTime();
    const end = backfill.end === null || backfill.end === undefined ? NaN : new Date(backfill.end).getTime();
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) throw new InvalidArgumentError('a backfill needs a start and an end time, the end not before the start');
    if (backfill.overlap !== undefined && !OVERLAP_POLICIES.includes(backfill.overlap)) throw new InvalidArgumentError(`overlap must be one of ${OVERLAP_POLICIES.join(', ')}`);
    return this.withSchedule(scheduleId, options.namespace, async (schedule) => {
      const times = compileSpec(schedule.definition.spec, schedule.definition.createdAt);
      const ticks: number[] = [];
      for (let tick = times.next(start - 1); tick !== undefined && tick <= end; tick = times.next(tick)) {
        if (ticks.length === MAX_CATCHUP) throw new InvalidArgumentError(`a backfill fires at most ${MAX_CATCHUP} ticks: shorten its range`);
        ticks.push(tick);
      }
      await this.fire(schedule, ticks, schedule.state.nextFireAt, { overlap: backfill.overlap, keepNextFire: true });
      return describe(schedule);
    });
  }

  /** Deletes the schedule; runs it started go on. */
  async delete(scheduleId: string, options: { namespace?: string } = {}): Promise<void> {
    if (this.changedBy) return this.changedBy('delete', [scheduleId, options]) as Promise<void>;
    await this.withSchedule(scheduleId, options.namespace, async (schedule) => {
      await this.store.write({
        schedules: { delete: [{ namespace: schedule.namespace, scheduleId: schedule.scheduleId }] },
        dueEntries: { delete: schedule.state.nextFireAt === undefined ? [] : [dueEntry(schedule, schedule.state.nextFireAt)] },
      });
    });
  }

  // Engine hooks ----------------------------------------------------------------------------

  /** A schedule's tick came due: resolves once its fire is recorded (or was not due any more). */
  onDue(entry: DueEntry): Promise<void> {
    return this.exclusive(entry.namespace, entry.owner, async () => {
      const record = await this.store.getSchedule(entry.namespace, entry.owner);
      if (!record) return;
      const schedule = asSchedule(record);
      // A due entry the schedule moved on from (updated, paused, already fired).
      if (schedule.definition.paused || schedule.state.nextFireAt !== entry.dueAt) return;
      await this.fire(schedule, this.ticksToFire(schedule, entry.dueAt, Date.now()), entry.dueAt);
    });
  }

  /** A run closed: if a schedule buffered a tick behind it, that tick fires now. */
  onRunClosed(record: { namespace: string; workflowId: string; scheduleId?: string; status: string }): void {
    if (!record.scheduleId || record.status === 'ContinuedAsNew') return;
    const { namespace, scheduleId } = record;
    void this.exclusive(namespace, scheduleId, async () => {
      const stored = await this.store.getSchedule(namespace, scheduleId);
      if (stored) await this.fireBuffered(asSchedule(stored));
    }).catch((error: unknown) => this.logger.error({ err: error, scheduleId }, 'could not fire a buffered tick'));
  }

  /** At engine start: buffered ticks whose blocking run closed while the engine was down. */
  async recover(): Promise<void> {
    for (const record of await this.store.listSchedules()) {
      const schedule = asSchedule(record);
      if (schedule.state.buffered !== undefined) await this.exclusive(schedule.namespace, schedule.scheduleId, () => this.fireBuffered(schedule));
    }
  }

  // Firing ----------------------------------------------------------------------------------

  /** The ticks to fire for a tick due at `dueAt`, at `now`, per the catch-up policy. */
  private ticksToFire(schedule: Schedule, dueAt: number, now: number): number[] {
    const times = compileSpec(schedule.definition.spec, schedule.definition.createdAt);
    const ticks = [dueAt];
    for (let next = times.next(dueAt); next !== undefined && next <= now && ticks.length < MAX_CATCHUP; next = times.next(next)) ticks.push(next);
    const onTime = ticks.length === 1 && now - dueAt <= ON_TIME_MS;
    if (onTime) return ticks;
    switch (schedule.definition.catchup) {
      case 'All':
        return ticks;
      case 'One':
        return [ticks[ticks.length - 1]];
      case 'Skip':
        schedule.state.skipped += ticks.length;
        return [];
    }
  }

  /**
   * Fires `ticks` under the overlap policy, in one write with the schedule's next tick (the
   * one after `now`; `previousDue` is the due entry it replaces). `CancelOther` requests the
   * running run's cancellation and buffers the tick until that run has closed.
   */
  private async fire(
    schedule: Schedule,
    ticks: number[],
    previousDue: number | undefined,
    options: { overlap?: OverlapPolicy; keepNextFire?: boolean } = {},
  ): Promise<void> {
    const { state, definition } = schedule;
    const overlap = options.overlap ?? definition.overlap;
    const now = Date.now();
    const starts: OutboxEntry[] = [];
    let cancel: { workflowId: string; runId: string } | undefined;
    let running = await this.runningRun(schedule);
    for (const tick of ticks) {
      if (running && overlap === 'Skip') {
        state.skipped++;
        continue;
      }
      if (running && (overlap === 'BufferOne' || overlap === 'CancelOther')) {
        if (overlap === 'CancelOther') cancel = running;
        if (state.buffered === undefined) state.buffered = tick;
        else state.skipped++;
        continue;
      }
      running = this.recordStart(schedule, tick, now, starts);
    }
    state.lastFireAt = now;
    // Out-of-band fires (trigger, backfill) leave the regular tick due as it is.
    if (!definition.paused && !options.keepNextFire) state.nextFireAt = compileSpec(definition.spec, definition.createdAt).next(now);
    await this.save(schedule, previousDue, starts);
    this.outbox.process(starts);
    if (cancel) await this.cancelRun(schedule.namespace, cancel);
    this.fired(schedule, ticks, starts);
  }

  private fired(schedule: Schedule, ticks: number[], starts: OutboxEntry[]): void {
    this.emitFired({
      namespace: schedule.namespace,
      scheduleId: schedule.scheduleId,
      ticks: ticks.map((tick) => new Date(tick)),
      started: starts.map((entry) => {
        const effect = entry.effect as { workflowId: string; runId: string };
        return { workflowId: effect.workflowId, runId: effect.runId };
      }),
      skipped: schedule.state.skipped,
      buffered: schedule.state.buffered !== undefined,
    });
  }

  private async fireBuffered(schedule: Schedule): Promise<void> {
    const tick = schedule.state.buffered;
    if (tick === undefined || (await this.runningRun(schedule))) return;
    delete schedule.state.buffered;
    const starts: OutboxEntry[] = [];
    this.recordStart(schedule, tick, Date.now(), starts);
    await this.save(schedule, schedule.state.nextFireAt, starts);
    this.outbox.process(starts);
    this.fired(schedule, [tick], starts);
  }

  /** Adds a start to `starts` and to the schedule's state; returns the run it will be. */
  private recordStart(schedule: Schedule, tick: number, now: number, starts: OutboxEntry[]): { workflowId: string; runId: string } {
    const { action } = schedule.definition;
    const workflowId = `${action.workflowIdPrefix}-${new Date(tick).toISOString()}`;
    const started = { workflowId, runId: runIdFor(schedule.namespace, workflowId) };
    starts.push(
      outboxEntry(schedule.namespace, {
        kind: 'startScheduled',
        namespace: schedule.namespace,
        scheduleId: schedule.scheduleId,
        workflowId: started.workflowId,
        runId: started.runId,
        workflowType: action.workflowType,
        args: action.args,
        taskQueue: action.taskQueue,
      }),
    );
    const { state } = schedule;
    state.fires++;
    state.running = started;
    state.recentActions = [...state.recentActions, { scheduledAt: tick, startedAt: now, ...started }].slice(-RECENT_ACTIONS);
    return started;
  }

  /** The run the schedule last started, if it (or its continue-as-new successor) is running. */
  private async runningRun(schedule: Schedule): Promise<{ workflowId: string; runId: string } | undefined> {
    const last = schedule.state.running;
    if (!last) return undefined;
    await this.runs.creationOf(schedule.namespace, last.runId)?.catch(() => undefined);
    const latest = await this.store.getLatestRunId(schedule.namespace, last.workflowId);
    const status = latest === undefined ? undefined : await this.runs.statusOf(schedule.namespace, latest);
    return status === 'Running' ? { workflowId: last.workflowId, runId: latest! } : undefined;
  }

  private startScheduled(entry: OutboxEntry, effect: Extract<OutboxEffect, { kind: 'startScheduled' }>): Promise<void> {
    const { namespace, scheduleId, workflowId, runId, workflowType, taskQueue, args } = effect;
    return this.outbox.createRun(entry, { namespace, workflowId, runId, workflowType, taskQueue, args, scheduleId }, async (error) => {
      this.logger.warn({ err: error, scheduleId, workflowId }, 'a scheduled run could not start');
      await this.outbox.discard(entry);
    });
  }

  private cancelRun(namespace: string, target: { workflowId: string; runId: string }): Promise<void> {
    return this.runs.requestCancel(namespace, target, 'a newer scheduled run replaces it (CancelOther)');
  }

  // Storage ---------------------------------------------------------------------------------

  private async change(scheduleId: string, namespaceOption: string | undefined, apply: (schedule: Schedule) => void): Promise<ScheduleDescription> {
    return this.withSchedule(scheduleId, namespaceOption, async (schedule) => {
      const previousDue = schedule.state.nextFireAt;
      apply(schedule);
      if (schedule.definition.paused) delete schedule.state.nextFireAt;
      else schedule.state.nextFireAt = compileSpec(schedule.definition.spec, schedule.definition.createdAt).next(Date.now());
      await this.save(schedule, previousDue);
      return describe(schedule);
    });
  }

  /** Writes the schedule with its due entry moved from `previousDue` to its next tick, and `starts`. */
  private async save(schedule: Schedule, previousDue: number | undefined, starts: OutboxEntry[] = []): Promise<void> {
    const next = schedule.state.nextFireAt;
    const moved = previousDue !== next;
    await this.store.write({
      schedules: { put: [{ namespace: schedule.namespace, scheduleId: schedule.scheduleId, definition: schedule.definition, state: schedule.state }] },
      dueEntries: {
        delete: moved && previousDue !== undefined ? [dueEntry(schedule, previousDue)] : [],
        put: moved && next !== undefined ? [dueEntry(schedule, next)] : [],
      },
      outbox: { put: starts },
    });
    if (moved && next !== undefined) this.timers.add(dueEntry(schedule, next));
  }

  /** Checks the ids and runs `fn` on the stored schedule, exclusively. */
  private withSchedule<T>(scheduleId: string, namespaceOption: string | undefined, fn: (schedule: Schedule) => Promise<T>): Promise<T> {
    this.assertOpen();
    const namespace = checkId(namespaceOption ?? 'default', 'namespace');
    const id = checkId(scheduleId, 'scheduleId');
    return this.exclusive(namespace, id, async () => fn(await this.load(namespace, id)));
  }

  private async load(namespace: string, scheduleId: string): Promise<Schedule> {
    const record = await this.store.getSchedule(namespace, scheduleId);
    if (!record) throw new ScheduleNotFoundError(scheduleId);
    return asSchedule(record);
  }

  private definitionOf(options: ScheduleOptions, createdAt: number, namespace: string): Definition {
    const overlap = options.overlap ?? 'Skip';
    const catchup = options.catchup ?? 'One';
    if (!OVERLAP_POLICIES.includes(overlap)) throw new InvalidArgumentError(`overlap must be one of ${OVERLAP_POLICIES.join(', ')}`);
    if (!CATCHUP_POLICIES.includes(catchup)) throw new InvalidArgumentError(`catchup must be one of ${CATCHUP_POLICIES.join(', ')}`);
    compileSpec(options.spec, createdAt);
    const action = options.action;
    if (typeof action !== 'object' || action === null) throw new InvalidArgumentError('a schedule needs an action { workflowType, args }');
    return {
      spec: { ...options.spec },
      action: {
        workflowType: checkId(action.workflowType, 'action.workflowType'),
        args: checkArgs(action.args, 'action.args', this.payloadLimitsOf(namespace)),
        workflowIdPrefix: checkId(action.workflowIdPrefix ?? options.scheduleId, 'action.workflowIdPrefix'),
        taskQueue: checkId(action.taskQueue ?? 'default', 'action.taskQueue'),
      },
      overlap,
      catchup,
      paused: options.paused ?? false,
      createdAt,
    };
  }

  private exclusive<T>(namespace: string, scheduleId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(`${namespace}\u0000${scheduleId}`, fn);
  }
}

export class ScheduleNotFoundError extends AionError {
  override name = 'ScheduleNotFoundError';
  constructor(scheduleId: string) {
    super('NOT_FOUND', `schedule ${scheduleId} not found`);
  }
}

const asSchedule = (record: ScheduleRecord): Schedule => ({
  namespace: record.namespace,
  scheduleId: record.scheduleId,
  definition: record.definition as Definition,
  state: record.state as State,
});

const dueEntry = (schedule: Schedule, dueAt: number): DueEntry => ({ dueAt, namespace: schedule.namespace, owner: schedule.scheduleId, key: formatDueKey({ kind: 'schedule' }) });

function describe(schedule: Schedule): ScheduleDescription {
  const { definition, state } = schedule;
  const times = compileSpec(definition.spec, definition.createdAt);
  const nextFireTimes: Date[] = [];
  for (let next = state.nextFireAt; next !== undefined && nextFireTimes.length < 5; next = times.next(next)) nextFireTimes.push(new Date(next));
  return {
    scheduleId: schedule.scheduleId,
    namespace: schedule.namespace,
    spec: definition.spec,
    action: definition.action,
    overlap: definition.overlap,
    catchup: definition.catchup,
    paused: definition.paused,
    nextFireTimes,
    fires: state.fires,
    skipped: state.skipped,
    buffered: state.buffered !== undefined,
    ...(state.running ? { running: state.running } : {}),
    recentActions: state.recentActions,
  };
}
