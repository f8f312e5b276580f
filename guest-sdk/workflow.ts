/**
 * The workflow API (`aion/workflow`): what workflow code calls. Names and semantics follow
 * Temporal's `@temporalio/workflow` for the shared subset.
 *
 * @module
 */
import { CancellationScope } from './cancellation-scope.js';
import { ActivityCancellationType, checkPolicy, ChildWorkflowCancellationType, ParentClosePolicy } from '../common/cancellation-policies.js';
import { ContinueAsNew } from '../common/failures.js';
import { getActivator, hasActivator } from './global-attributes.js';
import type { ChildWorkflowHandle, UpdateInfo, WorkflowInfo } from './internals.js';
import { ENHANCED_STACK_TRACE_QUERY, STACK_TRACE_QUERY, type EnhancedStackTrace, type LogEntry, type ResolvedActivityOptions, type ResolvedChildOptions, type RetryPolicy } from '../common/protocol.js';
import { checkSearchAttributes, normalizeSearchAttributes, startSearchAttributes, type SearchAttributesInput, type SearchAttributeValue } from '../common/search-attributes.js';
import type { RetryPolicyOptions } from '../common/retry-policy.js';
import { unknownOptions } from '../common/options.js';
import { toMs, type Duration } from '../common/time.js';

export type { RetryPolicyOptions };

/**
 * Whether this run checks options and honours the options added with Temporal's API
 * (cancellation types, memo, Temporal's search attribute shapes). Runs started before
 * (without the `temporalOptions` flag) go on ignoring them, as they were recorded.
 */
const checksOptions = (): boolean => getActivator().flags.has('temporalOptions');

/** Refuses unknown options by name, in runs that check them: they must not be silently ignored. */
function refuseUnknownOptions(problems: readonly string[]): void {
  if (problems.length > 0 && checksOptions()) throw new TypeError(problems[0]);
}

export interface ActivityOptions {
  startToCloseTimeout?: Duration;
  scheduleToCloseTimeout?: Duration;
  /** How long the activity may wait for a function to run it (none registered for its type yet). */
  scheduleToStartTimeout?: Duration;
  heartbeatTimeout?: Duration;
  taskQueue?: string;
  retry?: RetryPolicyOptions;
  /** What cancelling the calling scope does (default `TRY_CANCEL`). */
  cancellationType?: ActivityCancellationType;
  /** Accepted for Temporal compatibility; activities here are always dispatched at once. */
  allowEagerDispatch?: boolean;
  /** Accepted for Temporal compatibility; a label with no effect here. */
  summary?: string;
}

const ACTIVITY_OPTIONS = [
  'startToCloseTimeout',
  'scheduleToCloseTimeout',
  'scheduleToStartTimeout',
  'heartbeatTimeout',
  'taskQueue',
  'retry',
  'cancellationType',
  'allowEagerDispatch',
  'summary',
] as const satisfies readonly (keyof ActivityOptions)[];
const RETRY_OPTIONS = ['maximumAttempts', 'initialInterval', 'backoffCoefficient', 'maximumInterval', 'nonRetryableErrorTypes'] as const satisfies readonly (keyof RetryPolicyOptions)[];

/** Turns an activity module's type into the workflow-side stubs' type. */
export type ActivityInterfaceFor<A> = {
  [K in keyof A]: A[K] extends (...args: infer P) => infer R ? (...args: P) => Promise<Awaited<R>> : never;
};

/** Temporal's defaults: 1 s initial interval, coefficient 2, cap at 100× the initial interval, unlimited attempts. */
export function resolveRetryPolicy(retry: RetryPolicyOptions = {}): RetryPolicy {
  const initialIntervalMs = toMs(retry.initialInterval ?? 1000);
  const policy: RetryPolicy = {
    maximumAttempts: retry.maximumAttempts ?? 0,
    initialIntervalMs,
    backoffCoefficient: retry.backoffCoefficient ?? 2,
    maximumIntervalMs: toMs(retry.maximumInterval ?? 100 * initialIntervalMs),
    nonRetryableErrorTypes: [...(retry.nonRetryableErrorTypes ?? [])],
  };
  if (!Number.isInteger(policy.maximumAttempts) || policy.maximumAttempts < 0) {
    throw new TypeError(`retry.maximumAttempts must be a non-negative integer, got ${retry.maximumAttempts}`);
  }
  if (!(policy.backoffCoefficient >= 1)) {
    throw new TypeError(`retry.backoffCoefficient must be at least 1, got ${retry.backoffCoefficient}`);
  }
  return policy;
}

