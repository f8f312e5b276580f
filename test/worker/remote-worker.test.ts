/**
 * Remote activity workers (aion/worker) against a real `aion server` HTTP API, in this
 * process: tasks routed by task queue and namespace, heartbeats with details, cancellation
 * delivered to the worker, the server's start-to-close and heartbeat timeouts re-dispatching
 * an attempt (whose late completion is ignored and logged), a task queue nobody serves,
 * graceful shutdown, and a worker refused by the server's credentials.
 */
import { EventEmitter, once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { activityInfo, cancellationDetails, Context, heartbeat } from '../../activity/index.js';
import type { Engine } from '../../engine/engine.js';
import type { Logger } from '../../engine/logger.js';
import { serveEngine, type RunningServer } from '../../server/serve.js';
import { Worker, type WorkerOptions } from '../../worker/index.js';
import { fixtureBundle, openEngine } from '../helpers.js';

const BUNDLE = 'remote-activities.ts';
let engine: Engine;
let server: RunningServer | undefined;
const workers: Worker[] = [];
/** What the engine logged at warn level. */
const warnings: { attributes: object; message: string }[] = [];
const logger: Logger = { debug() {}, info() {}, warn: (attributes, message) => void warnings.push({ attributes, message }), error() {} };

async function serve(): Promise<void> {
  warnings.length = 0;
  engine = await openEngine({ logger }, BUNDLE);
  server = await serveEngine(engine, { port: 0 });
}

async function startWorker(options: Partial<WorkerOptions> & Pick<WorkerOptions, 'activities'>): Promise<{ worker: Worker; running: Promise<void> }> {
  const worker = await Worker.create({ connection: { address: server!.url }, taskQueue: 'remote', logger, ...options });
  workers.push(worker);
  return { worker, running: worker.run() };
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.shutdown()));
  await server?.close();
  server = undefined;
});

const started = new EventEmitter();

