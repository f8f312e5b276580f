/**
 * What a crash test's child process does, shared by the children of crash tests (they differ
 * in the workflow they run): activities that record each execution in a log, and the two
 * phases the parent drives. `start` starts the runs and prints `started`, then `completed N`
 * as they finish (the parent SIGKILLs it on the way); `recover` waits for every run and prints
 * `results <json>`.
 */
import { appendFileSync } from 'node:fs';
import { Context } from '../engine/activities/context.js';
import type { Engine } from '../engine/engine.js';
import type { WorkflowHandle } from '../engine/handle.js';

/**
 * An activity that waits up to 20 ms (so that a kill finds some in flight), then appends its
 * execution to `activityLog` (synchronously: it is on disk before the engine records the
 * result) and runs `fn`.
 */
export function loggedActivity<A extends unknown[], R>(activityLog: string, phase: string, name: string, fn: (...args: A) => R) {
  return async (...args: A): Promise<Awaited<R>> => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
    const { runId, activityId } = Context.current().info;
    appendFileSync(activityLog, `${JSON.stringify({ phase, name, runId, seq: Number(activityId) })}\n`);
    return (await fn(...args)) as Awaited<R>;
  };
}

/** Runs the child's phase on `count` runs whose workflow ids `workflowId` gives; `start` starts one. */
export async function runCrashPhase(engine: Engine, phase: string, count: number, workflowId: (i: number) => string, start: (i: number) => Promise<WorkflowHandle>): Promise<void> {
  if (phase === 'start') {
    const handles = [];
    for (let i = 0; i < count; i++) handles.push(await start(i));
    process.stdout.write('started\n');
    let completed = 0;
    for (const handle of handles) void handle.result().then(() => process.stdout.write(`completed ${++completed}\n`));
  } else {
    const results = await Promise.all(Array.from({ length: count }, (_, i) => engine.getHandle(workflowId(i)).result()));
    process.stdout.write(`results ${JSON.stringify(results)}\n`);
    await engine.close();
  }
}