export function resolveActivityOptions(options: ActivityOptions): ResolvedActivityOptions {
  if (options.startToCloseTimeout === undefined && options.scheduleToCloseTimeout === undefined) {
    throw new TypeError('activity options need a startToCloseTimeout or a scheduleToCloseTimeout');
  }
  const resolved: ResolvedActivityOptions = { retry: resolveRetryPolicy(options.retry) };
  if (options.startToCloseTimeout !== undefined) resolved.startToCloseTimeoutMs = toMs(options.startToCloseTimeout);
  if (options.scheduleToCloseTimeout !== undefined) resolved.scheduleToCloseTimeoutMs = toMs(options.scheduleToCloseTimeout);
  if (options.heartbeatTimeout !== undefined) resolved.heartbeatTimeoutMs = toMs(options.heartbeatTimeout);
  if (options.scheduleToStartTimeout !== undefined) resolved.scheduleToStartTimeoutMs = toMs(options.scheduleToStartTimeout);
  if (options.taskQueue !== undefined) resolved.taskQueue = options.taskQueue;
  if (options.cancellationType !== undefined && options.cancellationType !== 'TRY_CANCEL') {
    resolved.cancellationType = checkPolicy(ActivityCancellationType, options.cancellationType, 'cancellationType');
  }
  return resolved;
}

/**
 * Typed stubs for activities: each call schedules the activity named like the property and
 * resolves with its result (or rejects with an `ActivityFailure`).
 *
 * @example
 * const { charge } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
 * await charge(order.total);
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function proxyActivities<A = Record<string, (...args: any[]) => any>>(options: ActivityOptions): ActivityInterfaceFor<A> {
  if (options === undefined) throw new TypeError('proxyActivities needs options with a startToCloseTimeout or a scheduleToCloseTimeout');
  const problems = [...unknownOptions(options, ACTIVITY_OPTIONS, 'proxyActivities'), ...unknownOptions(options.retry ?? {}, RETRY_OPTIONS, 'retry')];
  return activityStubs<A>(resolveActivityOptions(options), problems);
}

/** Stubs are often made at the top of a module, before any run: unknown options are refused when an activity is called. */
function activityStubs<A>(resolved: ResolvedActivityOptions, problems: readonly string[]): ActivityInterfaceFor<A> {
  const { cancellationType: _, scheduleToStartTimeoutMs: __, ...asRecordedBefore } = resolved;
  return new Proxy({} as ActivityInterfaceFor<A>, {
    get(_, activityType) {
      if (typeof activityType !== 'string') throw new TypeError('activity names must be strings');
      return function scheduleActivity(...args: unknown[]) {
        refuseUnknownOptions(problems);
        return getActivator().scheduleActivity(activityType, args, checksOptions() ? resolved : asRecordedBefore);
      };
    },
  });
}

/** Temporal's local activity options: those of `proxyActivities` without a task queue (`localRetryThreshold` is accepted and has no effect). */
export type LocalActivityOptions = Omit<ActivityOptions, 'taskQueue' | 'heartbeatTimeout' | 'allowEagerDispatch'> & { localRetryThreshold?: Duration };

const LOCAL_ACTIVITY_OPTIONS = ['startToCloseTimeout', 'scheduleToCloseTimeout', 'scheduleToStartTimeout', 'retry', 'cancellationType', 'summary', 'localRetryThreshold'] as const satisfies readonly (keyof LocalActivityOptions)[];

