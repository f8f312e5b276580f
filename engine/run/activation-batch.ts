/**
 * Collects the events of one atomic append and what they imply for the store: due-time
 * entries, activity tasks, the outbox (effects on other runs), and whether the run record
 * changes. Each event is applied to the run's state as it is added, so an index write is
 * derived from the state just before its event (a fired timer's due entry, for example).
 *
 * @module
 */
import type { FailureInfo } from '../../common/protocol.js';
import type { ActivityTask, DueEntry, OutboxEntry, RunRecord } from '../../store/types.js';
import { formatDueKey, type DueKey } from '../due-keys.js';
import { isClosingEvent, type NewEvent, type NewEventOf } from '../history/events.js';
import { outboxEntry, type OutboxEffect, type ParentLink } from '../outbox.js';
import { nextCronTick } from '../schedules/spec.js';
import type { RunState } from './run-state.js';
import { runIdFor } from '../../store/partitions.js';

type TaskKey = { namespace: string; runId: string; seq: number };

/**
 * Whether a cron run's end starts the next run: it ended by itself (completed, failed, its
 * run timed out), and its execution has time left for the next tick. Terminating or
 * cancelling a run, or its execution's timeout, ends the cron.
 */
function cronContinues(event: NewEvent, next: number, executionDeadline: number | undefined): boolean {
  const byItself = event.type === 'WorkflowCompleted' || event.type === 'WorkflowFailed' || (event.type === 'WorkflowTimedOut' && event.timeoutType === 'WORKFLOW_RUN');
  return byItself && (executionDeadline === undefined || next < executionDeadline);
}

export class ActivationBatch {
  readonly events: NewEvent[] = [];
  readonly duePuts: DueEntry[] = [];
  readonly dueDeletes: DueEntry[] = [];
  readonly taskPuts: ActivityTask[] = [];
  readonly taskDeletes: TaskKey[] = [];
  /** Activities asked to cancel whose end the workflow waits for. */
  readonly taskCancels: TaskKey[] = [];
  /** Their tasks, marked as asked to cancel (filled in when the batch is written). */
  readonly taskCancelPuts: ActivityTask[] = [];
  readonly outboxPuts: OutboxEntry[] = [];
  /** Outbox entries whose effect this batch performs. */
  readonly outboxDeletes: string[] = [];
  /** The first `count` events' size (`historySizeOf`, numbered as they will be), when already measured. */
  measured: { count: number; bytes: number } | undefined;
  /** The run record's visible fields (search attributes) changed. */
  recordChanged = false;
  closeEvent: NewEvent | undefined;

  constructor(
    private readonly record: RunRecord,
    private readonly state: RunState,
  ) {}

  add(...events: NewEvent[]): this {
    for (const event of events) this.addOne(event);
    return this;
  }

