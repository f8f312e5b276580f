/**
 * A partition thread that dies (here: an uncaught exception in the activities module it runs)
 * is restarted: its partitions are opened again and recovered, calls reach the new thread, a
 * result awaited across the restart arrives, and what was recorded before is not done again.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine, type EngineOptions } from '../../../engine/engine.js';
import { WorkflowNotFoundError } from '../../../engine/errors.js';
import type { Logger } from '../../../engine/logger.js';
import { ThreadSupervisor } from '../../../engine/threads/thread-supervisor.js';
import { makeActivities } from '../../fixtures/activities.js';
import { CRASH_AMOUNT, HANG_ALWAYS_AMOUNT, HANG_AMOUNT } from '../../fixtures/thread-crash-activities.js';
import { fixture, fixtureBundle, tempDir } from '../../helpers.js';
import { threadOf } from '../../recovery/kill-threads-ids.js';

/** A workflow id served by thread `thread` (of two, in a folder of 16 partitions). */
function idOn(thread: number, prefix: string): string {
  for (let n = 0; ; n++) if (threadOf(`${prefix}-${n}`) === thread) return `${prefix}-${n}`;
}

interface Line {
  level: keyof Logger;
  message: string;
  attributes: Record<string, unknown>;
}

/** A logger keeping its lines; `next(match)` resolves with the first line (from now) matching. */
function capturingLogger(): { logger: Logger; lines: Line[]; next(match: RegExp): Promise<Line> } {
  const lines: Line[] = [];
  const waiters: { match: RegExp; resolve: (line: Line) => void }[] = [];
  const log = (level: keyof Logger) => (attributes: object, message: string) => {
    const line = { level, message, attributes: attributes as Record<string, unknown> };
    lines.push(line);
    for (const waiter of waiters.filter(({ match }) => match.test(message))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  };
  const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  return { logger, lines, next: (match) => new Promise((resolve) => waiters.push({ match, resolve })) };
}

/** A data folder, and the folder the crash fixture keeps its markers and call log in. */
function crashFolders(): { dataDir: string; crashDir: string } {
  const root = tempDir();
  const crashDir = join(root, 'crash');
  mkdirSync(crashDir);
  vi.stubEnv('AION_TEST_CRASH_DIR', crashDir);
  return { dataDir: join(root, 'data'), crashDir };
}

const openCrashing = async (dataDir: string, logger: Logger, options: EngineOptions = {}) => {
  const engine = await Engine.open({ dataDir, threads: 2, activitiesModule: fixture('thread-crash-activities.ts'), logger, ...options });
  await engine.deploy({ code: await fixtureBundle() });
  await engine.deploy({ code: await fixtureBundle('semantics.ts') });
  return engine;
};

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('a partition thread that dies', { timeout: 60_000 }, () => {
  it('is restarted: its runs recover, handles and awaited results go on, and nothing recorded runs again', async () => {
    const { dataDir, crashDir } = crashFolders();
    const { logger, lines, next } = capturingLogger();
    const engine = await openCrashing(dataDir, logger);
    try {
      const availability: boolean[] = [];
      engine.events.on('storeAvailability', (change) => availability.push(change.available));

      // Before the crash: a run waiting on thread 1 (the one that dies), and a run on thread 0.
      const approval = await engine.start('approval', { workflowId: idOn(1, 'approval') });
      const neighbour = await engine.start('order', { args: ['pen', 3], workflowId: idOn(0, 'neighbour') });
      const restarted = next(/partition thread 1 restarted/);
      const crashing = await engine.start('order', { args: ['crash', CRASH_AMOUNT], workflowId: idOn(1, 'crashing') });
      const result = crashing.result();
      await restarted;

      expect(await result).toEqual({ reservation: 'reserved:crash', charged: CRASH_AMOUNT * 100, shipped: 'shipped:crash' });
      expect(await neighbour.result()).toEqual({ reservation: 'reserved:pen', charged: 300, shipped: 'shipped:pen' });
      // The handle made before the crash reaches the run on the new thread, which recovered it.
      await approval.signal('approve', 'ann');
      expect(await approval.query('status')).toBe('approved by ann');
      expect(await approval.executeUpdate('setLimit', 150)).toBe(0);
      expect(await approval.result()).toEqual({ approvedBy: 'ann', limit: 150 });
      // Effects between the new thread and the other one, both ways: a child started and terminated at its parent's close.
      for (const [parent, child] of [[idOn(0, 'parent'), idOn(1, 'child')], [idOn(1, 'parent'), idOn(0, 'child')]]) {
        expect(await (await engine.start('parentWithPolicy', { args: ['TERMINATE', child], workflowId: parent })).result()).toBe('parent done');
        await expect(engine.getHandle(child).result()).rejects.toMatchObject({ status: 'Terminated' });
      }

      // `reserve` was recorded before the crash and did not run again; the attempt of `charge` the crash ended did.
      const calls = readFileSync(join(crashDir, 'calls'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as [string, unknown]);
      const count = (name: string, arg: unknown) => calls.filter(([n, a]) => n === name && a === arg).length;
      expect([count('reserve', 'crash'), count('charge', CRASH_AMOUNT), count('ship', 'crash')]).toEqual([1, 2, 1]);
      const history = await crashing.history();
      expect(history.filter((event) => event.type === 'ActivityCompleted')).toHaveLength(3);
      expect(history.filter((event) => event.type === 'ActivityScheduled')).toHaveLength(3);

      const failed = lines.find((line) => line.message === 'a partition thread failed');
      expect(failed?.attributes).toMatchObject({ thread: 1, err: { message: 'a bug in the activities module' } });
      expect(lines.find((line) => /partition thread 1 stopped/.test(line.message))).toMatchObject({ level: 'error', attributes: { thread: 1, exitCode: 1, restartInMs: 100 } });
      // Reported unavailable (once per partition of the thread), then available again.
      expect([availability[0], availability.at(-1)]).toEqual([false, true]);
    } finally {
      await engine.close();
    }

    // What the new thread recorded is in the folder, and its locks were given back at close.
    const reopened = await Engine.open({ dataDir, threads: 2, activitiesModule: fixture('thread-crash-activities.ts'), logger });
    try {
      expect(await reopened.getHandle(idOn(1, 'crashing')).describe()).toMatchObject({ status: 'Completed' });
      expect(await reopened.count()).toBe(7);
    } finally {
      await reopened.close();
    }
  });

  it('restarts two threads that died together, each recovering its runs', async () => {
    const { dataDir } = crashFolders();
    const { logger, next } = capturingLogger();
    const engine = await openCrashing(dataDir, logger);
    try {
      const restarted = Promise.all([next(/partition thread 0 restarted/), next(/partition thread 1 restarted/)]);
      const crashing = await Promise.all([0, 1].map((thread) => engine.start('order', { args: [`crash-${thread}`, CRASH_AMOUNT], workflowId: idOn(thread, 'both') })));
      await restarted;
      for (const [thread, handle] of crashing.entries()) expect(await handle.result()).toMatchObject({ charged: CRASH_AMOUNT * 100, shipped: `shipped:crash-${thread}` });
    } finally {
      await engine.close();
    }
  });

  it('is stopped and restarted when it stops answering (an activity blocks it)', async () => {
    const { dataDir } = crashFolders();
    const { logger, lines, next } = capturingLogger();
    const engine = await openCrashing(dataDir, logger, { threadHangMs: 2_000 });
    try {
      const restarted = next(/partition thread 0 restarted/);
      const hanging = await engine.start('order', { args: ['loop', HANG_AMOUNT], workflowId: idOn(0, 'hanging') });
      const result = hanging.result();
      await restarted;
      expect(await result).toEqual({ reservation: 'reserved:loop', charged: HANG_AMOUNT * 100, shipped: 'shipped:loop' });
      const silent = lines.find((line) => /partition thread 0 has not answered/.test(line.message));
      expect(silent?.attributes.silentMs).toBeGreaterThanOrEqual(2_000);
    } finally {
      await engine.close();
    }
    await expect(Engine.open({ threadHangMs: 1_000, logger })).rejects.toThrow('threadHangMs is for partition threads (threads)');
    await expect(Engine.open({ threads: 2, threadHangMs: 5, logger })).rejects.toThrow(/threadHangMs must be an integer from 100/);
  });

  it('keeps restarting, later each time, a thread that hangs again as it recovers; closing ends that, and the folder opens again', async () => {
    const { dataDir } = crashFolders();
    const { logger, lines, next } = capturingLogger();
    const engine = await openCrashing(dataDir, logger, { threadHangMs: 1_000 });
    const restartDelays = () => lines.filter((line) => /partition thread 1 stopped/.test(line.message)).map((line) => line.attributes.restartInMs);
    try {
      const stoppedThrice = (async () => {
        for (let i = 0; i < 3; i++) await next(/partition thread 1 stopped/);
      })();
      await engine.start('order', { args: ['forever', HANG_ALWAYS_AMOUNT], workflowId: idOn(1, 'forever') });
      await stoppedThrice;
      expect(restartDelays()).toEqual([100, 400, 1_600]);
      // Thread 0 serves on meanwhile.
      expect(await (await engine.start('greet', { args: ['bob'], workflowId: idOn(0, 'meanwhile') })).result()).toBe('hello bob');
    } finally {
      await engine.close();
    }
    // Closed while thread 1 waited for its restart: its databases and lock files were given up.
    const reopened = await Engine.open({ dataDir, threads: 2, activities: makeActivities(), logger });
    try {
      expect(await reopened.getHandle(idOn(1, 'forever')).result()).toMatchObject({ charged: HANG_ALWAYS_AMOUNT * 100 });
    } finally {
      await reopened.close();
    }
  });

  it('restarts a thread of an in-memory engine with empty partitions, and says so', async () => {
    crashFolders();
    const { logger, lines, next } = capturingLogger();
    const engine = await Engine.open({ threads: 2, activitiesModule: fixture('thread-crash-activities.ts'), logger });
    try {
      await engine.deploy({ code: await fixtureBundle() });
      const restarted = next(/partition thread 1 restarted/);
      const lost = await engine.start('order', { args: ['crash', CRASH_AMOUNT], workflowId: idOn(1, 'in-memory') });
      await restarted;
      expect(lines.find((line) => /in-memory engine start with empty partitions/.test(line.message))).toMatchObject({ level: 'warn', attributes: { threads: [1] } });
      await expect(lost.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
      expect(await (await engine.start('greet', { args: ['ann'], workflowId: idOn(1, 'after') })).result()).toBe('hello ann');
    } finally {
      await engine.close();
    }
  });
});

describe('restarting partition threads', () => {
  it('waits longer each time a thread dies soon after it was started, and starts nothing once stopped', async () => {
    const { logger, lines } = capturingLogger();
    let restarts = 0;
    const restarted: (() => void)[] = [];
    const supervisor = new ThreadSupervisor(logger, async () => {
      restarts++;
      restarted.shift()?.();
      return [0];
    });
    supervisor.started(0);
    const restart = () => new Promise<void>((resolve) => restarted.push(resolve));
    const first = restart();
    supervisor.died(0, 1);
    await first;
    const second = restart();
    supervisor.died(0, 1);
    await second;
    supervisor.died(0, 1);
    supervisor.stop();
    await supervisor.idle();
    expect(lines.filter((line) => line.attributes.restartInMs !== undefined).map((line) => line.attributes.restartInMs)).toEqual([100, 400, 1600]);
    expect(restarts).toBe(2);
    expect(lines.filter((line) => /partition thread 0 restarted/.test(line.message))).toHaveLength(2);
  });
});
