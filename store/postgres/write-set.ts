/**
 * What a group of write batches does to the tables, as one set of statements: the batches'
 * operations merged in order into the net change of each row (a row put then deleted is
 * deleted), so a group commit of many batches costs a statement per table, not per batch.
 *
 * Values are encoded when a batch is taken in (`encodeBatch`), so a value that cannot be
 * stored refuses its own batch before any group is formed.
 *
 * @module
 */
import type { CheckpointLogs } from '../checkpoint-chain.js';
import { encodeBinaryValue, encodeValue } from '../codec.js';
import { headKey } from '../history-heads.js';
import { indexedAttributeValue } from '../keys.js';
import { partitionOfRun } from '../partitions.js';
import type { DueEntry, RunRecord, StoredEvent, WriteBatch } from '../types.js';
import type { Query } from './database.js';
import { partitionOfDueEntry, partitionOfOutboxEntry } from './schema.js';

type Row = Record<string, unknown>;

/** A table's rows by key: written (`row`) or deleted (`undefined`), the last operation winning. */
type RowChanges = Map<string, { key: Row; row: Row | undefined }>;

/** The tables whose rows a batch puts and deletes by key, with their key columns. */
const KEYED = {
  runs: ['namespace', 'run_id'],
  latest_runs: ['namespace', 'workflow_id'],
  due_entries: ['due_at', 'namespace', 'owner', 'key'],
  activity_tasks: ['namespace', 'run_id', 'seq'],
  outbox: ['id'],
  snapshots: ['namespace', 'run_id'],
  checkpoints: ['namespace', 'run_id', 'event_id'],
  quarantine: ['namespace', 'run_id'],
  bundles: ['version'],
  type_versions: ['namespace', 'workflow_type'],
  schedules: ['namespace', 'schedule_id'],
  control: ['kind', 'id'],
} as const;
type KeyedTable = keyof typeof KEYED;

/** The PostgreSQL type of each column (for the arrays `unnest` reads). */
const COLUMN_TYPES: Record<string, string> = {
  namespace: 'text', run_id: 'text', event_id: 'int4', type: 'text', body: 'bytea', partition: 'int2', workflow_id: 'text', workflow_type: 'text',
  status: 'text', start_time: 'int8', close_time: 'int8', record: 'bytea', name: 'text', value: 'text', due_at: 'float8', owner: 'text', key: 'text',
  seq: 'int4', task: 'bytea', id: 'text', entry: 'bytea', snapshot: 'bytea', image: 'bytea', logs: 'bytea', version: 'text', bundle: 'bytea',
  schedule_id: 'text', schedule: 'bytea', kind: 'text',
};

/** One operation of a batch, values encoded. */
type Operation =
  | { kind: 'event'; row: Row }
  | { kind: 'put' | 'delete'; table: KeyedTable; row: Row }
  | { kind: 'attributes'; namespace: string; runId: string; rows: Row[] }
  | { kind: 'purge'; namespace: string; runId: string };

/** A batch's operations, ready to join a group. */
export type EncodedBatch = Operation[];

/** The outbox entries a batch puts, with the partition of each. */
export function* outboxPuts(batch: EncodedBatch): Iterable<[string, number]> {
  for (const op of batch) if (op.kind === 'put' && op.table === 'outbox') yield [op.row.id as string, op.row.partition as number];
}

/** About the bytes a batch takes on the wire (what bounds a group): bytes go as hex text inside arrays. */
export function encodedBytes(batch: EncodedBatch): number {
  let bytes = 0;
  for (const op of batch) {
    const rows = op.kind === 'attributes' ? op.rows : op.kind === 'purge' ? [] : [op.row];
    for (const row of rows) for (const value of Object.values(row)) bytes += value instanceof Uint8Array ? 2 * value.byteLength : typeof value === 'string' ? value.length : 8;
  }
  return bytes;
}

