/**
 * Performs the effects runs recorded in the outbox: creating children and successors,
 * telling parents how children ended, applying parent-close policies. Each effect's own
 * write deletes its entry, so an effect interrupted by a crash is performed exactly once on
 * the next start (`recover`).
 *
 * @module
 */
import type { EventStore, OutboxEntry } from '../store/types.js';
import type { Clock } from './clock.js';
import { retryDelayMs } from './backoff.js';
import { AionError, WorkflowNotRunningError } from './errors.js';
import type { FailureInfo } from '../common/protocol.js';
import type { HistoryEvent, JobEventType, NewEventOf } from './history/events.js';
import type { Logger } from './logger.js';
import { RunQuarantinedError } from './quarantine.js';
import { nextCronTick } from './schedules/spec.js';
import { createsRun, outboxEntry, type OutboxEffect, type ParentLink } from './outbox.js';
import type { NewRun, RunStarter } from './run-starter.js';
import type { RunTable } from './runs.js';
import type { WorkflowRun } from './run/workflow-run.js';

/** Effects handled elsewhere (schedules), by kind. */
export type EffectHandler = (entry: OutboxEntry, effect: OutboxEffect) => Promise<void>;

/**
 * For an engine that owns some partitions only (a partition thread): effects on runs of
 * another partition are performed by its owner.
 */
export interface EffectRouting {
  /** Whether this engine owns the run's partition. */
  ownsRun(runId: string): boolean;
  /** Performs the entry's effect at the owner of its target (undefined: the target is this engine's). */
  perform(entry: OutboxEntry): Promise<void> | undefined;
  /** Delivers `event` to a run of another partition, in the write that performs `entry` (its owner's `deliverTo`). */
  deliver(entry: OutboxEntry, target: ParentLink, event: NewEventOf<JobEventType>): Promise<void>;
  /** Whether this engine still performs the entry (false once its partition moved to another engine: that one performs it). */
  performsHere?(entry: OutboxEntry): boolean;
}

