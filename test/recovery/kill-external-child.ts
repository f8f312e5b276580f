/**
 * Child process of kill-external.test.ts.
 *   run <point> <dataDir>: a workflow signals another; the process SIGKILLs itself right after
 *     the write that records `point` — the signal sent (`signalExternal`) or acknowledged
 *     (`externalDone`) — is durable;
 *   recover <point> <dataDir>: reopens the folder and prints `result <json>`.
 */
import { writeSync } from 'node:fs';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { openLevelDbStore } from '../../store/open.js';
import { fixture, silentLogger } from '../helpers-node.js';

const [phase, point, dataDir] = process.argv.slice(2);
const store = await openLevelDbStore<HistoryEvent>(dataDir);
if (phase === 'run') {
  const write = store.write.bind(store);
  store.write = async (batch, options) => {
    await write(batch, options);
    const recorded = batch.outbox?.put?.find((entry) => (entry.effect as { kind: string }).kind === point);
    if (recorded) {
      writeSync(1, `killing ${JSON.stringify(recorded)}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  };
}
const engine = await Engine.open({ store, logger: silentLogger });
if (phase === 'run') {
  await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('temporal-compat.ts') })).code });
  await engine.start('pingReceiver', { workflowId: 'target' });
  await engine.start('signalsTwice', { args: ['target'], workflowId: 'sender' });
  await new Promise(() => undefined); // until the kill
} else {
  const count = async (workflowId: string, type: string) => (await engine.getHandle(workflowId).history()).filter((event) => event.type === type).length;
  const result = {
    sender: await engine.getHandle('sender').result(),
    target: await engine.getHandle('target').result(),
    signalsReceived: await count('target', 'SignalReceived'),
    acknowledgements: await count('sender', 'ExternalWorkflowSignaled'),
    outbox: (await store.listOutbox()).length,
  };
  writeSync(1, `result ${JSON.stringify(result)}\n`);
  await engine.close();
}
