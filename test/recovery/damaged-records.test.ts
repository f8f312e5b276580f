/**
 * One unreadable record must not stop every tenant: a damaged due-timer value quarantines its
 * run (visible in `describe`, counted in the metrics); the engine opens and every other run
 * goes on. An operator ends the quarantined run by terminating it. A damaged snapshot only
 * costs a replay.
 */
import { once } from 'node:events';
import { ClassicLevel } from 'classic-level';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { RunQuarantinedError } from '../../engine/quarantine.js';
import { databasesOf, fixtureBundle, silentLogger, tempDir } from '../helpers.js';

/** Overwrites the value of every key of the data folder that matches with bytes that do not decode. */
async function damage(dataDir: string, matches: (key: string) => boolean): Promise<number> {
  let damaged = 0;
  for (const folder of databasesOf(dataDir)) {
    const db = new ClassicLevel<string, Uint8Array>(folder, { keyEncoding: 'utf8', valueEncoding: 'view' });
    for await (const key of db.keys()) {
      if (!matches(key)) continue;
      await db.put(key, Uint8Array.from([0xc1, 0x4a, 0x00]));
      damaged++;
    }
    await db.close();
  }
  return damaged;
}

describe('a damaged record', () => {
  it('quarantines its run; the engine opens and the other runs go on', async () => {
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, logger: silentLogger });
    await first.deploy({ code: await fixtureBundle() });
    const victim = await first.start('sleeper', { args: [60_000], workflowId: 'victim' });
    await first.start('sleeper', { args: [1500], workflowId: 'other' });
    await first.close();
    // The victim's timer entry in the due-time index.
    expect(await damage(dataDir, (key) => key.startsWith('d\u0000') && key.includes(victim.runId!))).toBe(1);

    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      expect(await second.getHandle('other').result()).toBe('woke');
      const description = await second.getHandle('victim').describe();
      expect(description.status).toBe('Running');
      expect(description.quarantine?.reason).toMatch(/^the record d\/\d+\/default\/.+\/timer:1 is damaged: the value is truncated$/);
      expect(await second.metrics.registry.metrics()).toMatch(/aion_quarantined_runs 1\b/);
      await expect(second.getHandle('victim').signal('anything')).rejects.toBeInstanceOf(RunQuarantinedError);
      await second.getHandle('victim').terminate('damaged timer');
      const ended = await second.getHandle('victim').describe();
      expect(ended.status).toBe('Terminated');
      expect(ended.quarantine).toBeUndefined();
    } finally {
      await second.close();
    }
  });

  it('costs only a replay when it is a snapshot', async () => {
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, logger: silentLogger, maxResidentBytes: 0, snapshots: { minEvents: 0 } });
    await first.deploy({ code: await fixtureBundle() });
    // Budget 0: the run is parked (its snapshot written, however short its history) as soon as it is idle.
    const parked = once(first.events, 'runParked');
    const handle = await first.start('approval', { workflowId: 'snap' });
    await parked;
    await first.close();
    expect(await damage(dataDir, (key) => key === `p\u0000default\u0000${handle.runId}`)).toBe(1);

    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      const reopened = second.getHandle('snap');
      expect((await reopened.describe()).residency).toBe('replay');
      await reopened.signal('approve', 'ann');
      expect(await reopened.executeUpdate('setLimit', 100)).toBe(0);
      expect(await reopened.result()).toEqual({ approvedBy: 'ann', limit: 100 });
      expect(await second.metrics.registry.metrics()).toMatch(/aion_damaged_records_total\{kind="snapshot"\} 1\b/);
    } finally {
      await second.close();
    }
  });
});
