/**
 * The Activator: the guest-side state of the sandbox's one workflow run. It applies the
 * jobs of an activation (resolving the promises workflow code awaits) and collects the
 * commands that code produces. Only the guest runtime's entry points call into it from
 * outside; the public API in workflow.ts calls it from workflow code.
 *
 * @module
 */
import { asyncContext } from './async-context.js';
import { CancellationScope, NO_PARENT } from './cancellation-scope.js';
import {
  ActivityFailure,
  AionFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  ContinueAsNew,
  fromFailureInfo,
  isCancellation,
  toFailureInfo,
} from '../common/failures.js';
import { partitionKey, withPartitionKey } from '../common/partition-key.js';
import { BUNDLE_FILENAME, STACK_TRACE_QUERY, WORKFLOW_INFO_QUERY } from '../common/protocol.js';
import type { Activation, ActivationResult, Command, FailureInfo, JobKind, JobsByKind, LogEntry, QueryResult, ResolvedActivityOptions, ResolvedChildOptions, RuntimeFlag, StartInfo } from '../common/protocol.js';
import { applyMemoUpsert } from '../common/memo.js';
import { applySearchAttributeUpsert, checkSearchAttributes, TypedSearchAttributes, type SearchAttributeValue } from '../common/search-attributes.js';
import { Random } from './random.js';

interface Completion {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** A pending operation's completion, with the stack that started it (for the stack trace query). */
interface PendingCompletion extends Completion {
  stack: string;
}

type Handler = (...args: unknown[]) => unknown;
/** A default handler: gets the message's name first. */
type DefaultHandler = (name: string, ...args: unknown[]) => unknown;

/** What `currentUpdateInfo()` returns inside an update's handler (and what it calls). */
export interface UpdateInfo {
  id: string;
  name: string;
}

/** Built-in query: the workflow's message handlers and its current details (Temporal's name). */
export const METADATA_QUERY = '__temporal_workflow_metadata';

/** What `workflowInfo()` returns. */
export interface WorkflowInfo {
  workflowId: string;
  runId: string;
  workflowType: string;
  namespace: string;
  taskQueue: string;
  startTime: Date;
  /** When this run started (`startTime` is when its continue-as-new chain started). */
  runStartTime: Date;
  historyLength: number;
  /** Bytes of the run's history so far (the size of its recorded JSON). */
  historySize: number;
  continueAsNewSuggested: boolean;
  searchAttributes: Record<string, SearchAttributeValue>;
  /** The search attributes typed (datetimes as `Date`s; types inferred from the values). */
  typedSearchAttributes: TypedSearchAttributes;
  memo: Record<string, unknown>;
  parent?: { workflowId: string; runId: string; namespace: string };
  /** The top of the parent chain (absent for a run without a parent). */
  root?: { workflowId: string; runId: string };
  firstExecutionRunId: string;
  continuedFromExecutionRunId?: string;
  /** 1: workflow retry policies do not exist here, so every run is a first attempt. */
  attempt: number;
  /** When the whole execution times out, if it has an execution timeout. */
  executionExpirationTime?: Date;
  executionTimeoutMs?: number;
  runTimeoutMs?: number;
  /** Set for a cron run: its schedule. */
  cronSchedule?: string;
  /** A cron run after one that completed: that run's result. */
  lastResult?: unknown;
  /** A cron run after one that failed: that run's failure. */
  lastFailure?: Error;
  unsafe: { isReplaying: boolean; now(): number };
}

/** What `startChild` resolves with. */
export interface ChildWorkflowHandle<R = unknown> {
  workflowId: string;
  firstExecutionRunId: string;
  result(): Promise<R>;
  /** Signals the child (by definition or name); resolves once the child recorded it. */
  signal<Args extends unknown[]>(def: { name: string } | string, ...args: Args): Promise<void>;
}

/** Every job kind must have a handler: a new kind does not compile until it is handled. */
type JobHandlers = { [K in JobKind]: (job: JobsByKind[K]) => void };

const TERMINAL_COMMANDS = new Set<Command['kind']>(['completeWorkflow', 'failWorkflow', 'cancelWorkflow', 'continueAsNew']);

export class Activator {
  readonly rootScope = new CancellationScope({ cancellable: true, parent: NO_PARENT });
  readonly random = new Random(0);
  /** The runtime behaviours this run started with (see `RUNTIME_FLAGS`). */
  readonly flags = new Set<RuntimeFlag>();
  /** Time of the current activation, as the workflow sees it. */
  now = 0;
  replaying = false;
  /** Log lines are kept while replaying too (a debugging replay asked for them). */
  private logWhileReplaying = false;
  historyLength = 0;
  continueAsNewSuggested = false;