describe('remote activity workers', () => {
  it("run the activities the engine has no function for, from their task queue, with the same activity API", async () => {
    await serve();
    await startWorker({
      identity: 'worker-1',
      activities: { greet: async (name: string) => `hello ${name}: attempt ${activityInfo().attempt} of ${activityInfo().activityType} on ${activityInfo().taskQueue}` },
    });
    const handle = await engine.start('callRemote', { workflowId: 'greeting', args: ['greet', ['ann'], { taskQueue: 'remote', startToCloseTimeout: '10s' }] });
    expect(await handle.result()).toBe('hello ann: attempt 1 of greet on remote');
    expect((await handle.history()).filter((event) => event.type.startsWith('Activity')).map((event) => event.type)).toEqual(['ActivityScheduled', 'ActivityCompleted']);
    expect((await engine.describeTaskQueue('remote')).pollers.map((poller) => poller.identity)).toEqual(['worker-1']);
    // Another queue, and the same queue of another namespace, are other queues.
    expect((await engine.describeTaskQueue('elsewhere')).pollers).toEqual([]);
    expect((await engine.describeTaskQueue('remote', { namespace: 'other' })).pollers).toEqual([]);
  });

  it('leave a task of a queue nobody serves waiting until its schedule-to-start timeout, using up no attempt', async () => {
    await serve();
    await startWorker({ activities: { greet: async () => 'wrong queue' } });
    // Long enough to be seen waiting after a cold sandbox thread's first activation (the timeout counts from it).
    const handle = await engine.start('callRemote', { args: ['greet', [], { taskQueue: 'unserved', startToCloseTimeout: '10s', scheduleToStartTimeout: '3s' }] });
    await expect.poll(async () => (await handle.describe()).pending?.activities).toEqual([expect.objectContaining({ attempt: 1, waitsForWorker: true })]);
    expect((await engine.describeTaskQueue('unserved')).backlog).toBe(1);
    await expect(handle.result()).rejects.toMatchObject({ cause: { cause: { message: "no worker of task queue 'unserved' of namespace 'default' took activity 'greet' (schedule-to-start timeout)" } } });
    expect((await engine.describeTaskQueue('unserved')).backlog).toBe(0);
  });

  it('take a queued attempt out of its queue when the workflow cancels it or its run closes: no worker gets it', async () => {
    await serve();
    const cancelled = await engine.start('cancelRemote', { args: ['greet', { taskQueue: 'remote', startToCloseTimeout: '10s' }] });
    const closed = await engine.start('callRemote', { args: ['greet', [], { taskQueue: 'remote', startToCloseTimeout: '10s' }] });
    await expect.poll(async () => (await engine.describeTaskQueue('remote')).backlog).toBe(2);
    await cancelled.signal('stop');
    expect(await cancelled.result()).toBe('cancelled');
    await closed.terminate('done with it');
    expect((await engine.describeTaskQueue('remote')).backlog).toBe(0);
    expect(await engine.pollActivityTask({ taskQueue: 'remote', identity: 'late-worker', waitMs: 0 })).toBeUndefined();
  });

  it('never route a local activity to a task queue: without a function it waits for its timeout', async () => {
    await serve();
    const handle = await engine.start('callLocal', { args: ['greet', [], { startToCloseTimeout: '10s', scheduleToStartTimeout: '300ms' }] });
    await expect(handle.result()).rejects.toMatchObject({ cause: { cause: { message: "local activity 'greet' is not registered for namespace 'default' (schedule-to-start timeout)" } } });
    expect((await engine.describeTaskQueue('default')).backlog).toBe(0);
  });

  it('fail an activity type the worker does not have as Temporal does (retryable NotFoundError), and report failures with their type', async () => {
    await serve();
    await startWorker({ activities: { other: async () => 'x', refuse: async () => Promise.reject(Object.assign(new TypeError('bad input'), {})) } });
    const missing = await engine.start('callRemote', { args: ['absent', [], { taskQueue: 'remote', startToCloseTimeout: '10s', retry: { maximumAttempts: 2, initialInterval: '10ms' } }] });
    await expect(missing.result()).rejects.toMatchObject({
      cause: { cause: { type: 'NotFoundError', message: 'Activity function absent is not registered on this worker, available activities: ["other","refuse"]' } },
    });
    expect((await missing.history()).find((event) => event.type === 'ActivityFailed')).toMatchObject({ attempt: 2 });
    const refused = await engine.start('callRemote', { args: ['refuse', [], { taskQueue: 'remote', startToCloseTimeout: '10s', retry: { maximumAttempts: 1 } }] });
    await expect(refused.result()).rejects.toMatchObject({ cause: { cause: { type: 'TypeError', message: 'bad input', stack: expect.stringContaining('TypeError: bad input') } } });
  });

  it('record heartbeat details, and deliver the cancellation the workflow asks for to the worker, which reports it', async () => {
    await serve();
    const seen: unknown[] = [];
    await startWorker({
      activities: {
        async beatUntilCancelled() {
          const context = Context.current();
          for (let beat = 1; !context.cancellationSignal.aborted; beat++) {
            heartbeat({ beat });
            if (beat === 2) started.emit('beating');
            await context.sleep(30).catch(() => undefined);
          }
          seen.push(cancellationDetails());
          await context.cancelled;
        },
      },
    });
    const handle = await engine.start('cancelRemote', { args: ['beatUntilCancelled', { taskQueue: 'remote', startToCloseTimeout: '20s', heartbeatTimeout: '2s' }] });
    await once(started, 'beating');
    await expect.poll(async () => (await handle.describe()).pending?.activities[0]).toMatchObject({ heartbeatDetails: { beat: expect.any(Number) }, worker: expect.stringMatching(/^\d+@/) });
    await handle.signal('stop');
    expect(await handle.result()).toBe('cancelled');
    expect(seen).toEqual([expect.objectContaining({ cancelRequested: true, timedOut: false })]);
    const history = await handle.history();
    expect(history.map((event) => event.type)).toContain('ActivityCancelRequested');
    expect(history.find((event) => event.type === 'ActivityFailed')).toMatchObject({ failure: { cause: { failureType: 'CancelledFailure' } } });
  });

  it('time an attempt out on the server (start-to-close), dispatch it again, and ignore the late completion of the first attempt', async () => {
    await serve();
    let releaseFirst!: () => void;
    const firstReleased = new Promise<void>((resolve) => (releaseFirst = resolve));
    const { worker } = await startWorker({
      activities: {
        async slowThenFast() {
          if (activityInfo().attempt > 1) return `attempt ${activityInfo().attempt}`;
          await firstReleased; // ignores its cancellation: as a worker that hangs would
          return 'attempt 1 (too late)';
        },
      },
    });
    const handle = await engine.start('callRemote', { args: ['slowThenFast', [], { taskQueue: 'remote', startToCloseTimeout: '200ms', retry: { initialInterval: '10ms' } }] });
    expect(await handle.result()).toBe('attempt 2');
    releaseFirst();
    await expect.poll(() => worker.numInFlightActivities).toBe(0);
    expect(warnings.map((warning) => warning.message)).toContain('ignored the completion of an activity attempt that is no longer running (it timed out, was retried or cancelled, or completed already)');
    const activityEvents = (await handle.history()).filter((event) => event.type.startsWith('Activity'));
    expect(activityEvents.map((event) => event.type)).toEqual(['ActivityScheduled', 'ActivityCompleted']);
    expect(activityEvents[1]).toMatchObject({ attempt: 2, result: 'attempt 2' });
  });

  it('time an attempt out when its heartbeats stop (heartbeat timeout), giving the next attempt the last details', async () => {
    await serve();
    let releaseFirst!: () => void;
    const firstReleased = new Promise<void>((resolve) => (releaseFirst = resolve));
    await startWorker({
      activities: {
        async resumes() {
          const { attempt, heartbeatDetails } = activityInfo();
          if (attempt > 1) return { attempt, resumedFrom: heartbeatDetails };
          heartbeat({ done: 3 });
          await firstReleased; // goes silent
          return 'too late';
        },
      },
    });
    const handle = await engine.start('callRemote', { args: ['resumes', [], { taskQueue: 'remote', startToCloseTimeout: '20s', heartbeatTimeout: '200ms', retry: { initialInterval: '10ms' } }] });
    expect(await handle.result()).toEqual({ attempt: 2, resumedFrom: { done: 3 } });
    releaseFirst();
  });

  it('shut down gracefully: stop polling, let the attempts in flight finish and report, then resolve run()', async () => {
    await serve();
    let finish!: () => void;
    const finishing = new Promise<void>((resolve) => (finish = resolve));
    const { worker, running } = await startWorker({
      activities: {
        async slow() {
          started.emit('slow');
          await finishing;
          return 'finished after shutdown began';
        },
      },
    });
    const handle = await engine.start('callRemote', { args: ['slow', [], { taskQueue: 'remote', startToCloseTimeout: '20s' }] });
    await once(started, 'slow');
    const stopped = worker.shutdown();
    expect(worker.getState()).toBe('STOPPING');
    finish();
    await stopped;
    await running;
    expect(worker.getState()).toBe('STOPPED');
    expect(await handle.result()).toBe('finished after shutdown began');
    // No poll is open any more: a new task waits in the queue.
    await engine.start('callRemote', { args: ['slow', [], { taskQueue: 'remote', startToCloseTimeout: '20s' }] });
    await expect.poll(async () => (await engine.describeTaskQueue('remote')).backlog).toBe(1);
  });

  it('refuse a worker whose key does not serve the namespace: run() rejects with the reason', async () => {
    await serve();
    await engine.namespaces.create('acme');
    await engine.namespaces.create('globex');
    const globexWorker = (await engine.apiKeys.create({ role: 'worker', namespace: 'globex' })).key;
    const acmeReader = (await engine.apiKeys.create({ role: 'read', namespace: 'acme' })).key;
    const activities = { greet: async () => 'hi' };
    const foreign = await Worker.create({ connection: { address: server!.url, apiKey: globexWorker }, namespace: 'acme', taskQueue: 'remote', activities, logger });
    await expect(foreign.run()).rejects.toThrow("the server refused the worker's poll: namespace acme not found");
    expect(foreign.getState()).toBe('FAILED');
    const reader = await Worker.create({ connection: { address: server!.url, apiKey: acmeReader }, namespace: 'acme', taskQueue: 'remote', activities, logger });
    await expect(reader.run()).rejects.toThrow("the server refused the worker's poll: a read key may not poll or complete activity tasks in namespace acme");
  });

  it("keep a namespace's task queues to its own workers: another namespace's queue of the same name is another queue", async () => {
    await serve();
    await engine.namespaces.create('acme');
    await engine.namespaces.create('globex');
    await engine.deploy({ code: await fixtureBundle(BUNDLE), namespace: 'acme' });
    const acmeWorker = (await engine.apiKeys.create({ role: 'worker', namespace: 'acme' })).key;
    const globexWorker = (await engine.apiKeys.create({ role: 'worker', namespace: 'globex' })).key;
    const globexReader = (await engine.apiKeys.create({ role: 'read', namespace: 'globex' })).key;
    const handle = await engine.start('callRemote', { namespace: 'acme', args: ['greet', ['ann'], { taskQueue: 'remote', startToCloseTimeout: '10s' }] });
    await expect.poll(async () => (await engine.describeTaskQueue('remote', { namespace: 'acme' })).backlog).toBe(1);
    const call = (path: string, key: string, body?: unknown) =>
      fetch(`${server!.url}/v1/namespaces/${path}`, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    expect((await call('globex/task-queues/remote/activity-tasks/poll', globexWorker, { identity: 'globex-worker', waitMs: 100 })).status).toBe(204);
    expect(await (await call('globex/task-queues/remote', globexReader)).json()).toEqual({ backlog: 0, pollers: [{ identity: 'globex-worker', lastAccessTime: expect.any(String) }] });
    expect((await call('acme/task-queues/remote', globexReader)).status).toBe(404);
    await startWorker({ namespace: 'acme', connection: { address: server!.url, apiKey: acmeWorker }, activities: { greet: async (name: string) => `hello ${name}` } });
    expect(await handle.result()).toBe('hello ann');
  });

  it('refuse bad options, naming them', async () => {
    await expect(Worker.create({ taskQueue: 'q', activities: {} })).rejects.toThrow('Worker.create needs activities: the object has no function');
    await expect(Worker.create({ taskQueue: '', activities: { a: async () => 1 } })).rejects.toThrow('Worker.create needs a taskQueue');
    await expect(Worker.create({ taskQueue: 'q', activities: { a: async () => 1 }, maxConcurrentActivityTaskExecutions: 0 })).rejects.toThrow('maxConcurrentActivityTaskExecutions must be an integer, at least 1');
    await expect(Worker.create({ taskQueue: 'q', activities: { a: async () => 1 }, taskQeue: 'x' } as WorkerOptions)).rejects.toThrow(/taskQeue/);
  });
});
