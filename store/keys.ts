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
 * | `y`    | y · ns · workflowType · startTime · runId | (empty): runs of a type, by start time |
 * | `z`    | z · ns · status · startTime · runId   | (empty): runs of a status, by start time |
 * | `x`    | x · ns · attribute · value · startTime · runId | (empty): runs by a search attribute's value, by start time |
 * | `o`    | o · id                                | OutboxEntry    |
 * | `c`    | c · ns · scheduleId                   | ScheduleRecord |
 * | `p`    | p · ns · runId                        | SnapshotRecord |
 * | `k`    | k · ns · runId · eventId              | a checkpoint's image (SnapshotRecord) |
 * | `l`    | l · ns · runId · eventId              | a checkpoint's log lines: { eventId, previous, logs } |
 * | `q`    | q · ns · runId                        | Quarantine     |
 * | `m`    | m · kind · id                         | ControlRecord (namespaces, API keys, audit entries) |
 * | `!m`   | !m · slot                             | commit number (commit-log.ts) |
 */

import type { RunRecord, ScanRunsQuery } from './types.js';

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
  /** A due time with a fraction of a millisecond sorts as the next whole one (never before it is due). */
  due: (dueAt: number, ns: string, runId: string, key: string) => ['d', pad(Math.ceil(dueAt), 15), ns, runId, key].join(SEP),
  duePrefix: () => `d${SEP}`,
  /** Exclusive end of the entries due at or before `upTo`. */
  dueAfter: (upTo: number) => ['d', pad(Math.floor(upTo) + 1, 15)].join(SEP),
  activityTask: (ns: string, runId: string, seq: number) => ['a', ns, runId, pad(seq, 10)].join(SEP),
  activityTaskPrefix: () => `a${SEP}`,
  bundle: (version: string) => ['b', version].join(SEP),
  bundlePrefix: () => `b${SEP}`,
  typeVersion: (ns: string, workflowType: string) => ['v', ns, workflowType].join(SEP),
  started: (ns: string, startTime: number, runId: string) => ['i', ns, pad(startTime, 15), runId].join(SEP),
  startedPrefix: (ns: string) => ['i', ns, ''].join(SEP),
  typeStarted: (ns: string, workflowType: string, startTime: number, runId: string) => ['y', ns, workflowType, pad(startTime, 15), runId].join(SEP),
  typeStartedPrefix: (ns: string, workflowType: string) => ['y', ns, workflowType, ''].join(SEP),
  statusStarted: (ns: string, status: string, startTime: number, runId: string) => ['z', ns, status, pad(startTime, 15), runId].join(SEP),
  statusStartedPrefix: (ns: string, status: string) => ['z', ns, status, ''].join(SEP),
  attributeStartedPrefix: (ns: string, name: string, value: string) => ['x', ns, name, value, ''].join(SEP),
  /** The first key of a by-start-time index (`prefix`: one of the prefixes above) at `time`. */
  startedAt: (prefix: string, time: number) => prefix + pad(Math.max(0, Math.floor(time)), 15),
  /** A run's key in a by-start-time index (`prefix`: one of the prefixes above). */
  startedIn: (prefix: string, startTime: number, runId: string) => prefix + pad(startTime, 15) + SEP + runId,
  snapshot: (ns: string, runId: string) => ['p', ns, runId].join(SEP),
  checkpoint: (ns: string, runId: string, eventId: number) => ['k', ns, runId, pad(eventId, 10)].join(SEP),
  checkpointPrefix: (ns: string, runId: string) => ['k', ns, runId, ''].join(SEP),
  checkpointLogs: (ns: string, runId: string, eventId: number) => ['l', ns, runId, pad(eventId, 10)].join(SEP),
  checkpointLogsPrefix: (ns: string, runId: string) => ['l', ns, runId, ''].join(SEP),
  outbox: (id: string) => ['o', id].join(SEP),
  outboxPrefix: () => `o${SEP}`,
  schedule: (ns: string, scheduleId: string) => ['c', ns, scheduleId].join(SEP),
  schedulesPrefix: (ns?: string) => (ns === undefined ? `c${SEP}` : ['c', ns, ''].join(SEP)),
  quarantine: (ns: string, runId: string) => ['q', ns, runId].join(SEP),
  control: (kind: string, id: string) => ['m', kind, id].join(SEP),
  controlPrefix: (kind: string) => ['m', kind, ''].join(SEP),
  quarantinePrefix: () => `q${SEP}`,
  commitMarker: (slot: number) => ['!m', pad(slot, 5)].join(SEP),
  commitMarkerPrefix: () => `!m${SEP}`,
} as const;

/** What kind of record a key holds, and the run (or schedule) it belongs to. */
export interface KeyInfo {
  kind: 'history' | 'run' | 'status' | 'latest-run' | 'due' | 'activity-task' | 'bundle' | 'type-version' | 'start-index' | 'snapshot' | 'checkpoint' | 'outbox' | 'schedule' | 'quarantine' | 'control' | 'commit-marker' | 'unknown';
  namespace?: string;
  /** The run the record belongs to (for due entries: the owner, a run or a schedule). */
  runId?: string;
  /** The key, printable (parts separated by `/`). */
  printable: string;
}