  private workflows: Record<string, unknown> = {};
  private startInfo: StartInfo | undefined;
  private jobs: Activation['jobs'] = [];
  private nextJob = 0;
  private commands: Command[] = [];
  private logs: LogEntry[] = [];
  private completed = false;
  /** Set once workflow code threw an error that fails the task (see `failWith`). */
  private taskFailure: FailureInfo | undefined;
  /** `setWorkflowOptions`: per workflow function, the error classes (or names) that fail the run rather than the task. */
  private readonly failureExceptionTypes = new Map<unknown, readonly (string | (new (...args: never[]) => Error))[]>();
  private cancelRequested = false;
  /** Set while a query handler or an update validator runs: they must not schedule anything. */
  private readOnly: 'query' | 'validator' | undefined;
  private readonly nextSeq = { activity: 1, timer: 1, condition: 1, child: 1, external: 1 };
  private readonly completions = {
    activity: new Map<number, PendingCompletion>(),
    timer: new Map<number, PendingCompletion>(),
    child: new Map<number, PendingCompletion>(),
    external: new Map<number, PendingCompletion>(),
  };
  /** Commands the workflow stopped waiting for (a cancellation type, a cancelled scope): their outcomes are dropped. */
  private readonly abandoned = { activity: new Set<number>(), child: new Set<number>(), external: new Set<number>() };
  private searchAttributes: Record<string, SearchAttributeValue> = {};
  private memo: Record<string, unknown> = {};
  /** Patches this run has seen: recorded live, or announced by the host while replaying. */
  private readonly knownPatches = new Set<string>();
  private readonly recordedPatches = new Set<string>();
  private readonly conditions = new Map<number, { fn: () => boolean; resolve(): void; reject(error: unknown): void; stack: string }>();
  private readonly signalHandlers = new Map<string, Handler>();
  private readonly bufferedSignals: { name: string; args: unknown[] }[] = [];
  private readonly queryHandlers = new Map<string, Handler>();
  private readonly updateHandlers = new Map<string, { handler: Handler; validator?: Handler }>();
  private defaultSignalHandler: DefaultHandler | undefined;
  private defaultQueryHandler: DefaultHandler | undefined;
  private defaultUpdateHandler: DefaultHandler | undefined;
  /** Signal and update handlers that have started and not finished (`allHandlersFinished`). */
  private runningHandlers = 0;
  /** What `getCurrentDetails()` returns. */
  currentDetails = '';
  historySize = 0;

  // Bundle ---------------------------------------------------------------------------

  loadBundle(exports: Record<string, unknown>): void {
    this.workflows = exports;
  }

  workflowTypes(): string[] {
    return Object.keys(this.workflows).filter((name) => typeof this.workflows[name] === 'function');
  }

  // Activation (called by the guest runtime's entry points) ---------------------------

  /** Starts an activation and applies its first job. */
  beginActivation(activation: Activation): void {
    this.now = activation.time;
    this.replaying = activation.replaying;
    this.logWhileReplaying = activation.logWhileReplaying === true;
    this.historyLength = activation.historyLength;
    this.historySize = activation.historySize ?? 0;
    this.continueAsNewSuggested = activation.continueAsNewSuggested;
    for (const patchId of activation.patches ?? []) this.knownPatches.add(patchId);
    this.jobs = activation.jobs;
    this.nextJob = 0;
    this.applyNextJob();
  }

  /**
   * After the host drained the promise jobs: unblocks conditions, or applies the next job;
   * returns false once neither remains (the activation can conclude).
   */
  advance(): boolean {
    return this.unblockConditions() || this.applyNextJob();
  }

  private applyNextJob(): boolean {
    const job = this.jobs[this.nextJob];
    if (!job) return false;
    this.nextJob++;
    (this.jobHandlers[job.kind] as (job: unknown) => void)(job);
    return true;
  }

  /** Resolves the conditions that became true; returns whether any did (drain again). */
  private unblockConditions(): boolean {
    let unblocked = false;
    for (const [seq, condition] of this.conditions) {
      let satisfied: boolean;
      try {
        satisfied = condition.fn();
      } catch (error) {
        this.conditions.delete(seq);
        condition.reject(error);
        unblocked = true;
        continue;
      }
      if (satisfied) {
        this.conditions.delete(seq);
        condition.resolve();
        unblocked = true;
      }
    }
    return unblocked;
  }

