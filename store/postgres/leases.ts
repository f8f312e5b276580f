/**
 * Partition leases on PostgreSQL: which engine may write which partition's runs. A lease row
 * (`leases`: partition, owner, epoch, expiry) is taken by raising its epoch, renewed on a
 * heartbeat, and checked by every write in its own transaction (`fence()` in schema.ts, under
 * a share lock, so a takeover waits for the writes in flight and every later write of the old
 * owner is refused): an engine that lost a lease — paused, cut off, slow — can never write for
 * that partition again.
 *
 * Each engine also holds a session advisory lock named after itself, on a connection of its
 * own, for as long as it lives. A lease is free when it has no owner, when it expired, or when
 * its owner's lock is free: PostgreSQL ends a killed engine's session as soon as its socket
 * closes, so a restart after `kill -9` takes its leases over at once instead of waiting for
 * their expiry. An engine whose own session broke takes its lock again on the next beat (if
 * another engine took its leases meanwhile, the renewal finds them gone).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import { StoreError } from '../errors.js';
import { partitionOfRun, partitionOfWorkflow } from '../partitions.js';
import type { StoredEvent, WriteBatch } from '../types.js';
import { isServerError, type Database, type Query } from './database.js';
import { CONTROL_PARTITION, partitionName, partitionOfDueEntry } from './schema.js';

export interface LeaseOptions {
  /** How long a lease lasts without renewal (default 10 s); renewed every third of it. */
  ttlMs?: number;
  /** Told when a renewal found leases gone (another engine took them over). */
  onLost?: (partitions: number[]) => void;
}

const DEFAULT_TTL_MS = 10_000;
const INT2_ARRAY = 'smallint[]';

export class PartitionLeases {
  /** This engine's name in the lease table: host, process and a random part (unique per open). */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  /** Epoch of each lease held. */
  private readonly held = new Map<number, number>();
  /** Leases being given up (no longer held, the database not told yet): not taken back meanwhile. */
  private readonly givingUp = new Set<number>();
  /** The session holding the liveness lock (undefined once it broke: taken again on the next beat). */
  private session: pg.Client | undefined;
  private renewal: NodeJS.Timeout | undefined;
  /** The renewal in flight (one at a time). */
  private renewing: Promise<void> | undefined;
  /** Set by `release`: a renewal or reconnection finishing after it changes nothing. */
  private released = false;
  private readonly ttlMs: number;

  constructor(
    private readonly db: Database,
    private readonly options: LeaseOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  }

  /**
   * Takes every partition's lease (and the control plane's), refusing with `AION_STORE_LOCKED`
   * while another live engine holds one that has not expired.
   */
  async claimAll(): Promise<void> {
    await this.holdLivenessLock();
    await this.db.transaction(async (query) => {
      await this.assertFree(query, 'FOR UPDATE');
      const taken = await query<{ partition: number; epoch: number }>(
        `UPDATE leases SET owner = $1, epoch = epoch + 1, expires_at = now() + $2 * interval '1 millisecond' RETURNING partition, epoch`,
        [this.owner, this.ttlMs],
      );
      for (const row of taken) this.held.set(row.partition, row.epoch);
    });
    this.renewal = setInterval(() => {
      if (this.renewing || this.held.size === 0) return;
      // The database out of reach: the next beat tries again; fenced writes stay safe meanwhile.
      this.renewing = this.renew()
        .catch(() => undefined)
        .finally(() => (this.renewing = undefined));
    }, Math.max(100, Math.floor(this.ttlMs / 3)));
    this.renewal.unref();
  }

  /** Refuses (`AION_STORE_LOCKED`) while another live engine holds a lease that has not expired; `lock` locks the rows read. */
  async assertFree(query: Query, lock = ''): Promise<void> {
    const rows = await query<LeaseRow>(
      `SELECT partition, owner, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in_ms FROM leases ORDER BY partition ${lock}`,
    );
    const alive = new Map<string, boolean>();
    for (const row of rows) {
      if (row.owner === this.owner || (await leaseFree(query, row, alive))) continue;
      throw new StoreError(
        'AION_STORE_LOCKED',
        `another engine (${row.owner}) holds the lease of ${partitionName(row.partition)} for ${Math.ceil(row.expires_in_ms! / 1000)} s more: one engine serves a PostgreSQL schema`,
      );
    }
  }

  /** Whether this engine holds the partition's lease (while it gives a partition up, it still does). */
  holds(partition: number): boolean {
    return this.held.has(partition);
  }

  /** The partitions whose leases this engine holds, with their epochs. */
  heldLeases(): ReadonlyMap<number, number> {
    return this.held;
  }

  get ttl(): number {
    return this.ttlMs;
  }

  /**
   * The fence of a write, its transaction's first statement: `fence()` checks the leases of
   * the partitions it touches. One this engine does not hold (never took, or gave up) is
   * refused here already, and that is no loss of a lease: the store goes on.
   */
  async fence(query: Query, partitions: number[]): Promise<void> {
    const missing = partitions.find((partition) => !this.held.has(partition));
    if (missing !== undefined) throw new StoreError('AION_STORE_PARTITION_MOVED', `this engine does not serve ${partitionName(missing)}: nothing was written`, { partition: missing });
    await query(`SELECT fence($1, $2::${INT2_ARRAY}, $3::bigint[])`, [this.owner, partitions, partitions.map((partition) => this.held.get(partition)!)]);
  }

