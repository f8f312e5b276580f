/**
 * Histories recorded by earlier runtimes keep replaying: a change to how the runtime behaves
 * is gated by a flag each run records at its start, so runs in flight when the engine is
 * upgraded continue as they were recorded. The same workflows run on today's runtime end the
 * same way.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistory } from '../../engine/replay-history.js';
import { fixture, fixtureBundle, openEngine } from '../helpers.js';

interface Recorded {
  recordedWith: string;
  histories: { workflowType: string; result: unknown; history: HistoryEvent[] }[];
}

const recorded = JSON.parse(readFileSync(fixture('histories/cancellation-61eed54.json'), 'utf8')) as Recorded;

describe(`histories recorded by ${recorded.recordedWith}`, () => {
  for (const { workflowType, result, history } of recorded.histories) {
    it(`${workflowType} replays, and ends the same way on today's runtime`, async () => {
      expect(history[0]).not.toHaveProperty('flags');
      await expect(replayHistory({ code: await fixtureBundle('cancellation.ts') }, history)).resolves.toBeUndefined();

      const engine = await openEngine({}, 'cancellation.ts');
      // `start` resolves once the first activation is recorded: the run is blocked on its long sleep.
      const handle = await engine.start(workflowType);
      if (history.some((event) => event.type === 'CancelRequested')) await handle.cancel();
      expect(await handle.result()).toEqual(result);
      expect((await handle.history())[0]).toMatchObject({ flags: ['cancellationListeners'] });
    });
  }
});