/**
 * Typed stubs for local activities (Temporal's `proxyLocalActivities`). Activities already
 * run in the engine's process here, so a local activity is an activity that is never routed
 * to a task queue; it is recorded like any other (`ActivityScheduled` with `options.local`).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function proxyLocalActivities<A = Record<string, (...args: any[]) => any>>(options: LocalActivityOptions): ActivityInterfaceFor<A> {
  if (options === undefined) throw new TypeError('proxyLocalActivities needs options with a startToCloseTimeout or a scheduleToCloseTimeout');
  const problems = [...unknownOptions(options, LOCAL_ACTIVITY_OPTIONS, 'proxyLocalActivities'), ...unknownOptions(options.retry ?? {}, RETRY_OPTIONS, 'retry')];
  const { localRetryThreshold: _, ...activityOptions } = options;
  return activityStubs<A>({ ...resolveActivityOptions(activityOptions), local: true }, problems);
}

/** A durable timer: resolves after `duration`, across restarts of the engine. */
export function sleep(duration: Duration): Promise<void> {
  return getActivator().startTimer(toMs(duration));
}

/**
 * Resolves when `fn()` returns true after some step of an activation. With a `timeout`,
 * resolves `true` if that happens first and `false` once the timeout elapses.
 */
export function condition(fn: () => boolean, timeout: Duration): Promise<boolean>;
export function condition(fn: () => boolean): Promise<void>;
export async function condition(fn: () => boolean, timeout?: Duration): Promise<void | boolean> {
  const activator = getActivator();
  if (timeout === undefined) return activator.waitForCondition(fn);
  const timeoutMs = toMs(timeout);
  return CancellationScope.cancellable(async () => {
    try {
      return await Promise.race([sleep(timeoutMs).then(() => false), activator.waitForCondition(fn).then(() => true)]);
    } finally {
      CancellationScope.current().cancel();
    }
  });
}

// Child workflows and continue-as-new ---------------------------------------------------

// Workflow functions take and return anything JSON carries.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type WorkflowFunction = (...args: any[]) => Promise<any>;

export interface ChildWorkflowOptions<Args extends unknown[] = unknown[]> {
  args?: Args;
  /** Default: a UUID from the run's deterministic random source. */
  workflowId?: string;
  /** What happens to the child if the parent closes first (default `TERMINATE`). */
  parentClosePolicy?: ParentClosePolicy;
  /** What cancelling the calling scope does (default `WAIT_CANCELLATION_COMPLETED`). */
  cancellationType?: ChildWorkflowCancellationType;
  taskQueue?: string;
  workflowExecutionTimeout?: Duration;
  workflowRunTimeout?: Duration;
  searchAttributes?: SearchAttributesInput;
  typedSearchAttributes?: SearchAttributesInput;
  memo?: Record<string, unknown>;
  /** Temporal's cron (UTC cron expression): the child runs at each tick until cancelled or terminated. */
  cronSchedule?: string;
}

const CHILD_OPTIONS = [
  'args',
  'workflowId',
  'parentClosePolicy',
  'cancellationType',
  'taskQueue',
  'workflowExecutionTimeout',
  'workflowRunTimeout',
  'searchAttributes',
  'typedSearchAttributes',
  'memo',
  'cronSchedule',
] as const satisfies readonly (keyof ChildWorkflowOptions)[];

function resolveChildOptions(options: ChildWorkflowOptions): ResolvedChildOptions {
  refuseUnknownOptions(unknownOptions(options, CHILD_OPTIONS, 'startChild'));
  const policy = checkPolicy(ParentClosePolicy, options.parentClosePolicy ?? 'TERMINATE', 'parentClosePolicy');
  const resolved: ResolvedChildOptions = { parentClosePolicy: policy };
  if (!checksOptions()) return resolveChildOptionsAsBefore(options, resolved);
  if (options.cancellationType !== undefined && options.cancellationType !== 'WAIT_CANCELLATION_COMPLETED') {
    resolved.cancellationType = checkPolicy(ChildWorkflowCancellationType, options.cancellationType, 'cancellationType');
  }
  if (options.taskQueue !== undefined) resolved.taskQueue = options.taskQueue;
  if (options.workflowExecutionTimeout !== undefined) resolved.workflowExecutionTimeoutMs = toMs(options.workflowExecutionTimeout);
  if (options.workflowRunTimeout !== undefined) resolved.workflowRunTimeoutMs = toMs(options.workflowRunTimeout);
  const searchAttributes = startSearchAttributes(options.searchAttributes, options.typedSearchAttributes);
  if (searchAttributes !== undefined) resolved.searchAttributes = searchAttributes;
  if (options.memo !== undefined) {
    if (typeof options.memo !== 'object' || options.memo === null || Array.isArray(options.memo)) throw new TypeError('memo must be an object');
    resolved.memo = options.memo;
  }
  if (options.cronSchedule !== undefined) {
    if (typeof options.cronSchedule !== 'string') throw new TypeError('cronSchedule is a cron expression');
    resolved.cronSchedule = options.cronSchedule;
  }
  return resolved;
}

