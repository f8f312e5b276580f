/**
 * Effects a run's batch has on other runs, recorded in the store's outbox with the batch
 * that decides them and performed afterwards; the write that performs one deletes its entry
 * (see `OutboxEntry`). Ids are deterministic, so recording the same effect twice is one entry.
 *
 * @module
 */
import type { FailureInfo, ResolvedChildOptions } from '../common/protocol.js';
import type { SearchAttributeValue } from '../common/search-attributes.js';
import type { OutboxEntry } from '../store/types.js';
import type { JobEventType, NewEventOf } from './history/events.js';

export interface ParentLink {
  namespace: string;
  workflowId: string;
  runId: string;
  /** The child's sequence number in the parent. */
  seq: number;
}

export type OutboxEffect =
  /** Create the child run a parent recorded as started. */
  | {
      kind: 'startChild';
      parent: ParentLink;
      /** The top of the parent chain (absent in entries recorded before roots were). */
      root?: { workflowId: string; runId: string };
      workflowType: string;
      workflowId: string;
      runId: string;
      args: unknown[];
      options: ResolvedChildOptions;
    }
  /** Tell a parent how its child ended. */
  | { kind: 'notifyParent'; parent: ParentLink; outcome: { ok: true; result: unknown } | { ok: false; failure: FailureInfo } }
  /** Request cancellation of (or terminate) a parent's child: its workflow id's current run. */
  | { kind: 'cancelChild' | 'terminateChild'; parent: ParentLink; workflowId: string; firstRunId: string; reason: string }
  /** Start the successor of a run that continued as new. */
  | {
      kind: 'continueAsNew';
      namespace: string;
      workflowId: string;
      runId: string;
      previousRunId: string;
      workflowType: string;
      taskQueue: string;
      args: unknown[];
      firstExecutionRunId: string;
      searchAttributes: Record<string, SearchAttributeValue>;
      memo?: Record<string, unknown>;
      parent?: ParentLink;
      root?: { workflowId: string; runId: string };
      executionStartTime?: number;
      executionDeadline?: number;
      /** Each run's timeout, kept by successors. */
      runTimeoutMs?: number;
      /** A cron run's successor: its schedule, and the tick its first activation waits for. */
      cronSchedule?: string;
      firstTaskAt?: number;
      /** What the cron run before it ended with. */
      lastResult?: unknown;
      lastFailure?: FailureInfo;
      scheduleId?: string;
    }
  /** Signal, or ask to cancel, another workflow of the namespace (its latest run, or `runId`). */
  | { kind: 'signalExternal'; source: ParentLink; workflowId: string; runId?: string; signalName: string; args: unknown[]; childOnly?: boolean }
  | { kind: 'cancelExternal'; source: ParentLink; workflowId: string; runId?: string }
  /** Tell the run that sent a signal or cancellation request whether the target recorded it. */
  | { kind: 'externalDone'; source: ParentLink; action: 'signal' | 'cancel'; failure?: FailureInfo }
  /** Start the run a schedule's fire recorded. */
  | { kind: 'startScheduled'; namespace: string; scheduleId: string; workflowId: string; runId: string; workflowType: string; args: unknown[]; taskQueue: string }
  /**
   * Deliver a job to a run another engine of a cluster serves: what performing the effect
   * `cause` decided (a child that could not start, a signal's target not found), passed on.
   */
  | { kind: 'deliverJob'; cause: string; target: ParentLink; event: NewEventOf<JobEventType> };

/** Effects that create a run: performed before the others, which may target that run. */
export const createsRun = (effect: OutboxEffect): effect is Extract<OutboxEffect, { kind: 'startChild' | 'continueAsNew' | 'startScheduled' }> =>
  effect.kind === 'startChild' || effect.kind === 'continueAsNew' || effect.kind === 'startScheduled';

export function outboxEntry(namespace: string, effect: OutboxEffect): OutboxEntry {
  return withTarget({ id: outboxId(namespace, effect), namespace, effect });
}

/** The entry naming the run (or workflow) its effect acts on (entries recorded before they did, as well). */
export function withTarget(entry: OutboxEntry): OutboxEntry {
  const target = effectTarget(entry.namespace, entry.effect as OutboxEffect);
  return { ...entry, target: 'runId' in target ? { runId: target.runId } : { workflowId: target.workflowId } };
}

function outboxId(namespace: string, effect: OutboxEffect): string {
  switch (effect.kind) {
    case 'startChild':
    case 'continueAsNew':
    case 'startScheduled':
      return `${effect.kind}:${namespace}:${effect.runId}`;
    case 'notifyParent':
    case 'cancelChild':
    case 'terminateChild':
      return `${effect.kind}:${namespace}:${effect.parent.runId}:${effect.parent.seq}`;
    case 'signalExternal':
    case 'cancelExternal':
    case 'externalDone':
      return `${effect.kind}:${namespace}:${effect.source.runId}:${effect.source.seq}`;
    case 'deliverJob':
      return `${effect.kind}:${effect.cause}`;
  }
}

/** The run or workflow an effect acts on, whose partition's owner performs it. */
export function effectTarget(namespace: string, effect: OutboxEffect): { runId: string } | { namespace: string; workflowId: string } {
  switch (effect.kind) {
    case 'startChild':
    case 'continueAsNew':
    case 'startScheduled':
      return { runId: effect.runId };
    case 'notifyParent':
      return { runId: effect.parent.runId };
    case 'externalDone':
      return { runId: effect.source.runId };
    case 'deliverJob':
      return { runId: effect.target.runId };
    case 'cancelChild':
    case 'terminateChild':
    case 'signalExternal':
    case 'cancelExternal':
      return { namespace, workflowId: effect.workflowId };
  }
}
