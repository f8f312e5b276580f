/**
 * Child process of kill-threads.test.ts: effects between runs served by different partition
 * threads, with a SIGKILL in the middle of them.
 *   run <dataDir> <threads>: starts parents whose children, and senders whose targets, are
 *     served by another thread, prints `busy` once the first parent is done (the other
 *     effects still in flight), and waits to be killed;
 *   recover <dataDir> <threads>: reopens the folder with that many threads, waits for every
 *     run to end and prints `result <json>`: what each run recorded, counted.
 */
import { writeSync } from 'node:fs';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { openLevelDbStore, partitionFolder } from '../../store/open.js';
import { fixture, silentLogger } from '../helpers-node.js';
import { PAIRS, pairIds } from './kill-threads-ids.js';

const [phase, dataDir, threads] = process.argv.slice(2);

/** Outbox entries the partitions hold (each opened as the single database it is): effects recorded, not yet done. */
async function pendingEffects(): Promise<number> {
  let count = 0;
  for (let partition = 0; partition < 16; partition++) {
    const part = await openLevelDbStore<HistoryEvent>(partitionFolder(dataDir, partition), { partitions: 1 });
    count += (await part.listOutbox()).length;
    await part.close();
  }
  return count;
}

const pendingAtKill = phase === 'recover' ? await pendingEffects() : 0;
const engine = await Engine.open({ dataDir, threads: Number(threads), logger: silentLogger });
const pairs = Array.from({ length: PAIRS }, (_, i) => pairIds(i));

if (phase === 'run') {
  await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('semantics.ts') })).code });
  await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('temporal-compat.ts') })).code });
  const parents = await Promise.all(pairs.map(({ parent, child }) => engine.start('parentWithPolicy', { args: ['TERMINATE', child], workflowId: parent })));
  for (const { sender, target } of pairs) {
    await engine.start('pingReceiver', { workflowId: target });
    await engine.start('signalsTwice', { args: [target], workflowId: sender });
  }
  await Promise.race(parents.map((parent) => parent.result()));
  writeSync(1, 'busy\n');
  await new Promise(() => undefined);
} else {
  const types = async (workflowId: string) => {
    const runs = (await engine.list()).filter((run) => run.workflowId === workflowId);
    const events = await Promise.all(runs.map(async (run) => (await engine.getHandle(workflowId, run.runId).history()).map((event) => event.type)));
    return { runs: runs.length, events: events.flat() };
  };
  const count = (events: string[], type: string) => events.filter((t) => t === type).length;
  const outcomes = await Promise.all(
    pairs.map(async ({ parent, child, sender, target }) => {
      const [parentResult, senderResult, targetResult] = await Promise.all([parent, sender, target].map((id) => engine.getHandle(id).result()));
      const [childRuns, targetRuns, senderRuns] = await Promise.all([child, target, sender].map(types));
      return {
        parent: parentResult,
        sender: senderResult,
        target: targetResult,
        child: { runs: childRuns.runs, started: count(childRuns.events, 'WorkflowStarted'), terminated: count(childRuns.events, 'WorkflowTerminated') },
        signalsReceived: count(targetRuns.events, 'SignalReceived'),
        acknowledgements: count(senderRuns.events, 'ExternalWorkflowSignaled'),
      };
    }),
  );
  // The same for every pair, or the first that differs.
  const first = JSON.stringify(outcomes[0]);
  const odd = outcomes.find((outcome) => JSON.stringify(outcome) !== first);
  await engine.close();
  writeSync(1, `result ${JSON.stringify({ pendingAtKill, pairs: outcomes.length, outcome: outcomes[0], ...(odd ? { odd } : {}) })}\n`);
}