export class OutboxProcessor {
  private readonly inFlight = new Set<string>();
  /**
   * Entries performed while a recovery sweep lists the outbox: the listing may still hold
   * them, and performing one twice is not harmless for every effect (a signal would arrive twice).
   */
  private readonly doneDuringListing = new Set<Set<string>>();
  /** Failed attempts so far of effects that are being retried. */
  private readonly attempts = new Map<string, number>();
  /** The timers of effects waiting for their next attempt, by entry id. */
  private readonly retrying = new Map<string, { timer: NodeJS.Timeout; entry: OutboxEntry }>();
  private readonly handlers = new Map<OutboxEffect['kind'], EffectHandler>();
  /** Effects other engines recorded that this one performs now, by entry id. */
  private readonly forwarded = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly runs: RunTable,
    private readonly starter: RunStarter,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly routing?: EffectRouting,
  ) {}

  /** Effects being performed now (the time-skipping test environment waits for none). */
  get pending(): number {
    return this.inFlight.size + this.forwarded.size;
  }

  /** Performs an effect another engine recorded, whose target is this engine's (once at a time per entry). */
  performForwarded(entry: OutboxEntry): Promise<void> {
    let done = this.forwarded.get(entry.id);
    if (done) return done;
    const effect = entry.effect as OutboxEffect;
    done = this.perform(entry, effect).finally(() => this.forwarded.delete(entry.id));
    this.forwarded.set(entry.id, done);
    if (createsRun(effect)) this.runs.trackCreation(entry.namespace, effect.workflowId, effect.runId, done);
    return done;
  }

  /** Lets another module perform effects of `kind` (schedules start their runs). */
  handle(kind: OutboxEffect['kind'], handler: EffectHandler): void {
    this.handlers.set(kind, handler);
  }

  /**
   * Performs effects (not awaited: each retries on its own until done). Creations start first,
   * so an effect on a run being created waits for it.
   */
  process(entries: OutboxEntry[]): void {
    const creations = entries.filter((entry) => createsRun(entry.effect as OutboxEffect));
    for (const entry of creations) this.start(entry);
    for (const entry of entries) if (!creations.includes(entry)) this.start(entry);
  }

  /** Performs every effect left in the outbox (engine start). Creations are tracked before this returns. */
  async recover(): Promise<number> {
    const done = new Set<string>();
    this.doneDuringListing.add(done);
    let entries: OutboxEntry[];
    try {
      entries = await this.store.listOutbox();
    } finally {
      this.doneDuringListing.delete(done);
    }
    const left = entries.filter((entry) => !done.has(entry.id));
    this.process(left);
    return left.length;
  }

  /** Attempts every effect waiting for a retry now (the thread serving their targets is back). */
  retryNow(): void {
    for (const { timer, entry } of this.retrying.values()) {
      clearTimeout(timer);
      this.start(entry);
    }
  }

  close(): void {
    this.closed = true;
  }

  private start(entry: OutboxEntry): void {
    if (this.inFlight.has(entry.id) || this.closed) return;
    this.retrying.delete(entry.id);
    this.inFlight.add(entry.id);
    const effect = entry.effect as OutboxEffect;
    const done = this.routing?.perform(entry) ?? this.perform(entry, effect);
    // Creations are tracked synchronously, so lookups of the new run wait for it.
    if (createsRun(effect)) this.runs.trackCreation(entry.namespace, effect.workflowId, effect.runId, done);
    done.then(
      () => {
        this.inFlight.delete(entry.id);
        this.attempts.delete(entry.id);
        for (const done of this.doneDuringListing) done.add(entry.id);
      },
      (error: unknown) => {
        this.inFlight.delete(entry.id);
        if (this.closed || this.routing?.performsHere?.(entry) === false) return;
        // While the store refuses writes the effect waits: the engine performs the outbox again once it is back.
        const attempt = (this.attempts.get(entry.id) ?? 0) + 1;
        this.attempts.set(entry.id, attempt);
        const delay = retryDelayMs(this.store, attempt);
        this.logger.warn({ err: error, outbox: entry.id, retryInMs: delay }, 'could not perform a recorded effect');
        if (delay !== undefined) this.retrying.set(entry.id, { timer: setTimeout(() => this.start(entry), delay).unref(), entry });
      },
    );
  }

  private async perform(entry: OutboxEntry, effect: OutboxEffect): Promise<void> {
    const handler = this.handlers.get(effect.kind);
    if (handler) return handler(entry, effect);
    switch (effect.kind) {
      case 'startChild':
        return this.startChild(entry, effect);
      case 'continueAsNew':
        return this.startSuccessor(entry, effect);
      case 'notifyParent':
        return this.notifyParent(entry, effect);
      case 'cancelChild':
      case 'terminateChild':
        return this.closeChild(entry, effect);
      case 'signalExternal':
      case 'cancelExternal':
        return this.actOnExternal(entry, effect);
      case 'externalDone':
        return this.notifySource(entry, effect);
      case 'deliverJob':
        return this.deliverTo(entry, effect.target, effect.event);
      case 'startScheduled':
        throw new Error('no handler for scheduled starts');
    }
  }

  /**
   * Delivers a run's signal or cancellation request to another workflow. The target records
   * it in a write that deletes this entry and records the acknowledgement for the sender; a
   * target that is not running gets nothing, and the sender learns why.
   */
  private async actOnExternal(entry: OutboxEntry, effect: Extract<OutboxEffect, { kind: 'signalExternal' | 'cancelExternal' }>): Promise<void> {
    const action = effect.kind === 'signalExternal' ? 'signal' : 'cancel';
    const done = (failure?: FailureInfo) => outboxEntry(entry.namespace, { kind: 'externalDone', source: effect.source, action, ...(failure ? { failure } : {}) });
    let target: WorkflowRun | undefined;
    let recorded = false;
    // Without a run id the target is the workflow's latest run: one that continues as new meanwhile hands over to its successor.
    for (let tries = 0; !recorded && tries < MAX_TARGET_TRIES; tries++) {
      target = await this.externalTarget(entry.namespace, effect.workflowId, effect.runId);
      // Through a child's handle: only that parent's child (not a run that took the id when the child could not start).
      if (effect.kind === 'signalExternal' && effect.childOnly && target?.record.parent?.runId !== effect.source.runId) target = undefined;
      if (!target) break;
      const time = this.clock.now();
      const event: NewEventOf<'SignalReceived' | 'CancelRequested'> =
        effect.kind === 'signalExternal'
          ? { type: 'SignalReceived', time, name: effect.signalName, args: effect.args }
          : { type: 'CancelRequested', time, reason: `requested by workflow ${effect.source.workflowId}` };
      try {
        recorded = await target.deliver(event, { outboxId: entry.id, followUps: [done()] });
        break;
      } catch (error) {
        // A quarantined target takes nothing until an operator acts: the sender learns it now.
        if (error instanceof RunQuarantinedError) break;
        if (!(error instanceof WorkflowNotRunningError)) throw error;
        if (effect.runId !== undefined) break;
      }
    }
    if (recorded) return;
    // A cancellation already requested is a success (as in Temporal); anything else did not reach a running run.
    const alreadyCancelling = effect.kind === 'cancelExternal' && target?.record.status === 'Running';
    const failure = alreadyCancelling ? undefined : externalNotFound(effect.workflowId, effect.runId);
    await this.notifySource(entry, done(failure).effect as Extract<OutboxEffect, { kind: 'externalDone' }>);
  }

  /** The run a signal or cancellation request is for: the workflow's latest run, or the one named; undefined if there is none running. */
  private async externalTarget(namespace: string, workflowId: string, runId: string | undefined): Promise<WorkflowRun | undefined> {
    const run = await this.runs.resolve(namespace, workflowId, runId);
    return run?.record.status === 'Running' ? run : undefined;
  }

  /** Tells the sender of a signal or cancellation request how it went; the write deletes `entry`. */
  private async notifySource(entry: OutboxEntry, effect: Extract<OutboxEffect, { kind: 'externalDone' }>): Promise<void> {
    const { source } = effect;
    const time = this.clock.now();
    const event: NewEventOf<JobEventType> = effect.failure
      ? effect.action === 'signal'
        ? { type: 'SignalExternalWorkflowFailed', time, seq: source.seq, failure: effect.failure }
        : { type: 'RequestCancelExternalWorkflowFailed', time, seq: source.seq, failure: effect.failure }
      : effect.action === 'signal'
        ? { type: 'ExternalWorkflowSignaled', time, seq: source.seq }
        : { type: 'ExternalWorkflowCancelRequested', time, seq: source.seq };
    return this.deliverTo(entry, source, event);
  }

  /**
   * Creates the run an entry records; its first write deletes the entry. If the engine
   * refuses the run (its id is running, its type is not deployed), `refused` decides what
   * becomes of the entry.
   */
  async createRun(entry: OutboxEntry, run: NewRun, refused: (error: AionError) => Promise<void>): Promise<void> {
    try {
      await this.starter.create(run, { outboxId: entry.id });
    } catch (error) {
      if (!(error instanceof AionError)) throw error;
      await refused(error);
    }
  }

  private startChild(entry: OutboxEntry, effect: Extract<OutboxEffect, { kind: 'startChild' }>): Promise<void> {
    const { options } = effect;
    const child: NewRun = {
      namespace: entry.namespace,
      workflowId: effect.workflowId,
      runId: effect.runId,
      workflowType: effect.workflowType,
      taskQueue: options.taskQueue ?? 'default',
      args: effect.args,
      parent: effect.parent,
      ...(effect.root ? { root: effect.root } : {}),
      searchAttributes: options.searchAttributes,
      ...(options.memo ? { memo: options.memo } : {}),
      ...(options.cronSchedule !== undefined ? { cronSchedule: options.cronSchedule, firstTaskAt: nextCronTick(options.cronSchedule, this.clock.now()) } : {}),
      runTimeoutMs: options.workflowRunTimeoutMs,
      executionTimeoutMs: options.workflowExecutionTimeoutMs,
    };
    // A child that cannot start: the parent learns it through the child's result, and that
    // write performs this effect.
    return this.createRun(entry, child, (error) =>
      this.deliverTo(entry, effect.parent, {
        type: 'ChildWorkflowFailed',
        time: this.clock.now(),
        seq: effect.parent.seq,
        failure: {
          failureType: 'ChildWorkflowFailure',
          message: 'Child Workflow could not start',
          workflowId: effect.workflowId,
          workflowType: effect.workflowType,
          cause: { failureType: 'ApplicationFailure', type: error.name, message: error.message, nonRetryable: true },
        },
      }),
    );
  }

  private startSuccessor(entry: OutboxEntry, effect: Extract<OutboxEffect, { kind: 'continueAsNew' }>): Promise<void> {
    const successor: NewRun = {
      namespace: effect.namespace,
      workflowId: effect.workflowId,
      runId: effect.runId,
      workflowType: effect.workflowType,
      taskQueue: effect.taskQueue,
      args: effect.args,
      searchAttributes: effect.searchAttributes,
      ...(effect.memo ? { memo: effect.memo } : {}),
      firstExecutionRunId: effect.firstExecutionRunId,
      continuedFromRunId: effect.previousRunId,
      parent: effect.parent,
      ...(effect.root ? { root: effect.root } : {}),
      ...(effect.executionStartTime !== undefined ? { executionStartTime: effect.executionStartTime } : {}),
      ...(effect.runTimeoutMs !== undefined ? { runTimeoutMs: effect.runTimeoutMs } : {}),
      ...(effect.cronSchedule !== undefined ? { cronSchedule: effect.cronSchedule, firstTaskAt: effect.firstTaskAt } : {}),
      ...(effect.lastResult !== undefined ? { lastResult: effect.lastResult } : {}),
      ...(effect.lastFailure ? { lastFailure: effect.lastFailure } : {}),
      executionDeadline: effect.executionDeadline,
      scheduleId: effect.scheduleId,
    };
    return this.createRun(entry, successor, async (error) => {
      this.logger.error({ err: error, workflowId: effect.workflowId, runId: effect.runId }, 'the continue-as-new successor cannot start');
      await this.discard(entry);
    });
  }

  private notifyParent(entry: OutboxEntry, effect: Extract<OutboxEffect, { kind: 'notifyParent' }>): Promise<void> {
    const { parent, outcome } = effect;
    const time = this.clock.now();
    return this.deliverTo(
      entry,
      parent,
      outcome.ok ? { type: 'ChildWorkflowCompleted', time, seq: parent.seq, result: outcome.result } : { type: 'ChildWorkflowFailed', time, seq: parent.seq, failure: outcome.failure },
    );
  }

  /** Delivers a job to a run (a child's outcome to its parent, an acknowledgement to a signal's sender); if that run is gone, the effect is moot. */
  async deliverTo(entry: OutboxEntry, target: ParentLink, event: NewEventOf<JobEventType>): Promise<void> {
    if (this.routing && !this.routing.ownsRun(target.runId)) return this.routing.deliver(entry, target, event);
    const run = await this.runs.runFor(target.namespace, target.runId);
    if (!run || run.record.status !== 'Running') return this.discard(entry);
    try {
      const recorded = await run.deliver(event, { outboxId: entry.id });
      if (!recorded) await this.discard(entry);
    } catch (error) {
      if (!(error instanceof WorkflowNotRunningError)) throw error;
      await this.discard(entry);
    }
  }

  /** Cancels or terminates a parent's child: the current run of its workflow id, if it is still that parent's. */
  private async closeChild(entry: OutboxEntry, effect: Extract<OutboxEffect, { kind: 'cancelChild' | 'terminateChild' }>): Promise<void> {
    // The child may still be being created (its start was recorded with, or just before, this).
    await this.runs.creationOf(entry.namespace, effect.firstRunId)?.catch(() => undefined);
    const child = await this.currentChildRun(entry.namespace, effect.workflowId, effect.parent);
    if (!child) return this.discard(entry);
    try {
      if (effect.kind === 'terminateChild') await child.terminate(effect.reason, entry.id);
      else if (!(await child.deliver({ type: 'CancelRequested', time: this.clock.now(), reason: effect.reason }, { outboxId: entry.id }))) await this.discard(entry);
    } catch (error) {
      if (!(error instanceof WorkflowNotRunningError)) throw error;
      await this.discard(entry);
    }
  }

  private async currentChildRun(namespace: string, workflowId: string, parent: ParentLink): Promise<WorkflowRun | undefined> {
    // The workflow id's current run: a successor (continue-as-new, cron) is still the parent's child.
    const run = await this.runs.resolve(namespace, workflowId);
    if (!run || run.record.status !== 'Running' || run.record.parent?.runId !== parent.runId) return undefined;
    return run;
  }

  /** Drops an entry whose effect no longer applies. */
  async discard(entry: OutboxEntry): Promise<void> {
    await this.store.write({ outbox: { delete: [entry.id] } });
  }
}

/** A workflow that keeps continuing as new under a signal is tried this many times. */
const MAX_TARGET_TRIES = 5;

function externalNotFound(workflowId: string, runId: string | undefined): FailureInfo {
  return {
    failureType: 'ApplicationFailure',
    type: 'ExternalWorkflowExecutionNotFound',
    message: runId === undefined ? `workflow ${workflowId} has no running run` : `run ${runId} of workflow ${workflowId} is not running`,
    nonRetryable: true,
  };
}
