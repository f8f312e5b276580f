/**
 * Visibility: which runs `engine.list` returns. Each run's record (status, times, search
 * attributes) is kept in the same atomic write as its history; queries scan the runs of a
 * namespace newest first and apply their predicates. The records can be rebuilt from the
 * histories, which stay the source of truth.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { applyMemoUpsert } from '../common/memo.js';
import { applySearchAttributeUpsert, type SearchAttributeValue } from '../common/search-attributes.js';
import { isIndexedAttributeValue, scanIndexPrefix } from '../store/keys.js';
import { RUN_STATUSES, type EventStore, type RunRecord, type RunStatus, type ScanRunsQuery } from '../store/types.js';
import { InvalidArgumentError } from './errors.js';
import { CLOSING_STATUS, isClosingEvent, type HistoryEvent } from './history/events.js';

/** A predicate on one search attribute; a bare value means `eq`. */
export type AttributePredicate = SearchAttributeValue | { eq?: SearchAttributeValue; lt?: number | string; gt?: number | string; contains?: string };

export type TimeBound = Date | number | string;

export interface VisibilityQuery {
  namespace?: string;
  status?: RunStatus;
  workflowType?: string;
  workflowId?: string;
  startTime?: { from?: TimeBound; to?: TimeBound };
  closeTime?: { from?: TimeBound; to?: TimeBound };
  /** Every predicate must hold: `{ Customer: 'ann', Amount: { gt: 10 }, Tags: { contains: 'vip' } }`. */
  searchAttributes?: Record<string, AttributePredicate>;
}

const toTime = (bound: TimeBound | undefined, field: string): number | undefined => {
  if (bound === undefined) return undefined;
  const time = bound instanceof Date ? bound.getTime() : typeof bound === 'string' ? Date.parse(bound) : bound;
  if (!Number.isFinite(time)) throw new InvalidArgumentError(`${field} is not a time: ${String(bound)}`);
  return time;
};

/** Orders two attribute values: numbers numerically, ISO datetimes by time, other strings lexically. */
function compare(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a !== 'string' || typeof b !== 'string') return undefined;
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  if (Number.isFinite(ta) && Number.isFinite(tb) && /^\d{4}-\d{2}-\d{2}/.test(a) && /^\d{4}-\d{2}-\d{2}/.test(b)) return ta - tb;
  return a < b ? -1 : a > b ? 1 : 0;
}

const isPredicateObject = (value: AttributePredicate): value is Exclude<AttributePredicate, SearchAttributeValue> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function matches(value: unknown, predicate: AttributePredicate): boolean {
  if (!isPredicateObject(predicate)) return JSON.stringify(value) === JSON.stringify(predicate);
  if (predicate.eq !== undefined && JSON.stringify(value) !== JSON.stringify(predicate.eq)) return false;
  if (predicate.lt !== undefined && !((compare(value, predicate.lt) ?? 0) < 0)) return false;
  if (predicate.gt !== undefined && !((compare(value, predicate.gt) ?? 0) > 0)) return false;
  if (predicate.contains !== undefined) {
    if (Array.isArray(value)) return value.includes(predicate.contains);
    return typeof value === 'string' && value.toLowerCase().includes(predicate.contains.toLowerCase());
  }
  return true;
}

/** The value a predicate asks an attribute to equal, when it is one a search attribute index may hold (a string, number or boolean). */
function equalsScalar(predicate: AttributePredicate): string | number | boolean | undefined {
  const value = isPredicateObject(predicate) ? predicate.eq : predicate;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
}

/** A scan's filter, with the query it was compiled from. */
export interface RunFilter {
  (record: RunRecord): boolean;
  readonly query?: VisibilityQuery;
}

/** Validates `query` and returns the store scan that answers it: the indexes it can use (a search attribute's value, type, status, start-time range) and the filter for the rest. */
export function compileQuery(query: VisibilityQuery): Omit<ScanRunsQuery, 'namespace' | 'pageSize' | 'cursor'> & { filter: RunFilter } {
  if (query.status !== undefined && !RUN_STATUSES.includes(query.status)) throw new InvalidArgumentError(`status must be one of ${RUN_STATUSES.join(', ')}`);
  const startedFrom = toTime(query.startTime?.from, 'startTime.from');
  const startedTo = toTime(query.startTime?.to, 'startTime.to');
  const closedFrom = toTime(query.closeTime?.from, 'closeTime.from');
  const closedTo = toTime(query.closeTime?.to, 'closeTime.to');
  const predicates = Object.entries(query.searchAttributes ?? {});
  for (const [name, predicate] of predicates) {
    if (isPredicateObject(predicate) && Object.keys(predicate).some((key) => !['eq', 'lt', 'gt', 'contains'].includes(key))) {
      throw new InvalidArgumentError(`search attribute predicate for ${name} may only use eq, lt, gt, contains`);
    }
  }
  const filter: RunFilter = (record: RunRecord): boolean => {
    if (query.status !== undefined && record.status !== query.status) return false;
    if (query.workflowType !== undefined && record.workflowType !== query.workflowType) return false;
    if (query.workflowId !== undefined && record.workflowId !== query.workflowId) return false;
    if (closedFrom !== undefined || closedTo !== undefined) {
      if (record.closeTime === undefined) return false;
      if (closedFrom !== undefined && record.closeTime < closedFrom) return false;
      if (closedTo !== undefined && record.closeTime > closedTo) return false;
    }
    const attributes = record.searchAttributes ?? {};
    return predicates.every(([name, predicate]) => name in attributes && matches(attributes[name], predicate));
  };
  // What rebuilds the filter in another thread (a function cannot be sent).
  Object.defineProperty(filter, 'query', { value: query });
  const byAttribute = predicates.find(([name, predicate]) => isIndexedAttributeValue(name, equalsScalar(predicate)));
  return {
    filter,
    ...(byAttribute ? { attribute: { name: byAttribute[0], value: equalsScalar(byAttribute[1]) } } : {}),
    ...(query.workflowType !== undefined ? { workflowType: query.workflowType } : {}),
    ...(query.status !== undefined ? { status: query.status } : {}),
    startedFrom,
    startedBefore: startedTo === undefined ? undefined : startedTo + 1,
  };
}

