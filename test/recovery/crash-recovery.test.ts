/**
 * Crash recovery after a real SIGKILL: a child process runs 200 workflows with activities
 * and timers and is killed mid-flight; a new process on the same folder finishes every run
 * with the right result, and no activity the log recorded as done runs again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistory } from '../../engine/replay-history.js';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { openLevelDbStore } from '../../store/open.js';
import { fixture, tempDir } from '../helpers.js';
import { runChild } from '../child-process.js';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const RUNS = 200;

type Execution = { phase: string; name: string; runId: string; seq: number };

describe('crash recovery', () => {
  it('finishes every run after SIGKILL, without redoing a recorded activity', { timeout: 120_000 }, async () => {
    const dataDir = tempDir('aion-crash-');
    const activityLog = join(dataDir, '..', `${dataDir.split('/').at(-1)}-activities.log`);
    writeFileSync(activityLog, '');

    const first = runChild(CHILD, ['start', dataDir, activityLog, String(RUNS)]);
    await first.line(/^started$/);
    await first.line(/^completed 5$/);
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    // What the log says was done when the process died.
    const store = await openLevelDbStore<HistoryEvent>(dataDir);
    const running = await store.listRuns({ namespace: 'default', status: 'Running' });
    const completed = await store.listRuns({ namespace: 'default', status: 'Completed' });
    const completedBefore = new Set<string>();
    for (const run of await store.listRuns({ namespace: 'default' })) {
      for (const event of await store.readHistory('default', run.runId)) {
        if (event.type === 'ActivityCompleted') completedBefore.add(`${run.runId}/${event.seq}`);
      }
    }
    await store.close();
    // Killed mid-flight: five runs had finished (the child said so), others had not (how many
    // of each depends on the machine's speed).
    expect(completed.length + running.length).toBe(RUNS);
    expect(completed.length).toBeGreaterThanOrEqual(5);
    expect(running.length).toBeGreaterThan(0);

    const second = runChild(CHILD, ['recover', dataDir, activityLog, String(RUNS)]);
    const line = await second.line(/^results /);
    expect((await second.exited).code).toBe(0);

    const results = JSON.parse(line.slice('results '.length)) as { i: number; charged: number; reserved: string }[];
    expect(results.map(({ i, charged, reserved }) => ({ i, charged, reserved }))).toEqual(
      Array.from({ length: RUNS }, (_, i) => ({ i, charged: i * 100, reserved: `reserved:item-${i}` })),
    );

    const executions = readFileSync(activityLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Execution);
    const redone = executions.filter((e) => e.phase === 'recover' && completedBefore.has(`${e.runId}/${e.seq}`));
    expect(redone).toEqual([]);

    // Every history is whole: each activity and timer resolved exactly once, and it replays.
    const code = (await bundleWorkflowCode({ workflowsPath: fixture('crash.ts') })).code;
    const reopened = await openLevelDbStore<HistoryEvent>(dataDir);
    try {
      for (const run of await reopened.listRuns({ namespace: 'default' })) {
        const history = await reopened.readHistory('default', run.runId);
        expect(run.status).toBe('Completed');
        expect(history.filter((e) => e.type === 'ActivityCompleted').map((e) => (e as { seq: number }).seq)).toEqual([1, 2]);
        expect(history.filter((e) => e.type === 'TimerFired').map((e) => (e as { seq: number }).seq)).toEqual([1, 2]);
        await replayHistory({ code }, history);
      }
    } finally {
      await reopened.close();
    }
  });
});