/** Child options as runs started before `temporalOptions` resolved them: the options added since are ignored. */
function resolveChildOptionsAsBefore(options: ChildWorkflowOptions, resolved: ResolvedChildOptions): ResolvedChildOptions {
  if (options.taskQueue !== undefined) resolved.taskQueue = options.taskQueue;
  if (options.workflowExecutionTimeout !== undefined) resolved.workflowExecutionTimeoutMs = toMs(options.workflowExecutionTimeout);
  if (options.workflowRunTimeout !== undefined) resolved.workflowRunTimeoutMs = toMs(options.workflowRunTimeout);
  if (options.searchAttributes !== undefined) resolved.searchAttributes = checkSearchAttributes(options.searchAttributes, false) as Record<string, SearchAttributeValue>;
  return resolved;
}

const typeName = (type: string | WorkflowFunction): string => {
  const name = typeof type === 'string' ? type : type.name;
  if (!name) throw new TypeError('a child workflow type is a workflow name or an exported workflow function');
  return name;
};

/**
 * Starts a child workflow (by type name or exported function). Resolves once the start is
 * recorded; the handle's `result()` resolves with the child's result or rejects with a
 * `ChildWorkflowFailure` whose `cause` says why.
 */
export function startChild<F extends WorkflowFunction>(type: F | string, options: ChildWorkflowOptions<Parameters<F>> = {}): Promise<ChildWorkflowHandle<Awaited<ReturnType<F>>>> {
  return getActivator().startChild(typeName(type), options.args ?? [], options.workflowId, resolveChildOptions(options)) as Promise<
    ChildWorkflowHandle<Awaited<ReturnType<F>>>
  >;
}

/** Starts a child workflow and waits for its result. */
export async function executeChild<F extends WorkflowFunction>(type: F | string, options: ChildWorkflowOptions<Parameters<F>> = {}): Promise<Awaited<ReturnType<F>>> {
  const handle = await startChild(type, options);
  return handle.result();
}

/** Another workflow of this namespace, to signal or cancel from workflow code. */
export interface ExternalWorkflowHandle {
  workflowId: string;
  /** Absent: the workflow's latest run. */
  runId?: string;
  /** Sends a signal (by definition or name); resolves once the target recorded it, rejects if it is not running. */
  signal<Args extends unknown[]>(def: SignalDefinition<Args> | string, ...args: Args): Promise<void>;
  /** Asks the workflow to cancel; resolves once the request is recorded. */
  cancel(): Promise<void>;
}

/**
 * A handle on another workflow: signals and cancellation requests are recorded in this run's
 * history first, then delivered exactly once (`SignalExternalWorkflowInitiated`, then the
 * target's `SignalReceived` and this run's `ExternalWorkflowSignaled`).
 */
export function getExternalWorkflowHandle(workflowId: string, runId?: string): ExternalWorkflowHandle {
  if (typeof workflowId !== 'string' || workflowId === '') throw new TypeError('getExternalWorkflowHandle needs a workflow id');
  const activator = getActivator();
  return {
    workflowId,
    ...(runId !== undefined ? { runId } : {}),
    signal: (def, ...args) =>
      activator.actOnExternal({ kind: 'signalExternalWorkflow', workflowId, ...(runId !== undefined ? { runId } : {}), signalName: typeof def === 'string' ? def : def.name, args }),
    cancel: () => activator.actOnExternal({ kind: 'requestCancelExternalWorkflow', workflowId, ...(runId !== undefined ? { runId } : {}) }),
  };
}

/** Ends this run and starts a new run of the same workflow id with `args` and a fresh history. */
export function continueAsNew<F extends WorkflowFunction>(...args: Parameters<F>): Promise<never> {
  getActivator();
  throw new ContinueAsNew(undefined, args);
}

