/**
 * SIGKILL at the moment an intent is durable but not yet acted on. A new process on the same
 * folder performs it exactly once: a recorded child is started once, a recorded
 * continue-as-new gets one successor, a schedule fire starts its run once, and a cancellation
 * recorded just before the kill still runs the workflow's cleanup. Every history replays.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistory } from '../../engine/replay-history.js';
import { openLevelDbStore } from '../../store/open.js';
import { fixtureBundle, tempDir } from '../helpers.js';
import { runChild } from '../child-process.js';

const CHILD = fileURLToPath(new URL('./kill-point-child.ts', import.meta.url));

interface Recovered {
  result: unknown;
  runs: { workflowId: string; runId: string; status: string; workflowType: string }[];
  outbox: number;
  schedule?: { fires: number; recentActions: { scheduledAt: number; workflowId: string }[] };
}

async function killThenRecover(scenario: string): Promise<{ killedAt: Record<string, unknown>; recovered: Recovered; dataDir: string }> {
  const dataDir = tempDir(`aion-kill-${scenario}-`);
  const run = runChild(CHILD, ['run', scenario, dataDir]);
  const killing = await run.line(/^killing /);
  expect((await run.exited).signal).toBe('SIGKILL');
  const killedAt = JSON.parse(killing.slice('killing '.length)) as Record<string, unknown>;
  const effect = (killedAt.effect ?? {}) as { workflowId?: string; runId?: string };
  const extra = scenario === 'schedule' ? [effect.workflowId!, effect.runId!] : [];
  const recover = runChild(CHILD, ['recover', scenario, dataDir, ...extra]);
  const line = await recover.line(/^result /);
  expect((await recover.exited).code).toBe(0);
  return { killedAt, recovered: JSON.parse(line.slice('result '.length)) as Recovered, dataDir };
}

async function expectAllReplay(dataDir: string): Promise<void> {
  const code = await fixtureBundle('semantics.ts');
  const store = await openLevelDbStore<HistoryEvent>(dataDir);
  try {
    for await (const run of store.allRuns()) await replayHistory({ code }, await store.readHistory(run.namespace, run.runId));
  } finally {
    await store.close();
  }
}

describe('SIGKILL between recording an intent and acting on it', { timeout: 60_000 }, () => {
  it('starts a child recorded as started but never created, exactly once', async () => {
    const { killedAt, recovered, dataDir } = await killThenRecover('child');
    expect((killedAt.effect as { kind: string }).kind).toBe('startChild');
    expect(recovered.result).toMatchObject({ a: 'hi a from parent', b: 'hi b from parent' });
    const children = recovered.runs.filter((r) => r.workflowType !== 'parentOfThree');
    expect(children).toHaveLength(3);
    expect(new Set(children.map((c) => c.workflowId)).size).toBe(3);
    expect(recovered.outbox).toBe(0);
    await expectAllReplay(dataDir);
  });

  it('starts the successor of a recorded continue-as-new exactly once', async () => {
    const { killedAt, recovered, dataDir } = await killThenRecover('continueAsNew');
    expect((killedAt.effect as { kind: string }).kind).toBe('continueAsNew');
    expect(recovered.result).toEqual({ n: 2, continued: true });
    expect(recovered.runs.map((r) => r.status)).toEqual(['Completed', 'ContinuedAsNew', 'ContinuedAsNew']);
    expect(recovered.outbox).toBe(0);
    await expectAllReplay(dataDir);
  });

  it('starts the run of a schedule fire recorded at the kill exactly once, without firing that tick again', async () => {
    const { killedAt, recovered, dataDir } = await killThenRecover('schedule');
    const effect = killedAt.effect as { workflowId: string; runId: string };
    expect(recovered.result).toBe('woke');
    expect(recovered.runs.filter((r) => r.workflowId === effect.workflowId)).toHaveLength(1);
    const ticks = recovered.schedule!.recentActions.map((a) => a.scheduledAt);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(recovered.schedule!.recentActions[0].workflowId).toBe(effect.workflowId);
    await expectAllReplay(dataDir);
  });

  it('finishes every run when killed while snapshots are being written', async () => {
    const { recovered, dataDir } = await killThenRecover('snapshots');
    // charge(i) returns i * 100: 0 + 100 + 200 + 300 + 400.
    const results = recovered.result as number[];
    expect(results.length).toBeGreaterThanOrEqual(5);
    expect(results).toEqual(results.map(() => 1000));
    expect(recovered.runs.every((r) => r.status === 'Completed')).toBe(true);
    await expectAllReplay(dataDir);
  });

  it('runs the cleanup of a cancellation recorded just before the kill', async () => {
    const { recovered, dataDir } = await killThenRecover('cancel');
    expect(recovered.result).toBe('shipped:cleanup');
    await expectAllReplay(dataDir);
  });
});
