/**
 * What the threads of a threaded engine ask each other. A partition thread serves the calls
 * naming a workflow or run of its partitions (the main thread's public API, forwarded), and
 * performs the effects other threads recorded on them; the main thread serves admission
 * (quotas are counted across partitions, start rates kept in one place) and takes the
 * events and schedule notices the partition threads send.
 *
 * @module
 */
import type { EventEmitter } from 'node:events';
import type { OutboxEntry, PartitionedEventStore, RunRecord } from '../../store/index.js';
import type { AsyncCompletionHandle } from '../activities/async-completion.js';
import type { Engine, EngineEvents, SignalWithStartOptions, StartOptions, UpdateWithStartOptions } from '../engine.js';
import type { HistoryEvent, JobEventType, NewEventOf } from '../history/events.js';
import type { ParentLink } from '../outbox.js';
import type { Schedules } from '../schedules/schedules.js';
import type { HandleRef, StartedUpdate } from './forwarded-handle.js';
import type { MainActivityRunner } from './main-activities.js';
import type { Placement } from './placement.js';
import { rebuildError, type Handlers, type PortRpc, type StreamHandlers } from './port-rpc.js';

/** What a partition thread's engine is opened with (`Engine.open`'s second argument). */
export interface PartitionSide {
  store: PartitionedEventStore<HistoryEvent>;
  placement: Placement;
  main: PortRpc;
  /** How many partition threads share the namespaces' resident quotas. */
  threads: number;
  /** Called with the engine's services once it has recovered (the other threads' calls wait until then). */
  serve(services: PartitionServices): void;
}

/** What a partition thread's engine does for the other threads. */
export interface PartitionServices {
  engine: Engine;
  /** Performs an effect another thread recorded (its entry lives in `home`). */
  performEffect(entry: OutboxEntry, home: 'control' | number): Promise<void>;
  /** Delivers a job to a run here, in the write performing another thread's entry. */
  deliverEffect(entry: OutboxEntry, home: 'control' | number, target: ParentLink, event: NewEventOf<JobEventType>): Promise<void>;
  /** Namespaces, versions or routes changed: read them again. */
  reloadControl(): Promise<void>;
  /** A thread was restarted: effects waiting to be retried (some may be for its runs) are attempted now. */
  retryEffects(): void;
}

/** What the main thread does for its partition threads. */
export interface MainServices {
  admitStart(namespace: string): Promise<void>;
  scheduledRunClosed(record: RunRecord): void;
  /** The schedules, which a partition thread changes through this thread. */
  schedules: Schedules;
  /** The engine's events, which the partition threads' events are emitted on. */
  events: EventEmitter<EngineEvents>;
  /** Runs the activity functions given to the engine for the partition threads. */
  activities: MainActivityRunner;
  /** Threads were restarted: effects waiting to be retried (some may be for their runs) are attempted now. */
  retryEffects(): void;
}

/** An `engine.events` event of a partition thread, re-emitted by the main thread. */
export interface ForwardedEvent {
  name: keyof EngineEvents;
  args: unknown[];
}

/** A run or workflow a call created: what the main thread makes its handle from. */
export const refOf = (handle: { namespace: string; workflowId: string; runId: string | undefined }): HandleRef => ({
  namespace: handle.namespace,
  workflowId: handle.workflowId,
  ...(handle.runId !== undefined ? { runId: handle.runId } : {}),
  followRuns: true,
});

type AsyncCompletionMethod = keyof AsyncCompletionHandle;

/** The calls and streams a partition thread serves, answered once its engine is open. */
export function partitionHandlers(ready: Promise<PartitionServices>): { handlers: Handlers; streams: StreamHandlers } {
  const engine = async () => (await ready).engine;
  const handlers: Handlers = {
    start: async ([type, options]) => refOf(await (await engine()).start(type as string, options as StartOptions)),
    signalWithStart: async ([type, options]) => refOf(await (await engine()).signalWithStart(type as string, options as SignalWithStartOptions)),
    startUpdateWithStart: async ([type, options]) => {
      const { workflow, update } = await (await engine()).startUpdateWithStart(type as string, options as UpdateWithStartOptions);
      return { workflow: refOf(workflow), updateId: update.updateId };
    },
    reset: async ([workflowId, options]) => (await engine()).reset(workflowId as string, options as Parameters<Engine['reset']>[1]),
    upgrade: async ([runId, options]) => (await engine()).upgrade(runId as string, options as Parameters<Engine['upgrade']>[1]),
    asyncCompletion: async ([token, options, method, args]) => {
      const handle = (await engine()).asyncCompletion(token as string, options as { namespace?: string });
      // A failure crosses as an error sent by `sendError`.
      const sent = method === 'fail' ? [rebuildError((args as Parameters<typeof rebuildError>)[0])] : (args as unknown[]);
      return (handle[method as AsyncCompletionMethod] as (...args: unknown[]) => Promise<void>)(...sent);
    },
    handle: async ([ref, method, args], signal) => serveHandleCall(await engine(), ref as HandleRef, method as string, args as unknown[], signal),
    performEffect: async ([entry, home]) => (await ready).performEffect(entry as OutboxEntry, home as 'control' | number),
    deliverEffect: async ([entry, home, target, event]) => (await ready).deliverEffect(entry as OutboxEntry, home as 'control' | number, target as ParentLink, event as NewEventOf<JobEventType>),
    reloadControl: async () => (await ready).reloadControl(),
    pollActivityTask: async ([options]) => (await engine()).pollActivityTask(options as Parameters<Engine['pollActivityTask']>[0]),
    metrics: async () => (await engine()).metrics.registry.getMetricsAsJSON(),
    describeTaskQueue: async ([taskQueue, options]) => (await engine()).describeTaskQueue(taskQueue as string, options as { namespace?: string }),
  };
  const streams: StreamHandlers = {
    handleEvents: async function* ([ref, options], signal) {
      const { namespace, workflowId, runId, followRuns } = ref as HandleRef;
      const handle = (await engine()).getHandle(workflowId, runId, { namespace, followRuns });
      yield* handle.events({ ...(options as { from?: number; follow?: boolean }), signal });
    },
  };
  return { handlers, streams };
}

/** A `WorkflowHandle` call the main thread forwarded, on this thread's own handle. */
async function serveHandleCall(engine: Engine, ref: HandleRef, method: string, args: unknown[], signal: AbortSignal): Promise<unknown> {
  const handle = engine.getHandle(ref.workflowId, ref.runId, { namespace: ref.namespace, followRuns: ref.followRuns });
  switch (method) {
    case 'result':
      return handle.result({ signal });
    case 'startUpdate': {
      const update = await handle.startUpdate(args[0] as string, args[1] as { args?: unknown[]; updateId?: string });
      return { updateId: update.updateId, runId: update.runId } satisfies StartedUpdate;
    }
    case 'updateResult':
      return handle.getUpdateHandle(args[0] as string).result({ signal });
    case 'signal':
    case 'query':
    case 'executeUpdate':
    case 'cancel':
    case 'terminate':
    case 'describe':
    case 'history':
    case 'inspect':
    case 'timeline':
      return (handle[method] as (...args: unknown[]) => Promise<unknown>)(...args);
    default:
      throw new Error(`a workflow handle has no method ${method}`);
  }
}
