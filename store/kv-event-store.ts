import { EventEmitter } from 'node:events';
import { decodeValue, encodeBinaryValue, encodeValue } from './codec.js';
import type { CommitLog } from './commit-log.js';
import { StoreError } from './errors.js';
import type { FolderLock } from './folder-lock.js';
import { joinCheckpointChain, type CheckpointLogs } from './checkpoint-chain.js';
import { GroupCommitter } from './group-commit.js';
import { headKey, HistoryHeads } from './history-heads.js';
import type { KvDatabase, KvOperation } from './kv-database.js';
import { answersScan, attributeIndexKeys, describeKey, keyParts, keys, prefixEnd, scanIndexPrefix, startsWithEnd } from './keys.js';
import { PointReads } from './point-reads.js';
import type {
  ActivityTask,
  BundleRecord,
  DueEntry,
  EventStore,
  HistoryRange,
  ListRunsQuery,
  OutboxEntry,
  QuarantineRecord,
  RunPage,
  RunRecord,
  ScanRunsQuery,
  ScheduleRecord,
  SnapshotRecord,
  StoredCheckpoint,
  ControlQuery,
  CountRunsQuery,
  ControlRecord,
  StoredEvent,
  StoreEvents,
  WriteBatch,
} from './types.js';

const EMPTY = new Uint8Array(0);
/**
 * Runs' next event ids a store keeps in memory; beyond, the least recently written are
 * forgotten and read again from the history when next needed. A partitioned store gives each
 * partition its share, so a million parked runs cost no memory here.
 */
export const DEFAULT_CACHED_HEADS = 100_000;

/** A database opened afresh (after a failed write) and checked, with its commit log. */
export interface ReopenedDatabase {
  db: KvDatabase;
  commits: CommitLog;
}

export interface KvEventStoreOptions {
  /** fsync each batch before acknowledging it (default true). */
  sync?: boolean;
  /** The database's commit log, checked when it was opened. */
  commits: CommitLog;
  /**
   * Closes `current` and opens the database again, checked (LevelDB). Without it a store
   * whose write failed stays unavailable.
   */
  reopen?: (current: KvDatabase) => Promise<ReopenedDatabase>;
  /** Released when the store closes. */
  lock?: FolderLock;
  /** Batches go to the database's implementation directly (classic-level: see `batchWriter`). */
  directBatches?: boolean;
  /** Runs' next event ids kept in memory (default `DEFAULT_CACHED_HEADS`). */
  cachedHeads?: number;
}

/** Records of a history asked for per iterator call (LevelDB also stops a batch at 16 KiB). */
const HISTORY_READ_BATCH = 1000;
/** Reopen attempts after a failed write back off from this to `REOPEN_MAX_DELAY_MS`. */
const REOPEN_FIRST_DELAY_MS = 100;
const REOPEN_MAX_DELAY_MS = 30_000;

/**
 * `EventStore` over an ordered key-value database (abstract-level): classic-level (LevelDB)
 * on disk, memory-level in memory. Both run this same code, so they keep the same semantics.
 *
 * A failed write makes the store unavailable for writes (see group-commit.ts): it then
 * reopens the database on its own, with backoff, and accepts writes again once the reopened
 * database passed the commit-log check. Reads go on meanwhile (but for the moment of the
 * reopen itself).
 */

export class KvEventStore<E extends StoredEvent = StoredEvent> implements EventStore<E> {
  /** Every live history stream listens here (`appended`): no listener limit. */
  readonly events = new EventEmitter<StoreEvents>().setMaxListeners(0);
  /** Next event id of runs written through this store (loaded lazily for the others). */
  private readonly heads: HistoryHeads;
  private db: KvDatabase;
  private commits: CommitLog;
  private committer: GroupCommitter;
  private readonly sync: boolean;
  private closed = false;
  /** The reopen waiting for its time, or running. */
  private reopening: { timer: NodeJS.Timeout; running?: Promise<void> } | undefined;
  /** Bumped by each reopen: a write that read the old database's state must not land in the new one. */
  private generation = 0;
  /** Set when a reopen found the log damaged: the store stays refused until an operator acts. */
  private damaged: StoreError | undefined;
  private readonly pointReads = new PointReads(() => this.db);

