/**
 * What an engine of a cluster (a PostgreSQL store in cluster mode) serves: the partitions the
 * store's assignment gives it now, which change while it runs. Calls for a workflow of another
 * partition are refused with `PartitionElsewhereError` (the server forwards them to the owner);
 * effects on runs of another partition are left in the outbox, where the owner of their target
 * partition finds them (the store notifies it) and performs them. `join` follows the changes:
 * the work of partitions taken is recovered, that of partitions given up stopped.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { partitionOfRun, partitionOfWorkflow } from '../store/partitions.js';
import type { DueEntry, EventStore, OutboxEntry, PartitionAssignment } from '../store/types.js';
import type { ActivityDispatcher } from './activities/dispatcher.js';
import { PartitionElsewhereError } from './errors.js';
import type { HistoryEvent, JobEventType, NewEventOf } from './history/events.js';
import type { Logger } from './logger.js';
import { effectTarget, outboxEntry, withTarget, type OutboxEffect, type ParentLink } from './outbox.js';
import type { EffectRouting } from './outbox-processor.js';
import type { RunTable } from './runs.js';
import type { DueTimers } from './timers.js';

/** What an engine of a cluster does when its share changes. */
export interface ClusterWork {
  logger: Logger;
  closed(): boolean;
  /** The recovery sweep of `Engine.open`, for partitions (and maybe the control plane) taken over. */
  recover(taken: { partitions: readonly number[]; control: boolean }): Promise<void>;
  /** Performs the effects recorded for the partitions served now. */
  sweepOutbox(): Promise<unknown>;
  /** Reads the control records again (another engine changed them). */
  reloadControl(): Promise<void>;
  runs: RunTable;
  timers: DueTimers;
  activities: ActivityDispatcher;
}

export class ClusterPartitions implements EffectRouting {
  /** Followers of a run's history, by the partition it is in: stopped when that partition moves to another engine. */
  private readonly followers = new Map<number, Set<AbortController>>();

  constructor(
    readonly assignment: PartitionAssignment,
    private readonly store: EventStore<HistoryEvent>,
  ) {}

  partitionOfRun(runId: string): number {
    return partitionOfRun(runId, this.assignment.partitionCount);
  }

  ownsRun(runId: string): boolean {
    return this.assignment.serves(this.partitionOfRun(runId));
  }

  /** Throws `PartitionElsewhereError` unless this engine serves the workflow's partition. */
  checkWorkflow(namespace: string, workflowId: string): void {
    const partition = partitionOfWorkflow(namespace, workflowId, this.assignment.partitionCount);
    if (!this.assignment.serves(partition)) throw new PartitionElsewhereError(partition);
  }

  /** Throws `PartitionElsewhereError` unless this engine serves the run's partition. */
  checkRun(runId: string): void {
    if (!this.ownsRun(runId)) throw this.elsewhere(runId);
  }

  elsewhere(runId: string): PartitionElsewhereError {
    return new PartitionElsewhereError(this.partitionOfRun(runId));
  }

  performsHere(entry: OutboxEntry): boolean {
    const target = effectTarget(entry.namespace, entry.effect as OutboxEffect);
    const partition = 'runId' in target ? this.partitionOfRun(target.runId) : partitionOfWorkflow(target.namespace, target.workflowId, this.assignment.partitionCount);
    return this.assignment.serves(partition);
  }

  /** Undefined (performed here) for an entry of a partition served here; another is its owner's. */
  perform(entry: OutboxEntry): Promise<void> | undefined {
    if (this.performsHere(entry)) return undefined;
    // Recorded before entries named their target, with the partition of the run that recorded it: filed under its target's now (whose engine is told).
    // Deleted and put again in one write: fenced by the partition it is in, refused if this engine no longer knows it there.
    if (entry.target === undefined) return this.store.write({ outbox: { delete: [entry.id], put: [withTarget(entry)] } });
    return Promise.resolve();
  }

  /** A workflow id of a partition this engine serves (none served: any), so that a start without one is not forwarded. */
  workflowIdServedHere(namespace: string): string {
    for (let tries = 0; tries < 8 * this.assignment.partitionCount; tries++) {
      const workflowId = randomUUID();
      if (this.assignment.serves(partitionOfWorkflow(namespace, workflowId, this.assignment.partitionCount))) return workflowId;
    }
    return randomUUID();
  }

  /** Whether a due entry's work is this engine's: a schedule's tick if it serves the control plane, a run's if it serves the run. */
  servesDueEntry(entry: DueEntry): boolean {
    return entry.key === 'schedule' ? this.assignment.servesControl() : this.ownsRun(entry.owner);
  }

