import { StoreError } from '../errors.js';
import type { StoredEvent } from '../types.js';
import { Database } from './database.js';
import { PartitionLeases } from './leases.js';
import { ClusterMembership } from './membership.js';
import { PostgresEventStore } from './postgres-event-store.js';
import { checkSchemaName, migrate, partitionName } from './schema.js';

export interface PostgresStoreOptions {
  /** The schema holding the engine's tables (default `aion`): several engines may share a database, each in its own. */
  schema?: string;
  /** Partitions of a new schema (a power of two up to 256; default 16); an existing schema keeps its count. */
  partitions?: number;
  /** Connections in the pool (default 10), besides the one holding the engine's liveness lock. */
  maxConnections?: number;
  /** How long a partition lease lasts without renewal (default 10 s). */
  leaseTtlMs?: number;
  /**
   * Cluster mode: this engine serves a share of the partitions beside the other engines of the
   * schema (membership.ts), and `address` is its API's, to which they forward calls. Without
   * it, the engine serves every partition and another engine is refused.
   */
  cluster?: { address: string };
}

/**
 * Opens the PostgreSQL store at `url` (`postgres://user:password@host:port/database`):
 * connects, checks the database's encoding, creates or migrates its schema (schema.ts) and
 * takes every partition's lease (leases.ts), refusing with `AION_STORE_LOCKED` while another
 * engine serves the schema.
 */
export async function openPostgresStore<E extends StoredEvent = StoredEvent>(url: string, options: PostgresStoreOptions = {}): Promise<PostgresEventStore<E>> {
  const schema = checkSchemaName(options.schema ?? 'aion');
  const db = new Database({ url, schema, max: options.maxConnections ?? 10, applicationName: 'aion' });
  let leases: PartitionLeases | undefined;
  try {
    const [{ server_encoding: encoding }] = await db.query<{ server_encoding: string }>('SHOW server_encoding');
    if (encoding !== 'UTF8') throw new StoreError('AION_STORE_LAYOUT', `the PostgreSQL database's encoding is ${encoding}: the engine needs UTF8 (CREATE DATABASE … ENCODING 'UTF8')`);
    // The store, once made, is told of leases a renewal found lost.
    const opened: { store?: PostgresEventStore<E> } = {};
    const claimed = new PartitionLeases(db, {
      ttlMs: options.leaseTtlMs,
      onLost: (partitions) =>
        opened.store?.fenced(new StoreError('AION_STORE_FENCED', `another engine took over the lease${partitions.length === 1 ? '' : 's'} of ${partitions.map(partitionName).join(', ')}: this engine can no longer write`)),
    });
    leases = claimed;
    const partitions = await migrate(db, schema, options.partitions, (query) => claimed.assertFree(query));
    let assignment: ClusterMembership | undefined;
    if (options.cluster) {
      assignment = new ClusterMembership(db, claimed, partitions, options.cluster.address, `${schema}.effects`, (moved) => opened.store?.partitionsMoved(moved));
      await assignment.join();
    } else {
      await claimed.claimAll();
    }
    opened.store = new PostgresEventStore<E>(db, partitions, {
      fence: (query, touched) => claimed.fence(query, touched),
      holds: (partition) => claimed.holds(partition),
      assignment,
      self: claimed.owner,
      beforeClose: async () => {
        await assignment?.stop();
        await claimed.release();
      },
    });
    return opened.store;
  } catch (error) {
    await leases?.release().catch(() => undefined);
    await db.end().catch(() => undefined);
    if (error instanceof StoreError || error instanceof RangeError) throw error;
    throw new StoreError('AION_STORE_IO', `cannot open the PostgreSQL store at ${redacted(url)}: ${(error as Error).message}`, { cause: error });
  }
}

/** The address without its password, for messages. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an address that is not a URL)';
  }
}
