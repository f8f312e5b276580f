/**
 * Key layout of the key-value stores. Keys are UTF-8 strings whose parts are separated by
 * NUL, so a prefix range never spills into a neighbour (ids may not contain NUL; the engine
 * validates them). Numbers are zero-padded so that byte order is numeric order.
 *
 * | prefix | key                                   | value          |
 * |--------|---------------------------------------|----------------|
 * | `h`    | h · ns · runId · firstEventId         | events[] of one append |
 * | `r`    | r · ns · runId                        | RunRecord      |
 * | `s`    | s · ns · status · runId               | (empty)        |
 * | `w`    | w · ns · workflowId                   | latest runId   |
 * | `d`    | d · dueAt · ns · runId · key          | DueEntry       |
 * | `a`    | a · ns · runId · seq                  | ActivityTask   |
 * | `b`    | b · version                           | BundleRecord   |
 * | `v`    | v · ns · workflowType                 | version        |
 * | `i`    | i · ns · startTime · runId            | (empty)        |
 * | `o`    | o · id                                | OutboxEntry    |
 * | `c`    | c · ns · scheduleId                   | ScheduleRecord |
 * | `p`    | p · ns · runId                        | SnapshotRecord |
 */

const SEP = '\u0000';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export const keys = {
  /** The append whose first event is `firstEventId`. */
  events: (ns: string, runId: string, firstEventId: number) => ['h', ns, runId, pad(firstEventId, 10)].join(SEP),
  historyPrefix: (ns: string, runId: string) => ['h', ns, runId, ''].join(SEP),
  run: (ns: string, runId: string) => ['r', ns, runId].join(SEP),
  runsPrefix: (ns?: string) => (ns === undefined ? `r${SEP}` : ['r', ns, ''].join(SEP)),
  status: (ns: string, status: string, runId: string) => ['s', ns, status, runId].join(SEP),
  statusPrefix: (ns: string, status: string) => ['s', ns, status, ''].join(SEP),
  latestRun: (ns: string, workflowId: string) => ['w', ns, workflowId].join(SEP),
  due: (dueAt: number, ns: string, runId: string, key: string) => ['d', pad(dueAt, 15), ns, runId, key].join(SEP),
  duePrefix: () => `d${SEP}`,
  /** Exclusive end of the entries due at or before `upTo`. */
  dueAfter: (upTo: number) => ['d', pad(upTo + 1, 15)].join(SEP),
  activityTask: (ns: string, runId: string, seq: number) => ['a', ns, runId, pad(seq, 10)].join(SEP),
  activityTaskPrefix: () => `a${SEP}`,
  bundle: (version: string) => ['b', version].join(SEP),
  bundlePrefix: () => `b${SEP}`,
  typeVersion: (ns: string, workflowType: string) => ['v', ns, workflowType].join(SEP),
  started: (ns: string, startTime: number, runId: string) => ['i', ns, pad(startTime, 15), runId].join(SEP),
  startedPrefix: (ns: string) => ['i', ns, ''].join(SEP),
  startedAt: (ns: string, time: number) => ['i', ns, pad(Math.max(0, Math.floor(time)), 15)].join(SEP),
  snapshot: (ns: string, runId: string) => ['p', ns, runId].join(SEP),
  outbox: (id: string) => ['o', id].join(SEP),
  outboxPrefix: () => `o${SEP}`,
  schedule: (ns: string, scheduleId: string) => ['c', ns, scheduleId].join(SEP),
  schedulesPrefix: (ns?: string) => (ns === undefined ? `c${SEP}` : ['c', ns, ''].join(SEP)),
} as const;

/**
 * The exclusive upper bound of the keys starting with `prefix`, which ends in the separator:
 * replacing that NUL by U+0001 bounds exactly the keys that continue after it.
 */
export const prefixEnd = (prefix: string): string => `${prefix.slice(0, -1)}\u0001`;

/** Splits a key into its parts (for keys whose parts the reader needs, like status keys). */
export const keyParts = (key: string): string[] => key.split(SEP);

/** True when `id` can be used as a key part. */
export const isValidKeyPart = (id: string): boolean => !id.includes(SEP);