/** What a run's history says its visible record is (status, close time, search attributes, memo). */
export function recordFromHistory(record: RunRecord, events: readonly HistoryEvent[]): RunRecord {
  const rebuilt: RunRecord = { ...record, status: 'Running' };
  delete rebuilt.closeTime;
  for (const event of events) {
    if (event.type === 'WorkflowStarted') {
      rebuilt.searchAttributes = { ...event.searchAttributes };
      if (event.memo) rebuilt.memo = { ...event.memo };
    }
    if (event.type === 'MemoUpserted') {
      const memo = { ...rebuilt.memo };
      applyMemoUpsert(memo, event.memo);
      rebuilt.memo = memo;
    }
    if (event.type === 'SearchAttributesUpserted') {
      // The record's attributes came from this history's events, which hold validated values.
      const attributes = { ...rebuilt.searchAttributes } as Record<string, SearchAttributeValue>;
      applySearchAttributeUpsert(attributes, event.attributes);
      rebuilt.searchAttributes = attributes;
    }
    if (event.type === 'WorkflowContinuedAsNew') rebuilt.continuedToRunId = event.newRunId;
    if (isClosingEvent(event)) {
      rebuilt.status = CLOSING_STATUS[event.type];
      rebuilt.closeTime = event.time;
    }
  }
  return rebuilt;
}

/** What a page token is made of: the store's cursor, and a digest of the query it pages. */
interface PageToken {
  cursor: string;
  query: string;
}

/** A digest of what the query means: times as numbers, objects with their keys in order (so equivalent spellings agree). */
const digestOf = (namespace: string, query: VisibilityQuery): string => {
  const bounds = (range: { from?: TimeBound; to?: TimeBound } | undefined, field: string) => [toTime(range?.from, `${field}.from`), toTime(range?.to, `${field}.to`)];
  // The index the query reads is part of it: a token from a version that read another index for the same query is refused.
  const index = scanIndexPrefix({ namespace, ...compileQuery(query) });
  const meaning = [namespace, query.status, query.workflowType, query.workflowId, bounds(query.startTime, 'startTime'), bounds(query.closeTime, 'closeTime'), query.searchAttributes ?? {}, index];
  return createHash('sha256').update(canonicalJson(meaning)).digest('base64url').slice(0, 16);
};

/** JSON with every object's keys sorted. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item) ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : item,
  );

/** The page token that continues `query` after the store's `cursor`. */
export function pageTokenOf(cursor: string, namespace: string, query: VisibilityQuery): string {
  return Buffer.from(JSON.stringify({ cursor, query: digestOf(namespace, query) } satisfies PageToken)).toString('base64url');
}

/**
 * The store's cursor in a page token — refused, naming the problem, if it is not a token or was
 * made for another query (whose pages come from another index, or hold other runs).
 */
export function cursorOfPageToken(token: string, namespace: string, query: VisibilityQuery): string {
  let parsed: Partial<PageToken> | undefined;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<PageToken>;
  } catch {
    parsed = undefined;
  }
  if (typeof parsed?.cursor !== 'string' || typeof parsed.query !== 'string') throw new InvalidArgumentError('nextPageToken is not a page token of list');
  if (parsed.query !== digestOf(namespace, query)) throw new InvalidArgumentError('nextPageToken was given for another query: page with the query that returned it');
  return parsed.cursor;
}

const INDEXED = { kind: 'migration', id: 'visibility-indexed-by-type-status-and-search-attributes' };
/** Runs written per batch while a store's index entries are rewritten. */
const INDEX_BATCH = 500;

/**
 * A store written before the type, status and search attribute indexes (by start time) existed
 * gets their entries on its first open — every run record rewritten with its index entries, a
 * batch at a time — so a filtered `list` reads an index instead of the namespace. Once;
 * returns how many runs.
 */
export async function indexVisibility(store: EventStore<HistoryEvent>): Promise<number> {
  if (await store.getControl(INDEXED.kind, INDEXED.id)) return 0;
  let count = 0;
  let batch: RunRecord[] = [];
  const flush = async () => {
    await store.write({ runs: batch.map((record) => ({ record, previousStatus: record.status, reindex: true })) });
    count += batch.length;
    batch = [];
  };
  for await (const record of store.allRuns()) {
    batch.push(record);
    if (batch.length === INDEX_BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  await store.write({ control: { put: [{ ...INDEXED, value: { at: Date.now(), runs: count } }] } });
  return count;
}

/** Rewrites every run record (and its index entries) from its history. Returns the number of runs. */
export async function rebuildVisibility(store: EventStore<HistoryEvent>): Promise<number> {
  let count = 0;
  for await (const record of store.allRuns()) {
    const events = await store.readHistory(record.namespace, record.runId);
    if (events.length === 0) continue;
    await store.write({ runs: [{ record: recordFromHistory(record, events), previousStatus: record.status, previousSearchAttributes: record.searchAttributes ?? {}, reindex: true }] });
    count++;
  }
  return count;
}
