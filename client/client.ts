/**
 * `aion/client`: a client shaped like Temporal's `@temporalio/client`, so client code ports by
 * changing its import — `client.workflow.start/execute/getHandle/signalWithStart/list/count`,
 * handles that take definitions or names, and `client.activity` for asynchronous completion.
 *
 * @module
 */
import {
  checkOptionKeys,
  InvalidArgumentError,
  type HistoryEvent,
  type SearchAttributesInput,
  type StartOptions,
  type UpdateWithStartOptions,
  type WorkflowDescription,
  type WorkflowSummary,
} from '../engine/index.js';
import { Connection } from './connection.js';
import { parseListQuery } from './list-query.js';
import { ScheduleClient } from './schedule-client.js';
import type { ClientTransport, RunRef, StartedUpdate } from './transport.js';

/** A workflow function (for its name and types) or a workflow type name. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WorkflowType<F extends (...args: any[]) => Promise<any> = (...args: any[]) => Promise<any>> = F | string;
/** A signal, query or update definition (`defineSignal(...)`), or its name. */
export type MessageRef = { name: string } | string;

export interface WorkflowStartOptions<Args extends unknown[] = unknown[]> {
  workflowId: string;
  taskQueue: string;
  args?: Args;
  memo?: Record<string, unknown>;
  searchAttributes?: SearchAttributesInput;
  typedSearchAttributes?: SearchAttributesInput;
  workflowExecutionTimeout?: StartOptions['workflowExecutionTimeout'];
  workflowRunTimeout?: StartOptions['workflowRunTimeout'];
  cronSchedule?: string;
}

export interface WorkflowSignalWithStartOptions<Args extends unknown[] = unknown[]> extends WorkflowStartOptions<Args> {
  signal: MessageRef;
  signalArgs?: unknown[];
}

const START_OPTIONS = ['workflowId', 'taskQueue', 'args', 'memo', 'searchAttributes', 'typedSearchAttributes', 'workflowExecutionTimeout', 'workflowRunTimeout', 'cronSchedule'];

/** Temporal's stages an update can be waited for at. */
export const WorkflowUpdateStage = { ACCEPTED: 'ACCEPTED', COMPLETED: 'COMPLETED' } as const;
export type WorkflowUpdateStage = (typeof WorkflowUpdateStage)[keyof typeof WorkflowUpdateStage];

/** An accepted update. */
export interface WorkflowUpdateHandle<R = unknown> {
  updateId: string;
  workflowId: string;
  /** The run that accepted it (absent on a handle made by id for a workflow's latest run). */
  workflowRunId?: string;
  result(): Promise<R>;
}

export interface WorkflowUpdateOptions {
  /** Chosen by the caller (an idempotency key): an update sent again under an id the run accepted runs once. */
  updateId?: string;
}

/** Temporal's policies for a workflow id that has a running run; update-with-start takes `USE_EXISTING` or `FAIL`. */
export const WorkflowIdConflictPolicy = { FAIL: 'FAIL', USE_EXISTING: 'USE_EXISTING', TERMINATE_EXISTING: 'TERMINATE_EXISTING' } as const;
export type WorkflowIdConflictPolicy = (typeof WorkflowIdConflictPolicy)[keyof typeof WorkflowIdConflictPolicy];

/**
 * The workflow update-with-start starts when it has no running run (Temporal's class):
 * `workflowHandle()` resolves once the update-with-start it was given reached the run.
 */
export class WithStartWorkflowOperation<R = unknown> {
  private readonly handle: Promise<WorkflowHandle<R>>;

  constructor(
    readonly workflowTypeOrFunc: WorkflowType,
    readonly options: WorkflowStartOptions & { workflowIdConflictPolicy: WorkflowIdConflictPolicy },
  ) {
    this.handle = new Promise((resolve, reject) => withStartSettlers.set(this, { resolve: resolve as (handle: WorkflowHandle) => void, reject }));
    this.handle.catch(() => undefined); // observed through workflowHandle()
  }

  workflowHandle(): Promise<WorkflowHandle<R>> {
    return this.handle;
  }
}

/** How each operation's `workflowHandle()` is settled; an operation is used once (its entry goes). */
const withStartSettlers = new WeakMap<WithStartWorkflowOperation, { resolve(handle: WorkflowHandle): void; reject(error: unknown): void }>();

