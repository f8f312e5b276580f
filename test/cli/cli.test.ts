/**
 * The CLI path end to end, with real processes: `aion server` with an activities module, then
 * build, deploy, start, signal, query, result, history --json and replay against it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, runChild, type Child, type CliOutcome } from '../child-process.js';
import { watWorkflowsComponent } from '../fixtures/components/build.js';
import { suiteTempDir } from '../helpers.js';
import { openLevelDbStore } from '../../store/open.js';
import { freePort } from '../../tools/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'cli/main.ts');


let server: Child;
let endpoint: string;
const dir = suiteTempDir('aion-cli-');

const aion = cliRunner(CLI, root, () => endpoint);

beforeAll(async () => {
  server = runChild(CLI, ['server', '--data', join(dir, 'data'), '--port', '0', '--activities', join(root, 'examples/order/activities.ts')]);
  const line = await server.line(/Aion server listening/);
  endpoint = (JSON.parse(line) as { url: string }).url;
}, 30_000);

afterAll(async () => {
  server.process.kill('SIGTERM');
  await server.exited;
});

describe('aion CLI', { timeout: 60_000 }, () => {
  it('builds, deploys, starts, signals, queries, waits for the result and replays the history', async () => {
    const bundle = join(dir, 'bundle.js');
    expect((await aion('build', join(root, 'examples/order/workflows.ts'), '-o', bundle)).code).toBe(0);

    const deployed = await aion('--json', 'deploy', bundle);
    expect(deployed.code).toBe(0);
    expect(JSON.parse(deployed.stdout)).toMatchObject({ workflowTypes: ['processOrder'] });

    const order = JSON.stringify([{ id: 'cli-1', item: 'lamp', amount: 7 }]);
    const started = await aion('--json', 'start', 'processOrder', '--id', 'cli-1', '--args', order);
    expect(JSON.parse(started.stdout)).toMatchObject({ workflowId: 'cli-1' });

    expect((await aion('query', 'cli-1', 'status')).stdout.trim()).toMatch(/awaiting approval|charging|reserving/);
    expect((await aion('signal', 'cli-1', 'approve', '--args', '["eve"]')).code).toBe(0);

    const result = await aion('--json', 'result', 'cli-1');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      status: 'Completed',
      result: { orderId: 'cli-1', chargeId: 'ch_cli-1_7', tracking: 'TRACK-cli-1-LAMP', approvedBy: 'eve' },
    });

    expect((await aion('cluster', 'status')).stdout.trim()).toBe('this store has no partition leases (a LevelDB folder, or memory): the one engine that opened it serves it');
    const described = JSON.parse((await aion('--json', 'describe', 'cli-1')).stdout) as Record<string, unknown>;
    expect(described).toMatchObject({ workflowId: 'cli-1', status: 'Completed', workflowType: 'processOrder' });
    const listed = JSON.parse((await aion('--json', 'list', '--status', 'Completed')).stdout) as { workflowId: string }[];
    expect(listed.map((w) => w.workflowId)).toContain('cli-1');

    const history = await aion('history', 'cli-1', '--json');
    const historyFile = join(dir, 'history.json');
    writeFileSync(historyFile, history.stdout);
    expect((JSON.parse(history.stdout) as { events: { type: string }[] }).events.at(-1)?.type).toBe('WorkflowCompleted');
    const replayed = await aion('replay', '--bundle', bundle, '--history', historyFile);
    expect(replayed).toMatchObject({ code: 0 });
    expect(replayed.stdout).toMatch(/the code reproduces the history/);

    // The same history against code that no longer reserves stock first: a diff and exit 1.
    const changedSource = readFileSync(join(root, 'examples/order/workflows.ts'), 'utf8').replace('await reserveStock(order.item);', '');
    writeFileSync(join(dir, 'changed.ts'), changedSource);
    const changedBundle = join(dir, 'changed.js');
    expect((await aion('build', join(dir, 'changed.ts'), '-o', changedBundle)).code).toBe(0);
    const diverged = await aion('replay', '--bundle', changedBundle, '--history', historyFile);
    expect(diverged.code).toBe(1);
    expect(diverged.stdout).toContain('nondeterminism at event 3');
    // Each side with its source line (the history's recorded when it ran, the code's from its bundle's source map), and a hint.
    expect(diverged.stdout).toMatch(/- history: ActivityScheduled\(seq=1, activityType="reserveStock"\) \(event 3\) {2}at \S*examples\/order\/workflows\.ts:\d+/);
    expect(diverged.stdout).toMatch(/\+ code: {4}scheduleActivity → ActivityScheduled\(seq=1, activityType="chargeCard"\) {2}at \S*changed\.ts:\d+/);
    expect(diverged.stdout).toContain('  hint: a different activity is called here');
    const all = await aion('replay', '--bundle', changedBundle, '--history', historyFile, '--strict', '--all', '--json');
    expect(all.code).toBe(1);
    expect((JSON.parse(all.stdout) as { divergences: { eventIndex: number }[] }).divergences[0]).toMatchObject({ eventIndex: 3 });

    // The pre-deploy check: every completed run of the type on the server, replayed and grouped.
    const reproduced = await aion('replay', '--bundle', bundle, '--type', 'processOrder', '--status', 'Completed');
    expect(reproduced).toMatchObject({ code: 0 });
    expect(reproduced.stdout).toMatch(/^replayed \d+ histories of processOrder: the code reproduces them all/);
    const grouped = await aion('replay', '--bundle', changedBundle, '--type', 'processOrder', '--status', 'Completed');
    expect(grouped.code).toBe(1);
    expect(grouped.stdout).toMatch(/\d+ diverge at ActivityScheduled \(recorded at \S*workflows\.ts:\d+\): a different activity is called here/);
    expect(grouped.stdout).toMatch(/ {2}cli-1 \(run \S+\) at event 3, code at \S*changed\.ts:\d+/);
    // The run at an event: at its end (the default), and each activation.
    const events = (JSON.parse(history.stdout) as { events: { type: string }[] }).events;
    const inspected = JSON.parse((await aion('--json', 'inspect', 'cli-1', '--query', 'status')).stdout) as { eventIndex: number; query: { ok: boolean; result: unknown }; info: { workflowType: string } };
    // A closed run answers its query as at its end: the same as a query of the closed run.
    const now = (await aion('query', 'cli-1', 'status')).stdout.trim();
    expect(inspected).toMatchObject({ eventIndex: events.length, query: { ok: true, result: now }, info: { workflowType: 'processOrder' } });
    // Event 3 ends the first activation (its marker is event 2): the run as it was then.
    const first = await aion('inspect', 'cli-1', '--at', '3', '--query', 'status');
    expect(first.stdout).toMatch(/^processOrder cli-1 after event 3 \(.*\)\nwaiting on:\n {4}at processOrder \(\S*workflows\.ts:\d+:\d+\)\nquery status: reserving\n/);
    expect((await aion('inspect', 'cli-1', '--at', '1')).stdout).toMatch(/^workflow cli-1 after event 1 \(.*\), before its first activation/);
    const timeline = await aion('inspect', 'cli-1', '--timeline');
    expect(timeline.stdout).toMatch(/^event {4}2 {2}\S+ {2}WorkflowStarted → ActivityScheduled \(\S*workflows\.ts:\d+\)/m);

    // Reset to the end of the first activation: a new run carries on, and gets the approval signal again.
    const reset = await aion('reset', 'cli-1', '--to-event', '3', '--reason', 'try again');
    expect(reset.stdout).toMatch(/^reset cli-1 to event 3: run \S+ \(version \S+\) carries on from run \S+/);
    const again = await aion('--json', 'result', 'cli-1');
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'Completed', result: { orderId: 'cli-1', approvedBy: 'eve' } });

    const neither = await aion('replay', '--bundle', bundle);
    expect(neither).toMatchObject({ code: 1, stderr: 'aion: give either --history FILE or --type TYPE\n' });
  });

  it('exits 1 with the failure when the run failed, and after terminate', async () => {
    const order = JSON.stringify([{ id: 'cli-2', item: 'x', amount: -1 }]);
    await aion('start', 'processOrder', '--id', 'cli-2', '--args', order);
    await aion('terminate', 'cli-2', '--reason', 'operator');
    const result = await aion('result', 'cli-2');
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('Terminated: operator');
  });

  it('manages schedules', async () => {
    const order = JSON.stringify([{ id: 'nightly', item: 'box', amount: 1 }]);
    const created = await aion('--json', 'schedule', 'create', 'nightly', '--type', 'processOrder', '--cron', '0 3 * * *', '--timezone', 'Europe/Paris', '--args', order);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ scheduleId: 'nightly', paused: false, fires: 0 });
    const triggered = JSON.parse((await aion('--json', 'schedule', 'trigger', 'nightly')).stdout) as { fires: number; running: { workflowId: string } };
    expect(triggered.fires).toBe(1);
    expect((await aion('schedule', 'list')).stdout).toMatch(/nightly\s+processOrder\s+false\s+1/);
    expect(JSON.parse((await aion('--json', 'schedule', 'pause', 'nightly')).stdout)).toMatchObject({ paused: true, nextFireTimes: [] });
    expect((await aion('schedule', 'describe', 'nightly')).stdout).toMatch(/paused:\s+true/);
    expect((await aion('schedule', 'delete', 'nightly')).stdout.trim()).toBe('deleted schedule nightly');
    expect((await aion('schedule', 'describe', 'nightly')).stderr).toBe('aion: schedule nightly not found\n');
    await aion('terminate', triggered.running.workflowId);
    const bad = await aion('schedule', 'create', 'x', '--type', 'processOrder', '--cron', 'sometimes');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^aion: invalid schedule spec/);
  });

  it('deploys a WebAssembly component with --component and runs it', async () => {
    const component = join(dir, 'wat-workflows.wasm');
    writeFileSync(component, await watWorkflowsComponent());
    const deployed = await aion('deploy', '--component', component);
    expect(deployed.stdout).toMatch(/^deployed version [0-9a-f]{32} \(workflows: timerWorkflow, spin, grow, trap\)\n$/);
    expect((await aion('start', 'timerWorkflow', '--id', 'cli-component')).code).toBe(0);
    const result = JSON.parse((await aion('--json', 'result', 'cli-component')).stdout) as { status: string; result: number[] };
    expect(result.status).toBe('Completed');
    expect(result.result).toHaveLength(2);

    const both = await aion('deploy', join(dir, 'bundle.js'), '--component', component);
    expect(both).toMatchObject({ code: 1, stderr: 'aion: give a bundle or --component <file.wasm>, not both\n' });
    expect(await aion('deploy')).toMatchObject({ code: 1, stderr: 'aion: give the bundle to deploy, or --component <file.wasm>\n' });
    const notComponent = join(dir, 'not-a-component.wasm');
    writeFileSync(notComponent, 'hello');
    expect((await aion('deploy', '--component', notComponent)).stderr).toBe('aion: this is not a WebAssembly component (its first 8 bytes are not a component header)\n');
  });

  it('reports bad input in one line with a non-zero exit code', async () => {
    const unknownType = await aion('start', 'nope');
    expect(unknownType.code).toBe(1);
    expect(unknownType.stderr).toBe("aion: no deployed bundle exports a workflow named 'nope' in namespace 'default'\n");
    const badArgs = await aion('start', 'processOrder', '--args', '{oops');
    expect(badArgs.stderr).toBe('aion: --args is not valid JSON: {oops\n');
    const missing = await aion('describe', 'no-such-workflow');
    expect(missing).toMatchObject({ code: 1, stderr: 'aion: workflow no-such-workflow not found\n' });
    const noFile = await aion('deploy', join(dir, 'missing.js'));
    expect(noFile.stderr).toMatch(/^aion: cannot read .*missing\.js: no such file\n$/);
    const port = await freePort();
    const unreachable = await aion('--endpoint', `http://127.0.0.1:${port}`, 'list');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe(`aion: cannot reach the Aion server at http://127.0.0.1:${port} (connection refused); is \`aion server\` running?\n`);
  });
});

describe('aion activity', { timeout: 60_000 }, () => {
  it('runs an update that waits for a signal, and prints its result', async () => {
    const bundle = join(dir, 'updates.js');
    expect((await aion('build', join(root, 'test/fixtures/updates.ts'), '-o', bundle)).code).toBe(0);
    expect((await aion('deploy', bundle)).code).toBe(0);
    expect((await aion('start', 'counter', '--id', 'cli-updates', '--args', '[{"gated":true}]')).code).toBe(0);
    // The update waits for the gate, which the signal opens (sent before or after the update: either way it completes).
    const update = aion('--json', 'update', 'cli-updates', 'add', '--args', '[5]');
    expect((await aion('signal', 'cli-updates', 'open')).code).toBe(0);
    const outcome = await update;
    expect([outcome.code, JSON.parse(outcome.stdout)]).toEqual([0, { updateId: expect.any(String), runId: expect.any(String), stage: 'COMPLETED', result: 5 }]);
    expect((await aion('update', 'cli-updates', 'add', '--args', '[2]')).stdout).toBe('7\n');
    expect((await aion('signal', 'cli-updates', 'finish')).code).toBe(0);
    expect((await aion('result', 'cli-updates')).stdout).toBe('7\n');
  });

  it('heartbeats and completes an activity that threw CompleteAsyncError, by its task token', async () => {
    const asyncServer = runChild(CLI, ['server', '--data', join(dir, 'async-data'), '--port', '0', '--activities', join(root, 'test/fixtures/cli-async-activities.ts')]);
    try {
      const url = (JSON.parse(await asyncServer.line(/Aion server listening/)) as { url: string }).url;
      const at = (...args: string[]) => aion('--endpoint', url, ...args);
      const bundle = join(dir, 'compat.js');
      expect((await at('build', join(root, 'test/fixtures/temporal-compat.ts'), '-o', bundle)).code).toBe(0);
      expect((await at('deploy', bundle)).code).toBe(0);
      const tokenFile = join(dir, 'token');
      expect((await at('start', 'runsActivity', '--id', 'async-1', '--args', JSON.stringify(['completedLater', tokenFile]))).code).toBe(0);
      await expect.poll(() => existsSync(tokenFile)).toBe(true);
      const token = readFileSync(tokenFile, 'utf8');

      expect((await at('activity', 'heartbeat', token, '--details', '{"progress":1}')).code).toBe(0);
      expect((await at('activity', 'complete', token, '--result', '"done by the CLI"')).code).toBe(0);
      expect(JSON.parse((await at('--json', 'result', 'async-1')).stdout)).toEqual({ status: 'Completed', result: 'done by the CLI' });
      const again = await at('activity', 'complete', token);
      expect(again.code).not.toBe(0);
      expect(again.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(again.stderr).toMatch(/no activity awaits asynchronous completion/);
    } finally {
      asyncServer.process.kill('SIGTERM');
      await asyncServer.exited;
    }
  });
});

describe('aion CLI, local failures', { timeout: 60_000 }, () => {
  const oneLine = (outcome: CliOutcome) => {
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(outcome.stderr).not.toMatch(/\n\s+at /);
    return outcome.stderr.trimEnd();
  };

  it('reports a held data folder, a data folder that is a file, a partition count it was not created with, a bundle that does not parse and malformed histories in one line each', async () => {
    expect(oneLine(await aion('server', '--data', join(dir, 'data'), '--port', '0'))).toMatch(/^aion: the data folder .* is held by process \d+ on .*; stop that engine first$/);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    expect(oneLine(await aion('server', '--data', file, '--port', '0'))).toBe(`aion: the data folder ${file} is a file, not a folder`);
    expect(oneLine(await aion('server', '--data', join(dir, 'new-data'), '--port', '0', '--partitions', '3'))).toBe('aion: partitions must be a power of two from 1 to 256, got 3');
    await (await openLevelDbStore(join(dir, 'sixteen'))).close();
    expect(oneLine(await aion('server', '--data', join(dir, 'sixteen'), '--port', '0', '--partitions', '4'))).toBe(
      `aion: the data folder ${join(dir, 'sixteen')} was created with 16 partitions and cannot be opened with 4: a folder keeps its partition count (leave the option out to open it as it is)`,
    );
    writeFileSync(join(dir, 'broken.ts'), 'export async function broken( {\n');
    expect(oneLine(await aion('build', join(dir, 'broken.ts'), '-o', join(dir, 'broken.js')))).toMatch(/^aion: .*broken\.ts:\d+:\d+: /);
    const history = join(dir, 'malformed.json');
    writeFileSync(history, JSON.stringify({ events: [{ eventId: 1, type: 'Nope', time: 0 }] }));
    writeFileSync(join(dir, 'any.js'), 'exports.w = async function w() {};');
    expect(oneLine(await aion('replay', '--bundle', join(dir, 'any.js'), '--history', history))).toBe(
      'aion: malformed history at event 1: a history starts with WorkflowStarted, not Nope',
    );
    writeFileSync(history, '[null]');
    expect(oneLine(await aion('replay', '--bundle', join(dir, 'any.js'), '--history', history))).toBe(
      'aion: malformed history at event 1: not an event (an object with eventId and type)',
    );
    const started = join(dir, 'started.json');
    writeFileSync(started, JSON.stringify([{ eventId: 1, type: 'WorkflowStarted', time: 0, workflowType: 'w', args: [] }]));
    writeFileSync(join(dir, 'broken.js'), 'exports.w = async function w( {');
    expect(oneLine(await aion('replay', '--bundle', join(dir, 'broken.js'), '--history', started))).toMatch(/^aion: the bundle failed to evaluate: SyntaxError: /);
  });
});

