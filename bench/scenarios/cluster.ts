/**
 * The cluster on PostgreSQL (docs/cluster.md): order3 driven over HTTP through one node and
 * through two nodes (processes of their own, sharing a throw-away PostgreSQL server on this
 * machine), and the failover time — from `kill -9` of a node to the first completion of a run
 * it was serving.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '../../client/index.js';
import type { ClusterStatus } from '../../engine/index.js';
import { partitionOfWorkflow } from '../../store/partitions.js';
import { freePort, processTreeCpuMs } from '../../tools/processes.js';
import { startThrowawayPostgres } from '../../tools/throwaway-postgres.js';
import { figure, percentile, type Figure, type Scenario } from '../scenario.js';
import { order3Code, timedRuns } from '../workloads/index.js';

const PARTITIONS = 16;

interface BenchNode {
  address: string;
  process: ChildProcess;
  client: Client;
}

async function startNode(url: string, schema: string, leaseTtlMs: number): Promise<BenchNode> {
  const ts = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`../cluster-node-child.${ts ? 'ts' : 'js'}`, import.meta.url));
  const port = await freePort();
  const child = spawn(process.execPath, [...(ts ? ['--import', 'tsx'] : []), script, url, schema, String(port), String(leaseTtlMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('serving') && resolve());
    child.once('exit', (code) => reject(new Error(`a cluster node exited with ${code} before serving`)));
  });
  const address = `http://127.0.0.1:${port}`;
  return { address, process: child, client: new Client({ connection: await Connection.connect({ address }) }) };
}

async function stopNode(node: BenchNode): Promise<void> {
  if (node.process.exitCode !== null || node.process.signalCode !== null) return;
  const exited = new Promise((resolve) => node.process.once('exit', resolve));
  node.process.kill('SIGTERM');
  await exited;
}

async function status(node: BenchNode): Promise<ClusterStatus> {
  return (await (await fetch(`${node.address}/v1/cluster/status`)).json()) as ClusterStatus;
}

/** Waits until every node serves its share of the partitions. */
async function balanced(nodes: BenchNode[]): Promise<ClusterStatus> {
  for (;;) {
    const cluster = await status(nodes[0]);
    const counts = new Map<string, number>();
    for (const { owner, partition } of cluster.partitions) if (owner !== null && partition >= 0) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    if (counts.size === nodes.length && [...counts.values()].every((count) => count >= Math.floor(PARTITIONS / nodes.length))) return cluster;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs `total` order3 runs, `inFlight` at a time, each started through the next node in turn; latencies start to result. */
function drive(nodes: BenchNode[], prefix: string, total: number, inFlight: number): Promise<{ latencies: number[]; elapsedMs: number }> {
  return timedRuns(total, inFlight, async (i) => {
    const handle = await nodes[i % nodes.length].client.workflow.start('order3', { workflowId: `${prefix}-${i}`, taskQueue: 'default', args: [i] });
    await handle.result();
  });
}

/** A cluster of `count` nodes on a fresh schema, balanced, with order3 deployed. */
async function cluster(url: string, count: number, leaseTtlMs: number): Promise<BenchNode[]> {
  const schema = `bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const nodes: BenchNode[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startNode(url, schema, leaseTtlMs));
  await balanced(nodes);
  const deployed = await fetch(`${nodes[0].address}/v1/namespaces/default/bundles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: await order3Code() }) });
  if (deployed.status !== 201) throw new Error(`deploy failed: ${deployed.status} ${await deployed.text()}`);
  return nodes;
}

