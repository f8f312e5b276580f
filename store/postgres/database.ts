/**
 * The PostgreSQL connections of a store (node-postgres): a pool for reads and transactions,
 * and a single connection of its own for what must live in one session (the liveness lock,
 * leases.ts).
 *
 * A connection the server ends (a restart, a failover, `pg_terminate_backend`) fails the query
 * on it and is dropped from the pool; a connection that breaks between two queries reports
 * through its `error` event, which is listened to on every connection so that it can never
 * crash the process. (The `postgres` client library, tried first, threw from a timer when a
 * connection closed with queries queued on it: an uncaught error, whatever the caller did.)
 *
 * @module
 */
import pg from 'pg';

export type Row = Record<string, unknown>;

/** A query in a transaction (`Database.transaction`). */
export type Query = <T extends Row = Row>(text: string, params?: unknown[]) => Promise<T[]>;

export interface DatabaseOptions {
  url: string;
  schema: string;
  /** Connections in the pool. */
  max: number;
  /** Named in `pg_stat_activity` (with the schema), so an operator sees whose sessions these are. */
  applicationName: string;
}

/** 64-bit integers (times, epochs, counts) are read as numbers: every one the store keeps is below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
};

export class Database {
  private readonly pool: pg.Pool;

  constructor(private readonly options: DatabaseOptions) {
    this.pool = new pg.Pool({ ...this.clientConfig(options.applicationName), max: options.max });
    // An idle connection the server ended: the pool drops it (listening keeps the process alive).
    this.pool.on('error', () => {});
  }

  private clientConfig(applicationName: string): pg.ClientConfig {
    return {
      connectionString: this.options.url,
      application_name: `${applicationName}:${this.options.schema}`,
      types,
      // A session stuck inside a transaction (its engine frozen mid-write) must not hold lease rows for ever.
      options: `-c search_path="${this.options.schema}" -c idle_in_transaction_session_timeout=15000`,
    };
  }

  async query<T extends Row = Row>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query<T>(text, params)).rows;
  }

  /** Runs `work` in a transaction on one connection: committed if it resolves, rolled back if it throws. */
  async transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    const query: Query = async <R extends Row>(text: string, params: unknown[] = []) => (await client.query<R>(text, params)).rows;
    try {
      await client.query('BEGIN');
      const result = await work(query);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken ??= await client.query('ROLLBACK').then(
        () => undefined,
        (rollbackError: Error) => rollbackError,
      );
      throw error;
    } finally {
      client.off('error', onError);
      // A connection that broke is closed, not reused.
      client.release(broken);
    }
  }

  /** A connection of its own, outside the pool; its failures are reported to `onError` (it cannot be queried after one). */
  async session(applicationName: string, onError: (error: Error) => void): Promise<pg.Client> {
    const client = new pg.Client(this.clientConfig(applicationName));
    client.on('error', onError);
    try {
      await client.connect();
    } catch (error) {
      client.off('error', onError);
      throw error;
    }
    return client;
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}

/** Whether `error` is the server's answer to a statement (then the transaction was rolled back and its outcome is known). */
export const isServerError = (error: unknown): error is pg.DatabaseError => error instanceof pg.DatabaseError;
