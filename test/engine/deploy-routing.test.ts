/**
 * Deploy routing: a namespace's versions, `deploy({ check })` refusing a bundle its running
 * runs would not replay on (deploying nothing), routing new runs back and forth (persisted
 * across a restart), and `unload` refused while runs are pinned or types routed. A version is
 * the namespace's own: another namespace cannot route, upgrade or reset onto it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import { DeployCheckFailedError } from '../../engine/errors.js';
import { silentLogger, tempDir } from '../helpers.js';

const V1 = `import { sleep } from '@temporalio/workflow';

export async function order(id: string): Promise<string> {
  await sleep('1 hour');
  return \`v1 \${id}\`;
}
`;
const V2 = V1.replace('`v1 ', '`v2 ');
const V3 = `import { proxyActivities, sleep } from '@temporalio/workflow';

const { charge } = proxyActivities<{ charge(id: string): Promise<void> }>({ startToCloseTimeout: '1 minute' });

export async function order(id: string): Promise<string> {
  await charge(id); // added before the sleep: breaks running runs
  await sleep('1 hour');
  return \`v3 \${id}\`;
}
`;

const dir = tempDir('aion-deploy-routing-');
const code: Record<string, string> = {};

beforeAll(async () => {
  for (const [name, source] of Object.entries({ v1: V1, v2: V2, v3: V3 })) {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'workflows.ts'), source);
    code[name] = (await bundleWorkflowCode({ workflowsPath: join(dir, name, 'workflows.ts') })).code;
  }
});

const open = (dataDir: string) => Engine.open({ dataDir, logger: silentLogger });
const versionOf = async (engine: Engine, workflowId: string) => (await engine.getHandle(workflowId).describe()).version;

describe('deploy routing', () => {
  it('checks a deploy against running runs, routes new runs back and forth across a restart, and unloads only what nothing uses', async () => {
    const dataDir = join(dir, 'data');
    let engine = await open(dataDir);
    try {
      const v1 = (await engine.deploy({ code: code.v1 })).version;
      await engine.start('order', { args: ['a'], workflowId: 'r1' });

      // A breaking bundle is refused, naming the run and where it diverges; nothing is deployed.
      const refused = await engine.deploy({ code: code.v3, check: true }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(DeployCheckFailedError);
      const timerStarted = (await engine.getHandle('r1').history()).find((event) => event.type === 'TimerStarted')!.eventId;
      expect((refused as DeployCheckFailedError).runs).toEqual([expect.stringMatching(new RegExp(`^run r1 \\(.+\\) diverges at event ${timerStarted}: .*workflows\\.ts:\\d+\\)$`))]);
      expect((await engine.versions()).map((v) => v.version)).toEqual([v1]);

      // A compatible one passes the check and takes new runs.
      const v2 = (await engine.deploy({ code: code.v2, check: true })).version;
      expect(await engine.versions()).toEqual([
        expect.objectContaining({ version: v2, routedTypes: ['order'] }),
        expect.objectContaining({ version: v1, routedTypes: [] }),
      ]);
      await engine.start('order', { args: ['b'], workflowId: 'r2' });
      expect(await versionOf(engine, 'r2')).toBe(v2);

      // Rollback, kept across a restart; running runs stay on their versions.
      expect(await engine.route('all', v1)).toEqual({ version: v1, workflowTypes: ['order'] });
      await engine.close();
      engine = await open(dataDir);
      await engine.start('order', { args: ['c'], workflowId: 'r3' });
      expect([await versionOf(engine, 'r1'), await versionOf(engine, 'r2'), await versionOf(engine, 'r3')]).toEqual([v1, v2, v1]);
      // Roll forward, by type.
      await engine.route('order', v2);
      await engine.start('order', { args: ['d'], workflowId: 'r4' });
      expect(await versionOf(engine, 'r4')).toBe(v2);

      // Unload: refused while runs are pinned to a version, or types routed to it.
      await expect(engine.unload(v1)).rejects.toThrow(`bundle version ${v1} has 2 running runs pinned to it (r1, r3): let them finish, upgrade or terminate them first`);
      await engine.getHandle('r1').terminate();
      await engine.getHandle('r3').terminate();
      await engine.unload(v1);
      await expect(engine.unload(v2)).rejects.toThrow(/has 2 running runs pinned to it/);
      expect((await engine.versions()).map((v) => v.version)).toEqual([v2]);
      await expect(engine.route('all', v1)).rejects.toThrow(`bundle version ${v1} is not deployed in namespace default`);
      await expect(engine.upgrade((await engine.getHandle('r2').describe()).runId, { version: v1 })).rejects.toThrow(`bundle version ${v1} is not deployed in namespace default`);
      await engine.getHandle('r2').terminate();
      await engine.getHandle('r4').terminate();
      await expect(engine.unload(v2)).rejects.toThrow(`bundle version ${v2} is routed for order: route them to another version first`);
    } finally {
      await engine.close();
    }
  });

  it("keeps each namespace's versions its own", async () => {
    const engine = await Engine.open({ logger: silentLogger });
    try {
      const v1 = (await engine.deploy({ code: code.v1, namespace: 'acme' })).version;
      const v2 = (await engine.deploy({ code: code.v2, namespace: 'globex' })).version;
      const run = await engine.start('order', { args: ['x'], namespace: 'globex' });
      await expect(engine.route('all', v1, { namespace: 'globex' })).rejects.toThrow(`bundle version ${v1} is not deployed in namespace globex`);
      await expect(engine.upgrade(run.runId!, { version: v1, namespace: 'globex' })).rejects.toThrow(`bundle version ${v1} is not deployed in namespace globex`);
      await expect(engine.reset(run.workflowId, { toEvent: 2, version: v1, namespace: 'globex' })).rejects.toThrow(`bundle version ${v1} is not deployed in namespace globex`);
      expect((await engine.versions({ namespace: 'globex' })).map((v) => v.version)).toEqual([v2]);
      await run.terminate();
      // A namespace deleted takes its versions and routes along: a new one of that name starts empty.
      await engine.namespaces.create('initech');
      await engine.deploy({ code: code.v1, namespace: 'initech' });
      await engine.namespaces.delete('initech');
      await engine.namespaces.create('initech');
      expect(await engine.versions({ namespace: 'initech' })).toEqual([]);
      await expect(engine.start('order', { args: ['y'], namespace: 'initech' })).rejects.toThrow(/order/);
      await expect(engine.deploy({ code: code.v2, check: 'yes' as unknown as boolean })).rejects.toThrow('check must be true or false');
    } finally {
      await engine.close();
    }
  });
});