  concludeActivation(): ActivationResult {
    // A failed task records nothing it produced: the host retries it from the last completed activation.
    const result: ActivationResult = this.taskFailure ? { commands: [], logs: this.logs, taskFailure: this.taskFailure } : { commands: this.commands, logs: this.logs };
    this.taskFailure = undefined;
    this.commands = [];
    this.logs = [];
    this.jobs = [];
    return result;
  }

  query(name: string, args: unknown[]): QueryResult {
    const handler = this.queryHandlerFor(name);
    if (!handler) {
      const known = [...this.queryHandlers.keys()].join(', ');
      return fail(ApplicationFailure.create({ type: 'QueryNotFound', message: `workflow has no handler for query '${name}' (registered: ${known || 'none'})` }));
    }
    this.readOnly = 'query';
    try {
      const result = handler(...args);
      if (isThenable(result)) throw new TypeError(`query handler '${name}' returned a promise: query handlers must be synchronous`);
      return { ok: true, result: toPayload(result, `result of query '${name}'`) };
    } catch (error) {
      return fail(error);
    } finally {
      this.readOnly = undefined;
    }
  }

  /**
   * Whether an update would be accepted: its handler exists and its validator (if any) does
   * not throw. The host runs this apart from activations and undoes whatever it changed, so a
   * validator can never change the run; a rejected update leaves nothing in the history.
   */
  validateUpdate(updateId: string, name: string, args: unknown[]): { ok: true } | { ok: false; failure: FailureInfo } {
    const entry = this.updateHandlerFor(name);
    if (!entry) return fail(ApplicationFailure.create({ type: 'UpdateNotFound', message: `workflow has no handler for update '${name}'` }));
    if (!entry.validator) return { ok: true };
    this.readOnly = 'validator';
    try {
      const result = asyncContext.runInUpdate({ id: updateId, name }, () => entry.validator!(...args));
      // As in Temporal, only what the validator throws synchronously rejects: an `async` validator's promise is ignored.
      if (isThenable(result)) result.then(undefined, () => undefined);
      return { ok: true };
    } catch (error) {
      return fail(error);
    } finally {
      this.readOnly = undefined;
    }
  }

  private queryHandlerFor(name: string): Handler | undefined {
    if (name === METADATA_QUERY) return () => this.metadata();
    if (name === STACK_TRACE_QUERY) return () => this.pendingStacks();
    if (name === WORKFLOW_INFO_QUERY) return () => ({ ...this.workflowInfo, unsafe: { isReplaying: this.replaying } });
    const handler = this.queryHandlers.get(name);
    if (handler) return handler;
    const fallback = isBuiltInName(name) ? undefined : this.defaultQueryHandler;
    return fallback && ((...args: unknown[]) => fallback(name, ...args));
  }

  private updateHandlerFor(name: string): { handler: Handler; validator?: Handler } | undefined {
    const entry = this.updateHandlers.get(name);
    if (entry) return entry;
    const fallback = this.defaultUpdateHandler;
    return fallback && { handler: (...args: unknown[]) => fallback(name, ...args) };
  }

  /** What the built-in metadata query answers (Temporal's shape). */
  private metadata(): unknown {
    const definitions = (names: Iterable<string>) => [...names].sort().map((name) => ({ name }));
    return {
      definition: {
        type: this.startInfo?.workflowType,
        queryDefinitions: definitions(this.queryHandlers.keys()),
        signalDefinitions: definitions(this.signalHandlers.keys()),
        updateDefinitions: definitions(this.updateHandlers.keys()),
      },
      currentDetails: this.currentDetails,
    };
  }

  /**
   * What the run waits on: the workflow's frames where each pending operation (activity,
   * timer, child, external signal or cancel, condition) started, one stack per distinct
   * place, separated by blank lines as in Temporal. Locations are the bundle's; the engine
   * maps them to the sources.
   */
  private pendingStacks(): string {
    const stacks = new Set<string>();
    const pending = [...this.completions.activity.values(), ...this.completions.timer.values(), ...this.completions.child.values(), ...this.completions.external.values(), ...this.conditions.values()];
    for (const { stack } of pending) {
      const frames = stack.split('\n').filter((frame) => frame.includes(BUNDLE_FILENAME));
      if (frames.length > 0) stacks.add(frames.join('\n'));
    }
    return [...stacks].join('\n\n');
  }

  // Operations used by the public API ---------------------------------------------------

