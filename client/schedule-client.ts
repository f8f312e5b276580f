/**
 * `client.schedule`: Temporal's schedule API over the engine's schedules. The subset that maps
 * onto them: one cron expression or one interval, a start-workflow action, an overlap policy;
 * options Aion's schedules do not have (calendars, jitter, catch-up windows, several specs…)
 * are refused by name.
 *
 * @module
 */
import { checkOptionKeys, InvalidArgumentError, type OverlapPolicy, type ScheduleDescription, type ScheduleOptions, type ScheduleSpec } from '../engine/index.js';
import type { ClientTransport } from './transport.js';

/** Temporal's overlap policies; the two Aion's schedules do not have are refused. */
export const ScheduleOverlapPolicy = {
  SKIP: 'SKIP',
  BUFFER_ONE: 'BUFFER_ONE',
  BUFFER_ALL: 'BUFFER_ALL',
  CANCEL_OTHER: 'CANCEL_OTHER',
  TERMINATE_OTHER: 'TERMINATE_OTHER',
  ALLOW_ALL: 'ALLOW_ALL',
} as const;
export type ScheduleOverlapPolicy = (typeof ScheduleOverlapPolicy)[keyof typeof ScheduleOverlapPolicy];

const OVERLAP: Partial<Record<ScheduleOverlapPolicy, OverlapPolicy>> = { SKIP: 'Skip', BUFFER_ONE: 'BufferOne', CANCEL_OTHER: 'CancelOther', ALLOW_ALL: 'AllowAll' };

export interface ScheduleSpecDescription {
  cronExpressions?: string[];
  intervals?: { every: string | number }[];
  timezone?: string;
}

export interface ScheduleCreateOptions {
  scheduleId: string;
  spec: ScheduleSpecDescription;
  action: { type: 'startWorkflow'; workflowType: string | ((...args: never[]) => unknown); args?: unknown[]; taskQueue?: string; workflowId?: string };
  policies?: { overlap?: ScheduleOverlapPolicy };
  state?: { paused?: boolean };
}

export class ScheduleHandle {
  constructor(
    private readonly transport: ClientTransport,
    readonly scheduleId: string,
  ) {}

  /** Aion's description, with Temporal's `state.paused` and `info.nextActionTimes` beside it. */
  async describe(): Promise<ScheduleDescription & { state: { paused: boolean }; info: { nextActionTimes: Date[] } }> {
    const description = await this.transport.describeSchedule(this.scheduleId);
    return { ...description, state: { paused: description.paused }, info: { nextActionTimes: description.nextFireTimes } };
  }

  async pause(): Promise<void> {
    await this.transport.changeSchedule(this.scheduleId, 'pause');
  }

  async unpause(): Promise<void> {
    await this.transport.changeSchedule(this.scheduleId, 'resume');
  }

  /** Starts the action now, under `overlap` (default ALLOW_ALL, as Temporal's). */
  async trigger(overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.ALLOW_ALL): Promise<void> {
    await this.transport.triggerSchedule(this.scheduleId, overlapOf(overlap));
  }

  /** Runs the actions of the ticks between `start` and `end` (both included), now. */
  async backfill(backfills: { start: Date; end: Date; overlap?: ScheduleOverlapPolicy }[] | { start: Date; end: Date; overlap?: ScheduleOverlapPolicy }): Promise<void> {
    for (const { start, end, overlap } of Array.isArray(backfills) ? backfills : [backfills]) {
      await this.transport.backfillSchedule(this.scheduleId, { start, end, ...(overlap !== undefined ? { overlap: overlapOf(overlap) } : {}) });
    }
  }

  async delete(): Promise<void> {
    await this.transport.deleteSchedule(this.scheduleId);
  }
}

export class ScheduleClient {
  constructor(private readonly transport: ClientTransport) {}

  async create(options: ScheduleCreateOptions): Promise<ScheduleHandle> {
    await this.transport.createSchedule(scheduleOptions(options));
    return new ScheduleHandle(this.transport, options.scheduleId);
  }

  getHandle(scheduleId: string): ScheduleHandle {
    return new ScheduleHandle(this.transport, scheduleId);
  }

  async *list(): AsyncIterable<ScheduleDescription> {
    yield* await this.transport.listSchedules();
  }
}

function overlapOf(policy: ScheduleOverlapPolicy): OverlapPolicy {
  const overlap = OVERLAP[policy];
  if (!overlap) throw new InvalidArgumentError(`overlap policy ${String(policy)} is not supported: use one of ${Object.keys(OVERLAP).join(', ')}`);
  return overlap;
}

function specOf(spec: ScheduleSpecDescription): ScheduleSpec {
  checkOptionKeys(spec, ['cronExpressions', 'intervals', 'timezone'], 'schedule spec');
  const crons = spec.cronExpressions ?? [];
  const intervals = spec.intervals ?? [];
  if (crons.length + intervals.length !== 1) throw new InvalidArgumentError('a schedule spec here has exactly one cron expression or one interval');
  const timezone = spec.timezone !== undefined ? { timezone: spec.timezone } : {};
  if (crons.length === 1) return { cron: crons[0], ...timezone };
  checkOptionKeys(intervals[0], ['every'], 'schedule interval');
  return { intervalMs: intervals[0].every, ...timezone };
}

function scheduleOptions(options: ScheduleCreateOptions): ScheduleOptions {
  checkOptionKeys(options, ['scheduleId', 'spec', 'action', 'policies', 'state'], 'schedule.create');
  const { action } = options;
  checkOptionKeys(action, ['type', 'workflowType', 'args', 'taskQueue', 'workflowId'], 'schedule action');
  if (action.type !== 'startWorkflow') throw new InvalidArgumentError("a schedule's action is { type: 'startWorkflow', … }");
  checkOptionKeys(options.policies ?? {}, ['overlap'], 'schedule policies');
  checkOptionKeys(options.state ?? {}, ['paused'], 'schedule state');
  const workflowType = typeof action.workflowType === 'string' ? action.workflowType : action.workflowType.name;
  return {
    scheduleId: options.scheduleId,
    spec: specOf(options.spec),
    action: {
      workflowType,
      ...(action.args !== undefined ? { args: action.args } : {}),
      ...(action.taskQueue !== undefined ? { taskQueue: action.taskQueue } : {}),
      ...(action.workflowId !== undefined ? { workflowIdPrefix: action.workflowId } : {}),
    },
    ...(options.policies?.overlap !== undefined ? { overlap: overlapOf(options.policies.overlap) } : {}),
    ...(options.state?.paused !== undefined ? { paused: options.state.paused } : {}),
  };
}
