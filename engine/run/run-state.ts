/**
 * What the host knows about a run from its history: the next sequence number of each
 * command kind and what is still pending. Built by applying events, so recovery and replay
 * rebuild exactly what live execution had; the command validator checks new commands
 * against it.
 *
 * @module
 */
import { type ParentClosePolicy } from '../../common/protocol.js';
import { applyMemoUpsert } from '../../common/memo.js';
import { applySearchAttributeUpsert, type SearchAttributeValue } from '../../common/search-attributes.js';
import type { RunStatus } from '../../store/types.js';
import type { Crash } from '../supervision.js';
import { CLOSING_STATUS, isClosingEvent, type HistoryEvent, type NewEvent } from '../history/events.js';

export interface PendingActivity {
  activityType: string;
  /** Cancellation was requested and the workflow waits for the activity to end. */
  cancelRequested?: boolean;
}

export interface PendingChild {
  workflowId: string;
  runId: string;
  workflowType: string;
  parentClosePolicy: ParentClosePolicy;
}

export class RunState {
  /** The state a run's events give, applied in order. */
  static of(events: readonly (HistoryEvent | NewEvent)[]): RunState {
    const state = new RunState();
    for (const event of events) state.apply(event);
    return state;
  }

  status: RunStatus = 'Running';
  nextActivitySeq = 1;
  nextTimerSeq = 1;
  nextChildSeq = 1;
  nextExternalSeq = 1;
  /** Signals and cancellation requests sent to other workflows, not yet acknowledged. */
  readonly pendingExternal = new Set<number>();
  cancelRequested = false;
  searchAttributes: Record<string, SearchAttributeValue> = {};
  memo: Record<string, unknown> = {};
  /** From `WorkflowStarted`: when the continue-as-new chain started, and the top of the parent chain. */
  executionStartTime = 0;
  root: { workflowId: string; runId: string } | undefined;
  /** From `WorkflowStarted`: a cron run's schedule, its input and when its first activation may happen. */
  cronSchedule: string | undefined;
  args: unknown[] = [];
  runTimeoutMs: number | undefined;
  firstTaskAt: number | undefined;
  /** Set once the run completed an activation. */
  activated = false;
  /** Bytes of JSON of the history so far (`workflowInfo().historySize`). */
  historySize = 0;
  /** When the run times out, if it has a timeout. */
  deadline: { at: number; timeoutType: 'WORKFLOW_RUN' | 'WORKFLOW_EXECUTION' } | undefined;
  executionDeadline: number | undefined;
  /** From `WorkflowStarted`: when `continueAsNewSuggested` turns true. */
  continueAsNewSuggestedAt = Infinity;
  /** From `WorkflowStarted`: error types that fail the run rather than its task. */
  failureErrorTypes: readonly string[] = [];
  /** Set once the run continued as new. */
  continuedToRunId: string | undefined;
  readonly pendingChildren = new Map<number, PendingChild>();
  /** Crashes since the run last made progress (its last completed activation). */
  crashes: Crash[] = [];
  /** When the supervisor restarts the crashed sandbox. */
  restartAt: number | undefined;
  readonly pendingActivities = new Map<number, PendingActivity>();
  /** Pending timers and when they fire. */
  readonly pendingTimers = new Map<number, number>();
  readonly pendingUpdates = new Set<string>();
  /** Updates that ended (completed or rejected): a late duplicate is not delivered twice. */
  readonly finishedUpdates = new Set<string>();

  apply(event: HistoryEvent | NewEvent): void {
    switch (event.type) {
      case 'WorkflowStarted':
        this.searchAttributes = { ...event.searchAttributes };
        this.memo = { ...event.memo };
        this.executionStartTime = event.executionStartTime ?? event.time;
        this.cronSchedule = event.cronSchedule;
        this.failureErrorTypes = event.failureErrorTypes ?? [];
        this.args = event.args;
        this.runTimeoutMs = event.runTimeoutMs;
        this.firstTaskAt = event.firstTaskAt;
        this.root = event.root ?? (event.parent ? { workflowId: event.parent.workflowId, runId: event.parent.runId } : undefined);
        this.deadline = event.deadline;
        this.executionDeadline = event.executionDeadline;
        this.continueAsNewSuggestedAt = event.continueAsNewSuggestedAt;
        break;
      case 'ChildWorkflowStarted':
        this.nextChildSeq = event.seq + 1;
        this.pendingChildren.set(event.seq, {
          workflowId: event.workflowId,
          runId: event.runId,
          workflowType: event.workflowType,
          parentClosePolicy: event.options.parentClosePolicy,
        });
        break;
      case 'ChildWorkflowCompleted':
      case 'ChildWorkflowFailed':
        this.pendingChildren.delete(event.seq);
        break;
      case 'WorkflowTaskCompleted':
        this.crashes = [];
        this.restartAt = undefined;
        this.activated = true;
        break;
      case 'WorkflowTaskFailed':
        this.crashes = [...this.crashes, { time: event.time, kind: event.crashKind, message: event.message }];
        this.restartAt = event.restartAt;
        break;
      case 'SearchAttributesUpserted':
        applySearchAttributeUpsert(this.searchAttributes, event.attributes);
        break;
      case 'ActivityScheduled':
        this.nextActivitySeq = event.seq + 1;
        this.pendingActivities.set(event.seq, { activityType: event.activityType });
        break;
      case 'ActivityCompleted':
      case 'ActivityFailed':
        this.pendingActivities.delete(event.seq);
        break;
      case 'ActivityCancelRequested': {
        const pending = this.pendingActivities.get(event.seq);
        if (event.waitForCompletion && pending) pending.cancelRequested = true;
        else this.pendingActivities.delete(event.seq);
        break;
      }
      case 'SignalExternalWorkflowInitiated':
      case 'RequestCancelExternalWorkflowInitiated':
        this.nextExternalSeq = event.seq + 1;
        this.pendingExternal.add(event.seq);
        break;
      case 'ExternalWorkflowSignaled':
      case 'SignalExternalWorkflowFailed':
      case 'ExternalWorkflowCancelRequested':
      case 'RequestCancelExternalWorkflowFailed':
        this.pendingExternal.delete(event.seq);
        break;
      case 'MemoUpserted':
        applyMemoUpsert(this.memo, event.memo);
        break;
      case 'TimerStarted':
        this.nextTimerSeq = event.seq + 1;
        this.pendingTimers.set(event.seq, event.fireAt);
        break;
      case 'TimerFired':
      case 'TimerCanceled':
        this.pendingTimers.delete(event.seq);
        break;
      case 'UpdateAccepted':
        this.pendingUpdates.add(event.updateId);
        break;
      case 'UpdateCompleted':
      case 'UpdateRejected':
        this.pendingUpdates.delete(event.updateId);
        this.finishedUpdates.add(event.updateId);
        break;
      case 'CancelRequested':
        this.cancelRequested = true;
        break;
      case 'WorkflowContinuedAsNew':
        this.continuedToRunId = event.newRunId;
        this.status = 'ContinuedAsNew';
        break;
      default:
        if (isClosingEvent(event)) this.status = CLOSING_STATUS[event.type];
    }
  }
}
