/**
 * SIGKILL after an effect on a run in another partition was recorded there (with its receipt),
 * before its outbox entry was deleted in the partition that recorded it: a new process on the
 * folder performs no effect twice — a child is started once and terminated once, a signal is
 * delivered and acknowledged once, a schedule's run is started once — and leaves no entry
 * or receipt behind.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { partitionOfWorkflow } from '../../store/partitions.js';
import { runChild } from '../child-process.js';
import { tempDir } from '../helpers.js';
import { IDS } from './kill-receipt-ids.js';

const CHILD = fileURLToPath(new URL('./kill-receipt-child.ts', import.meta.url));

async function killThenRecover(scenario: string, nth: number): Promise<{ killedAt: { receipt: string; events: string[] }; recovered: Record<string, unknown> }> {
  const dataDir = tempDir(`aion-receipt-${scenario}-`);
  const run = runChild(CHILD, ['run', scenario, dataDir, String(nth)]);
  const killing = await run.line(/^killing /);
  expect((await run.exited).signal).toBe('SIGKILL');
  const recover = runChild(CHILD, ['recover', scenario, dataDir]);
  const line = await recover.line(/^result /);
  expect((await recover.exited).code).toBe(0);
  return { killedAt: JSON.parse(killing.slice('killing '.length)) as { receipt: string; events: string[] }, recovered: JSON.parse(line.slice('result '.length)) as Record<string, unknown> };
}

describe('SIGKILL between an effect recorded in its target partition and its entry deleted', { timeout: 60_000 }, () => {
  it('uses workflow ids in different partitions', () => {
    const partition = (id: string) => partitionOfWorkflow('default', id, 16);
    expect(partition(IDS.parent)).not.toBe(partition(IDS.child));
    expect(partition(IDS.sender)).not.toBe(partition(IDS.target));
  });

  it('starts a child in another partition exactly once', async () => {
    const { killedAt, recovered } = await killThenRecover('child', 1);
    expect(killedAt.events[0]).toBe('WorkflowStarted');
    expect(recovered).toEqual({ parent: 'parent done', child: { started: 1, terminated: 1, runs: 1 }, outbox: 0, receipts: { before: 1, after: 0 } });
  });

  it('applies a parent-close policy to a child in another partition exactly once', async () => {
    const { killedAt, recovered } = await killThenRecover('child', 2);
    expect(killedAt.events).toContain('WorkflowTerminated');
    expect(recovered).toEqual({ parent: 'parent done', child: { started: 1, terminated: 1, runs: 1 }, outbox: 0, receipts: { before: 1, after: 0 } });
  });

  for (const [nth, what] of [
    [1, 'a signal recorded by its target'],
    [2, 'its acknowledgement recorded by the sender'],
  ] as const) {
    it(`delivers and acknowledges a signal to another partition exactly once, killed after ${what}`, async () => {
      const { recovered } = await killThenRecover('signal', nth);
      expect(recovered).toEqual({ sender: 'sent both', target: ['one', 'stop'], signalsReceived: 2, acknowledgements: 2, outbox: 0, receipts: { before: 1, after: 0 } });
    });
  }

  it("starts a schedule's run, recorded in its partition, exactly once", async () => {
    const { killedAt, recovered } = await killThenRecover('schedule', 1);
    expect(killedAt.events[0]).toBe('WorkflowStarted');
    const results = recovered.results as string[];
    expect(results.length).toBeGreaterThanOrEqual(1);
    expect(results).toEqual(results.map(() => 'woke'));
    expect(recovered.runsPerTick).toEqual(results.map(() => 1));
    expect({ outbox: recovered.outbox, receipts: recovered.receipts }).toEqual({ outbox: 0, receipts: { before: 1, after: 0 } });
  });
});
