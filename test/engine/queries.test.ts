/**
 * Queries and update validators cannot change a run: whatever their handlers do (draw
 * randoms, mutate state, read the clock) is undone, so a run that was queried a thousand
 * times finishes after a restart exactly as an unqueried twin would, and a rejected update
 * leaves nothing in the history.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { WorkflowUpdateFailedError } from '../../engine/errors.js';
import { Random } from '../../guest-sdk/random.js';
import { fixtureBundle, openEngine, silentLogger, tempDir } from '../helpers.js';

describe('queries and validators', () => {
  it('do not change a run: queried 1,000 times and restarted, runs finish as unqueried twins', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, logger: silentLogger });
    await first.deploy({ code: await fixtureBundle('queried.ts') });
    const ids = Array.from({ length: 20 }, (_, i) => `q${i}`);
    for (const id of ids) await first.start('queried', { workflowId: id });
    for (let round = 0; round < 50; round++) {
      for (const id of ids) expect(await first.getHandle(id).query('peek')).toBe(1);
    }
    for (const id of ids.slice(0, 10)) {
      expect(await first.getHandle(id).executeUpdate('bump', 2)).toBe(2);
      await expect(first.getHandle(id).executeUpdate('bump', -1)).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    }
    await first.close();

    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      for (const id of ids) await second.getHandle(id).signal('go');
      for (const [i, id] of ids.entries()) {
        const handle = second.getHandle(id);
        const [started] = await handle.history();
        // What an unqueried twin would draw first: the first number of the run's seeded stream.
        const random = new Random((started as { randomSeed: number }).randomSeed).next();
        expect(await handle.result()).toEqual({ counter: 0, bumps: i < 10 ? 2 : 0, draws: 0, random, timers: 1 + Math.floor(random * 3) });
        expect((await handle.describe()).taskFailure).toBeUndefined();
      }
    } finally {
      await second.close();
    }
  });

  it('records nothing for a rejected update', async () => {
    const engine = await openEngine({}, 'queried.ts');
    const handle = await engine.start('queried');
    const before = (await handle.history()).length;
    const error = (await handle.executeUpdate('bump', -5).catch((e: unknown) => e)) as WorkflowUpdateFailedError;
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(error.message).toBe("update 'bump' was rejected: bumps must be positive");
    expect((await handle.history()).length).toBe(before);
    await handle.signal('go');
    expect(await handle.result()).toMatchObject({ counter: 0, bumps: 0 });
  });

  it('refuses an update whose validator crashes its sandbox, and delivers what came with it', async () => {
    const engine = await openEngine({}, 'queried.ts');
    const handle = await engine.start('validatorCrash');
    const busy = new Promise<void>((resolve) => engine.events.on('activation', (a) => a.runId === handle.runId && a.jobs.includes('signal') && resolve()));
    void handle.signal('slow');
    await busy;
    // Queued while the run is busy: the update and the signal come in one batch.
    const update = handle.executeUpdate('spinningValidator').catch((e: unknown) => e);
    await handle.signal('ping');
    const error = (await update) as WorkflowUpdateFailedError;
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(error.message).toMatch(/^update 'spinningValidator' was rejected: the validator crashed the sandbox \(cpu-budget\)/);
    expect(await handle.result()).toBe(1);
    const types = (await handle.history()).map((e) => e.type);
    expect(types).not.toContain('UpdateAccepted');
    expect(types).not.toContain('WorkflowTaskFailed');
  });
});