/** A `continueAsNew` that starts another workflow type. */
export function makeContinueAsNewFunc<F extends WorkflowFunction>(options: { workflowType?: string } = {}): (...args: Parameters<F>) => Promise<never> {
  const problems = unknownOptions(options, ['workflowType'], 'makeContinueAsNewFunc');
  return (...args) => {
    refuseUnknownOptions(problems);
    getActivator();
    throw new ContinueAsNew(options.workflowType, args);
  };
}

// Versioning and visibility ----------------------------------------------------------------

/**
 * True when this run should take the new code path. New runs (and runs that reach this call
 * live) take it and record a marker; replaying a history recorded before the patch takes the
 * old path.
 */
export function patched(patchId: string): boolean {
  return getActivator().patched(patchId);
}

/** Marks a patch whose old path is gone: histories with or without its marker both replay. */
export function deprecatePatch(patchId: string): void {
  getActivator().patched(patchId, true);
}

/**
 * Sets (or, with `null`, removes) search attributes of this run, for `engine.list` queries.
 * Takes Aion's record, Temporal's legacy arrays (`{ CustomIntField: [2] }`) or typed pairs
 * (`[{ key: defineSearchAttributeKey('Amount', 'INT'), value: 2 }]`).
 */
export function upsertSearchAttributes(attributes: SearchAttributesInput): void {
  const plain = checksOptions() ? normalizeSearchAttributes(attributes) : attributes;
  getActivator().upsertSearchAttributes(plain as Record<string, SearchAttributeValue | null>);
}

/** Sets (or, with `null`/`undefined`, removes) memo fields of this run: recorded, shown by `describe()`. */
export function upsertMemo(memo: Record<string, unknown>): void {
  getActivator().upsertMemo(memo);
}

// Messages ------------------------------------------------------------------------------

// eslint-disable-next-line @typescript-eslint/no-unused-vars
export interface SignalDefinition<Args extends unknown[] = []> {
  type: 'signal';
  name: string;
}
// eslint-disable-next-line @typescript-eslint/no-unused-vars
export interface QueryDefinition<Ret, Args extends unknown[] = []> {
  type: 'query';
  name: string;
}
// eslint-disable-next-line @typescript-eslint/no-unused-vars
export interface UpdateDefinition<Ret, Args extends unknown[] = []> {
  type: 'update';
  name: string;
}

export const defineSignal = <Args extends unknown[] = []>(name: string): SignalDefinition<Args> => ({ type: 'signal', name });
export const defineQuery = <Ret, Args extends unknown[] = []>(name: string): QueryDefinition<Ret, Args> => ({ type: 'query', name });
export const defineUpdate = <Ret, Args extends unknown[] = []>(name: string): UpdateDefinition<Ret, Args> => ({ type: 'update', name });

/** The built-in query the engine answers with the workflow's handlers and current details (Temporal's definition). */
export const workflowMetadataQuery = defineQuery<unknown>('__temporal_workflow_metadata');

/** The built-in queries answering what the run waits on, with the workflow's source locations (Temporal's definitions). */
export const stackTraceQuery = defineQuery<string>(STACK_TRACE_QUERY);
export const enhancedStackTraceQuery = defineQuery<EnhancedStackTrace>(ENHANCED_STACK_TRACE_QUERY);

export interface UpdateHandlerOptions<Args extends unknown[]> {
  /** Runs before the handler; throwing rejects the update without recording a change. */
  validator?: (...args: Args) => void;
}