  get workflowInfo(): WorkflowInfo {
    const info = this.startInfo;
    if (!info) throw new Error('workflowInfo() is only available once the workflow has started');
    return {
      workflowId: info.workflowId,
      runId: info.runId,
      workflowType: info.workflowType,
      namespace: info.namespace,
      taskQueue: info.taskQueue,
      startTime: new Date(info.executionStartTime ?? info.startTime),
      runStartTime: new Date(info.startTime),
      historyLength: this.historyLength,
      historySize: this.historySize,
      continueAsNewSuggested: this.continueAsNewSuggested,
      searchAttributes: { ...this.searchAttributes },
      typedSearchAttributes: TypedSearchAttributes.fromPlain(this.searchAttributes),
      memo: toPayload(this.memo, 'memo') as Record<string, unknown>,
      ...(info.parent ? { parent: { ...info.parent } } : {}),
      ...(info.root ? { root: { ...info.root } } : {}),
      firstExecutionRunId: info.firstExecutionRunId,
      ...(info.continuedFromExecutionRunId ? { continuedFromExecutionRunId: info.continuedFromExecutionRunId } : {}),
      attempt: 1,
      ...(info.executionDeadline !== undefined
        ? { executionExpirationTime: new Date(info.executionDeadline), executionTimeoutMs: info.executionDeadline - (info.executionStartTime ?? info.startTime) }
        : {}),
      ...(info.runTimeoutMs !== undefined ? { runTimeoutMs: info.runTimeoutMs } : {}),
      ...(info.cronSchedule !== undefined ? { cronSchedule: info.cronSchedule } : {}),
      ...(info.lastResult !== undefined ? { lastResult: toPayload(info.lastResult, 'lastResult') } : {}),
      ...(info.lastFailure ? { lastFailure: fromFailureInfo(info.lastFailure) } : {}),
      unsafe: { isReplaying: this.replaying, now: () => this.now },
    };
  }

  /** Starts a child workflow; resolves with its handle once the start is recorded. */
  startChild(workflowType: string, args: unknown[], workflowId: string | undefined, options: ResolvedChildOptions): Promise<ChildWorkflowHandle> {
    this.assertCanSchedule(`child workflow '${workflowType}'`);
    const scope = CancellationScope.current();
    if (scope.consideredCancelled) return scope.cancelRequested;
    const payload = toPayload(args, `arguments of child workflow '${workflowType}'`) as unknown[];
    const seq = this.nextSeq.child++;
    const childId = workflowId ?? this.random.uuid4();
    const drawn = this.random.uuid4();
    const runId = this.flags.has('partitionedChildRunIds') ? withPartitionKey(drawn, partitionKey(this.startInfo!.namespace, childId)) : drawn;
    let stack = '';
    const result = new Promise<unknown>((resolve, reject) => {
      stack = this.track('child', seq, scope, { resolve, reject }, (reason) => {
        if (!this.completions.child.has(seq)) return;
        const cancellationType = options.cancellationType ?? 'WAIT_CANCELLATION_COMPLETED';
        if (cancellationType !== 'ABANDON') this.pushCommand({ kind: 'requestCancelChild', seq });
        if (cancellationType === 'WAIT_CANCELLATION_COMPLETED') return;
        // The parent stops waiting: the child's end will be dropped.
        this.completions.child.delete(seq);
        this.abandoned.child.add(seq);
        const cause = reason instanceof CancelledFailure ? reason : new CancelledFailure('Child Workflow execution cancelled');
        reject(new ChildWorkflowFailure('Child Workflow execution cancelled', cause, childId, workflowType));
      });
    });
    result.catch(() => undefined); // observed through handle.result()
    this.pushCommand({ kind: 'startChildWorkflow', seq, workflowType, workflowId: childId, runId, args: payload, options, ...callSiteOf(stack) });
    return Promise.resolve({
      workflowId: childId,
      firstExecutionRunId: runId,
      result: () => result,
      signal: (def: { name: string } | string, ...signalArgs: unknown[]) =>
        this.actOnExternal({ kind: 'signalExternalWorkflow', workflowId: childId, signalName: typeof def === 'string' ? def : def.name, args: signalArgs, childOnly: true }),
    });
  }

  /** Sets (or, with `undefined`/`null` values, removes) memo fields; recorded, visible in `describe()`. */
  upsertMemo(memo: Record<string, unknown>): void {
    this.assertCanSchedule('upsertMemo');
    if (typeof memo !== 'object' || memo === null || Array.isArray(memo)) throw new TypeError('upsertMemo takes an object of memo fields');
    const payload = toPayload(memo, 'memo') as Record<string, unknown>;
    // JSON drops `undefined` values; Temporal removes a field set to undefined (or null).
    for (const key of Object.keys(memo)) if (memo[key] === undefined) payload[key] = null;
    applyMemoUpsert(this.memo, payload);
    this.pushCommand({ kind: 'upsertMemo', memo: payload, ...callSiteOf(captureStack()) });
  }

