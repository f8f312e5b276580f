/**
 * Engine metrics (prom-client): what operators watch — crashes and restarts, snapshots and
 * replays, evictions, resident sandboxes. `aion server` serves them at `/metrics`.
 *
 * @module
 */
import { Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { PartitionStatus } from '../store/types.js';

/** The metrics of each partition thread, as `getMetricsAsJSON` gives them. */
export type ThreadMetrics = () => Promise<MetricObjectWithValues<MetricValue<string>>[][]>;

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
    /**
     * Read when the metrics are collected. With `threads` (the main thread of a threaded
     * engine, which holds no run), the run metrics are the sums of the partition threads'.
     */
    sources: { loadedTemplates: () => Promise<number>; threads?: ThreadMetrics; partitions?: PartitionMetrics } = { loadedTemplates: async () => 0 },
  ) {
    const registers = [registry];
    const collect = sources.threads ? { collect: summedFrom(sources.threads) } : {};
    this.crashes = new Counter({ name: 'aion_sandbox_crashes_total', help: 'Sandbox crashes, by workflow type and kind', labelNames: ['workflow_type', 'kind'], registers, ...collect });
    this.restarts = new Counter({ name: 'aion_sandbox_restarts_total', help: 'Crashed sandboxes restarted by their supervisor', labelNames: ['workflow_type'], registers, ...collect });
    this.failedBySupervisor = new Counter({ name: 'aion_runs_failed_by_supervisor_total', help: 'Runs failed because their sandbox kept crashing', labelNames: ['workflow_type'], registers, ...collect });
    this.snapshotsWritten = new Counter({ name: 'aion_snapshots_written_total', help: 'Sandbox snapshots written when runs were parked', registers, ...collect });
    this.wakes = new Counter({ name: 'aion_run_wakes_total', help: 'Runs brought back into memory, by how (snapshot or replay)', labelNames: ['from'], registers, ...collect });
    this.evictions = new Counter({ name: 'aion_evictions_total', help: 'Runs parked to keep resident memory within its budget', registers, ...collect });
    this.residentSandboxes = new Gauge({ name: 'aion_resident_sandboxes', help: 'Sandboxes of runs held in memory', registers, ...collect });
    this.residentBytes = new Gauge({ name: 'aion_resident_bytes', help: 'Memory those sandboxes use', registers, ...collect });
    this.storeAvailable = new Gauge({ name: 'aion_store_available', help: '1 while the store accepts writes, 0 after a failed write until it has been reopened', registers });
    this.storeAvailable.set(1);
    this.quarantinedRuns = new Gauge({ name: 'aion_quarantined_runs', help: 'Runs set aside because a record of theirs is damaged', registers, ...collect });
    this.loadedTemplates = new Gauge({
      name: 'aion_sandbox_templates_loaded',
      help: 'Bundle versions evaluated in the sandbox threads (unloaded again when idle)',
      registers,
      async collect() {
        const threads = sources.threads ? valuesOf(await sources.threads(), 'aion_sandbox_templates_loaded') : [];
        this.set((await sources.loadedTemplates()) + threads.reduce((sum, { value }) => sum + value, 0));
      },
    });
    this.damagedRecords = new Counter({ name: 'aion_damaged_records_total', help: 'Stored records found damaged, by kind', labelNames: ['kind'], registers, ...collect });
    if (sources.partitions) registerPartitionGauges(registry, sources.partitions);
  }
}

/** Each partition's lease holder and lag, as the store reports them (stores with partition leases: PostgreSQL). */
export type PartitionMetrics = () => Promise<{ self: string; partitions: PartitionStatus[] }>;

/** Gauges per partition (`partition` label; `control` for the control plane), from one read of the store per scrape. */
function registerPartitionGauges(registry: Registry, partitions: PartitionMetrics): void {
  let reading: ReturnType<PartitionMetrics> | undefined;
  const read = () => {
    reading ??= partitions().finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
  const gauge = (name: string, help: string, value: (status: PartitionStatus, self: string) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['partition'],
      registers: [registry],
      async collect() {
        const { self, partitions: statuses } = await read();
        this.reset();
        for (const status of statuses) this.set({ partition: status.partition < 0 ? 'control' : String(status.partition) }, value(status, self));
      },
    });
  gauge('aion_partition_served', '1 for each partition this engine holds the lease of, 0 for the others', (status, self) => (status.owner === self ? 1 : 0));
  gauge('aion_partition_due_lag_seconds', "How long each partition's oldest due timer has waited to fire", (status) => status.dueLagMs / 1000);
  gauge('aion_partition_outbox_entries', 'Effects on other runs recorded in each partition and not performed yet', (status) => status.outboxEntries);
}

/** A `collect` that sets a counter or gauge to the sum, per label set, of the partition threads' values of it. */
function summedFrom(threads: ThreadMetrics): (this: Counter<string> | Gauge<string>) => Promise<void> {
  // One read of the threads per scrape, shared by every metric's collect.
  let reading: ReturnType<ThreadMetrics> | undefined;
  const read = () => {
    reading ??= threads().finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
  return async function (this: Counter<string> | Gauge<string>) {
    const name = (this as unknown as { name: string }).name;
    const sums = new Map<string, { labels: Record<string, string | number>; value: number }>();
    for (const { labels, value } of valuesOf(await read(), name)) {
      const key = JSON.stringify(Object.entries(labels).sort());
      const sum = sums.get(key) ?? { labels: labels as Record<string, string | number>, value: 0 };
      sum.value += value;
      sums.set(key, sum);
    }
    this.reset();
    for (const { labels, value } of sums.values()) {
      if (this instanceof Counter) this.inc(labels, value);
      else this.set(labels, value);
    }
  };
}

const valuesOf = (threads: MetricObjectWithValues<MetricValue<string>>[][], name: string): MetricValue<string>[] =>
  threads.flatMap((metrics) => metrics.filter((metric) => metric.name === name).flatMap((metric) => metric.values));
