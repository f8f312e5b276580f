/**
 * `EventStore` on PostgreSQL (schema.ts): the store a cluster of engines shares, beside the
 * embedded LevelDB default. Same contract and conformance suite as the other stores; a
 * batch is one transaction, and batches submitted while one commits are merged into the next
 * (write-set.ts), as the LevelDB store's group commit does.
 *
 * A write whose outcome is unknown — the connection broke before the commit was confirmed —
 * makes the store unavailable: it forgets the next event ids it kept (the write may or may
 * not have landed), checks the database again with backoff, and accepts writes again once it
 * answers. The engine then recovers from what the store holds, as after a restart.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { joinCheckpointChain, type CheckpointLogs } from '../checkpoint-chain.js';
import { decodeValue } from '../codec.js';
import { StoreError } from '../errors.js';
import { HistoryHeads, headKey } from '../history-heads.js';
import { DEFAULT_CACHED_HEADS } from '../kv-event-store.js';
import { answersScan, indexedAttributeValue, keys, scanIndexPrefix, startsWithEnd, type KeyInfo } from '../keys.js';
import { partitionOfRun } from '../partitions.js';
import type {
  ActivityTask,
  BundleRecord,
  ClusterNode,
  ControlQuery,
  ControlRecord,
  CountRunsQuery,
  DueEntry,
  EventStore,
  HistoryRange,
  ListRunsQuery,
  OutboxEntry,
  PartitionStatus,
  QuarantineRecord,
  RunPage,
  RunRecord,
  ScanRunsQuery,
  ScheduleRecord,
  SnapshotRecord,
  StoredCheckpoint,
  StoredEvent,
  StoreEvents,
  WriteBatch,
} from '../types.js';
import { CommitOutcomeUnknown, isServerError, isUnavailability, type Database, type Query, type Row } from './database.js';
import { partitionsTouched } from './leases.js';
import type { ClusterMembership } from './membership.js';
import { FENCED_SQLSTATE, partitionName, UNKNOWN_OUTBOX_PARTITION } from './schema.js';
import { applyBatches, encodeBatch, encodedBytes, outboxPuts, type EncodedBatch } from './write-set.js';

/** Rows a scan reads at a time. */
const SCAN_CHUNK = 256;
/** Batches merged into one transaction at most, and their encoded bytes (beyond one batch). */
const MAX_GROUP = 256;
const MAX_GROUP_BYTES = 8 * 1024 * 1024;
const MAX_EVENT_ID = 2 ** 31 - 1;
/** Checks of an unavailable database back off from this to `RECHECK_MAX_DELAY_MS`. */
const RECHECK_FIRST_DELAY_MS = 100;
const RECHECK_MAX_DELAY_MS = 30_000;

export interface PostgresEventStoreOptions {
  /** Runs' next event ids kept in memory (default `DEFAULT_CACHED_HEADS`). */
  cachedHeads?: number;
  /**
   * The first statement of each write's transaction: it fails (and so refuses the whole
   * transaction) unless this store may still write the partitions the batches touch
   * (partition leases, leases.ts).
   */
  fence?: (query: Query, partitions: number[]) => Promise<void>;
  /** Whether this store's engine still holds a partition's lease (given up meanwhile, a refused write is no takeover). */
  holds?: (partition: number) => boolean;
  /**
   * Cluster mode (membership.ts): the partitions whose work (due entries, activity tasks,
   * outbox, quarantine) the scans return, and the channel notified of effects recorded for a
   * partition. Without it, every partition is this store's.
   */
  assignment?: ClusterMembership;
  /** This engine's name in the lease table (`partitionStatus`). */
  self?: string;
  /** Called when the store closes, before its connections do (gives its leases up). */
  beforeClose?: () => Promise<void>;
}

