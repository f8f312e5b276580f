/**
 * A workflow that loops for a long time must not grow: 100,000 sequential awaits in one run
 * fit in a sandbox heap of 8 MiB (before, each await kept about 1 KiB until the run ended).
 */
import { describe, expect, it } from 'vitest';
import { openEngine } from '../helpers.js';

describe('a long-running run', () => {
  it('awaits 100,000 times in one run with flat sandbox memory', { timeout: 120_000 }, async () => {
    const engine = await openEngine({ limits: { memoryBytes: 8 * 1024 * 1024, cpuMsPerActivation: 10_000 } }, 'long-running.ts');
    const handle = await engine.start('manyAwaits', { args: [100, 1000] });
    expect(await handle.result()).toBe(100_100);
  });
});
