/**
 * Runs set aside because a record of theirs does not read back (a damaged history, run
 * record, due entry or activity task). A quarantined run makes no progress and accepts no
 * message, so the engine never acts on a half-read state; the rest of the engine goes on.
 * Its quarantine is shown by `describe`, logged, counted, and kept in the store across
 * restarts, until the run is terminated or its data is restored (docs/operations.md).
 *
 * @module
 */
import type { DamagedRecord, EventStore, QuarantineRecord } from '../store/types.js';
import { parseDueKey } from './due-keys.js';
import { AionError } from './errors.js';
import type { HistoryEvent } from './history/events.js';
import type { Logger } from './logger.js';
import type { EngineMetrics } from './metrics.js';
import { runKey } from './run-key.js';

/** The run cannot be used: a record of it is damaged. */
export class RunQuarantinedError extends AionError {
  override name = 'RunQuarantinedError';
  constructor(
    readonly runId: string,
    readonly reason: string,
  ) {
    super('QUARANTINED', `run ${runId} is quarantined: ${reason}`);
  }
}

/** Damaged records whose kind tells which run they belong to (a damaged snapshot only costs a replay). */
const RUN_RECORDS = new Set<DamagedRecord['kind']>(['history', 'run', 'activity-task', 'due']);

export class Quarantine {
  private readonly runs = new Map<string, QuarantineRecord>();

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly logger: Logger,
    private readonly metrics: EngineMetrics,
  ) {}

  /** Loads the quarantined runs recorded before (engine start). */
  /** Reads the quarantined runs from the store (again: in a cluster, those of the partitions this engine serves now). */
  async load(): Promise<void> {
    const records = await this.store.listQuarantined();
    this.runs.clear();
    for (const record of records) this.runs.set(runKey(record.namespace, record.runId), record);
    this.metrics.quarantinedRuns.set(this.runs.size);
  }

  get(namespace: string, runId: string): QuarantineRecord | undefined {
    return this.runs.get(runKey(namespace, runId));
  }

  /** Throws `RunQuarantinedError` if the run is quarantined. */
  assertFree(namespace: string, runId: string): void {
    const record = this.get(namespace, runId);
    if (record) throw new RunQuarantinedError(runId, record.reason);
  }

  /**
   * A scan met a damaged record. A snapshot only costs a replay; a record of a run
   * quarantines the run (a due entry's owner may be a schedule: logged only).
   */
  onDamaged(damage: DamagedRecord): void {
    this.metrics.damagedRecords.inc({ kind: damage.kind });
    this.logger.error({ key: damage.key, kind: damage.kind, err: damage.error }, 'a stored record is damaged');
    if (!RUN_RECORDS.has(damage.kind) || damage.namespace === undefined || damage.runId === undefined) return;
    // A due entry's owner is a run, or a schedule (whose next tick is lost: logged only).
    if (damage.kind === 'due' && parseDueKey(damage.key.slice(damage.key.lastIndexOf('/') + 1))?.kind === 'schedule') return;
    void this.add(damage.namespace, damage.runId, damage.error.message, damage.key);
  }

  /** Quarantines a run (recorded in the store when it accepts writes; in memory meanwhile). */
  async add(namespace: string, runId: string, reason: string, key: string): Promise<QuarantineRecord> {
    const existing = this.get(namespace, runId);
    if (existing) return existing;
    const record: QuarantineRecord = { namespace, runId, reason, key, at: Date.now() };
    this.runs.set(runKey(namespace, runId), record);
    this.metrics.quarantinedRuns.set(this.runs.size);
    this.logger.error({ namespace, runId, key, reason }, 'run quarantined: a record of it is damaged; it makes no progress until it is terminated or its data is restored');
    await this.store.write({ quarantine: { put: [record] } }).catch((error: unknown) => this.logger.warn({ err: error, runId }, 'could not record the quarantine'));
    return record;
  }

  /** The run closed (terminated): its quarantine ends with it (deleted in that write). */
  release(namespace: string, runId: string): void {
    if (this.runs.delete(runKey(namespace, runId))) this.metrics.quarantinedRuns.set(this.runs.size);
  }
}