  /**
   * Signals another workflow, or asks it to cancel; resolves once the target recorded it,
   * rejects if there is no such running workflow. Cancelling the calling scope stops the
   * waiting (what was sent may still arrive).
   */
  actOnExternal(
    command:
      | { kind: 'signalExternalWorkflow'; workflowId: string; runId?: string; signalName: string; args: unknown[]; childOnly?: boolean }
      | { kind: 'requestCancelExternalWorkflow'; workflowId: string; runId?: string },
  ): Promise<void> {
    const what = command.kind === 'signalExternalWorkflow' ? `signal '${command.signalName}' to workflow ${command.workflowId}` : `cancellation of workflow ${command.workflowId}`;
    this.assertCanSchedule(what);
    const scope = CancellationScope.current();
    return new Promise<void>((resolve, reject) => {
      if (scope.consideredCancelled) {
        scope.cancelRequested.catch(reject);
        return;
      }
      const payload = command.kind === 'signalExternalWorkflow' ? { ...command, args: toPayload(command.args, `arguments of ${what}`) as unknown[] } : command;
      const seq = this.nextSeq.external++;
      const stack = this.track('external', seq, scope, { resolve: () => resolve(), reject }, (reason) => {
        if (!this.completions.external.delete(seq)) return;
        this.abandoned.external.add(seq);
        reject(reason);
      });
      this.pushCommand({ ...payload, seq, ...callSiteOf(stack) });
    });
  }

  upsertSearchAttributes(attributes: Record<string, SearchAttributeValue | null>): void {
    this.assertCanSchedule('upsertSearchAttributes');
    const checked = checkSearchAttributes(attributes, true);
    applySearchAttributeUpsert(this.searchAttributes, checked);
    this.pushCommand({ kind: 'upsertSearchAttributes', attributes: checked, ...callSiteOf(captureStack()) });
  }

  /**
   * Code versioning: true when this run takes the patched branch. Live, always (recording a
   * marker the first time); while replaying, only if the history recorded the marker.
   */
  patched(patchId: string, deprecated = false): boolean {
    this.assertCanSchedule('patched()');
    if (typeof patchId !== 'string' || patchId === '') throw new TypeError('a patch id is a non-empty string');
    if (this.replaying && !this.knownPatches.has(patchId)) return false;
    this.knownPatches.add(patchId);
    if (!this.recordedPatches.has(patchId)) {
      this.recordedPatches.add(patchId);
      this.pushCommand({ kind: 'recordPatch', patchId, deprecated, ...callSiteOf(captureStack()) });
    }
    return true;
  }

  scheduleActivity(activityType: string, args: unknown[], options: ResolvedActivityOptions): Promise<unknown> {
    this.assertCanSchedule(`activity '${activityType}'`);
    const scope = CancellationScope.current();
    return new Promise((resolve, reject) => {
      if (scope.consideredCancelled) {
        scope.cancelRequested.catch(reject);
        return;
      }
      const payload = toPayload(args, `arguments of activity '${activityType}'`) as unknown[];
      const seq = this.nextSeq.activity++;
      const stack = this.track('activity', seq, scope, { resolve, reject }, () => {
        if (!this.completions.activity.has(seq)) return;
        const cancellationType = options.cancellationType ?? 'TRY_CANCEL';
        if (cancellationType === 'WAIT_CANCELLATION_COMPLETED') {
          // The activity's own end (a cancellation, or its result if it finishes first) settles the promise.
          this.pushCommand({ kind: 'requestCancelActivity', seq, waitForCompletion: true });
          return;
        }
        this.completions.activity.delete(seq);
        if (cancellationType === 'TRY_CANCEL') this.pushCommand({ kind: 'requestCancelActivity', seq });
        else this.abandoned.activity.add(seq);
        reject(new ActivityFailure('Activity cancelled', activityType, String(seq), new CancelledFailure('Activity cancelled')));
      });
      this.pushCommand({ kind: 'scheduleActivity', seq, activityType, args: payload, options, ...callSiteOf(stack) });
    });
  }

  startTimer(durationMs: number): Promise<void> {
    this.assertCanSchedule('a timer');
    const scope = CancellationScope.current();
    return new Promise<void>((resolve, reject) => {
      if (scope.consideredCancelled) {
        scope.cancelRequested.catch(reject);
        return;
      }
      const seq = this.nextSeq.timer++;
      const stack = this.track('timer', seq, scope, { resolve: () => resolve(), reject }, (reason) => {
        if (!this.completions.timer.delete(seq)) return;
        this.pushCommand({ kind: 'cancelTimer', seq });
        reject(reason);
      });
      this.pushCommand({ kind: 'startTimer', seq, durationMs, ...callSiteOf(stack) });
    });
  }