interface PendingWrite {
  batch: WriteBatch<StoredEvent>;
  encoded: EncodedBatch;
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class PostgresEventStore<E extends StoredEvent = StoredEvent> implements EventStore<E> {
  readonly events = new EventEmitter<StoreEvents>().setMaxListeners(0);
  private readonly heads: HistoryHeads;
  private pending: PendingWrite[] = [];
  private committing: Promise<void> | undefined;
  private failure: StoreError | undefined;
  private recheck: NodeJS.Timeout | undefined;
  /** The next recheck's delay: it keeps growing while writes fail again soon after each recheck. */
  private recheckDelayMs = RECHECK_FIRST_DELAY_MS;
  private closed = false;
  /** The partition of each outbox entry this store wrote or listed and that is not deleted yet: a deletion is fenced by it. */
  private readonly outboxPartitions = new Map<string, number>();

  constructor(
    private readonly db: Database,
    readonly partitionCount: number,
    private readonly options: PostgresEventStoreOptions = {},
  ) {
    this.heads = new HistoryHeads(options.cachedHeads ?? DEFAULT_CACHED_HEADS);
  }

  get assignment(): ClusterMembership | undefined {
    return this.options.assignment;
  }

  /**
   * Cluster mode: `partitions` moved to or from this engine. What this store keeps of their
   * runs in memory (next event ids, outbox entries' partitions) may be out of date: forgotten,
   * and read again from the database when needed.
   */
  partitionsMoved(partitions: readonly number[]): void {
    const moved = new Set(partitions);
    this.heads.forgetRuns((runId) => moved.has(partitionOfRun(runId, this.partitionCount)));
    for (const [id, partition] of this.outboxPartitions) if (moved.has(partition)) this.outboxPartitions.delete(id);
  }

  get unavailable(): StoreError | undefined {
    return this.failure;
  }

  // Writes ------------------------------------------------------------------------------------

  async write(batch: WriteBatch<E>, _options?: { durable?: boolean }): Promise<void> {
    this.assertOpen();
    if (this.failure) throw this.failure;
    const encoded = encodeBatch(batch, this.partitionCount);
    const appends = (batch.histories ?? []).filter((append) => append.events.length > 0);
    await this.heads.whilePinned(batch, appends, (namespace, runId) => this.loadNextEventId(namespace, runId), async () => {
      const reserved = this.heads.reserve(appends);
      try {
        await new Promise<void>((resolve, reject) => {
          this.pending.push({ batch, encoded, bytes: encodedBytes(encoded), resolve, reject });
          this.committing ??= this.commitPending();
        });
      } catch (error) {
        this.heads.forget(reserved);
        throw error;
      }
    });
    this.heads.forget((batch.purgeRuns ?? []).map(({ namespace, runId }) => headKey(namespace, runId)));
    for (const { namespace, runId, events } of appends) this.events.emit('appended', { namespace, runId, events });
  }

  /** Commits what is pending, a group at a time, until nothing is. */
  private async commitPending(): Promise<void> {
    // Let the writes of this turn join the first group.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const group = this.nextGroup();
      try {
        await this.commitGroup(group);
        for (const write of group) write.resolve();
        continue;
      } catch (error) {
        if (!(error instanceof StoreError && REFUSALS.has(error.code))) {
          for (const write of group) write.reject(error);
          continue;
        }
        if (group.length === 1) {
          this.refuse(group, error);
          continue;
        }
      }
      // The database refused one write of the group (and so all): each alone, so that only that one is refused.
      const refused: PendingWrite[] = [];
      for (const write of group) {
        if (refused.some((earlier) => appendsAfter(earlier, write))) {
          write.reject(gapError());
          continue;
        }
        try {
          await this.commitGroup([write]);
          write.resolve();
        } catch (error) {
          refused.push(write);
          this.refuse([write], error);
        }
      }
    }
    this.committing = undefined;
  }

  /**
   * Refuses writes, and the pending writes that append to the same runs: they were checked
   * against event ids the refused ones were to take, and would leave a gap in the histories.
   */
  private refuse(writes: PendingWrite[], error: unknown): void {
    for (const write of writes) write.reject(error);
    this.pending = this.pending.filter((later) => !writes.some((write) => appendsAfter(write, later)) || (later.reject(gapError()), false));
  }

  /** The pending writes that go in one transaction: in order, up to the group's bounds. */
  private nextGroup(): PendingWrite[] {
    let count = 1;
    let bytes = this.pending[0].bytes;
    while (count < this.pending.length && count < MAX_GROUP && bytes + this.pending[count].bytes <= MAX_GROUP_BYTES) bytes += this.pending[count++].bytes;
    return this.pending.splice(0, count);
  }

