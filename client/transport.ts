/**
 * What the Temporal-shaped client needs of an engine, as plain operations: implemented in
 * process over an `Engine` (here) or over the HTTP API (http-transport.ts), so `Client` is the
 * same code either way.
 *
 * @module
 */
import type {
  Engine,
  HistoryEvent,
  OverlapPolicy,
  ScheduleDescription,
  ScheduleOptions,
  ScheduleUpdate,
  SignalWithStartOptions,
  StartOptions,
  UpdateWithStartOptions,
  VisibilityQuery,
  WorkflowDescription,
  WorkflowSummary,
} from '../engine/index.js';

export interface RunRef {
  workflowId: string;
  runId?: string;
  /** False: the run's own result, not its successors' (Temporal's `followRuns`). */
  followRuns?: boolean;
}

/** An accepted update: its ids and its result once it completes. */
export interface StartedUpdate {
  updateId: string;
  runId: string;
  result(): Promise<unknown>;
}

export interface ClientTransport {
  start(workflowType: string, options: StartOptions): Promise<{ workflowId: string; runId: string }>;
  signalWithStart(workflowType: string, options: SignalWithStartOptions): Promise<{ workflowId: string; runId: string }>;
  /** The run's result; rejects with `WorkflowFailedError` if it did not complete. */
  result(run: RunRef): Promise<unknown>;
  signal(run: RunRef, name: string, args: unknown[]): Promise<void>;
  query(run: RunRef, name: string, args: unknown[]): Promise<unknown>;
  executeUpdate(run: RunRef, name: string, args: unknown[], updateId?: string): Promise<unknown>;
  /** Resolves once the update is accepted (rejects if it was rejected). */
  startUpdate(run: RunRef, name: string, args: unknown[], updateId?: string): Promise<StartedUpdate>;
  /** The result of an update the run accepted, by its id (waits while it runs). */
  updateResult(run: RunRef, updateId: string): Promise<unknown>;
  /** Update-with-start; resolves once the update is accepted. */
  startUpdateWithStart(workflowType: string, options: UpdateWithStartOptions): Promise<StartedUpdate & { workflowId: string }>;
  cancel(run: RunRef, reason?: string): Promise<void>;
  terminate(run: RunRef, reason?: string): Promise<void>;
  describe(run: RunRef): Promise<WorkflowDescription>;
  history(run: RunRef): Promise<HistoryEvent[]>;
  list(query: VisibilityQuery, limit?: number): Promise<WorkflowSummary[]>;
  count(query: VisibilityQuery): Promise<number>;
  completeActivity(taskToken: Uint8Array | string, result: unknown): Promise<void>;
  failActivity(taskToken: Uint8Array | string, failure: Error): Promise<void>;
  heartbeatActivity(taskToken: Uint8Array | string, details: unknown): Promise<void>;
  reportActivityCancellation(taskToken: Uint8Array | string, details: unknown): Promise<void>;
  createSchedule(options: ScheduleOptions): Promise<ScheduleDescription>;
  describeSchedule(scheduleId: string): Promise<ScheduleDescription>;
  listSchedules(): Promise<ScheduleDescription[]>;
  updateSchedule(scheduleId: string, update: ScheduleUpdate): Promise<ScheduleDescription>;
  changeSchedule(scheduleId: string, change: 'pause' | 'resume'): Promise<ScheduleDescription>;
  triggerSchedule(scheduleId: string, overlap?: OverlapPolicy): Promise<ScheduleDescription>;
  backfillSchedule(scheduleId: string, backfill: { start: Date; end: Date; overlap?: OverlapPolicy }): Promise<ScheduleDescription>;
  deleteSchedule(scheduleId: string): Promise<void>;
}

/** The client's operations on an engine in this process. */
export class EngineTransport implements ClientTransport {
  constructor(
    private readonly engine: Engine,
    private readonly namespace: string,
  ) {}

  /** Waiting for a result lets a time-skipping engine skip time meanwhile (as Temporal's test server does). */
  private waitFor<T>(promise: Promise<T>): Promise<T> {
    return this.engine.timeSkipping ? this.engine.timeSkipping.skipUntil(promise) : promise;
  }

  private handle(run: RunRef) {
    return this.engine.getHandle(run.workflowId, run.runId, { namespace: this.namespace, ...(run.followRuns === false ? { followRuns: false } : {}) });
  }

