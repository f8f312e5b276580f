/**
 * `aion cluster status`: who serves the store's partitions — the nodes of a cluster with their
 * addresses and beats, each lease's holder, epoch and expiry, and how far behind each
 * partition's work is (docs/postgres.md, docs/cluster.md).
 *
 * @module
 */
import type { Command } from 'commander';
import type { ClusterStatus } from '../engine/index.js';
import type { AionClient } from './client.js';
import { printJson, printLines, printTable } from './output.js';

export function addClusterCommands(program: Command, client: (command: Command) => AionClient, json: (command: Command) => boolean): void {
  const cluster = program.command('cluster').description("the engines serving the server's store and their partitions (admin key)");
  cluster
    .command('status')
    .description('each partition: the engine holding its lease, its epoch, how long the lease holds, its oldest due work and pending effects')
    .action(async (_: unknown, command: Command) => {
      const status = await client(command).callServer<ClusterStatus>('GET', '/v1/cluster/status');
      if (json(command)) return printJson(status);
      if (!status.leases) return printLines(['this store has no partition leases (a LevelDB folder, or memory): the one engine that opened it serves it']);
      const now = Date.now();
      printLines([`this engine: ${status.self}`, '']);
      printTable(
        ['NODE', 'ADDRESS', 'PARTITIONS', 'LAST BEAT'],
        status.nodes.map((node) => [node.name, node.address ?? '-', String(node.partitions), node.lastBeatAt === undefined ? '-' : `${Math.max(0, Math.round((now - node.lastBeatAt) / 100) / 10)} s ago`]),
      );
      printLines(['']);
      printTable(
        ['PARTITION', 'OWNER', 'EPOCH', 'LEASE', 'DUE LAG', 'OUTBOX'],
        status.partitions.map((p) => [
          p.partition < 0 ? 'control' : String(p.partition),
          p.owner ?? '-',
          String(p.epoch),
          p.expiresAt === null ? '-' : `${Math.max(0, Math.round((p.expiresAt - now) / 100) / 10)} s`,
          `${p.dueLagMs} ms`,
          String(p.outboxEntries),
        ]),
      );
    });
}