/** Encodes a batch's values (throws `AION_STORE_INVALID_VALUE` for one that cannot be stored). */
export function encodeBatch(batch: WriteBatch<StoredEvent>, partitions: number): EncodedBatch {
  const ops: Operation[] = [];
  const partitionOf = (runId: string) => partitionOfRun(runId, partitions);
  const put = (table: KeyedTable, row: Row) => ops.push({ kind: 'put', table, row });
  const del = (table: KeyedTable, row: Row) => ops.push({ kind: 'delete', table, row });
  for (const append of batch.histories ?? []) {
    for (const event of append.events) ops.push({ kind: 'event', row: { namespace: append.namespace, run_id: append.runId, event_id: event.eventId, type: event.type, body: encodeValue(event) } });
  }
  for (const { record, previousStatus, previousSearchAttributes, reindex } of batch.runs ?? []) {
    put('runs', runRow(record, partitionOf(record.runId)));
    // The attribute rows follow the record; a write that changes no attribute names none (types.ts).
    if (previousStatus === undefined || previousSearchAttributes !== undefined || reindex === true) {
      ops.push({ kind: 'attributes', namespace: record.namespace, runId: record.runId, rows: attributeRows(record) });
    }
  }
  for (const { namespace, workflowId, runId } of batch.latestRuns ?? []) put('latest_runs', { namespace, workflow_id: workflowId, run_id: runId });
  const dueRow = (entry: DueEntry) => ({ due_at: entry.dueAt, namespace: entry.namespace, owner: entry.owner, key: entry.key, partition: partitionOfDueEntry(entry, partitions) });
  for (const entry of batch.dueEntries?.put ?? []) put('due_entries', dueRow(entry));
  for (const entry of batch.dueEntries?.delete ?? []) del('due_entries', dueRow(entry));
  for (const task of batch.activityTasks?.put ?? []) put('activity_tasks', { namespace: task.namespace, run_id: task.runId, seq: task.seq, partition: partitionOf(task.runId), task: encodeValue(task) });
  for (const { namespace, runId, seq } of batch.activityTasks?.delete ?? []) del('activity_tasks', { namespace, run_id: runId, seq });
  for (const bundle of batch.bundles ?? []) put('bundles', { version: bundle.version, bundle: bundle.component ? encodeBinaryValue(bundle) : encodeValue(bundle) });
  for (const { namespace, workflowType, version } of batch.typeVersions ?? []) {
    if (version === null) del('type_versions', { namespace, workflow_type: workflowType });
    else put('type_versions', { namespace, workflow_type: workflowType, version });
  }
  for (const snapshot of batch.snapshots?.put ?? []) put('snapshots', { namespace: snapshot.namespace, run_id: snapshot.runId, snapshot: encodeBinaryValue(snapshot) });
  for (const { namespace, runId } of batch.snapshots?.delete ?? []) del('snapshots', { namespace, run_id: runId });
  for (const { previous, logs, ...image } of batch.checkpoints?.put ?? []) {
    const links: CheckpointLogs = { eventId: image.eventId, previous, logs };
    put('checkpoints', { namespace: image.namespace, run_id: image.runId, event_id: image.eventId, image: encodeBinaryValue(image), logs: encodeValue(links) });
  }
  for (const { namespace, runId, eventId } of batch.checkpoints?.delete ?? []) del('checkpoints', { namespace, run_id: runId, event_id: eventId });
  const home = batch.histories?.[0]?.runId ?? batch.runs?.[0]?.record.runId;
  for (const entry of batch.outbox?.put ?? []) put('outbox', { id: entry.id, partition: partitionOfOutboxEntry(entry, home, partitions), entry: encodeValue(entry) });
  for (const id of batch.outbox?.delete ?? []) del('outbox', { id });
  for (const schedule of batch.schedules?.put ?? []) put('schedules', { namespace: schedule.namespace, schedule_id: schedule.scheduleId, schedule: encodeValue(schedule) });
  for (const { namespace, scheduleId } of batch.schedules?.delete ?? []) del('schedules', { namespace, schedule_id: scheduleId });
  for (const record of batch.quarantine?.put ?? []) put('quarantine', { namespace: record.namespace, run_id: record.runId, partition: partitionOf(record.runId), record: encodeValue(record) });
  for (const { namespace, runId } of batch.quarantine?.delete ?? []) del('quarantine', { namespace, run_id: runId });
  for (const record of batch.control?.put ?? []) put('control', { kind: record.kind, id: record.id, record: encodeValue(record) });
  for (const { kind, id } of batch.control?.delete ?? []) del('control', { kind, id });
  for (const { namespace, runId } of batch.purgeRuns ?? []) ops.push({ kind: 'purge', namespace, runId });
  return ops;
}

function runRow(record: RunRecord, partition: number): Row {
  return {
    namespace: record.namespace, run_id: record.runId, partition, workflow_id: record.workflowId, workflow_type: record.workflowType,
    status: record.status, start_time: record.startTime, close_time: record.closeTime ?? null, record: encodeValue(record),
  };
}

function attributeRows(record: RunRecord): Row[] {
  const rows: Row[] = [];
  for (const [name, value] of Object.entries(record.searchAttributes ?? {})) {
    const tagged = indexedAttributeValue(name, value);
    if (tagged !== undefined) rows.push({ namespace: record.namespace, name, value: tagged, start_time: record.startTime, run_id: record.runId });
  }
  return rows;
}

/** The net change of a group of batches (merged in the order given). */
class WriteSet {
  readonly events: Row[] = [];
  readonly keyed = new Map<KeyedTable, RowChanges>();
  /** Runs whose attribute rows are replaced by these. */
  readonly attributes = new Map<string, { namespace: string; runId: string; rows: Row[] }>();
  readonly purges = new Map<string, { namespace: string; runId: string }>();

  add(ops: EncodedBatch): void {
    for (const op of ops) {
      if (op.kind === 'event') this.events.push(op.row);
      else if (op.kind === 'attributes') this.attributes.set(headKey(op.namespace, op.runId), op);
      else if (op.kind === 'purge') this.purge(op.namespace, op.runId);
      else this.change(op.table, op.row, op.kind === 'put');
    }
  }

