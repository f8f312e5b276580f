/**
 * Remote workers as separate processes (`aion worker`), killed for real: a worker SIGKILLed
 * mid-task has its attempt dispatched again once the heartbeat timeout passes, and the run
 * completes with the activity run once more; a server SIGKILLed and restarted while a worker
 * runs a task loses nothing — the worker's report reaches the new server, which waited for it
 * instead of handing the attempt to another worker.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, Connection } from '../../client/index.js';
import { serveEngine, type RunningServer } from '../../server/serve.js';
import { freePort } from '../../tools/processes.js';
import { runChild, type Child } from '../child-process.js';
import { fixtureBundle, openEngine, tempDir } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'cli/main.ts');
const ACTIVITIES = join(root, 'test/fixtures/remote-worker-activities.ts');
const BUNDLE = 'remote-activities.ts';

const children: Child[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function startWorker(endpoint: string): Child {
  const worker = runChild(CLI, ['--endpoint', endpoint, 'worker', '--activities', ACTIVITIES, '--task-queue', 'remote']);
  children.push(worker);
  return worker;
}

function startServer(dataDir: string, port: number): Child {
  const server = runChild(CLI, ['server', '--data', dataDir, '--port', String(port)]);
  children.push(server);
  return server;
}

const startedLines = (child: Child, name: string) => child.lines().filter((line) => line.startsWith(`${name} `) && line.includes(' started in '));

describe('remote workers in their own processes', { timeout: 60_000 }, () => {
  it('dispatch the attempt of a worker killed mid-task again after its heartbeat timeout; the run completes', async () => {
    const engine = await openEngine({}, BUNDLE);
    const server = await serveEngine(engine, { port: 0 });
    servers.push(server);
    const first = startWorker(server.url);
    const starting = first.line(/^chargeCard order-1 attempt 1 started/);
    const handle = await engine.start('callRemote', { workflowId: 'order-1', args: ['chargeCard', ['order-1'], { taskQueue: 'remote', startToCloseTimeout: '30s', heartbeatTimeout: '1s', retry: { initialInterval: '10ms' } }] });
    await starting;
    first.process.kill('SIGKILL');
    await first.exited;

    const second = startWorker(server.url);
    expect(await handle.result()).toBe('charged order-1 (attempt 2)');
    const activityEvents = (await handle.history()).filter((event) => event.type.startsWith('Activity'));
    expect(activityEvents.map((event) => event.type)).toEqual(['ActivityScheduled', 'ActivityCompleted']);
    // Run once by the killed worker, once more by the second: no other attempt anywhere.
    expect(startedLines(first, 'chargeCard')).toHaveLength(1);
    expect(startedLines(second, 'chargeCard')).toEqual([expect.stringMatching(/^chargeCard order-1 attempt 2 started/)]);
  });

  it('lose nothing when the server is killed and restarted while a worker runs a task: the worker reports to the new server', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const first = startServer(dataDir, port);
    await first.line(/Aion server listening/);
    const deployed = await fetch(`${endpoint}/v1/namespaces/default/bundles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: await fixtureBundle(BUNDLE) }) });
    expect(deployed.status).toBe(201);
    const client = new Client({ connection: await Connection.connect({ address: endpoint }) });
    const worker = startWorker(endpoint);
    const starting = worker.line(/^awaitRelease order-2 attempt 1 started/);
    await client.workflow.start('callRemote', { workflowId: 'order-2', taskQueue: 'orders', args: ['awaitRelease', ['order-2'], { taskQueue: 'remote', startToCloseTimeout: '30s' }] });
    await starting;

    first.process.kill('SIGKILL');
    await first.exited;
    const second = startServer(dataDir, port);
    await second.line(/Aion server listening/);
    // The worker polls the new server (and would be handed the attempt again, were it queued again)...
    await expect
      .poll(async () => ((await (await fetch(`${endpoint}/v1/namespaces/default/task-queues/remote`)).json()) as { pollers: unknown[] }).pollers, { timeout: 20_000 })
      .not.toEqual([]);
    // ...and reports the attempt it had.
    worker.process.kill('SIGUSR2');

    const handle = client.workflow.getHandle('order-2');
    expect(await handle.result()).toBe('released order-2 (attempt 1)');
    const activityEvents = (await handle.fetchHistory()).events.filter((event) => event.type.startsWith('Activity'));
    expect(activityEvents.map((event) => event.type)).toEqual(['ActivityScheduled', 'ActivityCompleted']);
    // The restarted server waited for the worker that had the attempt: it ran once.
    expect(startedLines(worker, 'awaitRelease')).toHaveLength(1);
  });
});