  private async commitGroup(group: PendingWrite[]): Promise<void> {
    if (this.failure) throw this.failure;
    const touched = this.partitionsTouched(group);
    const attempt = () =>
      this.db.transaction(async (query) => {
        await this.options.fence?.(query, touched);
        await applyBatches(query, group.map((write) => write.encoded));
        await this.notifyEffects(query, group);
      });
    try {
      // A deadlock or serialization failure was rolled back, and passes: once more.
      await attempt().catch((error: unknown) => (isServerError(error) && /^40(001|P01)$/.test(error.code ?? '') ? attempt() : Promise.reject(error)));
    } catch (error) {
      // Refused by the fence for a partition this engine gave up while the write was on its way (cluster mode): refused, not fenced.
      const givenUp = isServerError(error) && error.code === FENCED_SQLSTATE ? touched.find((partition) => this.options.holds?.(partition) === false) : undefined;
      if (givenUp !== undefined) throw new StoreError('AION_STORE_PARTITION_MOVED', `this engine gave ${partitionName(givenUp)} up while the write was on its way: nothing was written`, { cause: error, partition: givenUp });
      throw this.writeError(error);
    }
    this.recheckDelayMs = RECHECK_FIRST_DELAY_MS;
    for (const { batch, encoded } of group) {
      for (const [id, partition] of outboxPuts(encoded)) {
        if (this.options.assignment?.serves(partition) ?? true) this.outboxPartitions.set(id, partition);
        else this.outboxPartitions.delete(id);
      }
      for (const id of batch.outbox?.delete ?? []) this.outboxPartitions.delete(id);
    }
  }

  private partitionsTouched(group: PendingWrite[]): number[] {
    const touched = new Set<number>();
    // In a cluster, an entry this store did not write or list (or forgot, its partition having moved) is not this engine's to delete.
    const outboxPartitionOf = (id: string, deleted: boolean) => this.outboxPartitions.get(id) ?? (deleted && this.options.assignment ? UNKNOWN_OUTBOX_PARTITION : undefined);
    for (const { batch } of group) for (const partition of partitionsTouched(batch, this.partitionCount, outboxPartitionOf)) touched.add(partition);
    return [...touched];
  }

  /** Tells the engines serving the partitions of the effects recorded (at commit): they perform them. */
  private async notifyEffects(query: Query, group: PendingWrite[]): Promise<void> {
    const assignment = this.options.assignment;
    if (!assignment) return;
    const partitions = new Set<number>();
    for (const { encoded } of group) for (const [, partition] of outboxPuts(encoded)) if (!assignment.serves(partition)) partitions.add(partition);
    if (partitions.size > 0) await query(`SELECT pg_notify($1, p::text) FROM unnest($2::int2[]) AS p`, [assignment.channel, [...partitions]]);
  }

  /** What a failed transaction means: refused (rolled back, known), or the database cannot take writes now (the store goes unavailable). */
  private writeError(error: unknown): StoreError {
    if (error instanceof StoreError) return error.code === 'AION_STORE_FENCED' ? this.fenced(error) : error;
    if (error instanceof CommitOutcomeUnknown) return this.fail(error);
    if (!isServerError(error)) {
      // Thrown here before anything was sent (a value too large to send), or the connection failed.
      return error instanceof RangeError ? new StoreError('AION_STORE_INVALID_VALUE', `a write cannot be sent: ${error.message}`, { cause: error }) : this.fail(error);
    }
    const { code, message } = error;
    if (code === FENCED_SQLSTATE) return this.fenced(new StoreError('AION_STORE_FENCED', `${message}: another engine took it over, and nothing was written`, { cause: error }));
    if (code === '23505') return new StoreError('AION_STORE_CONFLICT', `an append met events already written: another writer appended first (${message})`, { cause: error });
    if (code?.startsWith('22')) return new StoreError('AION_STORE_INVALID_VALUE', `a value cannot be stored: ${message}`, { cause: error });
    if (isUnavailability(error)) return this.fail(error);
    return new StoreError('AION_STORE_IO', `a write was refused by the database: ${message}`, { cause: error });
  }

  /** The database cannot take writes (a write's outcome may be unknown): refuse writes until it takes one again. */
  private fail(cause: unknown): StoreError {
    if (this.failure) return this.failure;
    const failure = new StoreError('AION_STORE_UNAVAILABLE', `PostgreSQL cannot take writes now (${(cause as Error).message}); a write whose commit was not confirmed may have landed or not`, { cause });
    this.failure = failure;
    this.heads.clear();
    this.events.emit('availability', { available: false, error: failure });
    this.scheduleRecheck();
    return failure;
  }

