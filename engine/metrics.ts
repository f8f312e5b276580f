/**
 * Engine metrics (prom-client): what operators watch — crashes and restarts, snapshots and
 * replays, evictions, resident sandboxes. `aion server` serves them at `/metrics`.
 *
 * @module
 */
import { Counter, Gauge, Registry } from 'prom-client';

export class EngineMetrics {
  readonly crashes: Counter<'workflow_type' | 'kind'>;
  readonly restarts: Counter<'workflow_type'>;
  readonly failedBySupervisor: Counter<'workflow_type'>;
  readonly snapshotsWritten: Counter;
  readonly wakes: Counter<'from'>;
  readonly evictions: Counter;
  readonly residentSandboxes: Gauge;
  readonly residentBytes: Gauge;
  readonly storeAvailable: Gauge;
  readonly quarantinedRuns: Gauge;
  readonly damagedRecords: Counter<'kind'>;
  readonly loadedTemplates: Gauge;

  constructor(
    readonly registry: Registry = new Registry(),
    /** Read when the metrics are collected. */
    sources: { loadedTemplates: () => Promise<number> } = { loadedTemplates: async () => 0 },
  ) {
    const registers = [registry];
    this.crashes = new Counter({ name: 'aion_sandbox_crashes_total', help: 'Sandbox crashes, by workflow type and kind', labelNames: ['workflow_type', 'kind'], registers });
    this.restarts = new Counter({ name: 'aion_sandbox_restarts_total', help: 'Crashed sandboxes restarted by their supervisor', labelNames: ['workflow_type'], registers });
    this.failedBySupervisor = new Counter({ name: 'aion_runs_failed_by_supervisor_total', help: 'Runs failed because their sandbox kept crashing', labelNames: ['workflow_type'], registers });
    this.snapshotsWritten = new Counter({ name: 'aion_snapshots_written_total', help: 'Sandbox snapshots written when runs were parked', registers });
    this.wakes = new Counter({ name: 'aion_run_wakes_total', help: 'Runs brought back into memory, by how (snapshot or replay)', labelNames: ['from'], registers });
    this.evictions = new Counter({ name: 'aion_evictions_total', help: 'Runs parked to keep resident memory within its budget', registers });
    this.residentSandboxes = new Gauge({ name: 'aion_resident_sandboxes', help: 'Sandboxes of runs held in memory', registers });
    this.residentBytes = new Gauge({ name: 'aion_resident_bytes', help: 'Memory those sandboxes use', registers });
    this.storeAvailable = new Gauge({ name: 'aion_store_available', help: '1 while the store accepts writes, 0 after a failed write until it has been reopened', registers });
    this.storeAvailable.set(1);
    this.quarantinedRuns = new Gauge({ name: 'aion_quarantined_runs', help: 'Runs set aside because a record of theirs is damaged', registers });
    this.loadedTemplates = new Gauge({
      name: 'aion_sandbox_templates_loaded',
      help: 'Bundle versions evaluated in the sandbox threads (unloaded again when idle)',
      registers,
      async collect() {
        this.set(await sources.loadedTemplates());
      },
    });
    this.damagedRecords = new Counter({ name: 'aion_damaged_records_total', help: 'Stored records found damaged, by kind', labelNames: ['kind'], registers });
  }
}
