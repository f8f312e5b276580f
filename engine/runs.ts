/**
 * The runs in memory: loading them from their records, the resident set (least recently used
 * idle runs are evicted beyond a bound), waiting for a run to close, and runs being created.
 *
 * @module
 */
import type { EventStore } from '../store/types.js';
import type { HistoryEvent } from './history/events.js';
import { runKey, WorkflowRun, type RunEnvironment } from './run/workflow-run.js';

export class RunTable {
  /** Map order is recency of use: the oldest idle runs are evicted first. */
  private readonly runs = new Map<string, WorkflowRun>();
  private readonly loading = new Map<string, Promise<WorkflowRun | undefined>>();
  private readonly closeWaiters = new Map<string, ((closeEvent: HistoryEvent) => void)[]>();
  /** Runs whose creation is in flight (a child or successor recorded, not yet written). */
  private readonly creating = new Map<string, Promise<unknown>>();
  private environment: RunEnvironment | undefined;
  private accepting = true;

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly maxResidentRuns: number,
  ) {}

  /** Set once, by the engine, before any run is loaded. */
  attach(environment: RunEnvironment): void {
    this.environment = environment;
  }

  /** Adds a run created in this process. */
  add(run: WorkflowRun): void {
    this.runs.set(runKey(run.record.namespace, run.record.runId), run);
  }

  get(namespace: string, runId: string): WorkflowRun | undefined {
    return this.runs.get(runKey(namespace, runId));
  }

  /** The run in memory, or loaded from its record (waiting for its creation if in flight). Closed runs are not kept. */
  async runFor(namespace: string, runId: string): Promise<WorkflowRun | undefined> {
    const key = runKey(namespace, runId);
    const existing = this.runs.get(key);
    if (existing) return existing;
    const creation = this.creating.get(key);
    if (creation) await creation.catch(() => undefined);
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.store.getRun(namespace, runId).then((record) => {
        if (!record) return undefined;
        const loaded = this.runs.get(key) ?? new WorkflowRun(record, this.environment!);
        if (record.status === 'Running' && this.accepting) this.runs.set(key, loaded);
        return loaded;
      });
      const settled = () => this.loading.delete(key);
      loading.then(settled, settled);
      this.loading.set(key, loading);
    }
    return loading;
  }

  /** Registers a creation in flight, so lookups of that run wait for it. */
  trackCreation(namespace: string, runId: string, creation: Promise<unknown>): void {
    const key = runKey(namespace, runId);
    this.creating.set(key, creation);
    const settled = () => {
      if (this.creating.get(key) === creation) this.creating.delete(key);
    };
    creation.then(settled, settled);
  }

  creationOf(namespace: string, runId: string): Promise<unknown> | undefined {
    return this.creating.get(runKey(namespace, runId));
  }

  waitForClose(run: WorkflowRun): Promise<HistoryEvent> {
    const key = runKey(run.record.namespace, run.record.runId);
    return new Promise<HistoryEvent>((resolve) => {
      const waiters = this.closeWaiters.get(key) ?? [];
      waiters.push(resolve);
      this.closeWaiters.set(key, waiters);
    });
  }

  onClosed(run: WorkflowRun, closeEvent: HistoryEvent): void {
    const key = runKey(run.record.namespace, run.record.runId);
    this.runs.delete(key);
    for (const resolve of this.closeWaiters.get(key) ?? []) resolve(closeEvent);
    this.closeWaiters.delete(key);
  }

  /** Marks a run as just used, and evicts the least recently used idle runs beyond the bound. */
  touch(run: WorkflowRun): void {
    const key = runKey(run.record.namespace, run.record.runId);
    this.runs.delete(key);
    this.runs.set(key, run);
    if (this.runs.size <= this.maxResidentRuns) return;
    for (const [candidateKey, candidate] of this.runs) {
      if (this.runs.size <= this.maxResidentRuns) break;
      if (candidate === run || !candidate.isIdle) continue;
      candidate.evict();
      this.runs.delete(candidateKey);
    }
  }

  /** Stops keeping loaded runs and resolves once every run's queued work has finished. */
  async close(): Promise<void> {
    this.accepting = false;
    await Promise.all([...this.creating.values()].map((creation) => creation.catch(() => undefined)));
    await Promise.all([...this.runs.values()].map((run) => run.settled()));
  }
}
