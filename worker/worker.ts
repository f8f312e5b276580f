/**
 * `aion/worker`: runs activities in their own process, for an `aion server`, with Temporal's
 * shape — `Worker.create({ connection, namespace, taskQueue, activities })`, `worker.run()`,
 * `worker.shutdown()`. The worker long-polls its namespace's task queue over HTTP, runs each
 * task it receives in the `aion/activity` context, heartbeats and reports the outcome; the
 * server enforces the activity's timeouts and retries, so a worker that dies only delays its
 * attempts until they time out and go to another worker.
 *
 * @example
 * import { Worker } from 'aion/worker';
 * import * as activities from './activities.js';
 * const worker = await Worker.create({ connection: { address: 'aion.internal:7233', apiKey: process.env.AION_API_KEY }, namespace: 'shop', taskQueue: 'payments', activities });
 * process.on('SIGTERM', () => worker.shutdown());
 * await worker.run(); // until shut down: in-flight tasks finish first
 *
 * @module
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '../client/index.js';
import { attemptCancellation, checkOptionKeys, defaultLogger, InvalidArgumentError, toMs, type ActivityFunction, type Duration, type Logger } from '../engine/index.js';
import { runAttempt, type RunningAttempt } from './activity-attempt.js';
import { WorkerCallError, WorkerTransport, type WorkerConnectionOptions } from './worker-transport.js';

export interface WorkerOptions {
  /** The server to work for, and the worker's API key (role `worker` in `namespace`). */
  connection?: WorkerConnectionOptions;
  /** Default `default`. */
  namespace?: string;
  /** The task queue to poll: activities scheduled with this `taskQueue` (a workflow's activities default to its own). */
  taskQueue: string;
  /** The activity functions by type name (an object of functions, as a module's exports). */
  activities: object;
  /** Attempts run at the same time, at most (default 100). */
  maxConcurrentActivityTaskExecutions?: number;
  /** Long polls open at the same time, at most (default 5). */
  maxConcurrentActivityTaskPolls?: number;
  /** Names the worker in the server's task-queue description and logs (default `<pid>@<hostname>`). */
  identity?: string;
  /**
   * After `shutdown()`, how long in-flight attempts may run before their signal aborts
   * (`cancellationDetails().workerShutdown`); default: they run to their end.
   */
  shutdownGraceTime?: Duration;
  /** Where the worker logs (a pino logger fits); default pino at `AION_LOG_LEVEL` (warn). */
  logger?: Logger;
}

export type WorkerState = 'INITIALIZED' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'FAILED';

const OPTION_KEYS = [
  'connection',
  'namespace',
  'taskQueue',
  'activities',
  'maxConcurrentActivityTaskExecutions',
  'maxConcurrentActivityTaskPolls',
  'identity',
  'shutdownGraceTime',
  'logger',
] as const satisfies readonly (keyof WorkerOptions)[];

