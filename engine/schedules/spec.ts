/**
 * When a schedule fires: a cron expression (croner, with an optional IANA time zone) or a
 * fixed interval anchored at the schedule's creation.
 *
 * @module
 */
import { Cron } from 'croner';
import { toMs, type Duration } from '../../common/time.js';
import { InvalidArgumentError } from '../errors.js';

export interface ScheduleSpec {
  /** Five to seven fields (seconds optional), e.g. `'0 3 * * *'`. */
  cron?: string;
  /** Every this often (ms or `'1h'`), counted from the schedule's creation. */
  intervalMs?: Duration;
  /** IANA time zone of the cron expression (default UTC). */
  timezone?: string;
}

/** A validated spec: the next fire time strictly after a given time. */
export interface FireTimes {
  next(after: number): number | undefined;
}

/** The first tick of a cron expression (UTC) strictly after `after`; `InvalidArgumentError` for a bad expression. */
export function nextCronTick(cronSchedule: string, after: number): number {
  const next = compileSpec({ cron: cronSchedule }, after).next(after);
  if (next === undefined) throw new InvalidArgumentError(`the cron schedule '${cronSchedule}' has no time after ${new Date(after).toISOString()}`);
  return next;
}

export function compileSpec(spec: ScheduleSpec, anchor: number): FireTimes {
  if (typeof spec !== 'object' || spec === null) throw new InvalidArgumentError('a schedule spec is { cron } or { intervalMs }');
  if ((spec.cron === undefined) === (spec.intervalMs === undefined)) throw new InvalidArgumentError('a schedule spec has exactly one of cron and intervalMs');
  if (spec.cron !== undefined) {
    let cron: Cron;
    try {
      cron = new Cron(spec.cron, { timezone: spec.timezone ?? 'UTC', paused: true });
      cron.nextRun(new Date(anchor));
    } catch (error) {
      throw new InvalidArgumentError(`invalid schedule spec: ${(error as Error).message}`);
    }
    return { next: (after) => cron.nextRun(new Date(after))?.getTime() };
  }
  let interval: number;
  try {
    interval = toMs(spec.intervalMs!);
  } catch (error) {
    throw new InvalidArgumentError(`invalid schedule interval: ${(error as Error).message}`);
  }
  if (interval < 1000) throw new InvalidArgumentError('a schedule interval is at least 1 second');
  return { next: (after) => anchor + (Math.floor((after - anchor) / interval) + 1) * interval };
}