  async start(workflowType: string, options: StartOptions) {
    const handle = await this.engine.start(workflowType, { ...options, namespace: this.namespace });
    return { workflowId: handle.workflowId, runId: handle.runId! };
  }

  async signalWithStart(workflowType: string, options: SignalWithStartOptions) {
    const handle = await this.engine.signalWithStart(workflowType, { ...options, namespace: this.namespace });
    return { workflowId: handle.workflowId, runId: handle.runId! };
  }

  result(run: RunRef) {
    return this.waitFor(this.handle(run).result());
  }
  signal(run: RunRef, name: string, args: unknown[]) {
    return this.handle(run).signal(name, ...args);
  }
  query(run: RunRef, name: string, args: unknown[]) {
    return this.handle(run).query(name, ...args);
  }
  async executeUpdate(run: RunRef, name: string, args: unknown[], updateId?: string) {
    return (await this.startUpdate(run, name, args, updateId)).result();
  }
  async startUpdate(run: RunRef, name: string, args: unknown[], updateId?: string) {
    const update = await this.waitFor(this.handle(run).startUpdate(name, { args, ...(updateId !== undefined ? { updateId } : {}) }));
    return { updateId: update.updateId, runId: update.runId, result: () => this.waitFor(update.result()) };
  }
  updateResult(run: RunRef, updateId: string) {
    return this.waitFor(this.handle(run).getUpdateHandle(updateId).result());
  }
  async startUpdateWithStart(workflowType: string, options: UpdateWithStartOptions) {
    const { workflow, update } = await this.waitFor(this.engine.startUpdateWithStart(workflowType, { ...options, namespace: this.namespace }));
    return { workflowId: workflow.workflowId, updateId: update.updateId, runId: update.runId, result: () => this.waitFor(update.result()) };
  }
  cancel(run: RunRef, reason?: string) {
    return this.handle(run).cancel(reason);
  }
  terminate(run: RunRef, reason?: string) {
    return this.handle(run).terminate(reason);
  }
  describe(run: RunRef) {
    return this.handle(run).describe();
  }
  history(run: RunRef) {
    return this.handle(run).history();
  }
  list(query: VisibilityQuery, limit?: number) {
    return this.engine.list({ ...query, namespace: this.namespace, ...(limit !== undefined ? { limit } : {}) });
  }
  count(query: VisibilityQuery) {
    return this.engine.count({ ...query, namespace: this.namespace });
  }
  completeActivity(taskToken: Uint8Array | string, result: unknown) {
    return this.engine.asyncCompletion(taskToken, { namespace: this.namespace }).complete(result);
  }
  failActivity(taskToken: Uint8Array | string, failure: Error) {
    return this.engine.asyncCompletion(taskToken, { namespace: this.namespace }).fail(failure);
  }
  heartbeatActivity(taskToken: Uint8Array | string, details: unknown) {
    return this.engine.asyncCompletion(taskToken, { namespace: this.namespace }).heartbeat(details);
  }
  reportActivityCancellation(taskToken: Uint8Array | string, details: unknown) {
    return this.engine.asyncCompletion(taskToken, { namespace: this.namespace }).reportCancellation(details);
  }
  createSchedule(options: ScheduleOptions) {
    return this.engine.schedules.create({ ...options, namespace: this.namespace });
  }
  describeSchedule(scheduleId: string) {
    return this.engine.schedules.describe(scheduleId, { namespace: this.namespace });
  }
  listSchedules() {
    return this.engine.schedules.list({ namespace: this.namespace });
  }
  updateSchedule(scheduleId: string, update: ScheduleUpdate) {
    return this.engine.schedules.update(scheduleId, update, { namespace: this.namespace });
  }
  changeSchedule(scheduleId: string, change: 'pause' | 'resume') {
    return this.engine.schedules[change](scheduleId, { namespace: this.namespace });
  }
  triggerSchedule(scheduleId: string, overlap?: OverlapPolicy) {
    return this.engine.schedules.trigger(scheduleId, { namespace: this.namespace, ...(overlap !== undefined ? { overlap } : {}) });
  }
  backfillSchedule(scheduleId: string, backfill: { start: Date; end: Date; overlap?: OverlapPolicy }) {
    return this.engine.schedules.backfill(scheduleId, backfill, { namespace: this.namespace });
  }
  deleteSchedule(scheduleId: string) {
    return this.engine.schedules.delete(scheduleId, { namespace: this.namespace });
  }
}
