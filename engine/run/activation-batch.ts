/**
 * Collects the events of one atomic append and what they imply for the store's indexes.
 * Each event is applied to the run's state as it is added, so an index write is derived
 * from the state just before its event (a fired timer's due entry, for example).
 *
 * @module
 */
import type { ActivityTask, DueEntry, RunRecord } from '../../store/types.js';
import { isClosingEvent, type NewEvent, type NewEventOf } from '../history/events.js';
import type { RunState } from './run-state.js';

type TaskKey = { namespace: string; runId: string; seq: number };

export class ActivationBatch {
  readonly events: NewEvent[] = [];
  readonly duePuts: DueEntry[] = [];
  readonly dueDeletes: DueEntry[] = [];
  readonly taskPuts: ActivityTask[] = [];
  readonly taskDeletes: TaskKey[] = [];
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
      case 'TimerStarted':
        this.duePuts.push(this.due(event.seq, event.fireAt));
        break;
      case 'TimerFired':
      case 'TimerCanceled': {
        const fireAt = state.pendingTimers.get(event.seq);
        if (fireAt !== undefined) this.dueDeletes.push(this.due(event.seq, fireAt));
        break;
      }
      case 'ActivityScheduled':
        this.taskPuts.push(this.activityTask(event));
        break;
      case 'ActivityCompleted':
      case 'ActivityFailed':
      case 'ActivityCancelRequested':
        this.taskDeletes.push(this.task(event.seq));
        break;
    }
    state.apply(event);
    this.events.push(event);
    if (isClosingEvent(event)) {
      this.closeEvent = event;
      // Whatever is still pending ends with the run.
      for (const [seq, fireAt] of state.pendingTimers) this.dueDeletes.push(this.due(seq, fireAt));
      for (const seq of state.pendingActivities.keys()) this.taskDeletes.push(this.task(seq));
    }
  }

  private due(seq: number, dueAt: number): DueEntry {
    return { dueAt, namespace: this.record.namespace, runId: this.record.runId, key: `timer:${seq}` };
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