  /** Takes the liveness lock on a session of its own (again, when the previous one broke); throws when it cannot now. */
  async holdLivenessLock(): Promise<pg.Client> {
    if (this.session) return this.session;
    const session = await this.db.session('aion-liveness', () => {
      if (this.session === session) this.session = undefined;
      void session.end().catch(() => undefined);
    });
    try {
      // Not blocking: a lock still held by a session of ours that is ending is taken on a later beat.
      const { rows } = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [lockName(this.owner)]);
      if (!rows[0].locked) throw new Error('the liveness lock is still held by a session that is ending');
      if (this.released) throw new Error('the leases were released meanwhile');
    } catch (error) {
      await session.end().catch(() => undefined);
      throw error;
    }
    this.session = session;
    return session;
  }

  /**
   * Renews the leases held, on the liveness session when it lives (proving it does, without
   * waiting for a connection of the pool), and reports those another engine took.
   */
  private async renew(): Promise<void> {
    const session = await this.holdLivenessLock().catch(() => undefined);
    const onSession: Query = async (text, params) => {
      try {
        return (await session!.query(text, params)).rows;
      } catch (error) {
        // A session whose connection timed out or failed is not trusted with the lock any more: the next beat takes it again.
        if (!isServerError(error)) {
          if (this.session === session) this.session = undefined;
          await session!.end().catch(() => undefined);
        }
        throw error;
      }
    };
    await this.renewHeld(session ? onSession : (text, params) => this.db.query(text, params));
  }

  /** Renews the leases held through `query`; those another engine took are forgotten and reported (`onLost`). */
  async renewHeld(query: Query): Promise<void> {
    const partitions = [...this.held.keys()];
    const epochs = [...this.held.values()];
    // Rows locked in partition order, as the fence locks them: the two never deadlock.
    const rows = await query<{ partition: number }>(
      `UPDATE leases SET expires_at = now() + $2 * interval '1 millisecond'
      WHERE partition IN (SELECT partition FROM leases WHERE owner = $1 AND (partition, epoch) IN (SELECT * FROM unnest($3::${INT2_ARRAY}, $4::bigint[])) ORDER BY partition FOR NO KEY UPDATE)
      RETURNING partition`,
      [this.owner, this.ttlMs, partitions, epochs],
    );
    if (this.released) return;
    const renewed = new Set(rows.map((row) => row.partition));
    // Not renewed, and not given up meanwhile (`giveUp`).
    const lost = partitions.filter((partition, i) => !renewed.has(partition) && this.held.get(partition) === epochs[i]);
    for (const partition of lost) this.held.delete(partition);
    if (lost.length > 0) this.options.onLost?.(lost);
  }

  /**
   * Takes, in the transaction of `query`, the leases of `partitions` among those free now (no
   * owner, expired, an owner that no longer lives, or this engine without holding it — a lease
   * whose taking or giving up had an unknown outcome), in partition order, at most `limit`.
   * Returns them with their new epochs, for `recordTaken` once the transaction committed. The
   * rows are read without a lock, and only the free ones locked (skipping those another
   * transaction holds: a write of their old owner in flight), so that a beat does not hold up
   * the writes of the engines that keep their leases.
   */
  async takeFree(query: Query, partitions: 'all' | 'control', limit: number): Promise<Map<number, number>> {
    if (limit <= 0) return new Map();
    const which = partitions === 'control' ? `partition = ${CONTROL_PARTITION}` : 'partition >= 0';
    const read = (lock: string, only?: number[]) =>
      query<LeaseRow>(
        `SELECT partition, owner, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in_ms FROM leases
        WHERE ${which} ${only ? `AND partition = ANY($1::${INT2_ARRAY})` : ''} ORDER BY partition ${lock}`,
        only ? [only] : [],
      );
    const alive = new Map<string, boolean>();
    const free = async (row: LeaseRow) => (row.owner === this.owner ? !this.held.has(row.partition) && !this.givingUp.has(row.partition) : leaseFree(query, row, alive));
    const candidates: number[] = [];
    for (const row of await read('')) if (await free(row)) candidates.push(row.partition);
    if (candidates.length === 0) return new Map();
    // Locked, and checked again: an owner may have renewed meanwhile.
    const chosen: number[] = [];
    for (const row of await read('FOR UPDATE SKIP LOCKED', candidates)) if (chosen.length < limit && (await free(row))) chosen.push(row.partition);
    if (chosen.length === 0) return new Map();
    const taken = await query<{ partition: number; epoch: number }>(
      `UPDATE leases SET owner = $1, epoch = epoch + 1, expires_at = now() + $2 * interval '1 millisecond' WHERE partition = ANY($3::${INT2_ARRAY}) RETURNING partition, epoch`,
      [this.owner, this.ttlMs, chosen],
    );
    return new Map(taken.map((row) => [row.partition, row.epoch]));
  }

  /** Leases `takeFree` took, once their transaction committed: this engine holds them from now on. */
  recordTaken(taken: ReadonlyMap<number, number>): void {
    for (const [partition, epoch] of taken) this.held.set(partition, epoch);
  }

  /** Checks the liveness session with a statement (a session ended by the server or the network is found, and made again at the next beat). */
  async checkLiveness(): Promise<void> {
    const session = await this.holdLivenessLock();
    try {
      await session.query('SELECT 1');
    } catch (error) {
      if (this.session === session) this.session = undefined;
      await session.end().catch(() => undefined);
      throw error;
    }
  }

  /** Gives the leases of `partitions` up (free at once for another engine); writes for them are refused from now on. */
  async giveUp(partitions: number[]): Promise<void> {
    const epochs = partitions.map((partition) => this.held.get(partition));
    for (const partition of partitions) {
      this.held.delete(partition);
      this.givingUp.add(partition);
    }
    try {
      await this.db.query(
        `UPDATE leases SET owner = NULL, expires_at = NULL WHERE owner = $1 AND (partition, epoch) IN (SELECT * FROM unnest($2::${INT2_ARRAY}, $3::bigint[]))`,
        [this.owner, partitions, epochs],
      );
    } finally {
      for (const partition of partitions) this.givingUp.delete(partition);
    }
  }

  /** Gives every lease up (they are free at once for another engine) and ends the liveness lock's session. */
  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.renewal);
    await this.renewing;
    const held = this.held.size;
    this.held.clear();
    try {
      if (held > 0) await this.db.query('UPDATE leases SET owner = NULL, expires_at = NULL WHERE owner = $1', [this.owner]);
    } finally {
      const session = this.session;
      this.session = undefined;
      await session?.end().catch(() => undefined);
    }
  }
}

