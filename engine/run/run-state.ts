/**
 * What the host knows about a run from its history: the next sequence number of each
 * command kind and what is still pending. Built by applying events, so recovery and replay
 * rebuild exactly what live execution had; the command validator checks new commands
 * against it.
 *
 * @module
 */
import type { RunStatus } from '../../store/types.js';
import { CLOSING_STATUS, isClosingEvent, type HistoryEvent, type NewEvent } from '../history/events.js';

export interface PendingActivity {
  activityType: string;
}

export class RunState {
  status: RunStatus = 'Running';
  nextActivitySeq = 1;
  nextTimerSeq = 1;
  cancelRequested = false;
  readonly pendingActivities = new Map<number, PendingActivity>();
  /** Pending timers and when they fire. */
  readonly pendingTimers = new Map<number, number>();
  readonly pendingUpdates = new Set<string>();
  /** Updates that ended (completed or rejected): a late duplicate is not delivered twice. */
  readonly finishedUpdates = new Set<string>();

  apply(event: HistoryEvent | NewEvent): void {
    switch (event.type) {
      case 'ActivityScheduled':
        this.nextActivitySeq = event.seq + 1;
        this.pendingActivities.set(event.seq, { activityType: event.activityType });
        break;
      case 'ActivityCompleted':
      case 'ActivityFailed':
      case 'ActivityCancelRequested':
        this.pendingActivities.delete(event.seq);
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
      default:
        if (isClosingEvent(event)) this.status = CLOSING_STATUS[event.type];
    }
  }
}