export const order3Cluster: Scenario = {
  name: 'order3-cluster',
  description: 'order3 over HTTP (2,000 runs, 50 in flight) on 1 then 2 cluster nodes sharing one local PostgreSQL (fsync on); CPU of the nodes and the server',
  async run({ quick }): Promise<Figure[]> {
    const total = quick ? 300 : 2000;
    const server = await startThrowawayPostgres();
    const figures: Figure[] = [];
    try {
      const throughputs: number[] = [];
      for (const count of [1, 2]) {
        const nodes = await cluster(server.url, count, 10_000);
        await drive(nodes, 'warm-up', 50, 10);
        const nodesCpu = () => nodes.reduce((sum, node) => sum + processTreeCpuMs(node.process.pid!), 0);
        const [nodesBefore, serverBefore] = [nodesCpu(), server.cpuMs()];
        const { latencies, elapsedMs } = await drive(nodes, 'run', total, 50);
        const [nodesMs, serverMs] = [nodesCpu() - nodesBefore, server.cpuMs() - serverBefore];
        await Promise.all(nodes.map(stopNode));
        const label = `${count} node${count === 1 ? '' : 's'}`;
        throughputs.push((total / elapsedMs) * 1000);
        figures.push(
          figure(`throughput, ${label}`, throughputs.at(-1)!, 'runs/s'),
          figure(`latency p50, ${label}`, percentile(latencies, 50), 'ms'),
          figure(`latency p99, ${label}`, percentile(latencies, 99), 'ms'),
          figure(`nodes CPU per run, ${label}`, nodesMs / total, 'ms'),
          figure(`PostgreSQL CPU per run, ${label}`, serverMs / total, 'ms'),
        );
      }
      figures.push(figure('throughput 2 nodes / 1 node', throughputs[1] / throughputs[0], 'x'));
    } finally {
      await server.stop();
    }
    return figures;
  },
};

/**
 * Two nodes (10 s leases), 200 runs parked on timers due 100 ms after one node is killed with
 * SIGKILL. Measured: from the kill to the first completion of a run of a partition the killed
 * node served (the survivor took the partition over, re-armed its timers and ran it on), and
 * to the last partition taken over.
 */
export const failover: Scenario = {
  name: 'failover',
  description: 'two cluster nodes (10 s leases), one killed with SIGKILL with 200 runs on timers: time to the first completion of a run it served, and to its last partition taken over',
  async run(): Promise<Figure[]> {
    const server = await startThrowawayPostgres();
    try {
      const [survivor, victim] = await cluster(server.url, 2, 10_000);
      await drive([survivor, victim], 'warm-up', 50, 10);
      const before = await status(victim);
      const victimPartitions = new Set(before.partitions.filter((partition) => partition.owner === before.self && partition.partition >= 0).map((partition) => partition.partition));
      const wakeAt = Date.now() + 2000;
      const ids = Array.from({ length: 200 }, (_, i) => `failover-${i}`);
      await Promise.all(ids.map((workflowId, i) => survivor.client.workflow.start('sleepUntilThenStep', { workflowId, taskQueue: 'default', args: [wakeAt, i] })));
      await new Promise((resolve) => setTimeout(resolve, wakeAt - 100 - Date.now()));
      victim.process.kill('SIGKILL');
      const killedAt = performance.now();
      const lastTakenOver = (async () => {
        for (;;) {
          const now = await status(survivor);
          if (now.partitions.every((partition) => partition.partition < 0 || partition.owner === now.self)) return performance.now();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      // Asked of the survivor, which forwards nothing once it serves the partition (until then the call fails, and is asked again).
      const victims = ids.filter((workflowId) => victimPartitions.has(partitionOfWorkflow('default', workflowId, PARTITIONS)));
      const firstDone = await Promise.any(
        victims.map(async (workflowId) => {
          for (;;) {
            try {
              await survivor.client.workflow.getHandle(workflowId).result();
              return performance.now();
            } catch {
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          }
        }),
      );
      const takenOverAt = await lastTakenOver;
      await stopNode(survivor);
      return [figure('kill to first completion of a taken-over run', firstDone - killedAt, 'ms'), figure('kill to last partition taken over', takenOverAt - killedAt, 'ms')];
    } finally {
      await server.stop();
    }
  },
};
