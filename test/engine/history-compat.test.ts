/**
 * Histories recorded by earlier runtimes keep replaying: a change to how the runtime behaves
 * is gated by a flag each run records at its start, so runs in flight when the engine is
 * upgraded continue as they were recorded. The same workflows run on today's runtime end the
 * same way.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../engine/history/events.js';
import { RUNTIME_FLAGS } from '../../common/protocol.js';
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
      // Cancelled where the recorded run was: after as many activations. A cancellation sent
      // once the last of them has started waits for it, and comes in the next.
      const cancelAt = history.findIndex((event) => event.type === 'CancelRequested');
      const activationsBefore = history.slice(0, cancelAt).filter((event) => event.type === 'WorkflowTaskCompleted').length;
      let activations = 0;
      let started: (() => void) | undefined;
      const reached = new Promise<void>((resolve) => (started = resolve));
      engine.events.on('activation', () => ++activations === activationsBefore && started!());
      const handle = await engine.start(workflowType);
      if (cancelAt >= 0) {
        await reached;
        await handle.cancel();
      }
      expect(await handle.result()).toEqual(result);
      expect((await handle.history())[0]).toMatchObject({ flags: [...RUNTIME_FLAGS] });
    });
  }
});

const withOptions = JSON.parse(readFileSync(fixture('histories/options-077a8ef.json'), 'utf8')) as Recorded & { code: string };

describe(`histories recorded by ${withOptions.recordedWith}, whose code passed options it ignored`, () => {
  for (const { workflowType, history } of withOptions.histories) {
    it(`${workflowType} replays with the bundle that recorded it`, async () => {
      expect(history[0]).toMatchObject({ flags: ['cancellationListeners'] });
      await expect(replayHistory({ code: withOptions.code }, history)).resolves.toBeUndefined();
    });
  }
});

describe('a history recorded by a newer engine', () => {
  it('is refused, naming the runtime flag this engine does not know', async () => {
    const [{ history }] = recorded.histories;
    const newer = [{ ...history[0], flags: ['cancellationListeners', 'fromTheFuture'] }, ...history.slice(1)] as HistoryEvent[];
    await expect(replayHistory({ code: await fixtureBundle('cancellation.ts') }, newer)).rejects.toThrow(
      "malformed history at event 1: the run was recorded with runtime flag 'fromTheFuture', which this engine does not know (a newer engine recorded it)",
    );
  });

  it('is refused when its flags are not a list of names', async () => {
    const [{ history }] = recorded.histories;
    const malformed = [{ ...history[0], flags: 'cancellationListeners' }, ...history.slice(1)] as unknown as HistoryEvent[];
    await expect(replayHistory({ code: await fixtureBundle('cancellation.ts') }, malformed)).rejects.toThrow(
      'malformed history at event 1: the flags of WorkflowStarted are not an array',
    );
  });
});