  /** Resolves once `fn()` is true after some step of an activation. */
  waitForCondition(fn: () => boolean): Promise<void> {
    this.assertCanSchedule('condition()');
    const scope = CancellationScope.current();
    return new Promise<void>((resolve, reject) => {
      if (scope.consideredCancelled) {
        scope.cancelRequested.catch(reject);
        return;
      }
      const seq = this.nextSeq.condition++;
      const unsubscribe = scope.cancellable ? scope.onCancel((reason) => this.conditions.delete(seq) && reject(reason)) : undefined;
      this.conditions.set(seq, {
        fn,
        stack: captureStack(),
        resolve: () => {
          unsubscribe?.();
          resolve();
        },
        reject: (error) => {
          unsubscribe?.();
          reject(error);
        },
      });
    });
  }

  /**
   * Registers the completion of a pending command; while it is pending, a cancellation of
   * `scope` (if cancellable) runs `onCancel`. Settling it stops listening, so a scope keeps
   * nothing of the operations that finished in it. Returns the stack that started it.
   */
  private track(kind: 'activity' | 'timer' | 'child' | 'external', seq: number, scope: CancellationScope, completion: Completion, onCancel: (reason: unknown) => void): string {
    const unsubscribe = scope.cancellable ? scope.onCancel(onCancel) : undefined;
    const stack = captureStack();
    this.completions[kind].set(seq, {
      stack,
      resolve: (value) => {
        unsubscribe?.();
        completion.resolve(value);
      },
      reject: (error) => {
        unsubscribe?.();
        completion.reject(error);
      },
    });
    return stack;
  }

  setSignalHandler(name: string, handler: Handler | undefined): void {
    if (!handler) {
      this.signalHandlers.delete(name);
      return;
    }
    this.signalHandlers.set(name, handler);
    this.deliverBufferedSignals((signal) => signal.name === name, (signal) => handler(...signal.args));
  }

  /** Handles signals that have no handler of their own; the buffered ones are delivered now. */
  setDefaultSignalHandler(handler: DefaultHandler | undefined): void {
    this.defaultSignalHandler = handler;
    if (handler) this.deliverBufferedSignals(() => true, (signal) => handler(signal.name, ...signal.args));
  }

  setDefaultQueryHandler(handler: DefaultHandler | undefined): void {
    this.defaultQueryHandler = handler;
  }

  setDefaultUpdateHandler(handler: DefaultHandler | undefined): void {
    this.defaultUpdateHandler = handler;
  }

  /** Signals that arrived before a handler for them existed are delivered in arrival order. */
  private deliverBufferedSignals(matches: (signal: { name: string }) => boolean, deliver: (signal: { name: string; args: unknown[] }) => unknown): void {
    for (let i = 0; i < this.bufferedSignals.length; ) {
      const signal = this.bufferedSignals[i];
      if (!matches(signal)) {
        i++;
        continue;
      }
      this.bufferedSignals.splice(i, 1);
      this.runHandler(() => deliver(signal));
    }
  }

  /** True while no signal or update handler is running (for `condition(allHandlersFinished)` before returning). */
  allHandlersFinished(): boolean {
    return this.runningHandlers === 0;
  }

  currentUpdateInfo(): UpdateInfo | undefined {
    return asyncContext.getUpdate<UpdateInfo | undefined>();
  }

  setQueryHandler(name: string, handler: Handler | undefined): void {
    if (handler) this.queryHandlers.set(name, handler);
    else this.queryHandlers.delete(name);
  }

  setUpdateHandler(name: string, handler: Handler | undefined, validator?: Handler): void {
    if (handler) this.updateHandlers.set(name, { handler, validator });
    else this.updateHandlers.delete(name);
  }

  log(level: LogEntry['level'], message: string, attributes?: Record<string, unknown>): void {
    if ((this.replaying && !this.logWhileReplaying) || this.readOnly) return;
    const entry: LogEntry = { level, message: String(message) };
    if (attributes !== undefined) entry.attributes = toPayload(attributes, 'log attributes') as Record<string, unknown>;
    this.logs.push(entry);
  }

  // Internals -------------------------------------------------------------------------