  constructor(
    db: KvDatabase,
    private readonly options: KvEventStoreOptions,
  ) {
    this.db = db;
    this.commits = options.commits;
    this.sync = options.sync ?? true;
    this.heads = new HistoryHeads(options.cachedHeads ?? DEFAULT_CACHED_HEADS);
    this.committer = this.newCommitter(options.commits);
  }

  get unavailable(): StoreError | undefined {
    return this.committer.failed;
  }

  async write(batch: WriteBatch<E>, options: { durable?: boolean } = {}): Promise<void> {
    this.assertOpen();
    if (this.committer.failed) throw this.committer.failed;
    const appends = (batch.histories ?? []).filter((append) => append.events.length > 0);
    const generation = this.generation;
    await this.heads.whilePinned(batch, appends, (namespace, runId) => this.loadNextEventId(namespace, runId), async () => {
      const purges = await this.purgeOperations(batch.purgeRuns ?? []);
      // The store was reopened while the heads loaded: they may reflect writes the old log lost.
      if (generation !== this.generation) throw new StoreError('AION_STORE_UNAVAILABLE', 'the store was reopened during the write; nothing was written, try again');
      // From here to `submit` nothing awaits: checking and reserving the heads is atomic.
      const reserved = this.heads.reserve(appends);
      try {
        const ops = [...this.operations(batch), ...purges];
        await (options.durable === false ? this.committer.writeUnsynced(ops) : this.committer.submit(ops));
      } catch (error) {
        // Not confirmed (and, unless the store was reopened meanwhile, not readable either):
        // forget the reservations; they are reloaded from what the store holds on next use.
        this.heads.forget(reserved);
        throw error;
      }
    });
    this.heads.forget((batch.purgeRuns ?? []).map(({ namespace, runId }) => headKey(namespace, runId)));
    for (const { namespace, runId, events } of appends) this.events.emit('appended', { namespace, runId, events });
  }

  async nextEventId(namespace: string, runId: string): Promise<number> {
    this.assertOpen();
    return this.heads.get(namespace, runId) ?? this.loadNextEventId(namespace, runId);
  }

  /**
   * Each append is stored as one record keyed by its first event id; a range read starts at
   * the record holding `from` and trims the first and last records.
   */
  async readHistory(namespace: string, runId: string, range: HistoryRange = {}): Promise<E[]> {
    this.assertOpen();
    const from = Math.max(1, range.from ?? 1);
    const to = range.to ?? Infinity;
    if (to < from) return [];
    const prefix = keys.historyPrefix(namespace, runId);
    let start = keys.events(namespace, runId, from);
    const upper = to === Infinity ? { lt: prefixEnd(prefix) } : { lte: keys.events(namespace, runId, to) };
    const out: E[] = [];
    await this.reading(async () => {
      if (from > 1) {
        // The record holding `from` starts at or before it.
        for await (const key of this.db.keys({ gte: prefix, lte: start, reverse: true, limit: 1 })) start = key;
      }
      // In batches from the first call (iterating asks for the first record alone), each decoded before the next is read.
      const iterator = this.db.iterator({ gte: start, ...upper });
      try {
        for (let entries = await iterator.nextv(HISTORY_READ_BATCH); entries.length > 0; entries = await iterator.nextv(HISTORY_READ_BATCH)) {
          for (const [key, bytes] of entries) for (const event of decode<E[]>(key, bytes)) if (event.eventId >= from && event.eventId <= to) out.push(event);
        }
      } finally {
        await iterator.close();
      }
    });
    return out;
  }

  async getRun(namespace: string, runId: string): Promise<RunRecord | undefined> {
    return this.get<RunRecord>(keys.run(namespace, runId));
  }

