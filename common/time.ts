import ms from 'ms';

/** A duration: milliseconds, or a string such as `'10s'`, `'5 minutes'`, `'3 days'`. */
export type Duration = number | string;

/** Converts a duration to milliseconds; throws a `TypeError` naming the bad value. */
export function toMs(duration: Duration): number {
  const value = typeof duration === 'string' ? ms(duration as ms.StringValue) : duration;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`invalid duration ${JSON.stringify(duration)}: expected milliseconds or a string like '10s' or '3 days'`);
  }
  return value;
}
