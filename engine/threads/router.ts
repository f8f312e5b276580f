/**
 * Public calls of a threaded engine that name a workflow (or a run) another thread serves:
 * sent to that thread, whose answer or error comes back. The main thread serves no workflow,
 * so it sends them all; a partition thread sends those of the other threads' partitions (an
 * activity's `Context.client`, for one).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '../../common/failures.js';
import type { AsyncCompletionHandle } from '../activities/async-completion.js';
import { decodeTaskToken } from '../activities/task-token.js';
import type { Engine, SignalWithStartOptions, StartOptions, UpdateWithStartOptions } from '../engine.js';
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_NAMESPACE } from '../hosting/namespaces.js';
import { checkId } from '../input.js';
import type { HandleRef, HandleRoute } from './forwarded-handle.js';
import type { Placement } from './placement.js';
import { asJson, sendError, type PortRpc } from './port-rpc.js';

export class PartitionRouter {
  constructor(private readonly placement: Placement) {}

  /** The start's options, with the workflow id a start without one gets here (it picks the partition). */
  withWorkflowId(options: StartOptions): StartOptions {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('start options must be an object');
    return options.workflowId === undefined ? { ...options, workflowId: randomUUID() } : options;
  }

  /** Undefined when this thread serves the workflow (the owner validates the options). */
  start(workflowType: string, options: StartOptions): Promise<HandleRef> | undefined {
    return this.ownerOf(options)?.call('start', [workflowType, withJsonPayloads(options)]);
  }

  signalWithStart(workflowType: string, options: SignalWithStartOptions): Promise<HandleRef> | undefined {
    return this.ownerOf(options, 'signalWithStart')?.call('signalWithStart', [workflowType, withJsonPayloads(options)]);
  }

  startUpdateWithStart(workflowType: string, options: UpdateWithStartOptions): Promise<{ workflow: HandleRef; updateId: string }> | undefined {
    return this.ownerOf(options, 'startUpdateWithStart')?.call('startUpdateWithStart', [workflowType, withJsonPayloads(options)]);
  }

  reset(workflowId: string, options: Parameters<Engine['reset']>[1]): ReturnType<Engine['reset']> | undefined {
    return this.ownerOf({ workflowId, namespace: options?.namespace }, 'reset')?.call('reset', [workflowId, options]);
  }

  upgrade(runId: string, options: Parameters<Engine['upgrade']>[1] = {}): ReturnType<Engine['upgrade']> | undefined {
    return this.placement.ownerOfRun(checkId(runId, 'runId'))?.call('upgrade', [runId, options]);
  }

  /** The token names the run, whose thread holds the activity. */
  asyncCompletion(taskToken: Uint8Array | string, options: { namespace?: string }): AsyncCompletionHandle | undefined {
    const owner = this.placement.ownerOfRun(decodeTaskToken(taskToken).runId);
    if (!owner) return undefined;
    const call = (method: keyof AsyncCompletionHandle, args: unknown[]) => owner.call<void>('asyncCompletion', [taskToken, options, method, args]);
    return {
      complete: (result) => call('complete', [asJson(result)]),
      fail: (error) => call('fail', [sendError(error instanceof Error ? error : ApplicationFailure.create({ message: String(error) }))]),
      reportCancellation: (details) => call('reportCancellation', [asJson(details)]),
      heartbeat: (details) => call('heartbeat', [asJson(details)]),
    };
  }

  /** The thread serving the handle's workflow, or undefined when it is this one. */
  routeOf({ namespace, workflowId }: HandleRef): HandleRoute | undefined {
    if (this.placement.ownerOfWorkflow(namespace, workflowId) === undefined) return undefined;
    return { owner: () => this.placement.ownerOfWorkflow(namespace, workflowId)!, whenLive: () => this.placement.whenOwnerOfWorkflowLive(namespace, workflowId) };
  }

  private ownerOf(options: { workflowId?: unknown; namespace?: unknown } | undefined, call = 'start'): PortRpc | undefined {
    if (typeof options !== 'object' || options === null || options.workflowId === undefined) throw new InvalidArgumentError(`${call} needs a workflowId`);
    return this.placement.ownerOfWorkflow(checkId(options.namespace ?? DEFAULT_NAMESPACE, 'namespace'), checkId(options.workflowId, 'workflowId'));
  }
}

/** Start options with their payloads (arguments, memo) as JSON carries them. */
function withJsonPayloads<T extends StartOptions & { signalArgs?: unknown[]; updateArgs?: unknown[] }>(options: T): T {
  if (typeof options !== 'object' || options === null) return options;
  const payloads = (['args', 'signalArgs', 'updateArgs', 'memo'] as const).filter((field) => options[field] !== undefined);
  return { ...options, ...Object.fromEntries(payloads.map((field) => [field, asJson(options[field])])) };
}