/** Options a workflow function declares for its runs (Temporal's `setWorkflowOptions`). */
export interface WorkflowDefinitionOptions {
  /**
   * Errors (classes, or class names) that fail the run when the workflow throws them. Other
   * errors that are not failures (`ApplicationFailure`, …) fail the workflow task, which is
   * retried until the code is fixed.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  failureExceptionTypes?: (string | (new (...args: any[]) => Error))[];
}

/** Declares options of a workflow function, typically next to it at the top of the module. */
export function setWorkflowOptions(options: WorkflowDefinitionOptions, fn: WorkflowFunction): void {
  const problems = unknownOptions(options, ['failureExceptionTypes'], 'setWorkflowOptions');
  if (problems.length > 0) throw new TypeError(problems[0]);
  if (typeof fn !== 'function') throw new TypeError('setWorkflowOptions takes the options and the workflow function');
  const types = options.failureExceptionTypes ?? [];
  if (!Array.isArray(types) || !types.every((type) => typeof type === 'string' || typeof type === 'function')) {
    throw new TypeError('failureExceptionTypes is a list of error classes or class names');
  }
  getActivator().setFailureExceptionTypes(fn, types);
}

/** Handles every signal that has no handler of its own (signals waiting for a handler are delivered to it now). */
export function setDefaultSignalHandler(handler: ((signalName: string, ...args: unknown[]) => void | Promise<void>) | undefined): void {
  getActivator().setDefaultSignalHandler(handler);
}

/** Answers every query that has no handler of its own. */
export function setDefaultQueryHandler(handler: ((queryName: string, ...args: unknown[]) => unknown) | undefined): void {
  getActivator().setDefaultQueryHandler(handler);
}

/** Runs every update that has no handler of its own. */
export function setDefaultUpdateHandler(handler: ((updateName: string, ...args: unknown[]) => unknown) | undefined): void {
  getActivator().setDefaultUpdateHandler(handler);
}

/** Inside an update's handler (and what it calls): the update's id and name; undefined elsewhere. */
export function currentUpdateInfo(): UpdateInfo | undefined {
  return getActivator().currentUpdateInfo();
}

/**
 * True when no signal or update handler is still running. Await `condition(allHandlersFinished)`
 * before returning, so that no handler's work is cut off by the run's end.
 */
export function allHandlersFinished(): boolean {
  return getActivator().allHandlersFinished();
}

/** Whether the caller runs as workflow code (in a sandbox with a run). */
export function inWorkflowContext(): boolean {
  return hasActivator();
}

/** The run's current details: a short text for whoever inspects it (the metadata query). */
export function getCurrentDetails(): string {
  return getActivator().currentDetails;
}

export function setCurrentDetails(details: string): void {
  if (typeof details !== 'string') throw new TypeError('current details are a string');
  getActivator().currentDetails = details;
}

/** Registers (or, with `undefined`, removes) the handler of a signal, query or update. */
export function setHandler<Args extends unknown[]>(def: SignalDefinition<Args>, handler: ((...args: Args) => void | Promise<void>) | undefined): void;
export function setHandler<Ret, Args extends unknown[]>(def: QueryDefinition<Ret, Args>, handler: ((...args: Args) => Ret) | undefined): void;
export function setHandler<Ret, Args extends unknown[]>(
  def: UpdateDefinition<Ret, Args>,
  handler: ((...args: Args) => Ret | Promise<Ret>) | undefined,
  options?: UpdateHandlerOptions<Args>,
): void;
export function setHandler(
  def: SignalDefinition<unknown[]> | QueryDefinition<unknown, unknown[]> | UpdateDefinition<unknown, unknown[]>,
  handler: ((...args: unknown[]) => unknown) | undefined,
  options?: UpdateHandlerOptions<unknown[]>,
): void {
  const activator = getActivator();
  switch (def.type) {
    case 'signal':
      return activator.setSignalHandler(def.name, handler);
    case 'query':
      return activator.setQueryHandler(def.name, handler);
    case 'update':
      return activator.setUpdateHandler(def.name, handler, options?.validator as ((...args: unknown[]) => unknown) | undefined);
    default:
      throw new TypeError(`setHandler: unknown definition type ${JSON.stringify((def as { type: unknown }).type)}`);
  }
}

// Information and utilities ----------------------------------------------------------------

export function workflowInfo(): WorkflowInfo {
  return getActivator().workflowInfo;
}

/** A UUID from the run's deterministic random source: the same on every replay. */
export function uuid4(): string {
  return getActivator().random.uuid4();
}

const logAt =
  (level: LogEntry['level']) =>
  (message: string, attributes?: Record<string, unknown>): void =>
    getActivator().log(level, message, attributes);

/** Workflow logging: goes to the engine's logger with the run's ids; silent while replaying. */
export const log = {
  debug: logAt('debug'),
  info: logAt('info'),
  warn: logAt('warn'),
  error: logAt('error'),
};
