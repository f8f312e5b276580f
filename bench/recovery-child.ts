/**
 * Phase one of the recovery benchmark, in its own process: starts `count` runs that sleep
 * `sleepMs`, prints `started`, and waits to be SIGKILLed.
 */
import { Engine } from '../engine/engine.js';
import { inBatches, noopActivities, order3Code, silentLogger } from './workloads/index.js';

const [dataDir, countText, sleepText] = process.argv.slice(2);
const engine = await Engine.open({ dataDir, activities: noopActivities, logger: silentLogger });
await engine.deploy({ code: await order3Code() });
await inBatches(Number(countText), 200, (i) => engine.start('sleepThenStep', { args: [Number(sleepText)], workflowId: `recover-${i}` }));
process.stdout.write('started\n');
await new Promise(() => undefined);
