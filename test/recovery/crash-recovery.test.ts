/**
 * Crash recovery after a real SIGKILL: a child process runs 200 workflows with activities
 * and timers and is killed mid-flight; a new process on the same store (a LevelDB folder, a
 * PostgreSQL schema) finishes every run with the right result, and no activity the log
 * recorded as done runs again.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistory } from '../../engine/replay-history.js';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { openLevelDbStore, openPostgresStore, type EventStore } from '../../store/index.js';
import { fixture, tempDir } from '../helpers.js';
import { storeOfArgument } from '../helpers-node.js';
import { runChild } from '../child-process.js';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const RUNS = 200;

type Execution = { phase: string; name: string; runId: string; seq: number };

const postgresUrl = inject('postgresUrl');
const STORES = [
  { name: 'LevelDB', store: () => tempDir('aion-crash-'), skip: false },
  { name: 'PostgreSQL', store: () => `${postgresUrl}#crash_${randomUUID().replaceAll('-', '').slice(0, 16)}`, skip: postgresUrl === undefined },
];

/** The store the child used, opened here to read what it recorded. */
const openRecorded = (store: string): Promise<EventStore<HistoryEvent>> => {
  const where = storeOfArgument(store);
  return 'dataDir' in where ? openLevelDbStore<HistoryEvent>(where.dataDir) : openPostgresStore<HistoryEvent>(where.postgres.url, { schema: where.postgres.schema });
};

describe.each(STORES)('crash recovery on $name', ({ store: newStore, skip }) => {
  it.skipIf(skip)('finishes every run after SIGKILL, without redoing a recorded activity', { timeout: 120_000 }, async () => {
    const store = newStore();
    const activityLog = join(tempDir('aion-crash-log-'), 'activities.log');
    writeFileSync(activityLog, '');

    const first = runChild(CHILD, ['start', store, activityLog, String(RUNS)]);
    await first.line(/^started$/);
    await first.line(/^completed 5$/);
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    // What the log says was done when the process died.
    const recorded = await openRecorded(store);
    const running = await recorded.listRuns({ namespace: 'default', status: 'Running' });
    const completed = await recorded.listRuns({ namespace: 'default', status: 'Completed' });
    const completedBefore = new Set<string>();
    for (const run of await recorded.listRuns({ namespace: 'default' })) {
      for (const event of await recorded.readHistory('default', run.runId)) {
        if (event.type === 'ActivityCompleted') completedBefore.add(`${run.runId}/${event.seq}`);
      }
    }
    await recorded.close();
    // Killed mid-flight: five runs had finished (the child said so), others had not (how many
    // of each depends on the machine's speed).
    expect(completed.length + running.length).toBe(RUNS);
    expect(completed.length).toBeGreaterThanOrEqual(5);
    expect(running.length).toBeGreaterThan(0);

    const second = runChild(CHILD, ['recover', store, activityLog, String(RUNS)]);
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
    const reopened = await openRecorded(store);
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