  /** This store lost the right to write (a lease): it refuses writes from now on. */
  fenced(failure: StoreError): StoreError {
    if (this.failure?.code === 'AION_STORE_FENCED') return this.failure;
    clearTimeout(this.recheck);
    this.failure = failure;
    this.events.emit('availability', { available: false, error: failure });
    return failure;
  }

  /** Tries a write (a row of its own, rewritten) after a delay, and accepts writes again once one goes through. */
  private scheduleRecheck(): void {
    const delayMs = this.recheckDelayMs;
    this.recheckDelayMs = Math.min(delayMs * 2, RECHECK_MAX_DELAY_MS);
    this.recheck = setTimeout(() => {
      this.db.transaction((query) => query(`UPDATE meta SET value = value WHERE key = 'schema_version'`)).then(
        () => {
          if (this.closed || this.failure?.code !== 'AION_STORE_UNAVAILABLE') return;
          // Heads read meanwhile may predate the write whose outcome was unknown.
          this.heads.clear();
          this.failure = undefined;
          this.events.emit('availability', { available: true });
        },
        () => this.closed || this.scheduleRecheck(),
      );
    }, delayMs);
    this.recheck.unref();
  }

  // Reads of one run ----------------------------------------------------------------------------

  async nextEventId(namespace: string, runId: string): Promise<number> {
    this.assertOpen();
    return this.heads.get(namespace, runId) ?? this.loadNextEventId(namespace, runId);
  }

  private async loadNextEventId(namespace: string, runId: string): Promise<number> {
    const [row] = await this.read<{ last: number | null }>('SELECT max(event_id) AS last FROM events WHERE namespace = $1 AND run_id = $2', [namespace, runId]);
    return (row.last ?? 0) + 1;
  }

  async readHistory(namespace: string, runId: string, range: HistoryRange = {}): Promise<E[]> {
    this.assertOpen();
    const from = Math.max(1, range.from ?? 1);
    const to = Math.min(range.to ?? MAX_EVENT_ID, MAX_EVENT_ID);
    if (to < from) return [];
    const rows = await this.read<{ event_id: number; body: Uint8Array }>(
      'SELECT event_id, body FROM events WHERE namespace = $1 AND run_id = $2 AND event_id BETWEEN $3 AND $4 ORDER BY event_id',
      [namespace, runId, from, to],
    );
    return rows.map((row) => decodeValue<E>(row.body, () => printable('events', namespace, runId, row.event_id)));
  }

  async getRun(namespace: string, runId: string): Promise<RunRecord | undefined> {
    return this.one<RunRecord>(printable('runs', namespace, runId), 'SELECT record AS value FROM runs WHERE namespace = $1 AND run_id = $2', [namespace, runId]);
  }

  async getLatestRunId(namespace: string, workflowId: string): Promise<string | undefined> {
    this.assertOpen();
    const [row] = await this.read<{ run_id: string }>('SELECT run_id FROM latest_runs WHERE namespace = $1 AND workflow_id = $2', [namespace, workflowId]);
    return row?.run_id;
  }

  async getSnapshot(namespace: string, runId: string): Promise<SnapshotRecord | undefined> {
    return this.one<SnapshotRecord>(printable('snapshots', namespace, runId), 'SELECT snapshot AS value FROM snapshots WHERE namespace = $1 AND run_id = $2', [namespace, runId]);
  }

  /** A damaged checkpoint is reported and skipped, as the other stores do: checkpoints are an optimisation. */
  async getCheckpoint(namespace: string, runId: string, atOrBefore: number): Promise<StoredCheckpoint | undefined> {
    this.assertOpen();
    const upTo = Math.min(Math.max(0, Math.floor(atOrBefore)), MAX_EVENT_ID);
    const [image] = await this.read<{ event_id: number; image: Uint8Array }>(
      'SELECT event_id, image FROM checkpoints WHERE namespace = $1 AND run_id = $2 AND event_id <= $3 ORDER BY event_id DESC LIMIT 1',
      [namespace, runId, upTo],
    );
    if (!image) return undefined;
    const where = (eventId: number) => ({ kind: 'checkpoint' as const, key: printable('checkpoints', namespace, runId, eventId), namespace, runId });
    const decoded = this.scanned<SnapshotRecord>(image.image, where(image.event_id));
    if (!decoded) return undefined;
    const rows = await this.read<{ event_id: number; logs: Uint8Array }>('SELECT event_id, logs FROM checkpoints WHERE namespace = $1 AND run_id = $2 AND event_id <= $3', [namespace, runId, image.event_id]);
    return joinCheckpointChain(decoded, rows.flatMap((row) => this.scanned<CheckpointLogs>(row.logs, where(row.event_id)) ?? []));
  }