/** Temporal's status names (`describe().status.name`). */
const STATUS_NAME = {
  Running: 'RUNNING',
  Completed: 'COMPLETED',
  Failed: 'FAILED',
  Canceled: 'CANCELLED',
  Terminated: 'TERMINATED',
  ContinuedAsNew: 'CONTINUED_AS_NEW',
  TimedOut: 'TIMED_OUT',
} as const;

/**
 * What `handle.describe()` gives: Aion's description in Temporal's shape — `type`,
 * `status.name`, and `searchAttributes` in Temporal's legacy form (each value an array) —
 * with Aion's own as `raw`.
 */
export type WorkflowExecutionDescription = Omit<WorkflowDescription, 'searchAttributes' | 'status'> & {
  type: string;
  status: { name: (typeof STATUS_NAME)[keyof typeof STATUS_NAME] };
  searchAttributes: Record<string, unknown[]>;
  raw: WorkflowDescription;
};

export class WorkflowHandle<R = unknown> {
  constructor(
    private readonly transport: ClientTransport,
    readonly workflowId: string,
    /** The run this handle targets; undefined: the workflow's latest run. */
    readonly runId: string | undefined,
    /** Set on handles returned by `start`: the first run of the chain it started. */
    readonly firstExecutionRunId?: string,
    /** False: `result()` is this run's own, not its successors' (continue-as-new, the next cron run). */
    private readonly followRuns?: boolean,
  ) {}

  private get run(): RunRef {
    return { workflowId: this.workflowId, ...(this.runId !== undefined ? { runId: this.runId } : {}), ...(this.followRuns === false ? { followRuns: false } : {}) };
  }

  /** The result of the run (following continue-as-new); rejects with `WorkflowFailedError` if it did not complete. */
  result(): Promise<R> {
    return this.transport.result(this.run) as Promise<R>;
  }

  signal<Args extends unknown[]>(signal: MessageRef, ...args: Args): Promise<void> {
    return this.transport.signal(this.run, nameOf(signal), args);
  }

  query<T = unknown, Args extends unknown[] = unknown[]>(query: MessageRef, ...args: Args): Promise<T> {
    return this.transport.query(this.run, nameOf(query), args) as Promise<T>;
  }

  /**
   * Sends an update and resolves at `waitForStage` (Temporal's ACCEPTED: once its validator
   * passed and it is recorded; COMPLETED: once it completed) with a handle on its result.
   * Rejects if the update was rejected.
   */
  async startUpdate(update: MessageRef, options: WorkflowUpdateOptions & { args?: unknown[]; waitForStage: WorkflowUpdateStage }): Promise<WorkflowUpdateHandle> {
    checkOptionKeys(options, ['args', 'updateId', 'waitForStage'], 'startUpdate');
    checkStage(options.waitForStage);
    const started = await this.transport.startUpdate(this.run, nameOf(update), options.args ?? [], options.updateId);
    return updateHandle(this.workflowId, started, options.waitForStage);
  }

  /**
   * Runs an update and returns its result (Temporal's shape: `{ args, updateId }`). An
   * `updateId` the run already accepted runs nothing again: the result is that update's.
   */
  async executeUpdate<T = unknown>(update: MessageRef, options: WorkflowUpdateOptions & { args?: unknown[] } = {}): Promise<T> {
    checkOptionKeys(options, ['args', 'updateId'], 'executeUpdate');
    return (await this.transport.executeUpdate(this.run, nameOf(update), options.args ?? [], options.updateId)) as T;
  }

  /** A handle on an update the run accepted, by its id; `result()` waits for it to complete. */
  getUpdateHandle<T = unknown>(updateId: string): WorkflowUpdateHandle<T> {
    let result: Promise<T> | undefined;
    return {
      updateId,
      workflowId: this.workflowId,
      ...(this.runId !== undefined ? { workflowRunId: this.runId } : {}),
      result: () => (result ??= this.transport.updateResult(this.run, updateId) as Promise<T>),
    };
  }

  cancel(): Promise<void> {
    return this.transport.cancel(this.run);
  }

  terminate(reason?: string): Promise<void> {
    return this.transport.terminate(this.run, reason);
  }

