/**
 * Which engine serves which partition, for an engine that serves some of them: a partition
 * thread (its own partitions) or the main thread of a threaded engine (none: it keeps the
 * control store). Effects on runs of other partitions go to their owners.
 *
 * @module
 */
import type { OutboxEntry, PartitionedEventStore } from '../../store/index.js';
import { partitionOfRun, partitionOfWorkflow } from '../../store/partitions.js';
import type { HistoryEvent, JobEventType, NewEventOf } from '../history/events.js';
import { effectTarget, type OutboxEffect, type ParentLink } from '../outbox.js';
import type { EffectRouting } from '../outbox-processor.js';
import type { PortRpc } from './port-rpc.js';
import type { ThreadLinks } from './thread-links.js';

export class Placement implements EffectRouting {
  constructor(
    readonly partitionCount: number,
    private readonly owned: ReadonlySet<number>,
    private readonly store: PartitionedEventStore<HistoryEvent>,
    /** The other threads. */
    private readonly threads: ThreadLinks,
    /** The thread serving a partition. */
    private readonly threadOf: (partition: number) => number,
  ) {}

  ownsRun(runId: string): boolean {
    return this.owned.has(partitionOfRun(runId, this.partitionCount));
  }

  /** The engine serving the run, or undefined when it is this one. */
  ownerOfRun(runId: string): PortRpc | undefined {
    return this.ownerOfPartition(partitionOfRun(runId, this.partitionCount));
  }

  /** The engine serving the workflow, or undefined when it is this one. */
  ownerOfWorkflow(namespace: string, workflowId: string): PortRpc | undefined {
    return this.ownerOfPartition(partitionOfWorkflow(namespace, workflowId, this.partitionCount));
  }

  /** Resolves once the thread serving the workflow is live: at once, unless it died and is being restarted. */
  whenOwnerOfWorkflowLive(namespace: string, workflowId: string): Promise<void> {
    return this.threads.whenLive(this.threadOf(partitionOfWorkflow(namespace, workflowId, this.partitionCount)));
  }

  private ownerOfPartition(partition: number): PortRpc | undefined {
    return this.owned.has(partition) ? undefined : this.ownerOf(partition);
  }

  private ownerOf(partition: number): PortRpc {
    return this.threads.get(this.threadOf(partition));
  }

  perform(entry: OutboxEntry): Promise<void> | undefined {
    const target = effectTarget(entry.namespace, entry.effect as OutboxEffect);
    const owner = 'runId' in target ? this.ownerOfRun(target.runId) : this.ownerOfWorkflow(target.namespace, target.workflowId);
    if (!owner) return undefined;
    // Once performed there, the entry is deleted there: this store need not know where it was any more.
    return this.homeOf(entry).then((home) => owner.call<void>('performEffect', [entry, home])).then(() => this.store.forgetOutboxHome(entry.id));
  }

  async deliver(entry: OutboxEntry, target: ParentLink, event: NewEventOf<JobEventType>): Promise<void> {
    await this.ownerOf(partitionOfRun(target.runId, this.partitionCount)).call('deliverEffect', [entry, await this.homeOf(entry), target, event]);
  }

  /**
   * Performs an entry another engine forwarded, telling the store where it lives (so the write
   * performing it deletes it there) for that long — unless the store knows it already (this
   * engine recorded the entry: a follow-up sent back to it), and must go on knowing it for
   * its own retries.
   */
  async performing(entry: OutboxEntry, home: 'control' | number, perform: () => Promise<void>): Promise<void> {
    const known = this.store.outboxHomeOf(entry.id) !== undefined;
    if (!known) this.store.rememberOutboxHome(entry.id, home);
    try {
      await perform();
    } finally {
      if (!known) this.store.forgetOutboxHome(entry.id);
    }
  }

  private async homeOf(entry: OutboxEntry): Promise<'control' | number> {
    const home = this.store.outboxHomeOf(entry.id);
    if (home === undefined) throw new Error(`outbox entry ${entry.id} was neither written nor listed here`);
    return home;
  }
}
