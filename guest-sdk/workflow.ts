/**
 * The workflow API (`aion/workflow`): what workflow code calls. Names and semantics follow
 * Temporal's `@temporalio/workflow` for the shared subset.
 *
 * @module
 */
import { CancellationScope } from './cancellation-scope.js';
import { ContinueAsNew } from '../common/failures.js';
import { getActivator } from './global-attributes.js';
import type { ChildWorkflowHandle, WorkflowInfo } from './internals.js';
import { type LogEntry, type ParentClosePolicy, type ResolvedActivityOptions, type ResolvedChildOptions, type RetryPolicy } from '../common/protocol.js';
import { checkSearchAttributes, type SearchAttributeValue } from '../common/search-attributes.js';
import { toMs, type Duration } from '../common/time.js';

export interface RetryPolicyOptions {
  /** Attempts in all, the first included; 0 or absent means unlimited. */
  maximumAttempts?: number;
  initialInterval?: Duration;
  backoffCoefficient?: number;
  maximumInterval?: Duration;
  /** Failure types (`ApplicationFailure.type`, or the error's class name) that are not retried. */
  nonRetryableErrorTypes?: string[];
}

export interface ActivityOptions {
  startToCloseTimeout?: Duration;
  scheduleToCloseTimeout?: Duration;
  heartbeatTimeout?: Duration;
  taskQueue?: string;
  retry?: RetryPolicyOptions;
}

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
  if (options.taskQueue !== undefined) resolved.taskQueue = options.taskQueue;
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
  const resolved = resolveActivityOptions(options);
  return new Proxy({} as ActivityInterfaceFor<A>, {
    get(_, activityType) {
      if (typeof activityType !== 'string') throw new TypeError('activity names must be strings');
      return function scheduleActivity(...args: unknown[]) {
        return getActivator().scheduleActivity(activityType, args, resolved);
      };
    },
  });
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
  taskQueue?: string;
  workflowExecutionTimeout?: Duration;
  workflowRunTimeout?: Duration;
  searchAttributes?: Record<string, SearchAttributeValue>;
}

const PARENT_CLOSE_POLICIES = new Set<ParentClosePolicy>(['TERMINATE', 'REQUEST_CANCEL', 'ABANDON']);

function resolveChildOptions(options: ChildWorkflowOptions): ResolvedChildOptions {
  const policy = options.parentClosePolicy ?? 'TERMINATE';
  if (!PARENT_CLOSE_POLICIES.has(policy)) throw new TypeError(`parentClosePolicy must be TERMINATE, REQUEST_CANCEL or ABANDON, got ${String(policy)}`);
  const resolved: ResolvedChildOptions = { parentClosePolicy: policy };
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

/** Ends this run and starts a new run of the same workflow id with `args` and a fresh history. */
export function continueAsNew<F extends WorkflowFunction>(...args: Parameters<F>): Promise<never> {
  getActivator();
  throw new ContinueAsNew(undefined, args);
}

/** A `continueAsNew` that starts another workflow type. */
export function makeContinueAsNewFunc<F extends WorkflowFunction>(options: { workflowType?: string } = {}): (...args: Parameters<F>) => Promise<never> {
  return (...args) => {
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

/** Sets (or, with `null`, removes) search attributes of this run, for `engine.list` queries. */
export function upsertSearchAttributes(attributes: Record<string, SearchAttributeValue | null>): void {
  getActivator().upsertSearchAttributes(attributes);
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

export interface UpdateHandlerOptions<Args extends unknown[]> {
  /** Runs before the handler; throwing rejects the update without recording a change. */
  validator?: (...args: Args) => void;
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