export class Worker {
  private state: WorkerState = 'INITIALIZED';
  private readonly inFlight = new Set<RunningAttempt>();
  /** Execution slots taken: by open polls (each may bring a task) and attempts in flight. */
  private slotsTaken = 0;
  /** Poll loops waiting for a free execution slot. */
  private readonly slotWaiters: (() => void)[] = [];
  /** Aborted by `shutdown()`: ends open polls and backoff waits. */
  private readonly stopping = new AbortController();
  private markStopped!: () => void;
  private readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));

  private constructor(
    private readonly options: Required<Pick<WorkerOptions, 'namespace' | 'taskQueue' | 'identity' | 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentActivityTaskPolls'>> & {
      activities: Record<string, ActivityFunction>;
      shutdownGraceMs?: number;
    },
    private readonly transport: WorkerTransport,
    private readonly logger: Logger,
    private readonly clientConnection: Connection,
  ) {}

  /** Checks the options and makes a worker; `run()` starts it. */
  static async create(options: WorkerOptions): Promise<Worker> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('Worker.create needs options');
    checkOptionKeys(options, OPTION_KEYS, 'Worker.create');
    if (typeof options.taskQueue !== 'string' || options.taskQueue === '') throw new InvalidArgumentError('Worker.create needs a taskQueue');
    const activities = activityFunctions(options.activities);
    const positive = (name: string, value: number | undefined, fallback: number) => {
      if (value === undefined) return fallback;
      if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError(`${name} must be an integer, at least 1`);
      return value;
    };
    const connection = options.connection ?? {};
    const namespace = options.namespace ?? 'default';
    return new Worker(
      {
        namespace,
        taskQueue: options.taskQueue,
        identity: options.identity ?? `${process.pid}@${hostname()}`,
        maxConcurrentActivityTaskExecutions: positive('maxConcurrentActivityTaskExecutions', options.maxConcurrentActivityTaskExecutions, 100),
        maxConcurrentActivityTaskPolls: positive('maxConcurrentActivityTaskPolls', options.maxConcurrentActivityTaskPolls, 5),
        activities,
        ...(options.shutdownGraceTime !== undefined ? { shutdownGraceMs: toMs(options.shutdownGraceTime) } : {}),
      },
      new WorkerTransport(connection, namespace),
      options.logger ?? defaultLogger(),
      Connection.lazy(connection),
    );
  }

  getState(): WorkerState {
    return this.state;
  }

  /** Attempts running now. */
  get numInFlightActivities(): number {
    return this.inFlight.size;
  }

  /**
   * Polls and runs tasks until `shutdown()`, then waits for the attempts in flight to end.
   * Rejects when the server refuses the worker (bad key, wrong role, unknown namespace).
   */
  async run(): Promise<void> {
    if (this.state !== 'INITIALIZED') throw new InvalidArgumentError(`a worker runs once; this one is ${this.state}`);
    this.state = 'RUNNING';
    this.logger.info({ taskQueue: this.options.taskQueue, namespace: this.options.namespace, identity: this.options.identity }, 'worker polling');
    let failure: unknown;
    const loops = Array.from({ length: Math.min(this.options.maxConcurrentActivityTaskPolls, this.options.maxConcurrentActivityTaskExecutions) }, () =>
      this.pollLoop().catch((error: unknown) => {
        failure ??= error;
        this.beginShutdown();
      }),
    );
    await Promise.all(loops);
    await this.drain();
    this.state = failure === undefined ? 'STOPPED' : 'FAILED';
    this.markStopped();
    if (failure !== undefined) throw failure;
  }

  /**
   * Stops polling and lets the attempts in flight finish (until `shutdownGraceTime`, if set);
   * resolves once the worker stopped. `run()` resolves then too.
   */
  shutdown(): Promise<void> {
    if (this.state === 'INITIALIZED') {
      this.state = 'STOPPED';
      this.markStopped();
    }
    this.beginShutdown();
    return this.stopped;
  }

  private beginShutdown(): void {
    if (this.state !== 'RUNNING') return;
    this.state = 'STOPPING';
    this.stopping.abort();
    for (const wake of this.slotWaiters.splice(0)) wake();
    if (this.options.shutdownGraceMs !== undefined) {
      setTimeout(() => {
        for (const attempt of this.inFlight) attempt.abort(attemptCancellation('Worker shutting down', { workerShutdown: true }));
      }, this.options.shutdownGraceMs).unref();
    }
  }

  private async pollLoop(): Promise<void> {
    let backoff = 0;
    while (this.state === 'RUNNING') {
      if (!(await this.takeSlot())) return;
      let message;
      try {
        message = await this.transport.poll(this.options.taskQueue, this.options.identity, this.stopping.signal);
        backoff = 0;
      } catch (error) {
        this.releaseSlot();
        if (this.stopping.signal.aborted) return;
        if (error instanceof WorkerCallError && error.permanent) throw new WorkerCallError(error.status, error.code, `the server refused the worker's poll: ${error.message}`);
        backoff = Math.min(Math.max(backoff * 2, 200), 10_000);
        this.logger.warn({ err: error, retryInMs: backoff }, 'could not poll the task queue; trying again');
        await sleep(backoff, undefined, { signal: this.stopping.signal }).catch(() => undefined);
        continue;
      }
      if (message === undefined) {
        this.releaseSlot();
        continue;
      }
      // The poll's slot passes to the attempt.
      const attempt = runAttempt(message, { activities: this.options.activities, transport: this.transport, logger: this.logger, clientConnection: this.clientConnection });
      this.inFlight.add(attempt);
      void attempt.done.finally(() => {
        this.inFlight.delete(attempt);
        this.releaseSlot();
      });
    }
  }

  /** Takes an execution slot for a poll, waiting for one; false when the worker stops meanwhile. */
  private async takeSlot(): Promise<boolean> {
    while (this.state === 'RUNNING' && this.slotsTaken >= this.options.maxConcurrentActivityTaskExecutions) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    if (this.state !== 'RUNNING') return false;
    this.slotsTaken++;
    return true;
  }

  private releaseSlot(): void {
    this.slotsTaken--;
    this.slotWaiters.shift()?.();
  }

  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight].map((attempt) => attempt.done));
  }
}

/** The functions of `activities` by name: an object of functions, or a module namespace. */
function activityFunctions(activities: unknown): Record<string, ActivityFunction> {
  if (typeof activities !== 'object' || activities === null) throw new InvalidArgumentError('Worker.create needs activities: an object of activity functions by type name');
  const functions: Record<string, ActivityFunction> = {};
  for (const [name, value] of Object.entries(activities)) if (typeof value === 'function') functions[name] = value as ActivityFunction;
  if (Object.keys(functions).length === 0) throw new InvalidArgumentError('Worker.create needs activities: the object has no function');
  return functions;
}
