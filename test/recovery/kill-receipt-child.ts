/**
 * Child process of kill-receipts.test.ts: effects between runs in different partitions.
 *   run <scenario> <dataDir> <n>: sets the scenario up and SIGKILLs itself right after the
 *     n-th write that records an effect in its target's partition — with the receipt for the
 *     outbox entry, before the entry is deleted in its own partition — is durable;
 *   recover <scenario> <dataDir>: reopens the folder and prints `result <json>`.
 */
import { writeSync } from 'node:fs';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { KvEventStore } from '../../store/kv-event-store.js';
import { openLevelDbStore, partitionFolder } from '../../store/open.js';
import type { WriteBatch } from '../../store/types.js';
import { makeActivities } from '../fixtures/activities.js';
import { fixture, silentLogger } from '../helpers-node.js';
import { IDS } from './kill-receipt-ids.js';

const [phase, scenario, dataDir, nth] = process.argv.slice(2);

if (phase === 'run') {
  // Every partition is a KvEventStore: the kill comes after the partition's own write.
  const write = KvEventStore.prototype.write;
  let receipts = 0;
  KvEventStore.prototype.write = async function (this: KvEventStore<HistoryEvent>, batch: WriteBatch<HistoryEvent>, options?: { durable?: boolean }) {
    await write.call(this, batch, options);
    const receipt = batch.control?.put?.find((record) => record.kind === 'outbox-receipt');
    if (receipt && ++receipts === Number(nth)) {
      // Synchronous: a pipe write from `process.stdout` could be lost with the process.
      writeSync(1, `killing ${JSON.stringify({ receipt: receipt.id, events: batch.histories?.flatMap((append) => append.events.map((event) => event.type)) ?? [] })}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  } as typeof write;
}
/** Receipts held by the partitions, each opened as the single database it is. */
async function receiptsIn(folder: string): Promise<number> {
  let count = 0;
  for (let partition = 0; partition < 16; partition++) {
    const part = await openLevelDbStore<HistoryEvent>(partitionFolder(folder, partition), { partitions: 1 });
    count += (await part.listControl('outbox-receipt')).length;
    await part.close();
  }
  return count;
}

const receiptsBefore = phase === 'recover' ? await receiptsIn(dataDir) : 0;
const store = await openLevelDbStore<HistoryEvent>(dataDir, { partitions: 16 });
const engine = await Engine.open({ store, logger: silentLogger, activities: makeActivities() });

if (phase === 'run') {
  await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('semantics.ts') })).code });
  await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('temporal-compat.ts') })).code });
  if (scenario === 'child') await engine.start('parentWithPolicy', { args: ['TERMINATE', IDS.child], workflowId: IDS.parent });
  if (scenario === 'signal') {
    await engine.start('pingReceiver', { workflowId: IDS.target });
    await engine.start('signalsTwice', { args: [IDS.target], workflowId: IDS.sender });
  }
  if (scenario === 'schedule') await engine.schedules.create({ scheduleId: 'tick', spec: { intervalMs: '1s' }, action: { workflowType: 'patient', args: [1] } });
  await new Promise(() => undefined); // the kill comes from the store
} else {
  const events = async (workflowId: string, runId?: string) => (await engine.getHandle(workflowId, runId).history()).map((event) => event.type);
  const count = (types: string[], type: string) => types.filter((t) => t === type).length;
  const output: Record<string, unknown> = {};
  if (scenario === 'child') {
    output.parent = await engine.getHandle(IDS.parent).result();
    const child = await events(IDS.child);
    output.child = { started: count(child, 'WorkflowStarted'), terminated: count(child, 'WorkflowTerminated'), runs: (await engine.list({ workflowType: 'waitsForever' })).length };
  }
  if (scenario === 'signal') {
    output.sender = await engine.getHandle(IDS.sender).result();
    output.target = await engine.getHandle(IDS.target).result();
    output.signalsReceived = count(await events(IDS.target), 'SignalReceived');
    output.acknowledgements = count(await events(IDS.sender), 'ExternalWorkflowSignaled');
  }
  if (scenario === 'schedule') {
    // Every run the schedule started so far finishes, once per tick.
    await engine.schedules.pause('tick');
    const description = await engine.schedules.describe('tick');
    const started = description.recentActions.map((action) => action.workflowId);
    output.results = await Promise.all(started.map((workflowId) => engine.getHandle(workflowId).result()));
    output.runsPerTick = await Promise.all(started.map(async (workflowId) => (await engine.list({ workflowType: 'patient' })).filter((run) => run.workflowId === workflowId).length));
  }
  output.outbox = (await store.listOutbox()).length;
  await engine.close();
  await store.close();
  output.receipts = { before: receiptsBefore, after: await receiptsIn(dataDir) };
  writeSync(1, `result ${JSON.stringify(output)}\n`);
}
