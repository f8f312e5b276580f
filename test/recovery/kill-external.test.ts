/**
 * SIGKILL right after a signal to another workflow is recorded by its sender, and right after
 * the target recorded it (with the acknowledgement for the sender): a new process on the
 * folder delivers each signal exactly once and acknowledges it exactly once.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runChild } from '../child-process.js';
import { tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('./kill-external-child.ts', import.meta.url));

describe('SIGKILL around a signal to another workflow', { timeout: 60_000 }, () => {
  for (const [point, what] of [
    ['signalExternal', 'after the sender recorded it'],
    ['externalDone', 'after the target recorded it'],
  ] as const) {
    it(`delivers and acknowledges it exactly once when killed ${what}`, async () => {
      const dataDir = tempDir(`aion-kill-${point}-`);
      const run = runChild(CHILD, ['run', point, dataDir]);
      await run.line(/^killing /);
      expect((await run.exited).signal).toBe('SIGKILL');
      const recover = runChild(CHILD, ['recover', point, dataDir]);
      const line = await recover.line(/^result /);
      expect((await recover.exited).code).toBe(0);
      expect(JSON.parse(line.slice('result '.length))).toEqual({ sender: 'sent both', target: ['one', 'stop'], signalsReceived: 2, acknowledgements: 2, outbox: 0 });
    });
  }
});