const lockName = (owner: string): string => `aion-engine:${owner}`;

/** A lease row as the checks read it: its holder, and how long it holds without renewal. */
type LeaseRow = { partition: number; owner: string | null; expires_in_ms: number | null };

/** Whether a lease of another engine is free: no owner, expired, or an owner that no longer lives (`alive`: owners checked so far). */
async function leaseFree(query: Query, row: LeaseRow, alive: Map<string, boolean>): Promise<boolean> {
  if (row.owner === null || row.expires_in_ms === null || row.expires_in_ms <= 0) return true;
  if (!alive.has(row.owner)) alive.set(row.owner, await ownerAlive(query, row.owner));
  return !alive.get(row.owner);
}

/** Whether the engine `owner` still lives: its session holds its lock (tried for this transaction only). */
export async function ownerAlive(query: Query, owner: string): Promise<boolean> {
  const [row] = await query<{ free: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS free', [lockName(owner)]);
  return !row.free;
}

/**
 * The partitions a batch writes: its runs', and the control plane's for what belongs to no run.
 * An outbox entry deleted belongs to the partition that performs it (`outboxPartitionOf`, for
 * the entries the store wrote or listed).
 */
export function partitionsTouched(batch: WriteBatch<StoredEvent>, count: number, outboxPartitionOf: (id: string, deleted: boolean) => number | undefined = () => undefined): Set<number> {
  const out = new Set<number>();
  const ofRun = (runId: string) => out.add(partitionOfRun(runId, count));
  for (const append of batch.histories ?? []) ofRun(append.runId);
  for (const { record } of batch.runs ?? []) ofRun(record.runId);
  for (const latest of batch.latestRuns ?? []) out.add(partitionOfWorkflow(latest.namespace, latest.workflowId, count));
  for (const sub of ['put', 'delete'] as const) {
    for (const entry of batch.dueEntries?.[sub] ?? []) out.add(partitionOfDueEntry(entry, count));
    for (const item of batch.activityTasks?.[sub] ?? []) ofRun(item.runId);
    for (const item of batch.snapshots?.[sub] ?? []) ofRun(item.runId);
    for (const item of batch.checkpoints?.[sub] ?? []) ofRun(item.runId);
    for (const item of batch.quarantine?.[sub] ?? []) ofRun(item.runId);
  }
  for (const purge of batch.purgeRuns ?? []) ofRun(purge.runId);
  // An entry deleted acts on the partition it is in; one put again (filed under another partition) as well, when it is known.
  for (const id of batch.outbox?.delete ?? []) {
    const partition = outboxPartitionOf(id, true);
    if (partition !== undefined) out.add(partition);
  }
  for (const { id } of batch.outbox?.put ?? []) {
    const partition = outboxPartitionOf(id, false);
    if (partition !== undefined) out.add(partition);
  }
  // Only a batch of nothing but such control records is any engine's to write.
  const ownKeyedControl = batch.anyEngine === true && Object.entries(batch).every(([field, value]) => value === undefined || field === 'anyEngine' || field === 'control') && !batch.control?.delete?.length;
  if ((batch.control && !ownKeyedControl) || batch.schedules || batch.bundles || batch.typeVersions || (out.size === 0 && batch.outbox)) out.add(CONTROL_PARTITION);
  return out;
}
