/**
 * `aion server --postgres`: the server keeps its runs in PostgreSQL (the test run's server,
 * test/postgres-setup.ts), another server on the same schema is refused, and a restarted
 * server finds the runs again.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { cliRunner, runChild, type Child } from '../child-process.js';
import { suiteTempDir } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'cli/main.ts');
const url = inject('postgresUrl');
const dir = suiteTempDir('aion-cli-pg-');

describe.skipIf(url === undefined)('aion server --postgres', { timeout: 90_000 }, () => {
  it('serves runs from PostgreSQL, refuses a second server on the schema, and finds the runs after a restart', async () => {
    const schema = `cli_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const serve = async (): Promise<{ child: Child; endpoint: string }> => {
      const child = runChild(CLI, ['server', '--postgres', url!, '--postgres-schema', schema, '--port', '0', '--activities', join(root, 'examples/order/activities.ts')]);
      const line = await child.line(/Aion server listening/);
      return { child, endpoint: (JSON.parse(line) as { url: string }).url };
    };
    let { child, endpoint } = await serve();
    const aion = cliRunner(CLI, root, () => endpoint);
    const bundle = join(dir, 'bundle.js');
    expect((await aion('build', join(root, 'examples/order/workflows.ts'), '-o', bundle)).code).toBe(0);
    expect((await aion('deploy', bundle)).code).toBe(0);
    const order = JSON.stringify([{ id: 'pg-1', item: 'lamp', amount: 7 }]);
    expect((await aion('start', 'processOrder', '--id', 'pg-1', '--args', order)).code).toBe(0);
    expect((await aion('signal', 'pg-1', 'approve', '--args', '["eve"]')).code).toBe(0);
    expect(JSON.parse((await aion('--json', 'result', 'pg-1')).stdout)).toMatchObject({ status: 'Completed', result: { orderId: 'pg-1', approvedBy: 'eve' } });
    const status = JSON.parse((await aion('--json', 'cluster', 'status')).stdout) as { leases: boolean; self: string; nodes: { name: string; partitions: number }[]; partitions: { owner: string }[] };
    expect(status).toMatchObject({ leases: true, nodes: [{ name: status.self, partitions: 16 }] });
    expect(status.partitions.filter((p) => p.owner === status.self)).toHaveLength(17);
    expect((await aion('cluster', 'status')).stdout).toMatch(/^PARTITION\s+OWNER\s+EPOCH\s+LEASE\s+DUE LAG\s+OUTBOX$/m);
    expect((await aion('cluster', 'status')).stdout).toMatch(/^NODE\s+ADDRESS\s+PARTITIONS\s+LAST BEAT$/m);

    const second = await aion('server', '--postgres', url!, '--postgres-schema', schema, '--port', '0');
    expect(second.code).toBe(1);
    expect(second.stderr.trimEnd()).toMatch(/^aion: another engine \(.+\) holds the lease of .+: one engine serves a PostgreSQL schema$/);

    child.process.kill('SIGTERM');
    await child.exited;
    ({ child, endpoint } = await serve());
    expect(JSON.parse((await aion('--json', 'describe', 'pg-1')).stdout)).toMatchObject({ workflowId: 'pg-1', status: 'Completed' });
    child.process.kill('SIGTERM');
    await child.exited;
  });

  it('exits with status 1 once another engine took its leases over', async () => {
    const schema = `cli_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const child = runChild(CLI, ['server', '--postgres', url!, '--postgres-schema', schema, '--port', '0']);
    await child.line(/Aion server listening/);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`UPDATE ${schema}.leases SET owner = 'elsewhere', epoch = epoch + 1 WHERE partition = 0`);
    await admin.end();
    // Found at the next renewal (a third of the 10 s lease).
    expect((await child.exited).code).toBe(1);
    expect(child.lines().join('\n')).toMatch(/another engine took over what this engine served/);
  });

  it('names an address that is not PostgreSQL\'s, and two stores, in one line', async () => {
    const both = await cliRunner(CLI, root, () => '')('server', '--postgres', url!, '--data', join(dir, 'data'), '--port', '0');
    expect(both.code).toBe(1);
    expect(both.stderr.trimEnd()).toBe('aion: --data and --postgres (or AION_POSTGRES_URL) name two stores: give one');
    const outcome = await cliRunner(CLI, root, () => '')('server', '--postgres', 'mysql://nowhere', '--port', '0');
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trimEnd()).toBe('aion: postgres must be an address postgres://user:password@host:port/database (or { url, schema })');
  });
});
