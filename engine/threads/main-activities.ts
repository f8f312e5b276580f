/**
 * Activity functions given to `Engine.open({ activities })` of a threaded engine stay in the
 * main thread (a function cannot be sent to another thread). A partition thread's dispatcher
 * runs, for each of them, a stand-in (`MainActivityProxies`) that asks the main thread to run
 * the function (`MainActivityRunner`) under a context of its own: the attempt's info, a
 * cancellation signal the partition thread aborts, heartbeats sent back. Timeouts, retries
 * and recording stay with the partition thread's dispatcher.
 *
 * @module
 */
import type { ActivityCancellationDetailsOptions } from '../../common/activity-cancellation.js';
import { attemptCancellation, cancellationDetailsOf } from '../activities/cancellation.js';
import { activityContext, activityLoggerOf, Context, type ActivityInfo } from '../activities/context.js';
import type { ActivityFunction, ActivityRegistry } from '../activities/dispatcher.js';
import type { Logger } from '../logger.js';
import { asJson, type PortRpc } from './port-rpc.js';

/** The names of the main thread's activity functions: for every namespace, and per namespace. */
export interface ActivityNames {
  all: string[];
  byNamespace: Record<string, string[]>;
}

export const namesOf = (registry: ActivityRegistry): ActivityNames => ({
  all: Object.keys(registry.all),
  byNamespace: Object.fromEntries(Object.entries(registry.byNamespace).map(([namespace, functions]) => [namespace, Object.keys(functions)])),
});

interface RunActivity {
  id: number;
  activityType: string;
  args: unknown[];
  info: ActivityInfo;
}

/** Partition thread side: a registry whose functions are run by the main thread. */
export class MainActivityProxies {
  private nextId = 1;
  /** The contexts of attempts running in the main thread now, by call id. */
  private readonly running = new Map<number, Context>();

  constructor(
    private readonly main: PortRpc,
    private readonly logger: Logger,
  ) {}

  registry(names: ActivityNames): ActivityRegistry {
    const proxies = (types: string[]) => Object.fromEntries(types.map((type): [string, ActivityFunction] => [type, (...args: unknown[]) => this.run(type, args)]));
    return { all: proxies(names.all), byNamespace: Object.fromEntries(Object.entries(names.byNamespace).map(([namespace, types]) => [namespace, proxies(types)])) };
  }

  /** A heartbeat the main thread's attempt reported. */
  heartbeat({ id, details }: { id: number; details: unknown }): void {
    try {
      this.running.get(id)?.heartbeat(details);
    } catch (error) {
      this.logger.warn({ err: error }, 'an activity heartbeat was refused');
    }
  }

  private async run(activityType: string, args: unknown[]): Promise<unknown> {
    const context = Context.current();
    const id = this.nextId++;
    this.running.set(id, context);
    const { cancellationSignal: signal } = context;
    const onAbort = () => {
      const reason = signal.reason as Error | undefined;
      this.main.notify('activityCancelled', { id, message: reason?.message ?? 'Activity cancelled', why: { ...cancellationDetailsOf(reason) } });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.main.call('runActivity', [{ id, activityType, args, info: context.info } satisfies RunActivity]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.running.delete(id);
    }
  }
}

/** Main thread side: runs the functions partition threads ask for. */
export class MainActivityRunner {
  /** Attempts running here, by partition thread and call id. */
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly registry: ActivityRegistry,
    private readonly logger: Logger,
    /** What `Context.client` of aion/activity talks to. */
    private readonly engine: object,
  ) {}

  async run(thread: number, rpc: PortRpc, { id, activityType, args, info }: RunActivity): Promise<unknown> {
    const fn = this.registry.byNamespace[info.namespace]?.[activityType] ?? this.registry.all[activityType];
    if (fn === undefined) throw new Error(`the main thread has no activity function ${activityType}`);
    const key = `${thread}:${id}`;
    const controller = new AbortController();
    this.running.set(key, controller);
    const ids = { namespace: info.namespace, workflowId: info.workflowId, runId: info.runId, activityType, activityId: info.activityId, attempt: info.attempt };
    const context = new Context(info, controller.signal, (details) => rpc.notify('activityHeartbeat', { id, details: asJson(details) }), activityLoggerOf(this.logger, ids), this.engine);
    try {
      return asJson(await activityContext.run(context, () => fn(...args)));
    } finally {
      // Unless a restarted thread's attempt took the key meanwhile.
      if (this.running.get(key) === controller) this.running.delete(key);
    }
  }

  /** Thread `thread` died: its attempts here are cancelled (its replacement dispatches them again). */
  threadGone(thread: number): void {
    for (const [key, controller] of this.running) {
      if (!key.startsWith(`${thread}:`)) continue;
      this.running.delete(key);
      controller.abort(attemptCancellation(`partition thread ${thread} stopped`, { workerShutdown: true }));
    }
  }

  cancelled(thread: number, { id, message, why }: { id: number; message: string; why: ActivityCancellationDetailsOptions }): void {
    this.running.get(`${thread}:${id}`)?.abort(attemptCancellation(message, why));
  }
}