  async getLatestRunId(namespace: string, workflowId: string): Promise<string | undefined> {
    return this.get<string>(keys.latestRun(namespace, workflowId));
  }

  async countRuns(query: CountRunsQuery): Promise<number> {
    this.assertOpen();
    const prefix = keys.statusPrefix(query.namespace, query.status);
    // `all` reads the keys in batches (one call per batch, not per key).
    return this.reading(async () => (await this.db.keys({ gte: prefix, lt: prefixEnd(prefix), ...(query.limit !== undefined ? { limit: query.limit } : {}) }).all()).length);
  }

  async listRuns(query: ListRunsQuery): Promise<RunRecord[]> {
    this.assertOpen();
    const limit = query.limit ?? Infinity;
    const out: RunRecord[] = [];
    const keep = (record: RunRecord | undefined): boolean => {
      if (record && (query.workflowType === undefined || record.workflowType === query.workflowType)) out.push(record);
      return out.length < limit;
    };
    return this.reading(async () => {
      if (query.status !== undefined) {
        const prefix = keys.statusPrefix(query.namespace, query.status);
        const runIds: string[] = [];
        for await (const key of this.db.keys({ gte: prefix, lt: prefixEnd(prefix) })) runIds.push(keyParts(key)[3]);
        for (let i = 0; i < runIds.length; i += 256) {
          const chunk = runIds.slice(i, i + 256).map((runId) => keys.run(query.namespace, runId));
          const values = await this.db.getMany(chunk);
          for (let j = 0; j < chunk.length; j++) {
            if (!keep(values[j] && this.scanned<RunRecord>(chunk[j], values[j]!))) return out;
          }
        }
        return out;
      }
      const prefix = keys.runsPrefix(query.namespace);
      for await (const [key, bytes] of this.db.iterator({ gte: prefix, lt: prefixEnd(prefix) })) {
        if (!keep(this.scanned<RunRecord>(key, bytes))) break;
      }
      return out;
    });
  }

  async scanRuns(query: ScanRunsQuery): Promise<RunPage> {
    this.assertOpen();
    const prefix = scanIndexPrefix(query);
    // A cursor from another index (a token of another query, or of a version that chose another index) would restart or end the scan.
    if (query.cursor !== undefined && !query.cursor.startsWith(prefix)) throw new StoreError('AION_STORE_INVALID_VALUE', 'the cursor is not a position in the index this query reads: page again from the start');
    const lowest = query.startedFrom === undefined ? prefix : keys.startedAt(prefix, query.startedFrom);
    const highest = query.startedBefore === undefined ? prefixEnd(prefix) : keys.startedAt(prefix, query.startedBefore);
    const upper = query.cursor !== undefined && query.cursor < highest ? query.cursor : highest;
    const pageSize = query.pageSize ?? Infinity;
    const runs: RunRecord[] = [];
    let lastKey: string | undefined;
    const iterator = this.db.keys({ gte: lowest, lt: upper, reverse: true });
    try {
      let batch: string[] = [];
      const drain = async (): Promise<boolean> => {
        const runKeys = batch.map((key) => keys.run(query.namespace, keyParts(key).at(-1)!));
        const records = await this.db.getMany(runKeys);
        for (let i = 0; i < batch.length; i++) {
          const bytes = records[i];
          lastKey = batch[i];
          if (!bytes) continue;
          const record = this.scanned<RunRecord>(runKeys[i], bytes);
          if (!record || !answersScan(record, query)) continue;
          runs.push(record);
          if (runs.length >= pageSize) return true;
        }
        batch = [];
        return false;
      };
      for await (const key of iterator) {
        batch.push(key);
        if (batch.length === 256 && (await drain())) return { runs, nextCursor: lastKey };
      }
      if (batch.length > 0 && (await drain())) return { runs, nextCursor: lastKey };
      return { runs };
    } catch (error) {
      throw this.readError(error);
    } finally {
      await iterator.close();
    }
  }

