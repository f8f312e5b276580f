/**
 * The audit log: who did what to a namespace — deployed, started, signalled, cancelled,
 * terminated, reset, changed its settings or keys — kept per namespace, newest first. The
 * HTTP layer records an entry once a request it authorised succeeded.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { EventStore } from '../../store/types.js';
import type { HistoryEvent } from '../history/events.js';
import { namespacePrefix, namespaceScopedId } from './namespaces.js';

export interface AuditEntry {
  namespace: string;
  time: Date;
  /** Who: `key:<id>`, `token` (the server's static token), `jwt:<subject>`, or `local` (no auth configured). */
  actor: string;
  /** What: `deploy`, `start`, `signal`, `key.create`... */
  action: string;
  /** On what: a workflow id, a version, a key id... */
  target?: string;
}

interface StoredEntry {
  namespace: string;
  time: number;
  actor: string;
  action: string;
  target?: string;
}

const KIND = 'audit';

/** Entries sort by namespace, then time (zero-padded), then sequence. */
const idOf = (namespace: string, time: number, sequence: number): string => namespaceScopedId(namespace, `${String(time).padStart(15, '0')}-${String(sequence).padStart(6, '0')}`);

export class AuditLog {
  private sequence = 0;
  /** This log's own part of its entries' keys. */
  private readonly writer = randomUUID().slice(0, 8);

  constructor(private readonly store: EventStore<HistoryEvent>) {}

  async record(entry: Omit<AuditEntry, 'time'>): Promise<void> {
    const time = Date.now();
    const stored: StoredEntry = { namespace: entry.namespace, time, actor: entry.actor, action: entry.action, ...(entry.target !== undefined ? { target: entry.target } : {}) };
    this.sequence = (this.sequence + 1) % 1_000_000;
    // Keyed by this log's writer too: engines of a cluster write entries of the same millisecond and sequence.
    await this.store.write({ control: { put: [{ kind: KIND, id: `${idOf(entry.namespace, time, this.sequence)}-${this.writer}`, value: stored }] }, anyEngine: true });
  }

  /**
   * The newest entries first, at most `limit` (default 100): of one namespace, or of all of
   * `namespaces` (each read up to `limit`, then merged).
   */
  async list(options: { namespace?: string; namespaces?: readonly string[]; limit?: number } = {}): Promise<AuditEntry[]> {
    const limit = options.limit ?? 100;
    const newest = async (namespace: string) => (await this.store.listControl(KIND, { prefix: namespacePrefix(namespace), reverse: true, limit })).map((record) => record.value as StoredEntry);
    const scopes = options.namespace !== undefined ? [options.namespace] : (options.namespaces ?? []);
    const entries = (await Promise.all(scopes.map(newest))).flat().sort((a, b) => b.time - a.time);
    return entries.slice(0, limit).map(({ time, ...entry }) => ({ ...entry, time: new Date(time) }));
  }
}
