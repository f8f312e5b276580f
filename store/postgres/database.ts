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
import { createRequire } from 'node:module';
import type pg from 'pg';

let pgModule: typeof pg | undefined;
/** node-postgres, loaded at first use: its modules cost 80 ms to every process (and partition thread) that never opens PostgreSQL. */
const postgres = (): typeof pg => (pgModule ??= createRequire(import.meta.url)('pg') as typeof pg);

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
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : postgres().types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
};

/** A deadline for every query: a connection that went silent (a half-open socket) fails instead of hanging the store. */
const QUERY_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 10_000;

export class Database {
  private readonly pool: pg.Pool;

  constructor(private readonly options: DatabaseOptions) {
    this.pool = new (postgres().Pool)({
      ...this.clientConfig(options.applicationName),
      max: options.max,
      // Before a new connection is handed out (a connection whose settings fail is not).
      onConnect: async (client) => void (await client.query(this.sessionSettings)),
    });
    // An idle connection the server ended: the pool drops it (listening keeps the process alive).
    this.pool.on('error', () => {});
  }

  /**
   * Set on each session rather than in the address's startup options, which an address's own
   * `?options=` (or a pooler) would replace: the schema, and a bound on a session stuck inside
   * a transaction (its engine frozen mid-write) holding lease rows.
   */
  private get sessionSettings(): string {
    return `SET search_path = "${this.options.schema}"; SET idle_in_transaction_session_timeout = 15000`;
  }

  private clientConfig(applicationName: string): pg.ClientConfig {
    return {
      connectionString: this.options.url,
      application_name: `${applicationName}:${this.options.schema}`,
      types,
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
    };
  }

  async query<T extends Row = Row>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query<T>(text, params)).rows;
  }

  /**
   * Runs `work` in a transaction on one connection: committed if it resolves, rolled back if it
   * throws. A failure before the COMMIT is sent leaves nothing written (the server rolls back a
   * transaction whose session ends); a COMMIT whose answer is lost throws `CommitOutcomeUnknown`.
   */
  async transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    const query: Query = async <R extends Row>(text: string, params: unknown[] = []) => (await client.query<R>(text, params)).rows;
    try {
      let result: T;
      try {
        await client.query('BEGIN');
        result = await work(query);
      } catch (error) {
        // A connection that failed (not a statement the server refused) is not reused, nor asked to roll back.
        if (!isServerError(error)) broken ??= error as Error;
        else broken ??= await client.query('ROLLBACK').then(() => undefined, (rollbackError: Error) => rollbackError);
        throw error;
      }
      try {
        await client.query('COMMIT');
      } catch (error) {
        if (isServerError(error) && !isUnavailability(error)) throw error; // refused at commit: rolled back
        broken ??= error as Error;
        throw new CommitOutcomeUnknown(error);
      }
      return result;
    } finally {
      client.off('error', onError);
      // A connection that broke is closed, not reused.
      client.release(broken);
    }
  }

  /** A connection of its own, outside the pool, with the store's session settings; its failures go to `onError` (it cannot be queried after one). */
  async session(applicationName: string, onError: (error: Error) => void): Promise<pg.Client> {
    const client = new (postgres().Client)(this.clientConfig(applicationName));
    client.on('error', onError);
    try {
      await client.connect();
      await client.query(this.sessionSettings);
    } catch (error) {
      client.off('error', onError);
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}

/** A COMMIT was sent and its answer lost: the transaction may or may not have committed. */
export class CommitOutcomeUnknown extends Error {
  constructor(cause: unknown) {
    super(`the commit's outcome is unknown: ${(cause as Error).message}`, { cause });
  }
}

/** Whether `error` is the server's answer to a statement. */
export const isServerError = (error: unknown): error is pg.DatabaseError => error instanceof postgres().DatabaseError;

/**
 * Whether a failure is of the database or the way to it, not of the statement: the connection,
 * the server shutting down or out of resources, a server in recovery or read-only (a demoted
 * primary), authentication, a missing database, schema or table, missing privileges.
 */
export function isUnavailability(error: unknown): boolean {
  if (!isServerError(error)) return true;
  return /^(08|25006|28|3D|3F|42P01|42883|42501|53|57|58|XX)/.test(error.code ?? '');
}