  async listCheckpoints(namespace: string, runId: string): Promise<number[]> {
    this.assertOpen();
    const rows = await this.read<{ event_id: number }>('SELECT event_id FROM checkpoints WHERE namespace = $1 AND run_id = $2 ORDER BY event_id', [namespace, runId]);
    return rows.map((row) => row.event_id);
  }

  // Lists of runs -------------------------------------------------------------------------------

  async listRuns(query: ListRunsQuery): Promise<RunRecord[]> {
    this.assertOpen();
    const where = new Conditions([query.namespace], 'namespace = $1');
    if (query.status !== undefined) where.add('status = $', query.status);
    if (query.workflowType !== undefined) where.add('workflow_type = $', query.workflowType);
    const rows = await this.read<{ run_id: string; value: Uint8Array }>(`SELECT run_id, record AS value FROM runs WHERE ${where.text} ORDER BY run_id LIMIT ${where.param(query.limit ?? null)}`, where.params);
    return rows.flatMap((row) => this.scanned<RunRecord>(row.value, runInfo(query.namespace, row.run_id)) ?? []);
  }

  async countRuns(query: CountRunsQuery): Promise<number> {
    this.assertOpen();
    const [row] = await this.read<{ count: number }>(
      'SELECT count(*) AS count FROM (SELECT 1 FROM runs WHERE namespace = $1 AND status = $2 LIMIT $3) AS counted',
      [query.namespace, query.status, query.limit ?? null],
    );
    return row.count;
  }

  /**
   * Reads the narrowest index (the one the LevelDB store would: `scanIndexPrefix`) newest first,
   * a chunk at a time, keeping the runs the query holds. The cursor is the position of the last
   * run read, spelled as the LevelDB store's index key (so both stores check a cursor alike).
   */
  async scanRuns(query: ScanRunsQuery): Promise<RunPage> {
    this.assertOpen();
    const prefix = scanIndexPrefix(query);
    if (query.cursor !== undefined && !query.cursor.startsWith(prefix)) throw new StoreError('AION_STORE_INVALID_VALUE', 'the cursor is not a position in the index this query reads: page again from the start');
    let after = query.cursor === undefined ? undefined : positionOf(query.cursor.slice(prefix.length));
    const pageSize = query.pageSize ?? Infinity;
    const runs: RunRecord[] = [];
    for (;;) {
      const rows = await this.indexChunk(query, after);
      for (const row of rows) {
        after = { startTime: row.start_time, runId: row.run_id };
        const record = this.scanned<RunRecord>(row.value, runInfo(query.namespace, row.run_id));
        if (!record || !answersScan(record, query)) continue;
        runs.push(record);
        if (runs.length >= pageSize) return { runs, nextCursor: keys.startedIn(prefix, row.start_time, row.run_id) };
      }
      if (rows.length < SCAN_CHUNK) return { runs };
    }
  }

  private indexChunk(query: ScanRunsQuery, after: { startTime: number; runId: string } | undefined) {
    const tagged = query.attribute && indexedAttributeValue(query.attribute.name, query.attribute.value);
    const where = new Conditions([query.namespace], 'i.namespace = $1');
    if (tagged !== undefined) where.add('i.name = $', query.attribute!.name).add('i.value = $', tagged);
    else if (query.workflowType !== undefined) where.add('i.workflow_type = $', query.workflowType);
    else if (query.status !== undefined) where.add('i.status = $', query.status);
    if (query.startedFrom !== undefined) where.add('i.start_time >= $', Math.floor(query.startedFrom));
    if (query.startedBefore !== undefined) where.add('i.start_time < $', Math.floor(query.startedBefore));
    if (after !== undefined) where.add('(i.start_time, i.run_id) < ($, $)', after.startTime, after.runId);
    const from = tagged !== undefined ? 'run_attributes AS i JOIN runs AS r ON r.namespace = i.namespace AND r.run_id = i.run_id' : 'runs AS i';
    return this.read<{ start_time: number; run_id: string; value: Uint8Array }>(
      `SELECT i.start_time, i.run_id, ${tagged !== undefined ? 'r' : 'i'}.record AS value FROM ${from} WHERE ${where.text} ORDER BY i.start_time DESC, i.run_id DESC LIMIT ${SCAN_CHUNK}`,
      where.params,
    );
  }

