/**
 * Hosting from the command line, with real processes: `aion server --init-admin-key` prints
 * the first admin key once; namespaces and keys are made with it; a namespace's key works in
 * its namespace only and stops when revoked; `aion audit` says who did what. A second
 * `--init-admin-key`, and a server on a public address without keys, are refused.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, runChild, type Child } from '../child-process.js';
import { suiteTempDir } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'cli/main.ts');
const dir = suiteTempDir('aion-hosting-cli-');

let server: Child;
let endpoint: string;
let adminKey: string;

const aion = cliRunner(CLI, root, () => endpoint);

beforeAll(async () => {
  server = runChild(CLI, ['server', '--data', join(dir, 'data'), '--port', '0', '--init-admin-key']);
  adminKey = /shown this once: (aion_\S+)/.exec(await server.line(/^admin key/))![1];
  endpoint = (JSON.parse(await server.line(/Aion server listening/)) as { url: string }).url;
}, 30_000);

afterAll(async () => {
  server.process.kill('SIGTERM');
  await server.exited;
});

describe('hosting with the CLI', { timeout: 60_000 }, () => {
  it('makes namespaces and keys with the admin key; a key acts in its namespace only, until revoked; the audit says who did what', async () => {
    expect((await aion('namespace', 'list')).stderr).toMatch(/^aion: missing bearer credential/);
    const asAdmin = ['--token', adminKey];
    expect((await aion(...asAdmin, 'namespace', 'create', 'acme', '--description', 'first tenant')).code).toBe(0);
    expect((await aion(...asAdmin, 'namespace', 'list')).stdout).toMatch(/^acme\s+\S+\s+first tenant$/m);
    expect((await aion(...asAdmin, 'namespace', 'update', 'acme', '--retention', '30 days')).stdout).toMatch(/^retention: +30 days$/m);
    expect((await aion(...asAdmin, '--json', 'namespace', 'describe', 'acme')).stdout).toContain(`"retentionMs": ${30 * 24 * 3600 * 1000}`);
    expect((await aion(...asAdmin, 'namespace', 'update', 'acme', '--retention', 'forever')).stdout).toMatch(/^retention: +forever$/m);
    expect((await aion(...asAdmin, 'namespace', 'update', 'acme', '--retention', 'later')).stderr).toBe('aion: retention must be a duration such as \'30 days\' (or ms), got "later"\n');
    const created = JSON.parse((await aion(...asAdmin, '--json', 'key', 'create', '--namespace', 'acme', '--role', 'operate')).stdout) as { key: string; id: string };
    expect(created).toMatchObject({ key: expect.stringMatching(/^aion_/), id: expect.any(String) });

    const asAcme = ['--token', created.key, '--namespace', 'acme'];
    expect((await aion(...asAcme, 'list')).code).toBe(0);
    expect((await aion('--token', created.key, 'list')).stderr).toBe('aion: namespace default not found\n');
    writeFileSync(join(dir, 'any.js'), 'exports.x = 1;');
    expect((await aion(...asAcme, 'deploy', join(dir, 'any.js'))).stderr).toBe('aion: an operate key may not deploy in namespace acme\n');
    expect((await aion(...asAcme, 'key', 'list')).stderr).toBe('aion: an operate key may not manage the server in namespace acme\n');

    const listed = (await aion(...asAdmin, '--namespace', 'acme', 'key', 'list')).stdout;
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.key);
    expect((await aion(...asAdmin, 'key', 'revoke', created.id)).stdout).toBe(`revoked key ${created.id}\n`);
    expect((await aion(...asAcme, 'list')).stderr).toMatch(/^aion: unknown or revoked API key/);

    const audit = (await aion(...asAdmin, '--namespace', 'acme', 'audit')).stdout.split('\n').slice(1, 6);
    const adminId = adminKey.split('_')[1];
    expect(audit.map((line) => line.split(/\s+/).slice(1, 4))).toEqual([
      ['acme', `key:${adminId}`, 'key.revoke'],
      ['acme', `key:${adminId}`, 'key.create'],
      ['acme', `key:${adminId}`, 'namespace.update'],
      ['acme', `key:${adminId}`, 'namespace.update'],
      ['acme', `key:${adminId}`, 'namespace.create'],
    ]);
  });

  it('deploys with --check, lists versions, routes back and forth, and unloads', async () => {
    const asAdmin = ['--token', adminKey];
    const source = (body: string) => `import { proxyActivities, sleep } from '@temporalio/workflow';\nconst { charge } = proxyActivities<{ charge(): Promise<void> }>({ startToCloseTimeout: '1 minute' });\nexport async function held(): Promise<string> {\n${body}\n}\n`;
    const bundles: Record<string, string> = {};
    for (const [name, body] of Object.entries({ v1: "  await sleep('1 hour');\n  return 'v1';", v2: "  await sleep('1 hour');\n  return 'v2';", v3: "  await charge();\n  await sleep('1 hour');\n  return 'v3';" })) {
      writeFileSync(join(dir, `${name}.ts`), source(body));
      bundles[name] = join(dir, `${name}.js`);
      expect((await aion('build', join(dir, `${name}.ts`), '-o', bundles[name])).code).toBe(0);
    }
    const v1 = (JSON.parse((await aion(...asAdmin, '--json', 'deploy', bundles.v1)).stdout) as { version: string }).version;
    expect((await aion(...asAdmin, 'start', 'held', '--id', 'held-1')).code).toBe(0);
    const breaking = await aion(...asAdmin, 'deploy', '--check', bundles.v3);
    expect(breaking.code).toBe(1);
    expect(breaking.stderr).toMatch(/^aion: the bundle would break 1 of the 1 running runs .*; run held-1 \(.+\) diverges at event \d+: it recorded TimerStarted.*, the bundle makes .*ActivityScheduled.* \(at .*v3\.ts:\d+\)$/m);
    const v2 = (JSON.parse((await aion(...asAdmin, '--json', 'deploy', '--check', bundles.v2)).stdout) as { version: string }).version;
    expect((await aion(...asAdmin, 'versions')).stdout).toMatch(new RegExp(`^${v2}\\s+\\S+\\s+held\\s+held\\n${v1}\\s+\\S+\\s+-\\s+held$`, 'm'));
    expect((await aion(...asAdmin, 'route', 'all', v1)).stdout).toBe(`new runs of held start on ${v1}\n`);
    expect((await aion(...asAdmin, 'unload', v1)).stderr).toMatch(/^aion: bundle version .* has 1 running run pinned to it \(held-1\)/);
    expect((await aion(...asAdmin, 'unload', v2)).stdout).toBe(`unloaded version ${v2}\n`);
    expect((await aion(...asAdmin, 'terminate', 'held-1')).code).toBe(0);
    const audit = (await aion(...asAdmin, '--namespace', 'default', 'audit', '--limit', '3')).stdout;
    expect(audit).toMatch(/key:\w+\s+unload\s+/);
    expect(audit).toMatch(/key:\w+\s+route\s+/);
  });

  it('follows a run with history --follow until it closes', async () => {
    const asAdmin = ['--token', adminKey];
    writeFileSync(join(dir, 'waiter.ts'), "import { condition, defineSignal, setHandler } from '@temporalio/workflow';\nexport const go = defineSignal('go');\nexport async function waiter(): Promise<string> {\n  let done = false;\n  setHandler(go, () => { done = true; });\n  await condition(() => done);\n  return 'went';\n}\n");
    expect((await aion('build', join(dir, 'waiter.ts'), '-o', join(dir, 'waiter.js'))).code).toBe(0);
    expect((await aion(...asAdmin, 'deploy', join(dir, 'waiter.js'))).code).toBe(0);
    expect((await aion(...asAdmin, 'start', 'waiter', '--id', 'followed')).code).toBe(0);
    const follower = runChild(CLI, ['--endpoint', endpoint, ...asAdmin, 'history', 'followed', '--follow']);
    expect(await follower.line(/WorkflowTaskCompleted/)).toMatch(/^\s+2\s+\S+\s+WorkflowTaskCompleted/);
    const completed = follower.line(/WorkflowCompleted/);
    expect((await aion(...asAdmin, 'signal', 'followed', 'go')).code).toBe(0);
    expect(await completed).toMatch(/WorkflowCompleted\s+\{"result":"went"\}$/);
    expect((await follower.exited).code).toBe(0);
  });

  it('refuses a second --init-admin-key, and a public address before any key exists', async () => {
    const again = runChild(CLI, ['server', '--data', join(dir, 'second'), '--port', '0', '--init-admin-key']);
    await again.line(/^admin key/);
    again.process.kill('SIGTERM');
    await again.exited;
    const twice = runChild(CLI, ['server', '--data', join(dir, 'second'), '--port', '0', '--init-admin-key']);
    expect((await twice.exited).code).toBe(1);
    expect(twice.stderr()).toMatch(/--init-admin-key: an admin key exists already/);

    const open = runChild(CLI, ['server', '--data', join(dir, 'third'), '--port', '0', '--host', '0.0.0.0']);
    expect((await open.exited).code).toBe(1);
    expect(open.stderr()).toMatch(/refusing to serve on 0\.0\.0\.0 without authentication/);
  });
});