  async describe(): Promise<WorkflowExecutionDescription> {
    const description = await this.transport.describe(this.run);
    const searchAttributes = Object.fromEntries(Object.entries(description.searchAttributes).map(([name, value]) => [name, Array.isArray(value) ? value : [value]]));
    return { ...description, type: description.workflowType, status: { name: STATUS_NAME[description.status] }, searchAttributes, raw: description };
  }

  /** The run's events, oldest first (Aion's JSON events, not Temporal's protobuf). */
  async fetchHistory(): Promise<{ events: HistoryEvent[] }> {
    return { events: await this.transport.history(this.run) };
  }
}

export class WorkflowClient {
  constructor(private readonly transport: ClientTransport) {}

  async start<R = unknown>(workflow: WorkflowType, options: WorkflowStartOptions): Promise<WorkflowHandle<R>> {
    const started = await this.transport.start(typeName(workflow), startOptions(options, START_OPTIONS, 'start'));
    return new WorkflowHandle<R>(this.transport, started.workflowId, undefined, started.runId);
  }

  /** Starts the workflow and waits for its result. */
  async execute<R = unknown>(workflow: WorkflowType, options: WorkflowStartOptions): Promise<R> {
    return (await this.start<R>(workflow, options)).result();
  }

  /** Signals the workflow's running run, or starts one with the signal delivered first. */
  async signalWithStart<R = unknown>(workflow: WorkflowType, options: WorkflowSignalWithStartOptions): Promise<WorkflowHandle<R>> {
    const { signal, signalArgs, ...rest } = options;
    const checked = startOptions(rest, START_OPTIONS, 'signalWithStart');
    const started = await this.transport.signalWithStart(typeName(workflow), { ...checked, workflowId: options.workflowId, signal: nameOf(signal), signalArgs: signalArgs ?? [] });
    return new WorkflowHandle<R>(this.transport, started.workflowId, undefined, started.runId);
  }

  /**
   * Sends an update to the workflow's running run (`workflowIdConflictPolicy: 'USE_EXISTING'`;
   * `FAIL` refuses), or starts a run and sends it the update; resolves at `waitForStage`
   * (`ACCEPTED`). `startWorkflowOperation.workflowHandle()` gives the run's handle.
   */
  async startUpdateWithStart<R = unknown>(
    update: MessageRef,
    options: WorkflowUpdateOptions & { args?: unknown[]; waitForStage: WorkflowUpdateStage; startWorkflowOperation: WithStartWorkflowOperation },
  ): Promise<WorkflowUpdateHandle<R>> {
    checkOptionKeys(options, ['args', 'updateId', 'waitForStage', 'startWorkflowOperation'], 'startUpdateWithStart');
    checkStage(options.waitForStage);
    if (!(options.startWorkflowOperation instanceof WithStartWorkflowOperation)) throw new InvalidArgumentError('startWorkflowOperation is a WithStartWorkflowOperation');
    const operation = options.startWorkflowOperation;
    const settle = withStartSettlers.get(operation);
    if (!settle) throw new InvalidArgumentError('this WithStartWorkflowOperation was used already: make one per update-with-start');
    withStartSettlers.delete(operation);
    const { workflowIdConflictPolicy, ...startWith } = operation.options;
    let started: StartedUpdate & { workflowId: string };
    try {
      started = await this.transport.startUpdateWithStart(typeName(operation.workflowTypeOrFunc), {
        ...startOptions(startWith, START_OPTIONS, 'startUpdateWithStart'),
        update: nameOf(update),
        updateArgs: options.args ?? [],
        ...(options.updateId !== undefined ? { updateId: options.updateId } : {}),
        workflowIdConflictPolicy: workflowIdConflictPolicy as 'USE_EXISTING' | 'FAIL',
      } as UpdateWithStartOptions);
    } catch (error) {
      settle.reject(error);
      throw error;
    }
    settle.resolve(new WorkflowHandle(this.transport, started.workflowId, undefined, started.runId));
    return (await updateHandle(started.workflowId, started, options.waitForStage)) as WorkflowUpdateHandle<R>;
  }

  /** `startUpdateWithStart`, then the update's result. */
  async executeUpdateWithStart<R = unknown>(update: MessageRef, options: WorkflowUpdateOptions & { args?: unknown[]; startWorkflowOperation: WithStartWorkflowOperation }): Promise<R> {
    checkOptionKeys(options, ['args', 'updateId', 'startWorkflowOperation'], 'executeUpdateWithStart');
    return (await this.startUpdateWithStart<R>(update, { ...options, waitForStage: 'COMPLETED' })).result();
  }

