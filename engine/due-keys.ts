/**
 * What a due-time entry stands for. The store keeps each entry's `key` as a string (unique
 * within its owner); this module is the one place that writes and reads those strings.
 *
 * @module
 */

export type DueKey =
  /** A durable timer of the owning run, by its sequence number. */
  | { kind: 'timer'; seq: number }
  /** The owning run's deadline (run or execution timeout). */
  | { kind: 'timeout' }
  /** The supervisor's restart of the owning run's crashed sandbox. */
  | { kind: 'restart' }
  /** The first activation of a cron run, at its tick. */
  | { kind: 'start' }
  /** The next fire of the owning schedule. */
  | { kind: 'schedule' }
  /** The deletion of the owning closed run: its namespace's retention has passed. */
  | { kind: 'retention' };

export function formatDueKey(key: DueKey): string {
  return key.kind === 'timer' ? `timer:${key.seq}` : key.kind;
}

/** The key an entry stands for; undefined for a string this engine never writes. */
export function parseDueKey(key: string): DueKey | undefined {
  if (key === 'timeout' || key === 'restart' || key === 'start' || key === 'schedule' || key === 'retention') return { kind: key };
  const timer = /^timer:([1-9]\d{0,9})$/.exec(key);
  return timer ? { kind: 'timer', seq: Number(timer[1]) } : undefined;
}
