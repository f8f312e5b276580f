/**
 * What a workflow bundle can reach and change: no host objects, no way to the real clock or
 * randomness, no state leaking from one run into another, and commands the host refuses
 * when the guest forges them.
 */
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '../../engine/errors.js';
import { openEngine, tempDir } from '../helpers.js';
import { Engine } from '../../engine/engine.js';
import { silentLogger } from '../helpers.js';

describe('sandbox isolation', () => {
  it('exposes no host object, and runs in UTC whatever the host time zone', async () => {
    const engine = await openEngine({}, 'escapes.ts');
    const result = await (await engine.start('globals')).result();
    expect(result).toEqual({ visible: [], functionSeesProcess: false, evalSeesProcess: false, hostTimezoneOffset: 0, localHours: 12 });
  });

  it('holds Date, Date.now and Math.random against replacement; time stays the recorded time', async () => {
    const engine = await openEngine({}, 'escapes.ts');
    const { results, now, dateIsDate } = (await (await engine.start('dateOverride')).result()) as {
      results: Record<string, unknown>;
      now: boolean;
      dateIsDate: string;
    };
    expect(results).toEqual({
      assignDate: 'threw:TypeError',
      defineDate: 'threw:TypeError',
      definePromise: 'threw:TypeError',
      reflectDefine: 'ok:false',
      assignNow: 'threw:TypeError',
      deleteNow: 'threw:TypeError',
      assignRandom: 'threw:TypeError',
      subclass: true,
      reflect: true,
      dateCall: true,
    });
    expect(now).toBe(true);
    expect(dateIsDate).toBe('1970-01-01T00:00:00.000Z');
  });

  it('does not carry prototype pollution or globals from one run into the next (the sandbox is reused)', async () => {
    const engine = await openEngine({}, 'escapes.ts');
    expect(await (await engine.start('pollute')).result()).toEqual({ objectPolluted: 'yes', arrayPrototype: 'threw:TypeError', arrayPolluted: 'undefined' });
    // Runs of the same version reuse the finished run's instance, reset to the template.
    for (let i = 0; i < 3; i++) {
      expect(await (await engine.start('checkPollution')).result()).toEqual({ object: null, array: 'undefined', global: null });
    }
  });

  it('refuses a command the guest forged, failing only that run', async () => {
    const engine = await openEngine({ supervision: { initialBackoffMs: 1 } }, 'escapes.ts');
    const forged = await engine.start('forgeCommand');
    const error = (await forged.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.cause.message).toMatch(/sandbox crashed \(invalid-command\): command 0 \(scheduleActivity\) has seq 999, expected 1; deterministic crash/);
    const history = await forged.history();
    // The supervisor restarts it; the third identical crash is recognised as deterministic.
    expect(history.map((e) => e.type)).toEqual(['WorkflowStarted', 'WorkflowTaskFailed', 'WorkflowTaskFailed', 'WorkflowTaskFailed', 'WorkflowFailed']);
    expect(await (await engine.start('checkPollution')).result()).toEqual({ object: null, array: 'undefined', global: null });
  });
});

describe('determinism across a restart', () => {
  it('reproduces Date, Math.random, uuid4 and crypto.randomUUID identically after close and reopen', async () => {
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, logger: silentLogger });
    const { code } = { code: await (await import('../helpers.js')).fixtureBundle('escapes.ts') };
    await first.deploy({ code });
    const handle = await first.start('snapshotValues', { workflowId: 'values-1' });
    const before = await handle.query('values');
    await first.close();

    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      const reopened = second.getHandle('values-1');
      // The run is rebuilt by replay: its first values are recomputed, not read back.
      expect(await reopened.query('values')).toEqual(before);
      await reopened.signal('proceed');
      const result = (await reopened.result()) as { first: unknown; second: { random: number } };
      expect(result.first).toEqual(before);
      expect(result.second.random).not.toBe((before as { random: number }).random);
    } finally {
      await second.close();
    }
  });
});