  async *allRuns(): AsyncIterable<RunRecord> {
    this.assertOpen();
    const prefix = keys.runsPrefix();
    try {
      for await (const [key, bytes] of this.db.iterator({ gte: prefix, lt: prefixEnd(prefix) })) {
        const record = this.scanned<RunRecord>(key, bytes);
        if (record) yield record;
      }
    } catch (error) {
      throw this.readError(error);
    }
  }

  async listOutbox(): Promise<OutboxEntry[]> {
    const prefix = keys.outboxPrefix();
    return this.values<OutboxEntry>({ gte: prefix, lt: prefixEnd(prefix) });
  }

  async getSnapshot(namespace: string, runId: string): Promise<SnapshotRecord | undefined> {
    return this.get<SnapshotRecord>(keys.snapshot(namespace, runId));
  }

  async getCheckpoint(namespace: string, runId: string, atOrBefore: number): Promise<StoredCheckpoint | undefined> {
    const upTo = Math.max(0, atOrBefore);
    const [image] = await this.values<SnapshotRecord>({ gte: keys.checkpointPrefix(namespace, runId), lte: keys.checkpoint(namespace, runId, upTo), reverse: true, limit: 1 });
    if (!image) return undefined;
    const links = await this.values<CheckpointLogs>({ gte: keys.checkpointLogsPrefix(namespace, runId), lte: keys.checkpointLogs(namespace, runId, image.eventId) });
    return joinCheckpointChain(image, links);
  }

  async listCheckpoints(namespace: string, runId: string): Promise<number[]> {
    this.assertOpen();
    const prefix = keys.checkpointPrefix(namespace, runId);
    const ids: number[] = [];
    await this.reading(async () => {
      for await (const key of this.db.keys({ gte: prefix, lt: prefixEnd(prefix) })) ids.push(Number(key.slice(prefix.length)));
    });
    return ids;
  }

  async getSchedule(namespace: string, scheduleId: string): Promise<ScheduleRecord | undefined> {
    return this.get<ScheduleRecord>(keys.schedule(namespace, scheduleId));
  }

  async listSchedules(namespace?: string): Promise<ScheduleRecord[]> {
    const prefix = keys.schedulesPrefix(namespace);
    return this.values<ScheduleRecord>({ gte: prefix, lt: prefixEnd(prefix) });
  }

  async dueEntries(upTo: number, limit?: number): Promise<DueEntry[]> {
    return this.values<DueEntry>({ gte: keys.duePrefix(), lt: keys.dueAfter(upTo), limit: limit ?? -1 });
  }

  async nextDueEntry(): Promise<DueEntry | undefined> {
    const [first] = await this.values<DueEntry>({ gte: keys.duePrefix(), lt: prefixEnd(keys.duePrefix()), limit: 1 });
    return first;
  }

  async listActivityTasks(): Promise<ActivityTask[]> {
    const prefix = keys.activityTaskPrefix();
    return this.values<ActivityTask>({ gte: prefix, lt: prefixEnd(prefix) });
  }

  async getControl(kind: string, id: string): Promise<ControlRecord | undefined> {
    return this.get<ControlRecord>(keys.control(kind, id));
  }

  async listControl(kind: string, query: ControlQuery = {}): Promise<ControlRecord[]> {
    const kindPrefix = keys.controlPrefix(kind);
    const lower = kindPrefix + (query.prefix ?? '');
    const upper = startsWithEnd(lower);
    const bound = query.after === undefined ? undefined : kindPrefix + query.after;
    const range = { reverse: query.reverse === true, limit: query.limit ?? -1 };
    if (bound === undefined) return this.values<ControlRecord>({ ...range, gte: lower, lt: upper });
    if (query.reverse) return this.values<ControlRecord>({ ...range, gte: lower, lt: bound < upper ? bound : upper });
    return this.values<ControlRecord>({ ...range, ...(bound < lower ? { gte: lower } : { gt: bound }), lt: upper });
  }

  async getBundle(version: string): Promise<BundleRecord | undefined> {
    return this.get<BundleRecord>(keys.bundle(version));
  }

