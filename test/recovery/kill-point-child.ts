/**
 * Child process of the kill-point tests. `run <scenario> <dataDir>` sets a scenario up and
 * SIGKILLs itself right after the first write that records the scenario's intent is durable
 * (before the engine acts on it); `recover <scenario> <dataDir>` reopens the folder and prints
 * `result <json>`.
 */
import { writeSync } from 'node:fs';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { openLevelDbStore } from '../../store/open.js';
import type { OutboxEntry, WriteBatch } from '../../store/types.js';
import { makeActivities } from '../fixtures/activities.js';
import { fixture, silentLogger } from '../helpers-node.js';

const [phase, scenario, dataDir] = process.argv.slice(2);

type Probe = (batch: WriteBatch<HistoryEvent>) => OutboxEntry | boolean | undefined;
const outboxOf = (kind: string): Probe => (batch) => batch.outbox?.put?.find((entry) => (entry.effect as { kind: string }).kind === kind);
const KILL_AFTER: Record<string, Probe> = {
  child: outboxOf('startChild'),
  continueAsNew: outboxOf('continueAsNew'),
  schedule: outboxOf('startScheduled'),
  cancel: (batch) => batch.histories?.some((append) => append.events.some((event) => event.type === 'CancelRequested')),
};

const store = await openLevelDbStore<HistoryEvent>(dataDir);
if (phase === 'run' && scenario === 'snapshots') {
  // Killed while its 20th snapshot write is in flight, not after it.
  const write = store.write.bind(store);
  let snapshotWrites = 0;
  store.write = (batch) => {
    const pending = write(batch);
    if (batch.snapshots?.put?.length && ++snapshotWrites === 20) {
      writeSync(1, 'killing {"snapshotWrites":20}\n');
      process.kill(process.pid, 'SIGKILL');
    }
    return pending;
  };
} else if (phase === 'run') {
  const write = store.write.bind(store);
  store.write = async (batch) => {
    await write(batch);
    const hit = KILL_AFTER[scenario](batch);
    if (hit) {
      // Synchronous: a pipe write from `process.stdout` could be lost with the process.
      writeSync(1, `killing ${JSON.stringify(hit)}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  };
}
const activities = makeActivities();
// Budget 0 for the snapshot scenario: every run is parked (snapshot written) whenever idle.
const engine = await Engine.open({ store, logger: silentLogger, activities, ...(scenario === 'snapshots' ? { maxResidentBytes: 0, snapshots: { minEvents: 0 } } : {}) });

if (phase === 'run') {
  await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('semantics.ts') })).code });
  if (scenario === 'child') await engine.start('parentOfThree', { workflowId: 'parent' });
  if (scenario === 'continueAsNew') await engine.start('counter', { args: [0, 2, 5], workflowId: 'chain' });
  if (scenario === 'schedule') await engine.schedules.create({ scheduleId: 'tick', spec: { intervalMs: '1s' }, action: { workflowType: 'patient', args: [1] } });
  if (scenario === 'cancel') await (await engine.start('waitsThenCleansUp', { workflowId: 'cancelled' })).cancel();
  if (scenario === 'snapshots') for (let i = 0; i < 20; i++) await engine.start('steps', { args: [5], workflowId: `steps-${i}` });
  await new Promise(() => undefined); // the kill comes from the store
} else {
  const output: Record<string, unknown> = {};
  if (scenario === 'child') output.result = await engine.getHandle('parent').result();
  if (scenario === 'continueAsNew') output.result = await engine.getHandle('chain').result();
  if (scenario === 'cancel') output.result = await engine.getHandle('cancelled').result();
  // The kill may come before every run was started: each run that exists must finish.
  if (scenario === 'snapshots') output.result = await Promise.all((await engine.list({ workflowType: 'steps' })).map((w) => engine.getHandle(w.workflowId).result()));
  if (scenario === 'schedule') {
    const [workflowId, runId] = process.argv.slice(5);
    output.result = await engine.getHandle(workflowId, runId).result();
    await engine.schedules.pause('tick');
    output.schedule = await engine.schedules.describe('tick');
  }
  output.runs = (await engine.list()).map((w) => ({ workflowId: w.workflowId, runId: w.runId, status: w.status, workflowType: w.workflowType }));
  output.outbox = (await store.listOutbox()).length;
  writeSync(1, `result ${JSON.stringify(output)}\n`);
  await engine.close();
  await store.close();
}