  private readonly jobHandlers: JobHandlers = {
    startWorkflow: ({ args, info }) => {
      this.startInfo = info;
      for (const flag of info.flags ?? []) this.flags.add(flag);
      this.searchAttributes = { ...info.searchAttributes };
      this.memo = { ...info.memo };
      this.random.reseed(info.randomSeed);
      const workflow = this.workflows[info.workflowType];
      if (typeof workflow !== 'function') {
        this.failWith(ApplicationFailure.nonRetryable(`the bundle does not export a workflow named '${info.workflowType}'`, 'WorkflowNotFound'));
        return;
      }
      this.rootScope
        .run(async () => (workflow as Handler)(...args))
        .then(
          (result) => this.completeWith(result),
          (error: unknown) => this.failWith(error),
        );
    },
    resolveActivity: ({ seq, result }) => this.takeCompletion('activity', seq)?.resolve(result),
    failActivity: ({ seq, failure }) => this.takeCompletion('activity', seq)?.reject(fromFailureInfo(failure)),
    fireTimer: ({ seq }) => this.takeCompletion('timer', seq)?.resolve(undefined),
    resolveChild: ({ seq, result }) => this.takeCompletion('child', seq)?.resolve(result),
    failChild: ({ seq, failure }) => this.takeCompletion('child', seq)?.reject(fromFailureInfo(failure)),
    signal: ({ name, args }) => {
      const handler = this.signalHandlers.get(name);
      const fallback = isBuiltInName(name) ? undefined : this.defaultSignalHandler;
      if (handler) this.runHandler(() => handler(...args));
      else if (fallback) this.runHandler(() => fallback(name, ...args));
      else this.bufferedSignals.push({ name, args });
    },
    update: ({ updateId, name, args, validated }) => {
      const entry = this.updateHandlerFor(name);
      if (!entry) {
        const failure = ApplicationFailure.create({ type: 'UpdateNotFound', message: `workflow has no handler for update '${name}'` });
        this.pushCommand({ kind: 'rejectUpdate', updateId, failure: toFailureInfo(failure) });
        return;
      }
      // Validated by the host before it was accepted; histories recorded before that ran the validator here.
      if (entry.validator && !validated) {
        try {
          entry.validator(...args);
        } catch (error) {
          this.pushCommand({ kind: 'rejectUpdate', updateId, failure: toFailureInfo(error) });
          return;
        }
      }
      this.runningHandlers++;
      void asyncContext
        .runInUpdate({ id: updateId, name }, () => this.rootScope.run(async () => entry.handler(...args)))
        .then(
          (result) => this.pushCommand({ kind: 'completeUpdate', updateId, result: toPayload(result, `result of update '${name}'`) }),
          (error: unknown) => {
            if (error instanceof AionFailure || !this.flags.has('updateHandlerErrors')) this.pushCommand({ kind: 'completeUpdate', updateId, failure: toFailureInfo(error) });
            else this.failWith(error);
          },
        )
        .then(undefined, (error: unknown) => this.pushCommand({ kind: 'completeUpdate', updateId, failure: toFailureInfo(error) }))
        .then(() => this.runningHandlers--);
    },
    resolveExternal: ({ seq }) => this.takeCompletion('external', seq)?.resolve(undefined),
    failExternal: ({ seq, failure }) => this.takeCompletion('external', seq)?.reject(fromFailureInfo(failure)),
    cancelWorkflow: () => {
      this.cancelRequested = true;
      this.rootScope.cancel(new CancelledFailure('Workflow cancelled'));
    },
  };

  /** The completion of a pending command; undefined for one the workflow abandoned. */
  private takeCompletion(kind: 'activity' | 'timer' | 'child' | 'external', seq: number): Completion | undefined {
    const completion = this.completions[kind].get(seq);
    if (!completion && kind !== 'timer' && this.abandoned[kind].delete(seq)) return undefined;
    if (!completion) throw new Error(`no pending ${kind} with seq ${seq}`);
    this.completions[kind].delete(seq);
    return completion;
  }

  private runHandler(fn: () => unknown): void {
    try {
      const result = fn();
      if (!isThenable(result)) return;
      this.runningHandlers++;
      result.then(
        () => this.runningHandlers--,
        (error: unknown) => {
          this.runningHandlers--;
          this.failWith(error);
        },
      );
    } catch (error) {
      this.failWith(error);
    }
  }

  private completeWith(result: unknown): void {
    let payload: unknown;
    try {
      payload = toPayload(result, 'workflow result');
    } catch (error) {
      this.failWith(error);
      return;
    }
    this.pushCommand({ kind: 'completeWorkflow', result: payload });
  }

  /** `setWorkflowOptions({ failureExceptionTypes }, fn)`: these errors thrown by `fn`'s runs fail the run. */
  setFailureExceptionTypes(workflow: unknown, types: readonly (string | (new (...args: never[]) => Error))[]): void {
    this.failureExceptionTypes.set(workflow, [...types]);
  }

