/**
 * Child process of the crash-recovery test (`store`: a data folder, or `postgres://…#schema`).
 *   start   <store> <activityLog> <count>: starts `count` runs, prints `started`, then
 *           `completed N` as runs finish (the parent SIGKILLs it along the way);
 *   recover <store> <activityLog> <count>: reopens the store, waits for every run and
 *           prints `results <json>`.
 * Every activity execution is appended (synchronously) to the activity log.
 */
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import { loggedActivity, runCrashPhase } from '../crash-child-phases.js';
import { fixture, silentLogger, storeOfArgument } from '../helpers-node.js';

const [phase, store, activityLog, countText] = process.argv.slice(2);

const engine = await Engine.open({
  ...storeOfArgument(store),
  logger: silentLogger,
  activities: {
    charge: loggedActivity(activityLog, phase, 'charge', (n: number) => n * 100),
    reserve: loggedActivity(activityLog, phase, 'reserve', (item: string) => `reserved:${item}`),
  },
});

if (phase === 'start') await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('crash.ts') })).code });
const workflowId = (i: number) => `rec-${i}`;
await runCrashPhase(engine, phase, Number(countText), workflowId, (i) => engine.start('recoverable', { args: [i], workflowId: workflowId(i) }));
