/**
 * Phase one of the recovery benchmark, in its own process: starts `count` runs that sleep
 * until `wakeAt`, prints `started`, and waits to be SIGKILLed. All must be started before
 * `wakeAt`, so every one of them is still running at the kill.
 */
import { Engine } from '../engine/engine.js';
import { inBatches, noopActivities, order3Code, silentLogger } from './workloads/index.js';

const [dataDir, countText, wakeAtText] = process.argv.slice(2);
const wakeAt = Number(wakeAtText);
const engine = await Engine.open({ dataDir, activities: noopActivities, logger: silentLogger });
await engine.deploy({ code: await order3Code() });
await inBatches(Number(countText), 200, (i) => engine.start('sleepUntilThenStep', { args: [wakeAt, i], workflowId: `recover-${i}` }));
if (Date.now() >= wakeAt) throw new Error('the runs took too long to start: some timers may have fired before the kill');
process.stdout.write('started\n');
await new Promise(() => undefined);
