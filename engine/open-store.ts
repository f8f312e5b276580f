/**
 * Which store an engine opens: a store given as is, PostgreSQL, a LevelDB data folder, or
 * memory — and the options that cannot go together.
 *
 * @module
 */
import type { Logger } from './logger.js';
import { openLevelDbStore, openMemoryStore, openPostgresStore, type EventStore } from '../store/index.js';
import type { EngineOptions } from './engine.js';
import { InvalidArgumentError } from './errors.js';
import type { HistoryEvent } from './history/events.js';
import { storeOptions } from './threads/partition-threads.js';

/** Refuses options naming two stores, or what does not apply to PostgreSQL. */
export function checkStoreChoice(options: EngineOptions): void {
  const { postgres } = options;
  if (postgres === undefined) return;
  const url = typeof postgres === 'string' ? postgres : postgres?.url;
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) throw new InvalidArgumentError('postgres must be an address postgres://user:password@host:port/database (or { url, schema })');
  if (typeof postgres === 'object') {
    const { cluster, leaseTtlMs } = postgres;
    if (cluster !== undefined && (typeof cluster !== 'object' || cluster === null || typeof cluster.address !== 'string' || !/^https?:\/\/[^/]+\/?$/.test(cluster.address))) {
      throw new InvalidArgumentError('postgres.cluster.address must be the address other engines reach this one\'s API at, http://host:port');
    }
    if (leaseTtlMs !== undefined && (!Number.isInteger(leaseTtlMs) || leaseTtlMs < 300 || leaseTtlMs > 600_000)) throw new InvalidArgumentError('postgres.leaseTtlMs must be a whole number of milliseconds from 300 to 600000');
  }
  const conflicting = (['dataDir', 'store', 'threads', 'acceptDataLoss'] as const).filter((name) => options[name] !== undefined && options[name] !== false);
  if (conflicting.length > 0) {
    const why = conflicting.includes('threads') ? ' (partition threads over PostgreSQL are not built yet)' : '';
    throw new InvalidArgumentError(`postgres cannot go with ${conflicting.join(', ')}${why}`);
  }
}

/** The store `options` name, opened (the engine owns and closes it). */
export async function openStore(options: EngineOptions, logger: Logger): Promise<EventStore<HistoryEvent>> {
  const { postgres } = options;
  if (postgres !== undefined) {
    const { url, ...given } = typeof postgres === 'string' ? { url: postgres } : postgres;
    try {
      return await openPostgresStore<HistoryEvent>(url, { ...given, partitions: options.partitions });
    } catch (error) {
      if (error instanceof RangeError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  }
  if (options.dataDir !== undefined) return openLevelDbStore<HistoryEvent>(options.dataDir, { partitions: options.partitions, ...storeOptions(options, logger) });
  return openMemoryStore<HistoryEvent>({ partitions: options.partitions });
}