  async *allRuns(): AsyncIterable<RunRecord> {
    this.assertOpen();
    let after = { namespace: '', runId: '' };
    for (;;) {
      const rows = await this.read<{ namespace: string; run_id: string; value: Uint8Array }>(
        `SELECT namespace, run_id, record AS value FROM runs WHERE (namespace, run_id) > ($1, $2) ORDER BY namespace, run_id LIMIT ${SCAN_CHUNK}`,
        [after.namespace, after.runId],
      );
      for (const row of rows) {
        const record = this.scanned<RunRecord>(row.value, runInfo(row.namespace, row.run_id));
        if (record) yield record;
      }
      if (rows.length < SCAN_CHUNK) return;
      after = { namespace: rows.at(-1)!.namespace, runId: rows.at(-1)!.run_id };
    }
  }

  // Work: due entries, activity tasks, the outbox, quarantine -----------------------------------

  async dueEntries(upTo: number, limit?: number): Promise<DueEntry[]> {
    this.assertOpen();
    const where = this.ownedOnly(new Conditions([upTo], 'due_at <= $1'));
    const rows = await this.read<{ due_at: number; namespace: string; owner: string; key: string }>(
      `SELECT due_at, namespace, owner, key FROM due_entries WHERE ${where.text} ORDER BY due_at, namespace, owner, key LIMIT ${where.param(limit ?? null)}`,
      where.params,
    );
    return rows.map((row) => ({ dueAt: row.due_at, namespace: row.namespace, owner: row.owner, key: row.key }));
  }

  async nextDueEntry(): Promise<DueEntry | undefined> {
    const [first] = await this.dueEntries(Infinity, 1);
    return first;
  }

  async listActivityTasks(): Promise<ActivityTask[]> {
    this.assertOpen();
    const where = this.ownedOnly(new Conditions());
    const rows = await this.read<{ namespace: string; run_id: string; seq: number; value: Uint8Array }>(`SELECT namespace, run_id, seq, task AS value FROM activity_tasks WHERE ${where.text} ORDER BY namespace, run_id, seq`, where.params);
    return rows.flatMap((row) => this.scanned<ActivityTask>(row.value, { kind: 'activity-task', key: printable('activity_tasks', row.namespace, row.run_id, row.seq), namespace: row.namespace, runId: row.run_id }) ?? []);
  }

  async listOutbox(): Promise<OutboxEntry[]> {
    this.assertOpen();
    const where = this.ownedOnly(new Conditions());
    const rows = await this.read<{ id: string; partition: number; value: Uint8Array }>(`SELECT id, partition, entry AS value FROM outbox WHERE ${where.text} ORDER BY id`, where.params);
    for (const row of rows) this.outboxPartitions.set(row.id, row.partition);
    return rows.flatMap((row) => this.scanned<OutboxEntry>(row.value, { kind: 'outbox', key: printable('outbox', row.id) }) ?? []);
  }

  async listQuarantined(): Promise<QuarantineRecord[]> {
    this.assertOpen();
    const where = this.ownedOnly(new Conditions());
    const rows = await this.read<{ namespace: string; run_id: string; value: Uint8Array }>(`SELECT namespace, run_id, record AS value FROM quarantine WHERE ${where.text} ORDER BY namespace, run_id`, where.params);
    return rows.flatMap((row) => this.scanned<QuarantineRecord>(row.value, { kind: 'quarantine', key: printable('quarantine', row.namespace, row.run_id), namespace: row.namespace, runId: row.run_id }) ?? []);
  }

  /** Keeps the rows of the partitions this store's owner serves. */
  private ownedOnly(where: Conditions): Conditions {
    const assignment = this.options.assignment;
    return assignment === undefined ? where : where.add('partition = ANY($::smallint[])', assignment.served());
  }

