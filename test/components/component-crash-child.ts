/**
 * Child process of the component crash test: an engine running order3 as a WebAssembly
 * component (`componentPath`) on a data folder.
 *   start   <dataDir> <componentPath> <activityLog> <count>: deploys, starts `count` runs,
 *           prints `started`, then `completed N` as runs finish (the parent SIGKILLs it);
 *   recover <dataDir> <componentPath> <activityLog> <count>: reopens the folder, waits for
 *           every run and prints `results <json>`.
 * Every activity execution is appended (synchronously) to the activity log.
 */
import { readFileSync } from 'node:fs';
import { Engine } from '../../engine/engine.js';
import { loggedActivity, runCrashPhase } from '../crash-child-phases.js';
import { silentLogger } from '../helpers-node.js';

const [phase, dataDir, componentPath, activityLog, countText] = process.argv.slice(2);

const step = (name: string, add: number) => loggedActivity(activityLog, phase, name, (n: number) => n + add);
const engine = await Engine.open({ dataDir, logger: silentLogger, activities: { step1: step('step1', 1), step2: step('step2', 10), step3: step('step3', 100) } });

if (phase === 'start') await engine.deploy({ component: new Uint8Array(readFileSync(componentPath)) });
const workflowId = (i: number) => `c-${i}`;
await runCrashPhase(engine, phase, Number(countText), workflowId, (i) => engine.start('order3', { args: [i * 1000], workflowId: workflowId(i) }));
