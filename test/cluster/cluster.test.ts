/**
 * Three `aion server --cluster` processes on one PostgreSQL schema (the test run's server,
 * test/postgres-setup.ts): they share the partitions, any of them takes any call, a node
 * killed with SIGKILL has its partitions taken over and its runs finished by the others,
 * and a node frozen past its leases cannot write once it resumes.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '../../client/index.js';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import type { ClusterStatus, HistoryEvent } from '../../engine/index.js';
import { partitionOfWorkflow } from '../../store/partitions.js';
import { freePort } from '../../tools/processes.js';
import { runChild, type Child } from '../child-process.js';
import { fixture, suiteTempDir } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'cli/main.ts');
const url = inject('postgresUrl');
const dir = suiteTempDir('aion-cluster-');
// Long enough that a renewal delayed by a loaded CI machine does not fence a healthy node.
const LEASE_TTL_S = 5;
const RUNS = 500;
const PARTITIONS = 16;

interface Node {
  child: Child;
  address: string;
  name: string;
}

async function status(address: string): Promise<ClusterStatus> {
  const response = await fetch(`${address}/v1/cluster/status`);
  return (await response.json()) as ClusterStatus;
}

/** Polls `read` until `done` holds of its answer (these are states of other processes, seen through their API), for up to `ms`. */
async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const served = (cluster: ClusterStatus, name: string) => cluster.partitions.filter((partition) => partition.partition >= 0 && partition.owner === name).length;

/** Every node started, stopped after the test whatever its outcome. */
const started: Child[] = [];
afterAll(() => {
  for (const child of started) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
});

