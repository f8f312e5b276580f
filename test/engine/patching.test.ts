/**
 * Versioning in code: `patched` takes the new branch in new runs, the old one when replaying
 * a history recorded before the patch; a history with the marker needs code with the patch;
 * `deprecatePatch` replays histories that have the marker.
 */
import { describe, expect, it } from 'vitest';
import { DeterminismViolationError } from '../../engine/errors.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistory } from '../../engine/replay-history.js';
import { makeActivities } from '../fixtures/activities.js';
import { fixtureBundle, openEngine } from '../helpers.js';

async function recorded(bundle: string): Promise<HistoryEvent[]> {
  const engine = await openEngine({ activities: makeActivities() }, bundle);
  const handle = await engine.start('versioned');
  await handle.signal('go');
  await handle.result();
  return handle.history();
}

describe('patching', () => {
  it('takes the new branch in new runs and records a marker', async () => {
    const history = await recorded('versioned-v2.ts');
    expect(history.find((e) => e.type === 'MarkerRecorded')).toMatchObject({ patchId: 'ship-instead', deprecated: false });
    expect(history.find((e) => e.type === 'ActivityScheduled')).toMatchObject({ activityType: 'ship' });
  });

  it('replays a history recorded before the patch with the old branch', async () => {
    const before = await recorded('versioned-v1.ts');
    await expect(replayHistory({ code: await fixtureBundle('versioned-v2.ts') }, before)).resolves.toBeUndefined();
  });

  it('reports a history with the marker replayed by code without the patch', async () => {
    const after = await recorded('versioned-v2.ts');
    const error = (await replayHistory({ code: await fixtureBundle('versioned-v1.ts') }, after).catch((e: unknown) => e)) as DeterminismViolationError;
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect(error.expected).toMatch(/^MarkerRecorded\(patchId="ship-instead"\)/);
  });

  it('replays histories with the marker after the patch is deprecated', async () => {
    const after = await recorded('versioned-v2.ts');
    await expect(replayHistory({ code: await fixtureBundle('versioned-v3.ts') }, after)).resolves.toBeUndefined();
    const deprecated = await recorded('versioned-v3.ts');
    expect(deprecated.find((e) => e.type === 'MarkerRecorded')).toMatchObject({ deprecated: true });
    await expect(replayHistory({ code: await fixtureBundle('versioned-v3.ts') }, deprecated.filter((e) => e.type !== 'MarkerRecorded').map((e, i) => ({ ...e, eventId: i + 1 })))).resolves.toBeUndefined();
  });
});