  private addOne(event: NewEvent): void {
    const { state } = this;
    switch (event.type) {
      case 'WorkflowStarted':
        if (event.deadline) this.duePuts.push(this.due({ kind: 'timeout' }, event.deadline.at));
        if (event.firstTaskAt !== undefined) this.duePuts.push(this.due({ kind: 'start' }, event.firstTaskAt));
        break;
      case 'TimerStarted':
        this.duePuts.push(this.due({ kind: 'timer', seq: event.seq }, event.fireAt));
        break;
      case 'TimerFired':
      case 'TimerCanceled': {
        const fireAt = state.pendingTimers.get(event.seq);
        if (fireAt !== undefined) this.dueDeletes.push(this.due({ kind: 'timer', seq: event.seq }, fireAt));
        break;
      }
      case 'ActivityScheduled':
        this.taskPuts.push(this.activityTask(event));
        break;
      case 'ActivityCompleted':
      case 'ActivityFailed':
        this.taskDeletes.push(this.task(event.seq));
        break;
      case 'ActivityCancelRequested':
        // A workflow waiting for the activity's end keeps its task; the attempt is told to stop.
        if (event.waitForCompletion) this.taskCancels.push(this.task(event.seq));
        else this.taskDeletes.push(this.task(event.seq));
        break;
      case 'ChildWorkflowStarted':
        this.outbox({
          kind: 'startChild',
          parent: this.link(event.seq),
          root: state.root ?? { workflowId: this.record.workflowId, runId: this.record.runId },
          workflowType: event.workflowType,
          workflowId: event.workflowId,
          runId: event.runId,
          args: event.args,
          options: event.options,
        });
        break;
      case 'ChildWorkflowCancelRequested': {
        const child = state.pendingChildren.get(event.seq);
        if (child) this.outbox({ kind: 'cancelChild', parent: this.link(event.seq), workflowId: child.workflowId, firstRunId: child.runId, reason: 'cancelled by its parent' });
        break;
      }
      case 'SignalExternalWorkflowInitiated':
        this.outbox({
          kind: 'signalExternal',
          source: this.link(event.seq),
          workflowId: event.workflowId,
          runId: event.runId,
          signalName: event.signalName,
          args: event.args,
          ...(event.childOnly ? { childOnly: true } : {}),
        });
        break;
      case 'RequestCancelExternalWorkflowInitiated':
        this.outbox({ kind: 'cancelExternal', source: this.link(event.seq), workflowId: event.workflowId, runId: event.runId });
        break;
      case 'SearchAttributesUpserted':
      case 'MemoUpserted':
        this.recordChanged = true;
        break;
      case 'WorkflowTaskCompleted':
        if (state.restartAt !== undefined) this.dueDeletes.push(this.due({ kind: 'restart' }, state.restartAt));
        // A cron run's start is done with.
        if (state.firstTaskAt !== undefined && !state.activated) this.dueDeletes.push(this.due({ kind: 'start' }, state.firstTaskAt));
        break;
      case 'WorkflowTaskFailed':
        if (state.restartAt !== undefined) this.dueDeletes.push(this.due({ kind: 'restart' }, state.restartAt));
        if (event.restartAt !== undefined) this.duePuts.push(this.due({ kind: 'restart' }, event.restartAt));
        break;
    }
    state.apply(event);
    this.events.push(event);
    if (isClosingEvent(event)) this.close(event);
  }

  /** Whatever is still pending ends with the run; children follow their parent-close policy. */
  private close(event: NewEvent): void {
    const { state, record } = this;
    this.closeEvent = event;
    for (const [seq, fireAt] of state.pendingTimers) this.dueDeletes.push(this.due({ kind: 'timer', seq }, fireAt));
    for (const seq of state.pendingActivities.keys()) this.taskDeletes.push(this.task(seq));
    if (state.deadline) this.dueDeletes.push(this.due({ kind: 'timeout' }, state.deadline.at));
    if (state.restartAt !== undefined) this.dueDeletes.push(this.due({ kind: 'restart' }, state.restartAt));
    if (state.firstTaskAt !== undefined && !state.activated) this.dueDeletes.push(this.due({ kind: 'start' }, state.firstTaskAt));
    for (const [seq, child] of state.pendingChildren) {
      if (child.parentClosePolicy === 'ABANDON') continue;
      const reason = `parent ${record.workflowId} closed`;
      const kind = child.parentClosePolicy === 'TERMINATE' ? 'terminateChild' : 'cancelChild';
      this.outbox({ kind, parent: this.link(seq), workflowId: child.workflowId, firstRunId: child.runId, reason });
    }
    const nextTick = state.cronSchedule === undefined ? undefined : nextCronTick(state.cronSchedule, event.time);
    if (event.type === 'WorkflowContinuedAsNew') {
      this.outbox({
        ...this.successor(event.newRunId, event.workflowType, event.args, nextTick),
        ...(record.scheduleId ? { scheduleId: record.scheduleId } : {}),
      });
    } else if (nextTick !== undefined && cronContinues(event, nextTick, state.executionDeadline)) {
      // Temporal's cron: the next run starts, with the same input and run timeout, at the next tick.
      const runId = runIdFor(record.namespace, record.workflowId);
      state.continuedToRunId = runId;
      this.outbox({
        ...this.successor(runId, record.workflowType, state.args, nextTick),
        ...(event.type === 'WorkflowCompleted' && event.result !== undefined ? { lastResult: event.result } : event.type === 'WorkflowFailed' ? { lastFailure: event.failure } : {}),
      });
    } else if (record.parent) {
      this.outbox({ kind: 'notifyParent', parent: record.parent, outcome: this.outcomeForParent(event) });
    }
  }

