/**
 * An engine reopening a data folder whose runs' timers came due while it was down: what it
 * does before `Engine.open` returns, and the clients that come back all at once.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { WorkflowNotFoundError } from '../../engine/errors.js';
import { fixtureBundle, silentLogger, tempDir } from '../helpers.js';

/** Long enough that every timer is still pending when the engine that started them closes. */
const SLEEP_MS = 1000;

/** A folder whose runs `sleeper-0`… each sleep `SLEEP_MS`, left by a closed engine once every timer is started. */
async function folderWithSleepers(runs: number, sandboxThreads: number): Promise<string> {
  const dataDir = tempDir('aion-restart-');
  const engine = await Engine.open({ dataDir, logger: silentLogger, sandboxThreads });
  await engine.deploy({ code: await fixtureBundle() });
  for (let i = 0; i < runs; i++) {
    const handle = await engine.start('sleeper', { args: [SLEEP_MS], workflowId: `sleeper-${i}` });
    for await (const event of handle.events({ follow: true })) if (event.type === 'TimerStarted') break;
  }
  await engine.close();
  return dataDir;
}

const templatesLoaded = async (engine: Engine) => Number(/aion_sandbox_templates_loaded (\d+)/.exec(await engine.metrics.registry.metrics())![1]);

describe('an engine reopened after its runs came due', () => {
  it('has the bundle of the run due first evaluated in every sandbox thread as the open returns', { timeout: 60_000 }, async () => {
    const dataDir = await folderWithSleepers(1, 1);
    await new Promise((resolve) => setTimeout(resolve, SLEEP_MS)); // the timer is overdue when the folder opens
    // A pool of three threads, which no other test of this file uses: none of them has evaluated anything yet.
    const engine = await Engine.open({ dataDir, logger: silentLogger, sandboxThreads: 3 });
    onTestFinished(() => engine.close());
    // The run's wake evaluates it in one thread at most: three means it was started at open, in each.
    expect(await templatesLoaded(engine)).toBe(3);
    expect(await engine.getHandle('sleeper-0').result()).toBe('woke');
  });

  // More callers than lookup slots (64): each gets its own answer, and none waits forever.
  it('answers a crowd of clients asking for their results at once, beyond the lookups it makes at a time', { timeout: 60_000 }, async () => {
    const runs = 100;
    const dataDir = await folderWithSleepers(runs, 2);
    const engine = await Engine.open({ dataDir, logger: silentLogger, sandboxThreads: 2 });
    onTestFinished(() => engine.close());
    const results = await Promise.allSettled([...Array.from({ length: runs }, (_, i) => engine.getHandle(`sleeper-${i}`).result()), engine.getHandle('never-started').result()]);
    expect(results.slice(0, runs)).toEqual(Array.from({ length: runs }, () => ({ status: 'fulfilled', value: 'woke' })));
    expect(results[runs]).toMatchObject({ status: 'rejected', reason: expect.any(WorkflowNotFoundError) });
  });
});