  /**
   * Takes this engine's share of the partitions (resolves once their work was recovered), and
   * from then on follows the changes of its share: recovers the work of partitions taken,
   * stops that of partitions given up, performs the effects recorded for its partitions.
   */
  async join(work: ClusterWork): Promise<void> {
    const { logger } = work;
    // Recoveries one at a time; one that failed is tried again (with what it was for) at the next beat.
    let recovering: Promise<void> = Promise.resolve();
    let failed: { partitions: number[]; control: boolean } | undefined;
    const recover = (taken: { partitions: number[]; control: boolean }): Promise<void> => {
      recovering = recovering.then(async () => {
        if (work.closed()) return;
        try {
          await work.recover(taken);
        } catch (error) {
          logger.error({ err: error, partitions: taken.partitions }, 'the recovery of partitions taken over failed; trying again at the next beat');
          failed = { partitions: [...new Set([...(failed?.partitions ?? []), ...taken.partitions])], control: (failed?.control ?? false) || taken.control };
        }
      });
      return recovering;
    };
    let sweeping: Promise<void> | undefined;
    let sweepAgain = false;
    // One sweep of the outbox at a time; a notification during one asks for one more after it.
    const sweep = (): void => {
      if (sweeping) {
        sweepAgain = true;
        return;
      }
      sweeping = work
        .sweepOutbox()
        .then(() => undefined, (error: unknown) => logger.warn({ err: error }, 'could not read the outbox of the partitions this engine serves; trying at the next beat'))
        .finally(() => {
          sweeping = undefined;
          if (sweepAgain && !work.closed()) {
            sweepAgain = false;
            sweep();
          }
        });
    };
    await this.assignment.attach({
      gained: (partitions, control) => {
        logger.info({ partitions, control }, 'took partitions over: recovering their timers, activities and effects');
        return recover({ partitions, control });
      },
      releasing: async (partitions) => {
        logger.info({ partitions }, 'giving partitions up to another engine of the cluster');
        // After the recoveries under way: one would start the work of a partition being given up.
        await recovering;
        await this.release(partitions, work);
      },
      effectsPending: () => {
        if (work.closed()) return;
        sweep();
        const retry = failed;
        failed = undefined;
        if (retry) void recover({ partitions: retry.partitions.filter((partition) => this.assignment.serves(partition)), control: retry.control && this.assignment.servesControl() });
      },
      controlChanged: () => {
        work.reloadControl().catch((error: unknown) => logger.warn({ err: error }, 'could not read the control records another engine changed'));
      },
    });
  }

  /**
   * Runs `follow` (which follows a run's history as this engine appends to it) with a signal
   * aborted if the run's partition moves to another engine, where the appends go from then on:
   * the follower stops, and is resumed through that engine.
   */
  async *whileServed<T>(runId: string, follow: (moved: AbortSignal) => AsyncGenerator<T>): AsyncGenerator<T> {
    const partition = this.partitionOfRun(runId);
    const controller = new AbortController();
    const followers = this.followers.get(partition) ?? new Set();
    this.followers.set(partition, followers.add(controller));
    try {
      // Registered, then checked: a move from now on stops it.
      this.checkRun(runId);
      yield* follow(controller.signal);
    } finally {
      followers.delete(controller);
      if (followers.size === 0) this.followers.delete(partition);
    }
  }

  /** Stops the work of the runs of `partitions`, given up to another engine: their runs leave memory, their timers and activity attempts stop. */
  private async release(partitions: number[], work: ClusterWork): Promise<void> {
    const moved = new Set(partitions);
    // Not served now: if one came back meanwhile (its release took longer than the lease time), its new work stands.
    const movedRun = (runId: string) => moved.has(this.partitionOfRun(runId)) && !this.ownsRun(runId);
    const stopTimersAndActivities = () => {
      work.timers.removeWhere((entry) => entry.key !== 'schedule' && movedRun(entry.owner));
      work.activities.release((task) => movedRun(task.runId));
    };
    stopTimersAndActivities();
    for (const partition of partitions) for (const follower of this.followers.get(partition) ?? []) follower.abort(new Error('the run moved to another engine of the cluster'));
    await work.runs.release(movedRun);
    // Again: what the runs' last work scheduled while they settled.
    stopTimersAndActivities();
  }

  /** Passes the job on to the run's engine, as an entry of its partition, in the write that performs `entry`. */
  async deliver(entry: OutboxEntry, target: ParentLink, event: NewEventOf<JobEventType>): Promise<void> {
    const passedOn = outboxEntry(target.namespace, { kind: 'deliverJob', cause: entry.id, target, event });
    await this.store.write({ outbox: { delete: [entry.id], put: [passedOn] } });
  }
}
