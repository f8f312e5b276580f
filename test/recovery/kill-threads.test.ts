/**
 * SIGKILL while partition threads perform effects on each other's runs (children started and
 * terminated, signals delivered and acknowledged): a new process on the folder — with another
 * thread count — performs every effect exactly once.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runChild } from '../child-process.js';
import { tempDir } from '../helpers.js';
import { PAIRS, pairIds, threadOf } from './kill-threads-ids.js';

const CHILD = fileURLToPath(new URL('./kill-threads-child.ts', import.meta.url));

describe('SIGKILL while partition threads perform effects on each other\'s runs', { timeout: 120_000 }, () => {
  it('pairs runs served by different threads', () => {
    for (let i = 0; i < PAIRS; i++) {
      const { parent, child, sender, target } = pairIds(i);
      expect(threadOf(parent)).not.toBe(threadOf(child));
      expect(threadOf(sender)).not.toBe(threadOf(target));
    }
  });

  for (const reopenWith of [2, 1]) {
    it(`performs every effect once after the kill, reopened with ${reopenWith} thread${reopenWith === 1 ? '' : 's'}`, async () => {
      const dataDir = tempDir('aion-kill-threads-');
      const run = runChild(CHILD, ['run', dataDir, '2']);
      await run.line(/^busy$/);
      run.process.kill('SIGKILL');
      expect((await run.exited).signal).toBe('SIGKILL');
      const recover = runChild(CHILD, ['recover', dataDir, String(reopenWith)]);
      const line = await recover.line(/^result /);
      expect((await recover.exited).code).toBe(0);
      const { pendingAtKill, ...result } = JSON.parse(line.slice('result '.length)) as { pendingAtKill: number };
      // The kill came with effects recorded and not performed yet.
      expect(pendingAtKill).toBeGreaterThan(0);
      expect(result).toEqual({
        pairs: PAIRS,
        outcome: {
          parent: 'parent done',
          sender: 'sent both',
          target: ['one', 'stop'],
          child: { runs: 1, started: 1, terminated: 1 },
          signalsReceived: 2,
          acknowledgements: 2,
        },
      });
    });
  }
});
