/**
 * Two engines of a cluster in this process, each serving its share of a PostgreSQL schema's
 * partitions (the test run's server, test/postgres-setup.ts): calls for the other's
 * partitions are refused with where to go, effects cross between them through the outbox,
 * scheduled runs start on whichever serves them, and a remote worker polling one of them runs
 * the other's activities too.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Engine, PartitionElsewhereError } from '../../engine/index.js';
import { serveEngine, type RunningServer } from '../../server/index.js';
import { partitionOfWorkflow } from '../../store/partitions.js';
import { freePort } from '../../tools/processes.js';
import { Worker } from '../../worker/index.js';
import * as clusterActivities from '../fixtures/cluster-activities.js';
import { fixtureBundle, silentLogger, suiteTempDir } from '../helpers.js';

const url = inject('postgresUrl');
const dir = suiteTempDir('aion-cluster-engines-');
const PARTITIONS = 16;

const opened: { engines: Engine[]; servers: RunningServer[]; workers: Worker[] } = { engines: [], servers: [], workers: [] };
afterEach(async () => {
  await Promise.all(opened.workers.splice(0).map((worker) => worker.shutdown()));
  await Promise.all(opened.servers.splice(0).map((server) => server.close()));
  await Promise.all(opened.engines.splice(0).map((engine) => engine.close()));
});

/** Two engines on a new schema, once they serve 8 partitions each; with `serve`, each with its HTTP API at the address it advertises. */
async function twoEngines(options: { serve?: boolean } = {}): Promise<{ engines: [Engine, Engine]; addresses: string[] }> {
  const schema = `engines_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const addresses = await Promise.all([freePort(), freePort()].map(async (port) => `http://127.0.0.1:${await port}`));
  const engines = [] as unknown as [Engine, Engine];
  for (const address of addresses) {
    const engine = await Engine.open({ postgres: { url: url!, schema, cluster: { address }, leaseTtlMs: 900 }, logger: silentLogger });
    opened.engines.push(engine);
    engines.push(engine);
    if (options.serve) opened.servers.push(await serveEngine(engine, { port: Number(new URL(address).port) }));
  }
  const deadline = Date.now() + 20_000;
  while (!(await Promise.all(engines.map(async (engine) => servedBy(engine, await engine.clusterStatus().then((status) => status.self!))))).every((count) => count === PARTITIONS / 2)) {
    if (Date.now() > deadline) throw new Error('the engines did not share the partitions');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { engines, addresses };
}

async function servedBy(engine: Engine, name: string): Promise<number> {
  return (await engine.clusterStatus()).partitions.filter((partition) => partition.partition >= 0 && partition.owner === name).length;
}

/** A workflow id (with `prefix`) of a partition `engine` serves. */
async function idServedBy(engine: Engine, prefix: string): Promise<string> {
  const status = await engine.clusterStatus();
  const mine = new Set(status.partitions.filter((partition) => partition.owner === status.self).map((partition) => partition.partition));
  for (let i = 0; ; i++) if (mine.has(partitionOfWorkflow('default', `${prefix}-${i}`, PARTITIONS))) return `${prefix}-${i}`;
}

describe.skipIf(url === undefined)('engines of a cluster', { timeout: 60_000 }, () => {
  it("refuses calls for the other's partitions with PartitionElsewhereError, naming the owner", async () => {
    const { engines: [a, b], addresses } = await twoEngines();
    await a.deploy({ code: await fixtureBundle() });
    const theirs = await idServedBy(b, 'greeting');
    const partition = partitionOfWorkflow('default', theirs, PARTITIONS);
    await expect(a.start('greet', { workflowId: theirs, args: ['x'] })).rejects.toMatchObject({ name: 'PartitionElsewhereError', code: 'PARTITION_ELSEWHERE', partition });
    expect(await a.partitionOwner(partition)).toMatchObject({ address: addresses[1], self: false });
    expect(await b.partitionOwner(partition)).toMatchObject({ address: addresses[1], self: true });
    const handle = await b.start('greet', { workflowId: theirs, args: ['x'] });
    expect(await handle.result()).toBe('hello x');
    // b keeps the version new runs of a type start on; a deploy on a reaches it through the announcement of changed control records.
    const code = await fixtureBundle();
    const { version: first } = await handle.describe();
    const { version: second } = await a.deploy({ code: `${code}\n// the next version` });
    expect(second).not.toBe(first);
    let next = 0;
    await expect.poll(async () => (await (await b.start('greet', { workflowId: await idServedBy(b, `greeting-${next++}`), args: ['y'] })).describe()).version).toBe(second);
    await expect(a.getHandle(theirs).result()).rejects.toBeInstanceOf(PartitionElsewhereError);
    // A start without a workflow id gets one of a partition this engine serves.
    const own = await a.start('greet', { args: ['y'] });
    expect(await own.result()).toBe('hello y');
  });

  it('signals and children cross between engines, and a signal to a workflow that does not exist fails back to its sender', async () => {
    const { engines } = await twoEngines();
    await engines[0].deploy({ code: await fixtureBundle('temporal-compat.ts') });
    // The sender on one engine; its target and the workflow that does not exist on the other: each effect and its answer cross.
    const missing = partitionOfWorkflow('default', 'no-such-workflow', PARTITIONS);
    const [home, away] = (await engines[0].partitionOwner(missing))?.self ? [engines[1], engines[0]] : engines;
    const receiverId = await idServedBy(away, 'receiver');
    const receiver = await away.start('pingReceiver', { workflowId: receiverId });
    const sent = await home.start('pingSender', { workflowId: await idServedBy(home, 'sender'), args: [receiverId] });
    expect(await sent.result()).toBe('ApplicationFailure: ExternalWorkflowExecutionNotFound');
    expect(await receiver.result()).toEqual(['one', 'stop']);
  });

  it('starts a scheduled run on the engine serving its workflow id', async () => {
    const { engines } = await twoEngines();
    const [a] = engines;
    await a.deploy({ code: await fixtureBundle() });
    const control = (await Promise.all(engines.map((engine) => engine.partitionOwner(-1)))).findIndex((owner) => owner?.self);
    const schedules = engines[control].schedules;
    // A scheduled run is created by the engine serving its workflow id, once told of the recorded start: awaited by its first activation.
    const activated = new Set<string>();
    const waiting = new Map<string, () => void>();
    const firstActivation = (workflowId: string) => new Promise<void>((resolve) => (activated.has(workflowId) ? resolve() : waiting.set(workflowId, resolve)));
    for (const engine of engines) {
      engine.events.on('activation', ({ workflowId }) => {
        activated.add(workflowId);
        waiting.get(workflowId)?.();
      });
    }
    await schedules.create({ scheduleId: 'greetings', spec: { cron: '0 0 1 1 *' }, action: { workflowType: 'greet', args: ['scheduled'] }, overlap: 'AllowAll' });
    for (let i = 0; i < 4; i++) {
      const triggered = await schedules.trigger('greetings');
      const { workflowId } = triggered.recentActions.at(-1)!;
      const owners = await Promise.all(engines.map((engine) => engine.partitionOwner(partitionOfWorkflow('default', workflowId, PARTITIONS))));
      const owner = engines[owners.findIndex((found) => found?.self)];
      await firstActivation(workflowId);
      expect(await owner.getHandle(workflowId).result()).toBe('hello scheduled');
    }
  });

  it("a remote worker polling one engine runs the other's activities too", async () => {
    const log = join(dir, `worker-${randomUUID()}.log`);
    process.env.AION_TEST_ACTIVITY_LOG = log;
    const { engines: [a, b], addresses } = await twoEngines({ serve: true });
    await a.deploy({ code: await fixtureBundle('cluster.ts') });
    const worker = await Worker.create({ connection: { address: addresses[0] }, taskQueue: 'default', activities: clusterActivities, logger: silentLogger });
    opened.workers.push(worker);
    void worker.run();
    const onA = await idServedBy(a, 'polled');
    const onB = await idServedBy(b, 'polled');
    const results = await Promise.all([a.start('clustered', { workflowId: onA, args: [1, 10] }), b.start('clustered', { workflowId: onB, args: [1, 10] })].map(async (started) => (await started).result()));
    expect(results).toEqual([
      { first: `${onA}/1`, second: `${onA}/2` },
      { first: `${onB}/1`, second: `${onB}/2` },
    ]);
    expect(readFileSync(log, 'utf8').trim().split('\n').sort()).toEqual([`${onA}/1`, `${onA}/2`, `${onB}/1`, `${onB}/2`].map((key) => `${key} ${process.pid}`).sort());
  });
});