const KINDS: Record<string, { kind: KeyInfo['kind']; runIdPart?: number }> = {
  h: { kind: 'history', runIdPart: 2 },
  r: { kind: 'run', runIdPart: 2 },
  s: { kind: 'status', runIdPart: 3 },
  w: { kind: 'latest-run' },
  d: { kind: 'due', runIdPart: 3 },
  a: { kind: 'activity-task', runIdPart: 2 },
  b: { kind: 'bundle' },
  v: { kind: 'type-version' },
  i: { kind: 'start-index', runIdPart: 3 },
  y: { kind: 'start-index', runIdPart: 4 },
  z: { kind: 'start-index', runIdPart: 4 },
  x: { kind: 'start-index', runIdPart: 5 },
  p: { kind: 'snapshot', runIdPart: 2 },
  k: { kind: 'checkpoint', runIdPart: 2 },
  l: { kind: 'checkpoint', runIdPart: 2 },
  o: { kind: 'outbox' },
  c: { kind: 'schedule' },
  q: { kind: 'quarantine', runIdPart: 2 },
  m: { kind: 'control' },
  '!m': { kind: 'commit-marker' },
};

export function describeKey(key: string): KeyInfo {
  const parts = key.split(SEP);
  const layout = KINDS[parts[0]];
  const info: KeyInfo = { kind: layout?.kind ?? 'unknown', printable: parts.join('/') };
  if (!layout || layout.kind === 'bundle' || layout.kind === 'outbox' || layout.kind === 'control' || layout.kind === 'commit-marker') return info;
  info.namespace = parts[parts[0] === 'd' ? 2 : 1];
  if (layout.runIdPart !== undefined) info.runId = parts[layout.runIdPart];
  return info;
}

/** Longest string value a search attribute index holds (longer values are not indexed). */
const MAX_INDEXED_STRING = 256;

/**
 * Text a key may hold as it is: no control characters (NUL separates key parts) and no lone
 * surrogate (UTF-8 would store U+FFFD instead, and a scan's cursor would no longer match the
 * key it came from).
 */
const indexableText = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20) return false;
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
};

/** Whether a search attribute value has an index (see `attributeIndexPrefix`). */
export const isIndexedAttributeValue = (name: string, value: unknown): boolean => indexedAttributeValue(name, value) !== undefined;

/**
 * How a search attribute value is indexed: tagged with its type (so 1 and '1' differ), or
 * undefined when it has no index. Strings, numbers and booleans are; lists, strings longer than
 * 256 characters and names or strings holding control characters or lone surrogates are not:
 * a query for one reads another index.
 */
export function indexedAttributeValue(name: string, value: unknown): string | undefined {
  if (!indexableText(name)) return undefined;
  if (typeof value === 'string') return value.length > MAX_INDEXED_STRING || !indexableText(value) ? undefined : `s${value}`;
  if (typeof value === 'number' && Number.isFinite(value)) return `n${value}`;
  if (typeof value === 'boolean') return `b${value}`;
  return undefined;
}

/** The prefix of the index of runs whose search attribute `name` holds `value`, by start time; undefined when that value is not indexed. */
export function attributeIndexPrefix(namespace: string, name: string, value: unknown): string | undefined {
  const tagged = indexedAttributeValue(name, value);
  return tagged === undefined ? undefined : keys.attributeStartedPrefix(namespace, name, tagged);
}

/** A run's entries in the search attribute indexes, for these attribute values. */
export function attributeIndexKeys(record: { namespace: string; runId: string; startTime: number }, attributes: Record<string, unknown> | undefined): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(attributes ?? {})) {
    const prefix = attributeIndexPrefix(record.namespace, name, value);
    if (prefix !== undefined) out.push(keys.startedIn(prefix, record.startTime, record.runId));
  }
  return out;
}

/**
 * The narrowest by-start-time index a run scan may read: its search attribute value's (when
 * indexed), its type's, its status's, or the namespace's.
 */
export function scanIndexPrefix(query: { namespace: string; attribute?: { name: string; value: unknown }; workflowType?: string; status?: string }): string {
  const byAttribute = query.attribute && attributeIndexPrefix(query.namespace, query.attribute.name, query.attribute.value);
  if (byAttribute !== undefined) return byAttribute;
  if (query.workflowType !== undefined) return keys.typeStartedPrefix(query.namespace, query.workflowType);
  if (query.status !== undefined) return keys.statusStartedPrefix(query.namespace, query.status);
  return keys.startedPrefix(query.namespace);
}

/** Whether a record read through a scan's index answers the scan (the filter checks what no index does). */
export function answersScan(record: RunRecord, query: ScanRunsQuery): boolean {
  if (query.status !== undefined && record.status !== query.status) return false;
  if (query.attribute !== undefined && record.searchAttributes?.[query.attribute.name] !== query.attribute.value) return false;
  return query.filter === undefined || query.filter(record);
}

/**
 * The exclusive upper bound of the keys starting with `prefix`, which ends in the separator:
 * replacing that NUL by U+0001 bounds exactly the keys that continue after it.
 */
export const prefixEnd = (prefix: string): string => `${prefix.slice(0, -1)}\u0001`;

/** The exclusive upper bound of the keys starting with `prefix`, whatever it ends with: its last character, incremented. */
export const startsWithEnd = (prefix: string): string => prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);

/** Splits a key into its parts (for keys whose parts the reader needs, like status keys). */
export const keyParts = (key: string): string[] => key.split(SEP);