  // The control plane ---------------------------------------------------------------------------

  async getSchedule(namespace: string, scheduleId: string): Promise<ScheduleRecord | undefined> {
    return this.one<ScheduleRecord>(printable('schedules', namespace, scheduleId), 'SELECT schedule AS value FROM schedules WHERE namespace = $1 AND schedule_id = $2', [namespace, scheduleId]);
  }

  async listSchedules(namespace?: string): Promise<ScheduleRecord[]> {
    this.assertOpen();
    const where = namespace === undefined ? new Conditions() : new Conditions([namespace], 'namespace = $1');
    const rows = await this.read<{ namespace: string; schedule_id: string; value: Uint8Array }>(`SELECT namespace, schedule_id, schedule AS value FROM schedules WHERE ${where.text} ORDER BY namespace, schedule_id`, where.params);
    return rows.flatMap((row) => this.scanned<ScheduleRecord>(row.value, { kind: 'schedule', key: printable('schedules', row.namespace, row.schedule_id), namespace: row.namespace }) ?? []);
  }

  async getBundle(version: string): Promise<BundleRecord | undefined> {
    return this.one<BundleRecord>(printable('bundles', version), 'SELECT bundle AS value FROM bundles WHERE version = $1', [version]);
  }

  async listBundles(): Promise<BundleRecord[]> {
    this.assertOpen();
    const rows = await this.read<{ version: string; value: Uint8Array }>('SELECT version, bundle AS value FROM bundles ORDER BY version');
    return rows.flatMap((row) => this.scanned<BundleRecord>(row.value, { kind: 'bundle', key: printable('bundles', row.version) }) ?? []);
  }

  async getTypeVersion(namespace: string, workflowType: string): Promise<string | undefined> {
    this.assertOpen();
    const [row] = await this.read<{ version: string }>('SELECT version FROM type_versions WHERE namespace = $1 AND workflow_type = $2', [namespace, workflowType]);
    return row?.version;
  }

  async getControl(kind: string, id: string): Promise<ControlRecord | undefined> {
    return this.one<ControlRecord>(printable('control', kind, id), 'SELECT record AS value FROM control WHERE kind = $1 AND id = $2', [kind, id]);
  }

  async listControl(kind: string, query: ControlQuery = {}): Promise<ControlRecord[]> {
    this.assertOpen();
    const where = new Conditions([kind], 'kind = $1');
    const prefix = query.prefix ?? '';
    if (prefix !== '') where.add('id >= $', prefix).add('id < $', startsWithEnd(prefix));
    if (query.after !== undefined) where.add(query.reverse ? 'id < $' : 'id > $', query.after);
    const rows = await this.read<{ id: string; value: Uint8Array }>(
      `SELECT id, record AS value FROM control WHERE ${where.text} ORDER BY id ${query.reverse ? 'DESC' : 'ASC'} LIMIT ${where.param(query.limit ?? null)}`,
      where.params,
    );
    return rows.flatMap((row) => this.scanned<ControlRecord>(row.value, { kind: 'control', key: printable('control', kind, row.id) }) ?? []);
  }

  async partitionStatus(): Promise<{ self: string; partitions: PartitionStatus[]; nodes?: ClusterNode[] }> {
    this.assertOpen();
    const now = Date.now();
    // Only the entries already due are read (the index by due time), and the outbox, which drains.
    const rows = await this.read<{ partition: number; owner: string | null; epoch: number; expires_at: number | null; oldest_due: number | null; outbox_entries: number }>(`
      WITH due AS (SELECT partition, min(due_at) AS oldest FROM due_entries WHERE due_at <= $1 GROUP BY partition),
           pending AS (SELECT partition, count(*) AS entries FROM outbox GROUP BY partition)
      SELECT l.partition, l.owner, l.epoch, (extract(epoch FROM l.expires_at) * 1000)::float8 AS expires_at,
             due.oldest AS oldest_due, coalesce(pending.entries, 0) AS outbox_entries
      FROM leases l LEFT JOIN due USING (partition) LEFT JOIN pending USING (partition) ORDER BY l.partition`, [now]);
    return {
      self: this.options.self ?? '',
      partitions: rows.map((row) => ({
        partition: row.partition,
        owner: row.owner,
        epoch: row.epoch,
        expiresAt: row.expires_at,
        dueLagMs: row.oldest_due === null ? 0 : Math.max(0, now - row.oldest_due),
        outboxEntries: row.outbox_entries,
      })),
      ...(this.options.assignment ? { nodes: await this.options.assignment.nodes() } : {}),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.recheck);
    await this.committing;
    try {
      await this.options.beforeClose?.();
    } finally {
      await this.db.end();
    }
  }