  /** A handle on the workflow's latest run, or on one run of it. */
  getHandle<R = unknown>(workflowId: string, runId?: string, options: { followRuns?: boolean; firstExecutionRunId?: string } = {}): WorkflowHandle<R> {
    checkOptionKeys(options, ['followRuns', 'firstExecutionRunId'], 'getHandle');
    return new WorkflowHandle<R>(this.transport, workflowId, runId, options.firstExecutionRunId, options.followRuns);
  }

  /** Runs matching a Temporal list filter (a subset: see list-query.ts), newest first. */
  async *list(options: { query?: string; pageSize?: number } = {}): AsyncIterable<WorkflowSummary & { type: string; status: { name: string } }> {
    checkOptionKeys(options, ['query', 'pageSize'], 'list');
    for (const summary of await this.transport.list(parseListQuery(options.query))) {
      yield { ...summary, type: summary.workflowType, status: { name: STATUS_NAME[summary.status] } } as unknown as WorkflowSummary & { type: string; status: { name: string } };
    }
  }

  async count(query?: string): Promise<{ count: number }> {
    return { count: await this.transport.count(parseListQuery(query)) };
  }
}

/** Asynchronous completion of activities that threw `CompleteAsyncError`, by task token. */
export class AsyncCompletionClient {
  constructor(private readonly transport: ClientTransport) {}

  complete(taskToken: Uint8Array | string, result?: unknown): Promise<void> {
    return this.transport.completeActivity(taskToken, result);
  }

  fail(taskToken: Uint8Array | string, error: Error): Promise<void> {
    return this.transport.failActivity(taskToken, error);
  }

  heartbeat(taskToken: Uint8Array | string, details?: unknown): Promise<void> {
    return this.transport.heartbeatActivity(taskToken, details);
  }

  reportCancellation(taskToken: Uint8Array | string, details?: unknown): Promise<void> {
    return this.transport.reportActivityCancellation(taskToken, details);
  }
}

export interface ClientOptions {
  /** Default: an HTTP connection to `127.0.0.1:7233`. */
  connection?: Connection;
  /** Default `default`. */
  namespace?: string;
}

export class Client {
  readonly connection: Connection;
  readonly namespace: string;
  readonly workflow: WorkflowClient;
  readonly activity: AsyncCompletionClient;
  readonly schedule: ScheduleClient;

  constructor(options: ClientOptions = {}) {
    checkOptionKeys(options, ['connection', 'namespace'], 'Client');
    this.connection = options.connection ?? Connection.lazy();
    this.namespace = options.namespace ?? 'default';
    const transport = this.connection.transportFor(this.namespace);
    this.workflow = new WorkflowClient(transport);
    this.activity = new AsyncCompletionClient(transport);
    this.schedule = new ScheduleClient(transport);
  }
}

const nameOf = (ref: MessageRef): string => (typeof ref === 'string' ? ref : ref.name);

function checkStage(stage: unknown): void {
  if (stage !== 'ACCEPTED' && stage !== 'COMPLETED') throw new InvalidArgumentError('waitForStage is ACCEPTED or COMPLETED');
}

/** The handle on an accepted update, returned once it reached `stage` (COMPLETED: once it ended, either way). */
async function updateHandle(workflowId: string, started: StartedUpdate, stage: WorkflowUpdateStage): Promise<WorkflowUpdateHandle> {
  if (stage === 'COMPLETED') await started.result().catch(() => undefined);
  return { updateId: started.updateId, workflowId, workflowRunId: started.runId, result: started.result };
}

function typeName(workflow: WorkflowType): string {
  const name = typeof workflow === 'string' ? workflow : workflow.name;
  if (!name) throw new InvalidArgumentError('a workflow is a workflow type name or a named workflow function');
  return name;
}

function startOptions(options: Omit<WorkflowStartOptions, 'workflowId'> & { workflowId?: string }, known: readonly string[], what: string): StartOptions {
  checkOptionKeys(options, known, what);
  if (typeof options.workflowId !== 'string') throw new InvalidArgumentError(`${what} needs a workflowId`);
  if (typeof options.taskQueue !== 'string') throw new InvalidArgumentError(`${what} needs a taskQueue`);
  return options as StartOptions;
}