  /**
   * The start of the run that follows this one under the same workflow id (continue-as-new, or
   * a cron's next run at `nextTick`): what carries over from this run.
   */
  private successor(runId: string, workflowType: string, args: unknown[], nextTick: number | undefined): Extract<OutboxEffect, { kind: 'continueAsNew' }> {
    const { state, record } = this;
    return {
      kind: 'continueAsNew',
      namespace: record.namespace,
      workflowId: record.workflowId,
      runId,
      previousRunId: record.runId,
      workflowType,
      taskQueue: record.taskQueue,
      args,
      firstExecutionRunId: record.firstExecutionRunId ?? record.runId,
      searchAttributes: { ...state.searchAttributes },
      ...(Object.keys(state.memo).length > 0 ? { memo: { ...state.memo } } : {}),
      ...(record.parent ? { parent: record.parent } : {}),
      ...(state.root ? { root: state.root } : {}),
      executionStartTime: state.executionStartTime,
      ...(state.executionDeadline !== undefined ? { executionDeadline: state.executionDeadline } : {}),
      ...(state.runTimeoutMs !== undefined ? { runTimeoutMs: state.runTimeoutMs } : {}),
      ...(state.cronSchedule !== undefined ? { cronSchedule: state.cronSchedule, firstTaskAt: nextTick } : {}),
    };
  }

  /** How the parent sees this run's end (a chain that continued as new ends with its last run). */
  private outcomeForParent(event: NewEvent): { ok: true; result: unknown } | { ok: false; failure: FailureInfo } {
    if (event.type === 'WorkflowCompleted') return { ok: true, result: event.result };
    let cause: FailureInfo;
    switch (event.type) {
      case 'WorkflowFailed':
        cause = event.failure;
        break;
      case 'WorkflowCanceled':
        cause = { failureType: 'CancelledFailure', message: event.failure.message };
        break;
      case 'WorkflowTerminated':
        cause = { failureType: 'TerminatedFailure', message: event.reason ?? 'Terminated' };
        break;
      case 'WorkflowTimedOut':
        cause = { failureType: 'TimeoutFailure', message: 'Workflow timed out', timeoutType: event.timeoutType };
        break;
      default:
        cause = { failureType: 'ApplicationFailure', message: `child closed with ${event.type}` };
    }
    const { record } = this;
    return {
      ok: false,
      failure: { failureType: 'ChildWorkflowFailure', message: 'Child Workflow execution failed', workflowId: record.workflowId, workflowType: record.workflowType, cause },
    };
  }

  private outbox(effect: Parameters<typeof outboxEntry>[1]): void {
    this.outboxPuts.push(outboxEntry(this.record.namespace, effect));
  }

  private link(seq: number): ParentLink {
    return { namespace: this.record.namespace, workflowId: this.record.workflowId, runId: this.record.runId, seq };
  }

  private due(key: DueKey, dueAt: number): DueEntry {
    return { dueAt, namespace: this.record.namespace, owner: this.record.runId, key: formatDueKey(key) };
  }

  private task(seq: number): TaskKey {
    return { namespace: this.record.namespace, runId: this.record.runId, seq };
  }

  private activityTask(event: NewEventOf<'ActivityScheduled'>): ActivityTask {
    const { record } = this;
    return {
      namespace: record.namespace,
      workflowId: record.workflowId,
      runId: record.runId,
      workflowType: record.workflowType,
      seq: event.seq,
      activityType: event.activityType,
      args: event.args,
      taskQueue: event.options.taskQueue ?? record.taskQueue,
      options: event.options,
      scheduledAt: event.time,
      attempt: 1,
      notBefore: event.time,
    };
  }
}