describe.skipIf(url === undefined)('a cluster of three servers on one PostgreSQL schema', { timeout: 240_000 }, () => {
  it('shares the partitions (also with a node joining under load), forwards calls, survives SIGKILL of a node with every run done once, and fences a node frozen past its leases', async () => {
    const schema = `cluster_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const activityLog = join(dir, 'activities.log');
    const start = async (): Promise<Node> => {
      const port = await freePort();
      const child = runChild(CLI, [
        'server', '--postgres', url!, '--postgres-schema', schema, '--cluster', '--port', String(port), '--lease-ttl', String(LEASE_TTL_S),
        '--activities', fixture('cluster-activities.ts'),
      ], { env: { ...process.env, AION_TEST_ACTIVITY_LOG: activityLog } });
      started.push(child);
      await child.line(/Aion server listening/);
      const address = `http://127.0.0.1:${port}`;
      return { child, address, name: (await status(address)).self! };
    };

    // Two nodes share the partitions: the first holds all 16, then each 8.
    const first = await start();
    expect(served(await status(first.address), first.name)).toBe(16);
    const nodes = [first, await start()];
    const halves = await until('the partitions shared by two nodes', () => status(first.address), (cluster) => nodes.every((node) => served(cluster, node.name) === 8));
    expect(halves.nodes.map((node) => node.address).sort()).toEqual(nodes.map((node) => node.address).sort());

    // Any node takes any call: the deploy goes to the control plane's node, each start to its workflow's.
    const clients = await Promise.all(nodes.map(async (node) => new Client({ connection: await Connection.connect({ address: node.address }) })));
    const { code } = await bundleWorkflowCode({ workflowsPath: fixture('cluster.ts') });
    const deployed = await fetch(`${nodes[1].address}/v1/namespaces/default/bundles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
    expect(deployed.status).toBe(201);
    const ids = Array.from({ length: RUNS }, (_, i) => `run-${i}`);
    await Promise.all(ids.map((workflowId, i) => clients[i % 2].workflow.start('clustered', { workflowId, taskQueue: 'default', args: [i, 200 + (i % 7) * 100] })));
    const completed = async () => (await clients[0].workflow.count("ExecutionStatus = 'Completed'")).count;

    // A third node joins while the runs go on: it takes a share (6, 6 and 4), given up by the others once they stopped its work.
    await until('some runs done', completed, (done) => done >= RUNS / 20);
    nodes.push(await start());
    clients.push(new Client({ connection: await Connection.connect({ address: nodes[2].address }) }));
    const thirds = await until('the partitions shared by three nodes', () => status(first.address), (cluster) => nodes.every((node) => served(cluster, node.name) >= 4) && nodes.reduce((sum, node) => sum + served(cluster, node.name), 0) === 16);
    const ownerBefore = new Map(halves.partitions.map((partition) => [partition.partition, partition.owner]));
    const moved = new Set(thirds.partitions.filter((partition) => partition.partition >= 0 && partition.owner !== ownerBefore.get(partition.partition)).map((partition) => partition.partition));
    expect(moved.size).toBeGreaterThanOrEqual(4);

    // SIGKILL of a node in the middle: its partitions are taken over within the lease time and 2 s.
    const victim = nodes[1];
    const victimPid = victim.child.process.pid!;
    for (const partition of thirds.partitions) if (partition.owner === victim.name) moved.add(partition.partition);
    await until('more runs done', completed, (done) => done >= RUNS / 5);
    // Runs of the victim's partitions whose first activity it is running (a minute long) when it is killed.
    const victimPartitions = new Set(thirds.partitions.filter((partition) => partition.owner === victim.name).map((partition) => partition.partition));
    const slow = Array.from({ length: 200 }, (_, i) => `slow-${i}`).filter((id) => victimPartitions.has(partitionOfWorkflow('default', id, PARTITIONS))).slice(0, 3);
    await Promise.all(slow.map((workflowId) => clients[0].workflow.start('clustered', { workflowId, taskQueue: 'default', args: [1, 10] })));
    const runningOnVictim = () => Promise.resolve(readFileSync(activityLog, 'utf8').split('\n').filter((line) => line.startsWith('slow-') && line.endsWith(` ${victimPid}`)).length);
    await until('the slow activities running on the node to kill', runningOnVictim, (running) => running === slow.length);
    victim.child.process.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.child.exited;
    const survivors = [nodes[0], nodes[2]];
    const takenOver = await until('the killed node\'s partitions taken over', () => status(first.address), (cluster) => survivors.reduce((sum, node) => sum + served(cluster, node.name), 0) === 16);
    expect(Date.now() - killedAt).toBeLessThan(LEASE_TTL_S * 1000 + 2000);
    expect(takenOver.nodes.map((node) => node.name)).not.toContain(victim.name);

    // Every run completes, once.
    await until('every run completed', completed, (done) => done >= RUNS + RUNS / 5 + slow.length, 150_000);
    expect((await clients[2].workflow.count("ExecutionStatus = 'Running'")).count).toBe(0);
    for (const [i, workflowId] of ids.entries()) {
      const history = (await (await fetch(`${nodes[i % 2 === 0 ? 0 : 2].address}/v1/namespaces/default/workflows/${workflowId}/history`)).json()) as { events: HistoryEvent[] };
      const types = history.events.map((event) => event.type);
      expect(types.filter((type) => type === 'WorkflowCompleted')).toHaveLength(1);
      expect(types.filter((type) => type === 'TimerFired')).toHaveLength(1);
      expect(types.filter((type) => type === 'ActivityCompleted')).toHaveLength(2);
    }
    // An activity ran again only where its run's partition moved (at least once: the attempt in flight was stopped, or died with its node).
    const executions = new Map<string, number[]>();
    for (const line of readFileSync(activityLog, 'utf8').trim().split('\n')) {
      const [key, pid] = line.split(' ');
      executions.set(key, [...(executions.get(key) ?? []), Number(pid)]);
    }
    expect(executions.size).toBe(2 * (RUNS + slow.length));
    const again = [...executions].filter(([, pids]) => pids.length > 1).map(([key]) => key);
    expect(again.filter((key) => !moved.has(partitionOfWorkflow('default', key.slice(0, key.indexOf('/')), PARTITIONS)))).toEqual([]);
    // The killed node was running the slow ones: each ran again on a survivor.
    for (const workflowId of slow) expect(executions.get(`${workflowId}/1`)!.filter((pid) => pid !== victimPid)).toHaveLength(1);

    // A node frozen past its leases: the others take its partitions; resumed, its renewal or write is refused, it says so and exits 1.
    const frozen = nodes[2];
    const errors = (node: Node) => node.child.lines().filter((line) => /"level":(50|60)/.test(line));
    expect(errors(frozen)).toEqual([]);
    frozen.child.process.kill('SIGSTOP');
    await until('the frozen node\'s partitions taken over', () => status(first.address), (cluster) => served(cluster, first.name) === 16);
    frozen.child.process.kill('SIGCONT');
    expect((await frozen.child.exited).code).toBe(1);
    expect(frozen.child.lines().join('\n')).toMatch(/another engine took over what this engine served/);
    // The survivor serves everything, and still takes work.
    const after = await clients[0].workflow.start('clustered', { workflowId: 'after-freeze', taskQueue: 'default', args: [1, 10] });
    expect(await after.result()).toEqual({ first: 'after-freeze/1', second: 'after-freeze/2' });

    // Its metrics say which partitions it serves; it logged no error all along (an audit entry refused, an effect lost).
    const metrics = await (await fetch(`${first.address}/metrics`)).text();
    expect(metrics.match(/^aion_partition_served\{partition="\d+"\} 1$/gm)).toHaveLength(16);
    expect(errors(first)).toEqual([]);

    first.child.process.kill('SIGTERM');
    expect((await first.child.exited).code).toBe(0);
  });
});