  // Helpers -------------------------------------------------------------------------------------

  /** One record by key (`AION_STORE_CORRUPT` if it does not read back). */
  private async one<T>(name: string, text: string, params: unknown[]): Promise<T | undefined> {
    this.assertOpen();
    const [row] = await this.read<{ value: Uint8Array }>(text, params);
    return row === undefined ? undefined : decodeValue<T>(row.value, () => name);
  }

  /** A record met by a scan: decoded, or reported as damaged (undefined). */
  private scanned<T>(bytes: Uint8Array, where: Omit<KeyInfo, 'printable'> & { key: string }): T | undefined {
    try {
      return decodeValue<T>(bytes, () => where.key);
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      this.events.emit('damaged', { ...where, error });
      return undefined;
    }
  }

  /**
   * Runs a read, naming database failures as store errors. A read that met a broken connection
   * (the server ended it while it sat in the pool) is tried once more, on another.
   */
  private async read<T extends Row>(text: string, params: unknown[] = []): Promise<T[]> {
    try {
      return await this.db.query<T>(text, params).catch((error: unknown) => {
        if (this.closed || (isServerError(error) && !/^(08|57)/.test(error.code ?? ''))) throw error;
        return this.db.query<T>(text, params);
      });
    } catch (error) {
      if (this.closed) throw new StoreError('AION_STORE_CLOSED', 'the event store is closed', { cause: error });
      throw new StoreError('AION_STORE_IO', `a read failed: ${(error as Error).message}`, { cause: error });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('AION_STORE_CLOSED', 'the event store is closed');
  }
}

/** A record's name in messages: its table and key, `/`-separated as the other stores print keys. */
const printable = (table: string, ...key: (string | number)[]): string => [table, ...key].join('/');

const runInfo = (namespace: string, runId: string) => ({ kind: 'run' as const, key: printable('runs', namespace, runId), namespace, runId });

/** The position a cursor names: the tail of an index key (start time, 15 digits; NUL; run id). */
function positionOf(tail: string): { startTime: number; runId: string } {
  const startTime = Number(tail.slice(0, 15));
  if (tail[15] !== '\u0000' || !Number.isSafeInteger(startTime)) throw new StoreError('AION_STORE_INVALID_VALUE', 'the cursor is not a position in the index this query reads: page again from the start');
  return { startTime, runId: tail.slice(16) };
}

/** Refusals of a batch the database rolled back (knowing the outcome), which the other batches of its group need not share. */
const REFUSALS = new Set(['AION_STORE_CONFLICT', 'AION_STORE_INVALID_VALUE', 'AION_STORE_IO', 'AION_STORE_PARTITION_MOVED']);

/** Whether `later` appends to a run `earlier` appends to. */
function appendsAfter(earlier: PendingWrite, later: PendingWrite): boolean {
  const runs = new Set((earlier.batch.histories ?? []).map((append) => headKey(append.namespace, append.runId)));
  return (later.batch.histories ?? []).some((append) => runs.has(headKey(append.namespace, append.runId)));
}

const gapError = () => new StoreError('AION_STORE_CONFLICT', 'an earlier write to the same run was refused: this one would leave a gap in its history; nothing was written');

/** The conditions of a query, with their parameters (`$` in a condition stands for the next one). */
class Conditions {
  private readonly parts: string[];

  constructor(
    readonly params: unknown[] = [],
    ...parts: string[]
  ) {
    this.parts = parts;
  }

  add(condition: string, ...values: unknown[]): this {
    let next = this.params.length;
    this.parts.push(condition.replace(/\$(?!\d)/g, () => `$${++next}`));
    this.params.push(...values);
    return this;
  }

  /** A parameter outside the conditions (a limit): its placeholder. */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  get text(): string {
    return this.parts.length === 0 ? 'true' : this.parts.join(' AND ');
  }
}
