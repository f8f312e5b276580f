/**
 * Child process of the component crash test: an engine running order3 as a WebAssembly
 * component (`componentPath`) on a data folder.
 *   start   <dataDir> <componentPath> <activityLog> <count>: deploys, starts `count` runs,
 *           prints `started`, then `completed N` as runs finish (the parent SIGKILLs it);
 *   recover <dataDir> <componentPath> <activityLog> <count>: reopens the folder, waits for
 *           every run and prints `results <json>`.
 * Every activity execution is appended (synchronously) to the activity log.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { Context } from '../../engine/activities/context.js';
import { Engine } from '../../engine/engine.js';
import { silentLogger } from '../helpers-node.js';

const [phase, dataDir, componentPath, activityLog, countText] = process.argv.slice(2);
const count = Number(countText);

const step = (name: string, add: number) => async (n: number) => {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
  const { runId, activityId } = Context.current().info;
  appendFileSync(activityLog, `${JSON.stringify({ phase, name, runId, seq: Number(activityId) })}\n`);
  return n + add;
};

const engine = await Engine.open({ dataDir, logger: silentLogger, activities: { step1: step('step1', 1), step2: step('step2', 10), step3: step('step3', 100) } });

if (phase === 'start') {
  await engine.deploy({ component: new Uint8Array(readFileSync(componentPath)) });
  const handles = [];
  for (let i = 0; i < count; i++) handles.push(await engine.start('order3', { args: [i * 1000], workflowId: `c-${i}` }));
  process.stdout.write('started\n');
  let completed = 0;
  for (const handle of handles) void handle.result().then(() => process.stdout.write(`completed ${++completed}\n`));
} else {
  const results = await Promise.all(Array.from({ length: count }, (_, i) => engine.getHandle(`c-${i}`).result()));
  process.stdout.write(`results ${JSON.stringify(results)}\n`);
  await engine.close();
}