  private change(table: KeyedTable, row: Row, put: boolean): void {
    const key = Object.fromEntries(KEYED[table].map((column) => [column, row[column]]));
    let changes = this.keyed.get(table);
    if (!changes) this.keyed.set(table, (changes = new Map()));
    changes.set(JSON.stringify(Object.values(key)), { key, row: put ? row : undefined });
  }

  /** A purge deletes whatever the group wrote of the run before it, and the run's rows in the tables. */
  private purge(namespace: string, runId: string): void {
    const ofRun = (row: Row) => row.namespace === namespace && row.run_id === runId;
    this.events.splice(0, this.events.length, ...this.events.filter((row) => !ofRun(row)));
    for (const table of ['runs', 'snapshots', 'checkpoints', 'quarantine'] as const) {
      for (const [key, change] of this.keyed.get(table) ?? []) if (ofRun(change.key)) this.keyed.get(table)!.delete(key);
    }
    // A pointer this group set to the run goes with it, as applied in order (one set before the group goes by the purge's statement).
    for (const [key, change] of this.keyed.get('latest_runs') ?? []) {
      if (change.row?.namespace === namespace && change.row.run_id === runId) this.keyed.get('latest_runs')!.set(key, { key: change.key, row: undefined });
    }
    this.attributes.delete(headKey(namespace, runId));
    this.purges.set(headKey(namespace, runId), { namespace, runId });
  }

  /** Applies the set in a transaction: purges, deletions, then writes. */
  async apply(query: Query): Promise<void> {
    const purged = [...this.purges.values()].map(({ namespace, runId }) => ({ namespace, run_id: runId }));
    if (purged.length > 0) {
      // The workflow id's pointer goes only while it names the run (found through the run's record, so first).
      await query(
        `DELETE FROM latest_runs l USING runs r, unnest($1::text[], $2::text[]) AS p (namespace, run_id)
         WHERE r.namespace = p.namespace AND r.run_id = p.run_id AND l.namespace = r.namespace AND l.workflow_id = r.workflow_id AND l.run_id = r.run_id`,
        [purged.map((run) => run.namespace), purged.map((run) => run.run_id)],
      );
      for (const table of ['events', 'runs', 'run_attributes', 'snapshots', 'checkpoints', 'quarantine']) await deleteRows(query, table, ['namespace', 'run_id'], purged);
    }
    const rewritten = [...this.attributes.values()];
    if (rewritten.length > 0) await deleteRows(query, 'run_attributes', ['namespace', 'run_id'], rewritten.map(({ namespace, runId }) => ({ namespace, run_id: runId })));
    for (const [table, changes] of this.keyed) {
      const deleted = [...changes.values()].filter((change) => change.row === undefined).map((change) => change.key);
      if (deleted.length > 0) await deleteRows(query, table, KEYED[table], deleted);
    }
    if (this.events.length > 0) await insertRows(query, 'events', this.events);
    const attributeRows = rewritten.flatMap((run) => run.rows);
    if (attributeRows.length > 0) await insertRows(query, 'run_attributes', attributeRows);
    for (const [table, changes] of this.keyed) {
      const written = [...changes.values()].flatMap((change) => (change.row === undefined ? [] : [change.row]));
      if (written.length > 0) await insertRows(query, table, written, KEYED[table]);
    }
  }
}

/** Applies `batches`, merged in order, in the transaction of `query`. */
export async function applyBatches(query: Query, batches: EncodedBatch[]): Promise<void> {
  const set = new WriteSet();
  for (const batch of batches) set.add(batch);
  await set.apply(query);
}


/** `INSERT … SELECT FROM unnest(arrays)`: one statement text whatever the row count. */
function insertRows(query: Query, table: string, rows: Row[], conflictKey?: readonly string[]): Promise<unknown> {
  const columns = Object.keys(rows[0]);
  const unnest = columns.map((name, i) => `$${i + 1}::${COLUMN_TYPES[name]}[]`).join(', ');
  const others = columns.filter((name) => !conflictKey?.includes(name));
  const onConflict = conflictKey === undefined ? '' : ` ON CONFLICT (${conflictKey.join(', ')}) DO ${others.length > 0 ? `UPDATE SET ${others.map((name) => `${name} = EXCLUDED.${name}`).join(', ')}` : 'NOTHING'}`;
  return query(`INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM unnest(${unnest})${onConflict}`, columns.map((name) => rows.map((row) => row[name])));
}

function deleteRows(query: Query, table: string, keyColumns: readonly string[], keys: Row[]): Promise<unknown> {
  const unnest = keyColumns.map((name, i) => `$${i + 1}::${COLUMN_TYPES[name]}[]`).join(', ');
  return query(`DELETE FROM ${table} WHERE (${keyColumns.join(', ')}) IN (SELECT * FROM unnest(${unnest}))`, keyColumns.map((name) => keys.map((key) => key[name])));
}
