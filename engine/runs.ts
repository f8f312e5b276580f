/**
 * The runs in memory: loading them from their records, the resident set (bounded in bytes of
 * sandbox memory and in count: beyond either, the least recently used idle runs are parked),
 * waiting for a run to close, and runs being created.
 *
 * @module
 */
import { StoreError } from '../store/errors.js';
import type { EventStore, RunRecord } from '../store/types.js';
import type { HistoryEvent } from './history/events.js';
import type { EngineMetrics } from './metrics.js';
import { EngineClosedError } from './errors.js';
import { RunQuarantinedError, type Quarantine } from './quarantine.js';
import { runKey } from './run-key.js';
import { WorkflowRun, type RunEnvironment } from './run/workflow-run.js';

export interface ResidencyLimits {
  /** Bytes of sandbox memory kept resident. */
  maxResidentBytes: number;
  /** Sandboxes kept resident (each is a wasm memory reservation, whatever its use). */
  maxResidentRuns: number;
}

export class RunTable {
  /** Runs in memory, with or without a sandbox. */
  private readonly runs = new Map<string, WorkflowRun>();
  /** Runs holding a sandbox, least recently used first, with the bytes they use and their namespace. */
  private readonly resident = new Map<string, { bytes: number; namespace: string }>();
  private residentBytes = 0;
  /** Resident bytes by namespace (for the namespaces' `maxResidentBytes` quotas). */
  private readonly namespaceBytes = new Map<string, number>();
  private readonly parking = new Set<string>();
  private readonly loading = new Map<string, Promise<WorkflowRun | undefined>>();
  private readonly closeWaiters = new Map<string, { resolve(closeEvent: HistoryEvent): void; reject(error: unknown): void }[]>();
  /** Runs whose creation is in flight (a child or successor recorded, not yet written), by run and by workflow id. */
  private readonly creating = new Map<string, Promise<unknown>>();
  /** Several at once when runs of one workflow id are created concurrently (all but one are refused). */
  private readonly creatingWorkflows = new Map<string, Set<Promise<unknown>>>();
  private environment: RunEnvironment | undefined;
  private accepting = true;

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly limits: ResidencyLimits,
    private readonly metrics: EngineMetrics,
    private readonly quarantine: Quarantine,
    /** A namespace's resident-bytes quota, as far as it is known now. */
    private readonly residentQuotaOf: (namespace: string) => number | undefined = () => undefined,
    /** Which runs are this engine's to hold (a partition thread, an engine of a cluster: its partitions' runs only). */
    private readonly placement: RunPlacement = { ownsRun: () => true },
  ) {}

  /** Set once, by the engine, before any run is loaded. */
  attach(environment: RunEnvironment): void {
    this.environment = environment;
  }

  /** Adds a run created in this process. */
  add(run: WorkflowRun): void {
    this.checkOwned(run.record.runId);
    this.runs.set(keyOf(run), run);
  }

  get(namespace: string, runId: string): WorkflowRun | undefined {
    return this.runs.get(runKey(namespace, runId));
  }

  /** The run in memory, or loaded from its record (waiting for its creation if in flight). Closed runs are not kept. */
  async runFor(namespace: string, runId: string): Promise<WorkflowRun | undefined> {
    this.checkOwned(runId);
    const key = runKey(namespace, runId);
    const existing = this.runs.get(key);
    if (existing) return existing;
    const creation = this.creating.get(key);
    if (creation) await creation.catch(() => undefined);
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.readRecord(namespace, runId).then((record) => {
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

  /** The run's record; a damaged one quarantines the run. */
  private async readRecord(namespace: string, runId: string): Promise<RunRecord | undefined> {
    try {
      return await this.store.getRun(namespace, runId);
    } catch (error) {
      if (!(error instanceof StoreError) || error.code !== 'AION_STORE_CORRUPT') throw error;
      const record = await this.quarantine.add(namespace, runId, error.message, `run record of ${runId}`);
      throw new RunQuarantinedError(runId, record.reason);
    }
  }

  /** Two engines (or threads) holding one run would both drive it: a call for a run served elsewhere is refused. */
  private checkOwned(runId: string): void {
    if (this.placement.ownsRun(runId)) return;
    throw this.placement.elsewhere?.(runId) ?? new Error(`run ${runId} is served by another partition thread`);
  }

  /**
   * Lets go of the runs `moved` names (their partition moved to another engine): once their
   * queued work finished, they leave memory, and whoever waits on one is told where it went.
   */
  async release(moved: (runId: string) => boolean): Promise<void> {
    const leaving = [...this.runs.values()].filter((run) => moved(run.record.runId));
    await Promise.all(leaving.map((run) => run.settled()));
    for (const run of leaving) {
      const key = keyOf(run);
      if (this.runs.get(key) === run) this.runs.delete(key);
      this.forgetResident(key);
      run.dispose();
    }
    // Waiters on parked runs too: the key ends with the run id.
    for (const [key, waiters] of this.closeWaiters) {
      const runId = key.slice(key.indexOf('\u0000') + 1);
      if (!moved(runId)) continue;
      this.closeWaiters.delete(key);
      for (const waiter of waiters) waiter.reject(this.placement.elsewhere?.(runId) ?? new EngineClosedError());
    }
  }

  /** A new run's first write failed: it is forgotten (it never existed). */
  onCreateFailed(run: WorkflowRun): void {
    const key = keyOf(run);
    if (this.runs.get(key) === run) this.runs.delete(key);
    this.forgetResident(key);
  }

  /** The workflow's run `runId`, or its latest run (following continue-as-new); undefined if there is none. */
  async resolve(namespace: string, workflowId: string, runId?: string): Promise<WorkflowRun | undefined> {
    this.placement.checkWorkflow?.(namespace, workflowId);
    // Routed here by its workflow id: a run id of another partition is no run of this workflow.
    if (runId !== undefined && !this.placement.ownsRun(runId)) return undefined;
    // A child or scheduled run recorded but not yet written is this workflow id's run already.
    if (runId === undefined) await this.creationOfWorkflow(namespace, workflowId);
    const id = runId ?? (await this.store.getLatestRunId(namespace, workflowId));
    let run = id === undefined ? undefined : await this.runFor(namespace, id);
    if (!run || run.record.workflowId !== workflowId) return undefined;
    // The workflow's latest run continued as new: its successor (maybe still being created) is the latest now.
    while (runId === undefined && run.record.continuedToRunId !== undefined) {
      const successor = await this.runFor(namespace, run.record.continuedToRunId);
      if (!successor) break;
      run = successor;
    }
    return run;
  }

  /** Registers a creation in flight, so lookups of that run, or of its workflow id's latest run, wait for it. */
  trackCreation(namespace: string, workflowId: string, runId: string, creation: Promise<unknown>): void {
    const key = runKey(namespace, runId);
    this.creating.set(key, creation);
    const workflowKey = runKey(namespace, workflowId);
    const ofWorkflow = this.creatingWorkflows.get(workflowKey) ?? new Set();
    ofWorkflow.add(creation);
    this.creatingWorkflows.set(workflowKey, ofWorkflow);
    const settled = () => {
      if (this.creating.get(key) === creation) this.creating.delete(key);
      ofWorkflow.delete(creation);
      if (ofWorkflow.size === 0 && this.creatingWorkflows.get(workflowKey) === ofWorkflow) this.creatingWorkflows.delete(workflowKey);
    };
    creation.then(settled, settled);
  }

  creationOf(namespace: string, runId: string): Promise<unknown> | undefined {
    return this.creating.get(runKey(namespace, runId));
  }

  /** Settles once the creations in flight of runs of this workflow id have (undefined if there are none). */
  creationOfWorkflow(namespace: string, workflowId: string): Promise<unknown> | undefined {
    const creations = this.creatingWorkflows.get(runKey(namespace, workflowId));
    return creations ? Promise.allSettled(creations) : undefined;
  }

  /**
   * Resolves with the run's closing event; rejects with `EngineClosedError` if the engine closes
   * first, or with `signal`'s reason once it aborts (the waiter is dropped then).
   */
  waitForClose(run: WorkflowRun, signal?: AbortSignal): Promise<HistoryEvent> {
    const key = keyOf(run);
    return new Promise<HistoryEvent>((resolve, reject) => {
      if (!this.accepting) {
        reject(new EngineClosedError());
        return;
      }
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        const waiters = this.closeWaiters.get(key);
        const index = waiters?.indexOf(waiter) ?? -1;
        if (index >= 0) waiters!.splice(index, 1);
        if (waiters?.length === 0) this.closeWaiters.delete(key);
        reject(signal!.reason);
      };
      const settled = () => signal?.removeEventListener('abort', onAbort);
      const waiter = {
        resolve: (closeEvent: HistoryEvent) => (settled(), resolve(closeEvent)),
        reject: (error: unknown) => (settled(), reject(error)),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const waiters = this.closeWaiters.get(key) ?? [];
      waiters.push(waiter);
      this.closeWaiters.set(key, waiters);
    });
  }

  onClosed(run: WorkflowRun, closeEvent: HistoryEvent): void {
    const key = keyOf(run);
    if (this.runs.get(key) === run) this.runs.delete(key);
    this.forgetResident(key);
    for (const waiter of this.closeWaiters.get(key) ?? []) waiter.resolve(closeEvent);
    this.closeWaiters.delete(key);
  }

  /** The run released its sandbox and state: it leaves memory (a later job loads it again). */
  onParked(run: WorkflowRun): void {
    const key = keyOf(run);
    this.forgetResident(key);
    if (this.runs.get(key) === run) this.runs.delete(key);
  }

  /** The run just used its sandbox: most recently used now; park others beyond the limits. */
  touch(run: WorkflowRun): void {
    const key = keyOf(run);
    this.runs.set(key, run);
    this.forgetResident(key);
    const bytes = run.residentBytes;
    const { namespace } = run.record;
    this.resident.set(key, { bytes, namespace });
    this.account(namespace, bytes);
    const quota = this.residentQuotaOf(namespace);
    // A namespace beyond its own quota parks its own runs first, before the engine's limits park anyone's.
    if (quota !== undefined) this.parkWhile(() => (this.namespaceBytes.get(namespace) ?? 0) > quota, run, namespace);
    this.enforce(run);
  }

  /** Parks the least recently used idle runs while the resident set is beyond its limits. */
  enforce(spare?: WorkflowRun): void {
    this.parkWhile(() => this.residentBytes > this.limits.maxResidentBytes || this.resident.size - this.parking.size > this.limits.maxResidentRuns, spare);
  }

  /** Parks the least recently used idle runs (of `namespace` only, if given) while `beyond()`. */
  private parkWhile(beyond: () => boolean, spare?: WorkflowRun, namespace?: string): void {
    for (const [candidateKey, entry] of this.resident) {
      if (!beyond()) break;
      if (namespace !== undefined && entry.namespace !== namespace) continue;
      const candidate = this.runs.get(candidateKey);
      if (!candidate) {
        this.forgetResident(candidateKey);
        continue;
      }
      if (candidate === spare || !candidate.isIdle || this.parking.has(candidateKey)) continue;
      this.parking.add(candidateKey);
      this.account(entry.namespace, -entry.bytes);
      this.resident.set(candidateKey, { bytes: 0, namespace: entry.namespace });
      void candidate
        .park()
        .catch((error: unknown) => this.environment?.logger.warn({ err: error, runId: candidate.record.runId }, 'could not park a run'))
        // Parked or not (a job may have arrived meanwhile), it can be considered again.
        .finally(() => this.parking.delete(candidateKey));
    }
    this.updateGauges();
  }

  /**
   * Stops keeping loaded runs, resolves once every run's queued work has finished, and then
   * tells whoever still waits on a run (its close, an update) that the engine closed.
   */
  async close(): Promise<void> {
    this.accepting = false;
    await Promise.all([...this.creating.values()].map((creation) => creation.catch(() => undefined)));
    await Promise.all([...this.runs.values()].map((run) => run.settled()));
    for (const waiters of this.closeWaiters.values()) for (const waiter of waiters) waiter.reject(new EngineClosedError());
    this.closeWaiters.clear();
    for (const run of this.runs.values()) run.dispose();
  }

  private forgetResident(key: string): void {
    const entry = this.resident.get(key);
    if (entry === undefined) return;
    this.account(entry.namespace, -entry.bytes);
    this.resident.delete(key);
    this.updateGauges();
  }

  private account(namespace: string, bytes: number): void {
    this.residentBytes += bytes;
    const total = (this.namespaceBytes.get(namespace) ?? 0) + bytes;
    if (total === 0) this.namespaceBytes.delete(namespace);
    else this.namespaceBytes.set(namespace, total);
  }

  private updateGauges(): void {
    this.metrics.residentSandboxes.set(this.resident.size);
    this.metrics.residentBytes.set(this.residentBytes);
  }
}

/** Which runs an engine holds, when it serves some partitions only. */
export interface RunPlacement {
  ownsRun(runId: string): boolean;
  /** Throws when another engine serves the workflow (cluster mode); absent where calls reach the right engine already. */
  checkWorkflow?(namespace: string, workflowId: string): void;
  /** What a call for a run served elsewhere is refused with (absent: reaching it is a bug). */
  elsewhere?(runId: string): Error;
}

const keyOf = (run: WorkflowRun): string => runKey(run.record.namespace, run.record.runId);
