/**
 * The main thread's `WorkflowHandle` of a threaded engine: each call is performed by the
 * partition thread serving the workflow, on its own handle (`serveHandleCall`), and its answer
 * or error comes back. The thread is looked up at each call, since a thread that died is
 * replaced; a result awaited when it died is awaited again from its replacement.
 *
 * @module
 */
import type { HistoryEvent } from '../history/events.js';
import { WorkflowHandle, type RunDirectory, type WorkflowDescription, type WorkflowUpdateHandle } from '../handle.js';
import type { InspectOptions, RunAtEvent, TimelineStep } from '../inspector.js';
import { untilAborted } from './bounded-wait.js';
import { asJson, type PortRpc } from './port-rpc.js';

/** What names a handle across threads. */
export interface HandleRef {
  namespace: string;
  workflowId: string;
  runId?: string;
  followRuns: boolean;
}

/** What a thread answers for `startUpdate`: the rest of the update handle is rebuilt here. */
export interface StartedUpdate {
  updateId: string;
  runId: string;
}

/** The thread serving a handle's workflow. */
export interface HandleRoute {
  /** Its link now. */
  owner(): PortRpc;
  /** Resolves once it is live (at once unless it is being restarted). */
  whenLive(): Promise<void>;
}

export class ForwardedWorkflowHandle extends WorkflowHandle {
  constructor(
    directory: RunDirectory,
    private readonly route: HandleRoute,
    private readonly ref: HandleRef,
  ) {
    super(directory, ref.workflowId, ref.runId, ref.namespace, ref.followRuns);
  }

  private call<T>(method: string, args: unknown[], signal?: AbortSignal): Promise<T> {
    return this.route.owner().call<T>('handle', [this.ref, method, args], signal);
  }

  override result(options: { signal?: AbortSignal } = {}): Promise<unknown> {
    return awaitAcrossRestarts(this.route, options.signal, (owner) => owner.call('handle', [this.ref, 'result', []], options.signal));
  }

  override async signal(name: string, ...args: unknown[]): Promise<void> {
    await this.call('signal', [name, ...asJson(args)]);
  }

  override query(name: string, ...args: unknown[]): Promise<unknown> {
    return this.call('query', [name, ...asJson(args)]);
  }

  override executeUpdate(name: string, ...args: unknown[]): Promise<unknown> {
    return this.call('executeUpdate', [name, ...asJson(args)]);
  }

  override async startUpdate(name: string, options: { args?: unknown[]; updateId?: string } = {}): Promise<WorkflowUpdateHandle> {
    const sent = typeof options === 'object' && options !== null ? { ...options, args: asJson(options.args) } : options;
    const { updateId, runId } = await this.call<StartedUpdate>('startUpdate', [name, sent]);
    return { ...forwardedUpdateHandle(this.route, { ...this.ref, runId }, updateId), runId };
  }

  override getUpdateHandle(updateId: string): Omit<WorkflowUpdateHandle, 'runId'> & { runId?: string } {
    return forwardedUpdateHandle(this.route, this.ref, updateId);
  }

  override async cancel(reason?: string): Promise<void> {
    await this.call('cancel', [reason]);
  }

  override async terminate(reason?: string): Promise<void> {
    await this.call('terminate', [reason]);
  }

  override describe(): Promise<WorkflowDescription> {
    return this.call('describe', []);
  }

  override history(): Promise<HistoryEvent[]> {
    return this.call('history', []);
  }

  override async *events(options: { from?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<HistoryEvent> {
    const { signal, ...rest } = options;
    yield* this.route.owner().stream<HistoryEvent>('handleEvents', [this.ref, rest], signal);
  }

  override inspect(options: Omit<InspectOptions, 'limits'>): Promise<RunAtEvent> {
    return this.call('inspect', [options]);
  }

  override timeline(options: { until?: number } = {}): Promise<TimelineStep[]> {
    return this.call('timeline', [options]);
  }
}

function forwardedUpdateHandle(route: HandleRoute, ref: HandleRef, updateId: string): Omit<WorkflowUpdateHandle, 'runId'> & { runId?: string } {
  return {
    updateId,
    workflowId: ref.workflowId,
    ...(ref.runId !== undefined ? { runId: ref.runId } : {}),
    result: (options = {}) => awaitAcrossRestarts(route, options.signal, (owner) => owner.call('handle', [ref, 'updateResult', [updateId]], options.signal)),
  };
}

/**
 * A result awaited from the thread serving the workflow; when that thread dies meanwhile, awaited
 * again from its replacement (a result only reads what is recorded, so asking twice is safe).
 */
async function awaitAcrossRestarts<T>(route: HandleRoute, signal: AbortSignal | undefined, call: (owner: PortRpc) => Promise<T>): Promise<T> {
  for (;;) {
    const owner = route.owner();
    try {
      return await call(owner);
    } catch (error) {
      if (!owner.closed || signal?.aborted) throw error;
      await untilAborted(route.whenLive(), signal);
    }
  }
}
