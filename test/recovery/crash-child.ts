/**
 * Child process of the crash-recovery test (`store`: a data folder, or `postgres://…#schema`).
 *   start   <store> <activityLog> <count>: starts `count` runs, prints `started`, then
 *           `completed N` as runs finish (the parent SIGKILLs it along the way);
 *   recover <store> <activityLog> <count>: reopens the store, waits for every run and
 *           prints `results <json>`.
 * Every activity execution is appended (synchronously) to the activity log.
 */
import { appendFileSync } from 'node:fs';
import { Context } from '../../engine/activities/context.js';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import { fixture, silentLogger, storeOfArgument } from '../helpers-node.js';

const [phase, store, activityLog, countText] = process.argv.slice(2);
const count = Number(countText);

function logged<A extends unknown[], R>(name: string, fn: (...args: A) => R) {
  return async (...args: A): Promise<Awaited<R>> => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
    const { runId, activityId } = Context.current().info;
    appendFileSync(activityLog, `${JSON.stringify({ phase, name, runId, seq: Number(activityId) })}\n`);
    return (await fn(...args)) as Awaited<R>;
  };
}

const engine = await Engine.open({
  ...storeOfArgument(store),
  logger: silentLogger,
  activities: {
    charge: logged('charge', (n: number) => n * 100),
    reserve: logged('reserve', (item: string) => `reserved:${item}`),
  },
});

if (phase === 'start') {
  await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('crash.ts') })).code });
  const handles = [];
  for (let i = 0; i < count; i++) handles.push(await engine.start('recoverable', { args: [i], workflowId: `rec-${i}` }));
  process.stdout.write('started\n');
  let completed = 0;
  for (const handle of handles) void handle.result().then(() => process.stdout.write(`completed ${++completed}\n`));
} else {
  const results = await Promise.all(Array.from({ length: count }, (_, i) => engine.getHandle(`rec-${i}`).result()));
  process.stdout.write(`results ${JSON.stringify(results)}\n`);
  await engine.close();
}