  /**
   * Whether an uncaught error fails the workflow task (retried until the code is fixed) rather
   * than the run: an error that is not a failure, unless the workflow (or the engine, at its
   * start) declared its type. The
   * sandbox's own limits (QuickJS's `InternalError`: out of memory, stack overflow) fail the
   * run: a retry would hit them again, and a hostile bundle must not be retried forever.
   */
  private failsTheTask(error: unknown): boolean {
    if (!this.flags.has('workflowTaskFailures') || error instanceof AionFailure) return false;
    const name = readSafely(() => (error as { name?: unknown }).name);
    if (name === 'InternalError') return false;
    const declared = this.failureExceptionTypes.get(this.workflows[this.startInfo?.workflowType ?? '']) ?? [];
    // A name matches the error's `name` or its class's (as failures are typed: common/failures.ts).
    const className = readSafely(() => (error as { constructor: { name?: unknown } }).constructor.name);
    const matches = (type: string | (new (...args: never[]) => Error)) => (typeof type === 'string' ? name === type || className === type : error instanceof type);
    // The engine's list (Temporal's worker option) also takes 'Error' for every error.
    const engineDeclared = this.startInfo?.failureErrorTypes ?? [];
    return !declared.some(matches) && !engineDeclared.some((type) => type === 'Error' || matches(type));
  }

  /**
   * Ends the run after an uncaught error. A cancellation after a cancel request ends it
   * `Canceled`; a failure (`ApplicationFailure`, `ActivityFailure`, …) fails it; any other
   * error fails the workflow task, as in Temporal (runs recorded before that fail, with an
   * `ApplicationFailure` named after the error's class).
   */
  private failWith(error: unknown): void {
    if (error instanceof ContinueAsNew) {
      let args: unknown[];
      try {
        args = toPayload(error.args, 'continueAsNew arguments') as unknown[];
      } catch (conversion) {
        this.pushCommand({ kind: 'failWorkflow', failure: toFailureInfo(conversion) });
        return;
      }
      this.pushCommand({ kind: 'continueAsNew', workflowType: error.workflowType ?? this.startInfo!.workflowType, args });
    } else if (this.cancelRequested && isCancellation(error)) {
      this.pushCommand({ kind: 'cancelWorkflow', failure: toFailureInfo(error) });
    } else if (this.failsTheTask(error)) {
      this.taskFailure ??= toFailureInfo(error);
    } else {
      this.pushCommand({ kind: 'failWorkflow', failure: toFailureInfo(error) });
    }
  }

  private pushCommand(command: Command): void {
    if (this.completed) return;
    this.commands.push(command);
    if (TERMINAL_COMMANDS.has(command.kind)) this.completed = true;
  }

  private assertCanSchedule(what: string): void {
    if (this.readOnly === 'query') throw new Error(`${what} cannot be scheduled from a query handler: queries must not change the workflow`);
    if (this.readOnly === 'validator') throw new Error(`${what} cannot be scheduled from an update validator: validators must not change the workflow`);
  }
}

/** The current stack, as QuickJS prints it (filtered when a stack trace query asks). */
function captureStack(): string {
  return new Error().stack ?? '';
}

/**
 * Where in the bundle a command is made: the first workflow frame of `stack`, as
 * `{ callSite: 'line:column' }` (the host records it as a source location), or nothing.
 */
function callSiteOf(stack: string): { callSite?: string } {
  const at = stack.indexOf(`${BUNDLE_FILENAME}:`);
  if (at < 0) return {};
  const position = /^\d+:\d+/.exec(stack.slice(at + BUNDLE_FILENAME.length + 1));
  return position ? { callSite: position[0] } : {};
}

/** A string read from a thrown value, or undefined (a value whose properties throw is reported by toFailureInfo, not here). */
function readSafely(read: () => unknown): string | undefined {
  try {
    const value = read();
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Names reserved for built-in handlers (Temporal's `__temporal_` and `__stack_trace` family): never given to default handlers. */
const isBuiltInName = (name: string): boolean => name.startsWith('__');

function fail(error: unknown): { ok: false; failure: FailureInfo } {
  return { ok: false, failure: toFailureInfo(error) };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

/** Normalises a value to what JSON carries; a value JSON cannot carry is a `TypeError`. */
export function toPayload(value: unknown, what: string): unknown {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`${what} cannot be serialised as JSON: ${(error as Error).message}`, { cause: error });
  }
  return json === undefined ? undefined : JSON.parse(json);
}
