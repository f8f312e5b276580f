/**
 * `aion/client`, Temporal's client API, the same scenario in process and over HTTP: start,
 * execute, signalWithStart, handles that take definitions or names, updates, describe, list
 * with Temporal's filter syntax, count, failures, asynchronous activity completion.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Client,
  Connection,
  InvalidArgumentError,
  ScheduleOverlapPolicy,
  WithStartWorkflowOperation,
  WorkflowFailedError,
  WorkflowIdConflictPolicy,
  WorkflowAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateNotFoundError,
  WorkflowUpdateStage,
} from '../../client/index.js';
import { ApplicationFailure } from '../../common/failures.js';
import type { Engine } from '../../engine/engine.js';
import { serveEngine, type RunningServer } from '../../server/serve.js';
import { completedElsewhere } from '../fixtures/temporal-activities.js';
import { openEngine } from '../helpers.js';

const ping = { name: 'ping' };
const slowUpdate = { name: 'slowUpdate' };
const setLimit = { name: 'setLimit' };
const add = { name: 'add' };
const open = { name: 'open' };
const finish = { name: 'finish' };
const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const connections: [string, (engine: Engine) => Promise<Connection>][] = [
  ['in process', async (engine) => Connection.inProcess(engine)],
  [
    'over HTTP',
    async (engine) => {
      const server = await serveEngine(engine, { port: 0 });
      servers.push(server);
      return Connection.connect({ address: server.url });
    },
  ],
];

describe.each(connections)('aion/client %s', (connectionName, connect) => {
  async function client(activities = {}) {
    const engine = await openEngine({ activities }, 'temporal-compat.ts');
    return new Client({ connection: await connect(engine) });
  }

  it('starts, signals by definition and by name, runs updates, queries, and returns results', async () => {
    const { workflow } = await client();
    const receiver = await workflow.start('pingReceiver', { workflowId: 'receiver', taskQueue: 'main' });
    expect(receiver.firstExecutionRunId).toEqual(expect.any(String));
    await receiver.signal(ping, 'one');
    await receiver.signal('ping', 'stop');
    expect(await receiver.result()).toEqual(['one', 'stop']);

    const waiting = await workflow.start('waitsForHandlers', { workflowId: 'updates', taskQueue: 'main' });
    expect(await waiting.executeUpdate(slowUpdate, { args: [5] })).toBe('slept 5 in slowUpdate');
    expect(await waiting.result()).toBe('handlers finished: true');

    const handlers = await workflow.start('defaultHandlers', { workflowId: 'defaults', taskQueue: 'main' });
    expect(await workflow.getHandle('defaults').query('anything', 'a')).toBe('query anything(a) after 0 signals');
    await handlers.signal('done');
    await handlers.result();

    expect(await workflow.execute('rootOfChain', { workflowId: 'root', taskQueue: 'main', args: [0] })).toEqual({});
    const started = await workflow.signalWithStart('pingReceiver', { workflowId: 'with-start', taskQueue: 'main', signal: ping, signalArgs: ['stop'] });
    expect(await started.result()).toEqual(['stop']);

    const description = await workflow.getHandle('receiver').describe();
    expect(description).toMatchObject({ workflowId: 'receiver', type: 'pingReceiver', status: { name: 'COMPLETED' } });
    expect(description.startTime).toBeInstanceOf(Date);
    const listed = [];
    for await (const run of workflow.list({ query: "WorkflowType = 'pingReceiver' AND ExecutionStatus = 'Completed'" })) listed.push(run.workflowId);
    expect(listed.sort()).toEqual(['receiver', 'with-start']);
    expect(await workflow.count("WorkflowType = 'pingReceiver'")).toEqual({ count: 2 });
    expect(await workflow.count("WorkflowId = 'receiver' AND ExecutionStatus = 'Completed'")).toEqual({ count: 1 });
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
    expect(await workflow.count(`WorkflowType = 'pingReceiver' AND StartTime < '${inAnHour}'`)).toEqual({ count: 2 });
    expect(await workflow.count(`WorkflowType = 'pingReceiver' AND StartTime > '${inAnHour}'`)).toEqual({ count: 0 });
    expect((await workflow.getHandle('receiver').fetchHistory()).events[0].type).toBe('WorkflowStarted');
  });

  it('describes search attributes in Temporal’s legacy form (arrays), Aion’s own under raw', async () => {
    const { workflow } = await client();
    const handle = await workflow.start('waitsForHandlers', { workflowId: 'attributes', taskQueue: 'main', searchAttributes: { CustomIntField: [2], Tags: ['a', 'b'] } });
    const description = await handle.describe();
    expect(description.searchAttributes).toEqual({ CustomIntField: [2], Tags: ['a', 'b'] });
    expect(description.raw.searchAttributes).toEqual({ CustomIntField: 2, Tags: ['a', 'b'] });
    await handle.terminate('test over');
  });

  it('rejects with WorkflowFailedError carrying the cause, and refuses unknown options and queries by name', async () => {
    const { workflow } = await client();
    const failed = (await workflow.execute('failsWith', { workflowId: 'fails', taskQueue: 'main', args: ['no stock'] }).catch((error: unknown) => error)) as WorkflowFailedError;
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect(failed.cause).toMatchObject({ message: 'no stock', type: 'Refused' });
    await expect(workflow.start('pingReceiver', { workflowId: 'x', taskQueue: 'main', workflowIdReusePolicy: 'ALLOW_DUPLICATE' } as never)).rejects.toThrow(/no option 'workflowIdReusePolicy'/);
    await expect(workflow.start('pingReceiver', { workflowId: 'x' } as never)).rejects.toThrow(InvalidArgumentError);
    await expect(workflow.count("WorkflowType = 'a' OR WorkflowType = 'b'")).rejects.toThrow("the list query uses 'OR', which is not supported");
    await expect(workflow.count("RunId = 'x'")).rejects.toThrow('the list query key RunId is not supported');
  });

  it('creates schedules in Temporal’s shape, triggers and backfills them, and refuses what they lack', async () => {
    const { schedule, workflow } = await client();
    const handle = await schedule.create({
      scheduleId: 'hourly',
      spec: { cronExpressions: ['0 * * * *'] },
      action: { type: 'startWorkflow', workflowType: 'rootOfChain', args: [0], taskQueue: 'main', workflowId: 'hourly-root' },
      policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL },
      state: { paused: true },
    });
    expect(await handle.describe()).toMatchObject({ scheduleId: 'hourly', state: { paused: true }, overlap: 'AllowAll' });
    const hour = 3600_000;
    const lastHour = Math.floor(Date.now() / hour) * hour;
    await handle.backfill([{ start: new Date(lastHour - 3 * hour), end: new Date(lastHour - hour) }]);
    await handle.trigger();
    await expect.poll(async () => (await workflow.count("WorkflowType = 'rootOfChain' AND ExecutionStatus = 'Completed'")).count).toBe(4);
    const started = [];
    for await (const run of workflow.list({ query: "WorkflowType = 'rootOfChain'" })) started.push(run.workflowId);
    expect(started).toEqual(expect.arrayContaining([3, 2, 1].map((hours) => `hourly-root-${new Date(lastHour - hours * hour).toISOString()}`)));
    await handle.unpause();
    expect((await handle.describe()).info.nextActionTimes[0].getTime()).toBeGreaterThan(Date.now());
    await handle.delete();
    await expect(
      schedule.create({ scheduleId: 'jittery', spec: { intervals: [{ every: '1h' }], jitter: '1m' } as never, action: { type: 'startWorkflow', workflowType: 'rootOfChain' } }),
    ).rejects.toThrow(/no option 'jitter'/);
    await expect(
      schedule.create({ scheduleId: 'all', spec: { intervals: [{ every: '1h' }] }, action: { type: 'startWorkflow', workflowType: 'rootOfChain' }, policies: { overlap: ScheduleOverlapPolicy.BUFFER_ALL } }),
    ).rejects.toThrow(/BUFFER_ALL is not supported/);
  });

  it('starts an update and waits for it at the stage asked, refusing a rejected one with its cause', async () => {
    const { workflow } = await client();
    const handle = await workflow.start('guardedLimit', { workflowId: 'limits', taskQueue: 'main' });
    const update = await handle.startUpdate(setLimit, { args: [5], waitForStage: WorkflowUpdateStage.ACCEPTED });
    expect(update).toMatchObject({ updateId: expect.any(String), workflowId: 'limits', workflowRunId: expect.any(String) });
    expect(await update.result()).toBe(5);
    const rejected = await handle.startUpdate(setLimit, { args: [-1], waitForStage: WorkflowUpdateStage.ACCEPTED }).catch((error: unknown) => error);
    expect(rejected).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((rejected as WorkflowUpdateFailedError).message).toMatch(/was rejected: a limit is not negative/);
    expect((rejected as WorkflowUpdateFailedError).cause).toBeInstanceOf(ApplicationFailure);
    const last = await handle.startUpdate(setLimit, { args: [0], waitForStage: WorkflowUpdateStage.COMPLETED });
    expect(await last.result()).toBe(0);
    expect(await handle.result()).toBe(0);
  });

  it('sends updates under the caller’s id once, attaches to them by id, and runs update-with-start', async () => {
    const engine = await openEngine({}, 'updates.ts');
    const { workflow } = new Client({ connection: await connect(engine) });
    const startWorkflowOperation = new WithStartWorkflowOperation('counter', {
      workflowId: 'counted',
      taskQueue: 'main',
      args: [{ gated: true }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
    const first = await workflow.startUpdateWithStart(add, { args: [2], updateId: 'first', waitForStage: WorkflowUpdateStage.ACCEPTED, startWorkflowOperation });
    const handle = await startWorkflowOperation.workflowHandle();
    expect(handle.workflowId).toBe('counted');
    await expect(workflow.startUpdateWithStart(add, { args: [1], waitForStage: 'ACCEPTED', startWorkflowOperation })).rejects.toThrow(/used already/);
    const attached = workflow.getHandle('counted').getUpdateHandle<number>('first');
    await handle.signal(open);
    expect(await first.result()).toBe(2);
    expect(await attached.result()).toBe(2);
    // The same id again runs nothing: the recorded result.
    expect(await handle.executeUpdate(add, { args: [40], updateId: 'first' })).toBe(2);
    const again = new WithStartWorkflowOperation('counter', { workflowId: 'counted', taskQueue: 'main', workflowIdConflictPolicy: 'USE_EXISTING' });
    expect(await workflow.executeUpdateWithStart(add, { args: [3], startWorkflowOperation: again })).toBe(5);
    const failing = new WithStartWorkflowOperation('counter', { workflowId: 'counted', taskQueue: 'main', workflowIdConflictPolicy: 'FAIL' });
    await expect(workflow.executeUpdateWithStart(add, { args: [3], startWorkflowOperation: failing })).rejects.toBeInstanceOf(WorkflowAlreadyStartedError);
    await expect(failing.workflowHandle()).rejects.toThrow(/already running/);
    // The same error classes over HTTP as in process.
    await expect(workflow.getHandle('counted').getUpdateHandle('unknown').result()).rejects.toBeInstanceOf(WorkflowUpdateNotFoundError);
    await expect(workflow.getHandle('no-such-workflow').describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await handle.signal(finish);
    expect(await handle.result()).toBe(5);
  });

  it('completes an activity asynchronously by its task token', async () => {
    const tokens: string[] = [];
    const { workflow, activity } = await client({ completedLater: completedElsewhere(tokens) });
    const handle = await workflow.start('runsActivity', { workflowId: 'async', taskQueue: 'main', args: ['completedLater'] });
    await expect.poll(() => tokens.length).toBe(1);
    await activity.heartbeat(Buffer.from(tokens[0], 'base64'), { half: true });
    await activity.complete(tokens[0], 'from the client');
    expect(await handle.result()).toBe('from the client');
  });
});
