/**
 * The PostgreSQL schema of a store, created and migrated by the engine when it opens. Each
 * migration runs once, in order, in one transaction with the others of the same open, under
 * an advisory lock so that two engines opening at once do not both apply it. A database whose
 * schema is newer than this engine knows is refused: an older engine could not keep what the
 * newer one records.
 *
 * Tables hold the stores' records as the LevelDB store's values are (checksummed, codec.ts),
 * beside the columns their lookups and indexes need; every text column a list is ordered by
 * uses the "C" collation, so that the order is the code-point order the other stores keep.
 *
 * @module
 */
import { StoreError } from '../errors.js';
import { checkPartitionCount, DEFAULT_PARTITIONS, partitionOfRun, partitionOfWorkflow } from '../partitions.js';
import type { DueEntry, OutboxEntry } from '../types.js';
import type { Database, Query } from './database.js';

/** The SQLSTATE `fence()` raises when a write touches a partition whose lease its engine lost. */
export const FENCED_SQLSTATE = 'AIONF';

/** One version of the schema each: its DDL (`$schema` stands for the schema's name). */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE "$schema".events (
    namespace text COLLATE "C" NOT NULL, run_id text COLLATE "C" NOT NULL, event_id integer NOT NULL,
    type text NOT NULL, body bytea NOT NULL,
    PRIMARY KEY (namespace, run_id, event_id));
  CREATE TABLE "$schema".runs (
    namespace text COLLATE "C" NOT NULL, run_id text COLLATE "C" NOT NULL, partition smallint NOT NULL,
    workflow_id text COLLATE "C" NOT NULL, workflow_type text COLLATE "C" NOT NULL, status text COLLATE "C" NOT NULL,
    start_time bigint NOT NULL, close_time bigint, record bytea NOT NULL,
    PRIMARY KEY (namespace, run_id));
  CREATE INDEX runs_by_start_time ON "$schema".runs (namespace, start_time, run_id);
  CREATE INDEX runs_by_type ON "$schema".runs (namespace, workflow_type, start_time, run_id);
  CREATE INDEX runs_by_status ON "$schema".runs (namespace, status, start_time, run_id);
  CREATE TABLE "$schema".run_attributes (
    namespace text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL, value text COLLATE "C" NOT NULL,
    start_time bigint NOT NULL, run_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, name, value, start_time, run_id));
  CREATE INDEX run_attributes_of_run ON "$schema".run_attributes (namespace, run_id);
  CREATE TABLE "$schema".latest_runs (
    namespace text COLLATE "C" NOT NULL, workflow_id text COLLATE "C" NOT NULL, run_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, workflow_id));
  CREATE TABLE "$schema".due_entries (
    due_at double precision NOT NULL, namespace text COLLATE "C" NOT NULL, owner text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
    partition smallint NOT NULL,
    PRIMARY KEY (due_at, namespace, owner, key));
  CREATE TABLE "$schema".activity_tasks (
    namespace text COLLATE "C" NOT NULL, run_id text COLLATE "C" NOT NULL, seq integer NOT NULL, partition smallint NOT NULL,
    task bytea NOT NULL,
    PRIMARY KEY (namespace, run_id, seq));
  CREATE TABLE "$schema".outbox (
    id text COLLATE "C" PRIMARY KEY, partition smallint NOT NULL, entry bytea NOT NULL);
  CREATE TABLE "$schema".snapshots (
    namespace text COLLATE "C" NOT NULL, run_id text COLLATE "C" NOT NULL, snapshot bytea NOT NULL,
    PRIMARY KEY (namespace, run_id));
  CREATE TABLE "$schema".checkpoints (
    namespace text COLLATE "C" NOT NULL, run_id text COLLATE "C" NOT NULL, event_id integer NOT NULL,
    image bytea NOT NULL, logs bytea NOT NULL,
    PRIMARY KEY (namespace, run_id, event_id));
  CREATE TABLE "$schema".quarantine (
    namespace text COLLATE "C" NOT NULL, run_id text COLLATE "C" NOT NULL, partition smallint NOT NULL, record bytea NOT NULL,
    PRIMARY KEY (namespace, run_id));
  CREATE TABLE "$schema".bundles (version text COLLATE "C" PRIMARY KEY, bundle bytea NOT NULL);
  CREATE TABLE "$schema".type_versions (
    namespace text COLLATE "C" NOT NULL, workflow_type text COLLATE "C" NOT NULL, version text COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, workflow_type));
  CREATE TABLE "$schema".schedules (
    namespace text COLLATE "C" NOT NULL, schedule_id text COLLATE "C" NOT NULL, schedule bytea NOT NULL,
    PRIMARY KEY (namespace, schedule_id));
  CREATE TABLE "$schema".control (
    kind text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, record bytea NOT NULL,
    PRIMARY KEY (kind, id));
  CREATE TABLE "$schema".leases (
    partition smallint PRIMARY KEY, owner text, epoch bigint NOT NULL DEFAULT 0, expires_at timestamptz);
  CREATE FUNCTION "$schema".fence(holder text, held_partitions smallint[], held_epochs bigint[]) RETURNS void LANGUAGE plpgsql AS $fence$
  DECLARE
    holding integer;
  BEGIN
    -- FOR SHARE: a takeover (which updates the rows) waits until this transaction ends.
    SELECT count(*) INTO holding FROM (
      SELECT 1 FROM "$schema".leases AS l JOIN unnest(held_partitions, held_epochs) AS h (partition, epoch)
        ON l.partition = h.partition AND l.epoch = h.epoch
      WHERE l.owner = holder ORDER BY l.partition FOR SHARE OF l) AS held;
    IF holding <> cardinality(held_partitions) THEN
      RAISE EXCEPTION 'the engine % no longer holds the lease of every partition this write touches', holder USING ERRCODE = '${FENCED_SQLSTATE}';
    END IF;
  END
  $fence$;
  `,
  // Cluster mode: the engines serving the schema, and the outbox read by the partition that performs each entry.
  `
  CREATE TABLE "$schema".nodes (
    name text PRIMARY KEY, address text NOT NULL, started_at timestamptz NOT NULL, beat_at timestamptz NOT NULL);
  CREATE INDEX outbox_by_partition ON "$schema".outbox (partition, id);
  `,
];

/** The schema version this engine writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The partition number of what belongs to no run (schedules and their ticks, control records). */
export const CONTROL_PARTITION = -1;

/** Stands for the partition of an outbox entry a store in a cluster does not know (no engine holds its lease: a write touching it is refused). */
export const UNKNOWN_OUTBOX_PARTITION = -2;

/** A partition as messages name it. */
export const partitionName = (partition: number): string =>
  partition === CONTROL_PARTITION ? 'the control plane' : partition === UNKNOWN_OUTBOX_PARTITION ? 'the partition of an outbox entry it did not list (it moved)' : `partition ${partition}`;

/** The partition a due entry belongs to: a schedule's ticks to the control plane, any other to its run's. */
export const partitionOfDueEntry = (entry: DueEntry, count: number): number => (entry.key === 'schedule' ? CONTROL_PARTITION : partitionOfRun(entry.owner, count));

/**
 * The partition whose engine performs an outbox entry: its target's, or for an entry recorded
 * before entries named their target, the partition of the run whose batch recorded it (`home`;
 * a schedule's: the control plane).
 */
export function partitionOfOutboxEntry(entry: OutboxEntry, home: string | undefined, count: number): number {
  const { target } = entry;
  if (target) return 'runId' in target ? partitionOfRun(target.runId, count) : partitionOfWorkflow(entry.namespace, target.workflowId, count);
  return home === undefined ? CONTROL_PARTITION : partitionOfRun(home, count);
}

/** A schema name the engine accepts: it is spliced into statements (double-quoted), so it is checked. */
export function checkSchemaName(schema: unknown): string {
  if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new RangeError(`schema must be a PostgreSQL identifier in lower case (letters, digits, _; at most 63), got ${JSON.stringify(schema)}`);
  }
  return schema;
}

/**
 * Creates or migrates `schema` and returns its partition count: as recorded, or for a new
 * schema `asked` (default 16), recorded with its lease rows. An existing schema is migrated
 * only while no live engine holds a lease on it (`leasesFree`): its tables would change under it.
 */
export async function migrate(db: Database, schema: string, asked: number | undefined, leasesFree: (query: Query) => Promise<void>): Promise<number> {
  const quoted = `"${schema}"`;
  return db.transaction(async (query) => {
    // Serialises engines opening the same schema; released at commit.
    await query('SELECT pg_advisory_xact_lock(hashtext($1))', [`aion-schema:${schema}`]);
    // Created only when missing: CREATE SCHEMA IF NOT EXISTS needs the right to create schemas even when it exists (owned by the engine's role).
    const [exists] = await query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (!exists) await query(`CREATE SCHEMA ${quoted}`);
    await query(`CREATE TABLE IF NOT EXISTS ${quoted}.meta (key text PRIMARY KEY, value text NOT NULL)`);
    const meta = new Map((await query<{ key: string; value: string }>(`SELECT key, value FROM ${quoted}.meta`)).map((row) => [row.key, row.value]));
    const version = Number(meta.get('schema_version') ?? 0);
    if (version > SCHEMA_VERSION) {
      throw new StoreError('AION_STORE_LAYOUT', `the PostgreSQL schema ${schema} is at version ${version}, newer than this engine knows (${SCHEMA_VERSION}): run a newer engine`);
    }
    if (version > 0 && version < SCHEMA_VERSION) await leasesFree(query);
    for (let next = version; next < SCHEMA_VERSION; next++) await query(MIGRATIONS[next].replaceAll('"$schema"', quoted));
    const setMeta = (key: string, value: string) => query(`INSERT INTO ${quoted}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [key, value]);
    if (version < SCHEMA_VERSION) await setMeta('schema_version', String(SCHEMA_VERSION));
    const recorded = meta.get('partitions');
    if (recorded === undefined) {
      const partitions = asked ?? DEFAULT_PARTITIONS;
      await setMeta('partitions', String(partitions));
      await query(`INSERT INTO ${quoted}.leases (partition) SELECT generate_series(${CONTROL_PARTITION}, ${partitions - 1})`);
      return partitions;
    }
    const partitions = checkPartitionCount(Number(recorded));
    if (asked !== undefined && asked !== partitions) {
      throw new StoreError('AION_STORE_LAYOUT', `the PostgreSQL schema ${schema} was created with ${partitions} partition${partitions === 1 ? '' : 's'} and cannot be opened with ${asked}: a store keeps its partition count (leave the option out to open it as it is)`);
    }
    return partitions;
  });
}