  async listBundles(): Promise<BundleRecord[]> {
    const prefix = keys.bundlePrefix();
    return this.values<BundleRecord>({ gte: prefix, lt: prefixEnd(prefix) });
  }

  async getTypeVersion(namespace: string, workflowType: string): Promise<string | undefined> {
    return this.get<string>(keys.typeVersion(namespace, workflowType));
  }

  async listQuarantined(): Promise<QuarantineRecord[]> {
    const prefix = keys.quarantinePrefix();
    return this.values<QuarantineRecord>({ gte: prefix, lt: prefixEnd(prefix) });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reopening?.timer);
    await this.reopening?.running;
    try {
      await this.committer.drain();
      this.commits.close();
      await this.db.close();
    } finally {
      this.options.lock?.release();
    }
  }

  private operations(batch: WriteBatch<E>): KvOperation[] {
    const ops: KvOperation[] = [];
    const put = (key: string, value: unknown) => ops.push({ type: 'put', key, value: encodeValue(value) });
    const del = (key: string) => ops.push({ type: 'del', key });
    for (const append of batch.histories ?? []) {
      if (append.events.length > 0) put(keys.events(append.namespace, append.runId, append.events[0].eventId), append.events);
    }
    for (const { record, previousStatus, previousSearchAttributes, reindex } of batch.runs ?? []) {
      put(keys.run(record.namespace, record.runId), record);
      const { namespace, runId, startTime } = record;
      const everyEntry = previousStatus === undefined || reindex === true;
      if (everyEntry) {
        ops.push({ type: 'put', key: keys.started(namespace, startTime, runId), value: EMPTY });
        ops.push({ type: 'put', key: keys.typeStarted(namespace, record.workflowType, startTime, runId), value: EMPTY });
      }
      const attributeKeys = attributeIndexKeys(record, record.searchAttributes);
      if (previousSearchAttributes !== undefined) {
        const before = attributeIndexKeys(record, previousSearchAttributes);
        for (const key of before) if (!attributeKeys.includes(key)) del(key);
        for (const key of attributeKeys) if (everyEntry || !before.includes(key)) ops.push({ type: 'put', key, value: EMPTY });
      } else if (everyEntry) {
        for (const key of attributeKeys) ops.push({ type: 'put', key, value: EMPTY });
      }
      if (previousStatus !== record.status || reindex) {
        if (previousStatus !== undefined && previousStatus !== record.status) {
          del(keys.status(namespace, previousStatus, runId));
          del(keys.statusStarted(namespace, previousStatus, startTime, runId));
        }
        ops.push({ type: 'put', key: keys.status(namespace, record.status, runId), value: EMPTY });
        ops.push({ type: 'put', key: keys.statusStarted(namespace, record.status, startTime, runId), value: EMPTY });
      }
    }
    for (const { namespace, workflowId, runId } of batch.latestRuns ?? []) put(keys.latestRun(namespace, workflowId), runId);
    for (const entry of batch.dueEntries?.put ?? []) put(dueKey(entry), entry);
    for (const entry of batch.dueEntries?.delete ?? []) del(dueKey(entry));
    for (const task of batch.activityTasks?.put ?? []) put(keys.activityTask(task.namespace, task.runId, task.seq), task);
    for (const task of batch.activityTasks?.delete ?? []) del(keys.activityTask(task.namespace, task.runId, task.seq));
    // A component's bytes need the binary encoding; a bundle's code stays JSON (which keeps every string exactly).
    for (const bundle of batch.bundles ?? []) ops.push({ type: 'put', key: keys.bundle(bundle.version), value: bundle.component ? encodeBinaryValue(bundle) : encodeValue(bundle) });
    for (const { namespace, workflowType, version } of batch.typeVersions ?? []) {
      if (version === null) del(keys.typeVersion(namespace, workflowType));
      else put(keys.typeVersion(namespace, workflowType), version);
    }
    for (const snapshot of batch.snapshots?.put ?? []) ops.push({ type: 'put', key: keys.snapshot(snapshot.namespace, snapshot.runId), value: encodeBinaryValue(snapshot) });
    for (const { namespace, runId } of batch.snapshots?.delete ?? []) del(keys.snapshot(namespace, runId));
    for (const { previous, logs, ...image } of batch.checkpoints?.put ?? []) {
      ops.push({ type: 'put', key: keys.checkpoint(image.namespace, image.runId, image.eventId), value: encodeBinaryValue(image) });
      put(keys.checkpointLogs(image.namespace, image.runId, image.eventId), { eventId: image.eventId, previous, logs } satisfies CheckpointLogs);
    }
    for (const { namespace, runId, eventId } of batch.checkpoints?.delete ?? []) {
      del(keys.checkpoint(namespace, runId, eventId));
      del(keys.checkpointLogs(namespace, runId, eventId));
    }
    for (const entry of batch.outbox?.put ?? []) put(keys.outbox(entry.id), entry);
    for (const id of batch.outbox?.delete ?? []) del(keys.outbox(id));
    for (const schedule of batch.schedules?.put ?? []) put(keys.schedule(schedule.namespace, schedule.scheduleId), schedule);
    for (const { namespace, scheduleId } of batch.schedules?.delete ?? []) del(keys.schedule(namespace, scheduleId));
    for (const record of batch.quarantine?.put ?? []) put(keys.quarantine(record.namespace, record.runId), record);
    for (const { namespace, runId } of batch.quarantine?.delete ?? []) del(keys.quarantine(namespace, runId));
    for (const record of batch.control?.put ?? []) put(keys.control(record.kind, record.id), record);
    for (const { kind, id } of batch.control?.delete ?? []) del(keys.control(kind, id));
    return ops;
  }

  /** The deletions purging these runs: their keys are looked up first (history appends, checkpoints, index entries). */
  private async purgeOperations(purges: { namespace: string; runId: string }[]): Promise<KvOperation[]> {
    const ops: KvOperation[] = [];
    const del = (key: string) => ops.push({ type: 'del', key });
    for (const { namespace, runId } of purges) {
      const record = await this.get<RunRecord>(keys.run(namespace, runId));
      if (record) {
        del(keys.status(namespace, record.status, runId));
        del(keys.statusStarted(namespace, record.status, record.startTime, runId));
        del(keys.started(namespace, record.startTime, runId));
        del(keys.typeStarted(namespace, record.workflowType, record.startTime, runId));
        for (const key of attributeIndexKeys(record, record.searchAttributes)) del(key);
        if ((await this.get<string>(keys.latestRun(namespace, record.workflowId))) === runId) del(keys.latestRun(namespace, record.workflowId));
      }
      del(keys.run(namespace, runId));
      del(keys.snapshot(namespace, runId));
      del(keys.quarantine(namespace, runId));
      await this.reading(async () => {
        for (const prefix of [keys.historyPrefix(namespace, runId), keys.checkpointPrefix(namespace, runId), keys.checkpointLogsPrefix(namespace, runId)]) {
          for await (const key of this.db.keys({ gte: prefix, lt: prefixEnd(prefix) })) del(key);
        }
      });
    }
    return ops;
  }

  private async loadNextEventId(namespace: string, runId: string): Promise<number> {
    const prefix = keys.historyPrefix(namespace, runId);
    return this.reading(async () => {
      for await (const [key, bytes] of this.db.iterator({ gte: prefix, lt: prefixEnd(prefix), reverse: true, limit: 1 })) {
        const last = decode<E[]>(key, bytes).at(-1);
        return last ? last.eventId + 1 : 1;
      }
      return 1;
    });
  }

  private async get<T>(key: string): Promise<T | undefined> {
    this.assertOpen();
    const bytes = await this.reading(() => this.pointReads.get(key));
    return bytes === undefined ? undefined : decode<T>(key, bytes);
  }

  /** Every readable record in a range (a damaged one is reported and skipped). */
  private async values<T>(range: { gt?: string; gte?: string; lt?: string; lte?: string; limit?: number; reverse?: boolean }): Promise<T[]> {
    this.assertOpen();
    const out: T[] = [];
    await this.reading(async () => {
      // `all`: one native call per thousand records and no promise per record (a recovery sweep reads thousands of due entries).
      for (const [key, bytes] of await this.db.iterator(range).all()) {
        const value = this.scanned<T>(key, bytes);
        if (value !== undefined) out.push(value);
      }
    });
    return out;
  }

  /** A record met by a scan: decoded, or reported as damaged (undefined). */
  private scanned<T>(key: string, bytes: Uint8Array): T | undefined {
    try {
      return decode<T>(key, bytes);
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      const { printable, ...where } = describeKey(key);
      this.events.emit('damaged', { key: printable, ...where, error });
      return undefined;
    }
  }

  /** Runs a read, naming database failures as store errors. */
  private async reading<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      throw this.readError(error);
    }
  }

  /** A read the database failed: refused for good if the reopened log was damaged, unavailable during a reopen, otherwise I/O. */
  private readError(error: unknown): StoreError {
    if (error instanceof StoreError) return error;
    if (this.damaged) return this.damaged;
    const code = (error as { code?: string }).code;
    if (code === 'LEVEL_DATABASE_NOT_OPEN') return new StoreError('AION_STORE_UNAVAILABLE', 'the store is being reopened after a failed write', { cause: error });
    return new StoreError('AION_STORE_IO', `a read failed: ${(error as Error).message}`, { cause: error });
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('AION_STORE_CLOSED', 'the event store is closed');
  }

  private newCommitter(commits: CommitLog): GroupCommitter {
    return new GroupCommitter(this.db, this.options.directBatches === true, this.sync, commits, (error) => {
      this.events.emit('availability', { available: false, error });
      this.scheduleReopen(REOPEN_FIRST_DELAY_MS);
    });
  }

  /**
   * After a failed write: reopens the database (a fresh LevelDB log, so nothing is written
   * behind the torn record) and checks it; writes are accepted again once that succeeded.
   * Retried with backoff while the cause (a full disk) persists.
   */
  private scheduleReopen(delayMs: number): void {
    const { reopen } = this.options;
    if (!reopen || this.closed) return;
    const timer = setTimeout(() => {
      const running = this.reopen(reopen, delayMs).finally(() => {
        if (this.reopening?.timer === timer) this.reopening = undefined;
      });
      this.reopening = { timer, running };
    }, delayMs);
    timer.unref();
    this.reopening = { timer };
  }

  private async reopen(reopen: NonNullable<KvEventStoreOptions['reopen']>, delayMs: number): Promise<void> {
    let reopened: ReopenedDatabase;
    try {
      reopened = await reopen(this.db);
    } catch (error) {
      // Still failing (a full disk): try again later. A damaged log stays refused.
      const failure = error instanceof StoreError ? error : new StoreError('AION_STORE_UNAVAILABLE', `reopening the store failed: ${(error as Error).message}`, { cause: error });
      this.events.emit('availability', { available: false, error: failure });
      if (failure.code === 'AION_STORE_DAMAGED') this.damaged = failure;
      else this.scheduleReopen(Math.min(delayMs * 2, REOPEN_MAX_DELAY_MS));
      return;
    }
    if (this.closed) {
      reopened.commits.close();
      await reopened.db.close();
      return;
    }
    this.commits.close();
    this.db = reopened.db;
    this.commits = reopened.commits;
    this.generation++;
    this.heads.clear();
    this.committer = this.newCommitter(reopened.commits);
    this.events.emit('availability', { available: true });
  }
}

const decode = <T>(key: string, bytes: Uint8Array): T => decodeValue<T>(bytes, () => describeKey(key).printable);
const dueKey = (entry: DueEntry): string => keys.due(entry.dueAt, entry.namespace, entry.owner, entry.key);
