/**
 * A JavaScript workflow made into a WebAssembly component with componentize-js and the
 * project's guest SDK, built here from test/fixtures/components/js-workflows.ts: it records
 * the same histories as the same workflow in QuickJS, each kind replays the other's, its
 * clock and random are the recorded ones, its state survives a snapshot, and its runs finish
 * after the engine is SIGKILLed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ComponentWorkflowTemplate } from '../../engine/component-workflow.js';
import { Engine, replayHistories, type HistoryEvent } from '../../engine/index.js';
import { openLevelDbStore } from '../../store/index.js';
import { DEFAULT_LIMITS } from '../../sandbox/index.js';
import { runChild } from '../child-process.js';
import { activation, startJob } from '../fixtures/components/activations.js';
import { javaScriptComponent } from '../fixtures/components/build.js';
import { fixture, silentLogger, tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('./component-crash-child.ts', import.meta.url));
const activities = { step1: async (n: number) => n + 1, step2: async (n: number) => n + 10, step3: async (n: number) => n + 100 };

let code: string;
let component: Uint8Array;
beforeAll(async () => {
  ({ code, component } = await javaScriptComponent(fixture('components/js-workflows.ts')));
}, 180_000);

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

async function open(): Promise<Engine> {
  const engine = await Engine.open({ logger: silentLogger, activities });
  engines.push(engine);
  return engine;
}

/** A history without what differs between two runs of the same workflow: times, ids, seeds, the version, and where in the sources commands were made. */
const comparable = (history: HistoryEvent[]) =>
  history.map((event) => {
    const { time: _time, ...rest } = event as HistoryEvent & Record<string, unknown>;
    for (const key of ['runId', 'firstExecutionRunId', 'randomSeed', 'version', 'callSite', 'historySize', 'fireAt', 'startTime']) delete rest[key];
    return rest;
  });

describe('a JavaScript workflow as a component', () => {
  it('records the same history as in QuickJS, and each kind replays the other\'s', { timeout: 60_000 }, async () => {
    const histories: Record<string, HistoryEvent[]> = {};
    for (const kind of ['bundle', 'component'] as const) {
      const engine = await open();
      await engine.deploy(kind === 'bundle' ? { code } : { component });
      const handle = await engine.start('order3', { workflowId: 'order', args: [5] });
      expect(await handle.result()).toBe(116);
      expect(await handle.query('step')).toBe(116);
      histories[kind] = await handle.history();
    }
    expect(comparable(histories.component)).toEqual(comparable(histories.bundle));
    expect(histories.component.map((event) => event.type)).toContain('TimerFired');

    expect(await replayHistories({ component }, [histories.bundle], { threads: 1 })).toMatchObject({ reproduced: 1, failed: [] });
    expect(await replayHistories({ code }, [histories.component], { threads: 1 })).toMatchObject({ reproduced: 1, failed: [] });
  });

  it('sees the activation\'s time and the run\'s seeded random, the same on replay', { timeout: 60_000 }, async () => {
    const engine = await open();
    await engine.deploy({ component });
    const handle = await engine.start('clockAndRandom');
    const result = (await handle.result()) as { now: number; dateNow: number; random: number; uuid: string };
    const history = await handle.history();
    // The activation after the timer fired: its time is the completion's (the timer's delivery may be a millisecond earlier).
    const activation = history.find((event, i) => event.type === 'WorkflowTaskCompleted' && history[i - 1]?.type === 'TimerFired')!;
    expect(result.now).toBe(activation.time);
    expect(result.dateNow).toBe(activation.time);
    expect(result.random).toBeGreaterThanOrEqual(0);
    expect(result.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
    // Strict: the completion's result must be made again exactly.
    expect(await replayHistories({ component }, [history], { strict: true, threads: 1 })).toMatchObject({ reproduced: 1, diverged: [], failed: [] });
    // The same seed gives the QuickJS runtime the same numbers.
    expect(await replayHistories({ code }, [history], { strict: true, threads: 1 })).toMatchObject({ reproduced: 1, diverged: [], failed: [] });
  });

  it('is inspected at an event and reset to an event: each replays on the component in a sandbox thread', { timeout: 60_000 }, async () => {
    const engine = await open();
    const { version } = await engine.deploy({ component });
    const handle = await engine.start('order3', { workflowId: 'inspected', args: [1] });
    expect(await handle.result()).toBe(112);
    const history = await handle.history();
    const second = history.findIndex((event) => event.type === 'ActivityCompleted' && (event as { seq: number }).seq === 2) + 1;
    const atEvent = await handle.inspect({ at: second, query: 'step' });
    // At an event that completes an activity, the run is as it was before that completion reached it.
    expect(atEvent.query).toEqual({ ok: true, result: 2 });
    expect(atEvent.info).toMatchObject({ workflowType: 'order3' });

    const reset = await engine.reset('inspected', { toEvent: second });
    expect(reset.version).toBe(version);
    expect(await engine.getHandle('inspected', reset.runId).result()).toBe(112);
    // The same workflow as a bundle takes the run over too: the two kinds replay each other's histories.
    const bundleVersion = (await engine.deploy({ code })).version;
    const onBundle = await engine.reset('inspected', { toEvent: second, runId: reset.runId, version: bundleVersion });
    expect(await engine.getHandle('inspected', onBundle.runId).result()).toBe(112);
  });

  it('restores a run from a snapshot mid-activities: the same commands and result', async () => {
    const template = await ComponentWorkflowTemplate.create(component, DEFAULT_LIMITS);
    const original = await template.newSandbox();
    original.activate(activation(0, [startJob('order3', [5], 7)]));
    original.activate(activation(3, [{ kind: 'resolveActivity', seq: 1, result: 6 }]));
    const image = original.capture();
    const restored = await template.restore(image);
    let commands: { kind: string; seq?: number }[] = [];
    for (const [seq, result, historyLength] of [[2, 17, 6], [3, 117, 9]]) {
      const resolved = activation(historyLength, [{ kind: 'resolveActivity', seq, result }]);
      const fromOriginal = original.activate(resolved);
      expect(restored.activate(resolved)).toBe(fromOriginal);
      commands = JSON.parse(fromOriginal).commands;
    }
    expect(commands).toMatchObject([{ kind: 'startTimer', durationMs: 10 }]);
    const fire = activation(12, [{ kind: 'fireTimer', seq: commands[0].seq! }]);
    const completed = original.activate(fire);
    expect(restored.activate(fire)).toBe(completed);
    expect(JSON.parse(completed).commands).toEqual([{ kind: 'completeWorkflow', result: 117 }]);
    // The delta against the template is a fraction of the component's memory.
    expect(image.data.byteLength).toBeLessThan(template.memoryBytes / 10);
  });

  it('parks its runs as snapshots beyond the resident budget, and wakes them from there', { timeout: 60_000 }, async () => {
    const engine = await Engine.open({ logger: silentLogger, activities, maxResidentBytes: 1, snapshots: { minEvents: 0 } });
    engines.push(engine);
    await engine.deploy({ component });
    const handles = await Promise.all(Array.from({ length: 5 }, (_, i) => engine.start('order3', { args: [i] })));
    expect(await Promise.all(handles.map((handle) => handle.result()))).toEqual([111, 112, 113, 114, 115]);
    const metrics = await engine.metrics.registry.metrics();
    const count = (pattern: RegExp) => Number(metrics.match(pattern)?.[1] ?? 0);
    expect(count(/aion_snapshots_written_total (\d+)/)).toBeGreaterThanOrEqual(5);
    expect(count(/aion_run_wakes_total\{from="snapshot"\} (\d+)/)).toBeGreaterThanOrEqual(5);
    expect(count(/aion_run_wakes_total\{from="replay"\} (\d+)/)).toBe(0);
  });

  it('finishes every run after the engine is SIGKILLed, without redoing a recorded activity', { timeout: 120_000 }, async () => {
    const dataDir = tempDir();
    const componentPath = join(tempDir(), 'order3.wasm');
    writeFileSync(componentPath, component);
    const activityLog = join(tempDir(), 'activities.log');
    writeFileSync(activityLog, '');
    const runs = 40;

    const first = runChild(CHILD, ['start', dataDir, componentPath, activityLog, String(runs)]);
    await first.line(/^completed 3$/);
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const recorded = await openLevelDbStore<HistoryEvent>(dataDir);
    const completedBefore = new Set<string>();
    for (const run of await recorded.listRuns({ namespace: 'default' })) {
      for (const event of await recorded.readHistory('default', run.runId)) if (event.type === 'ActivityCompleted') completedBefore.add(`${run.runId}/${event.seq}`);
    }
    expect((await recorded.listRuns({ namespace: 'default', status: 'Running' })).length).toBeGreaterThan(0);
    await recorded.close();

    const second = runChild(CHILD, ['recover', dataDir, componentPath, activityLog, String(runs)]);
    const line = await second.line(/^results /);
    expect((await second.exited).code).toBe(0);
    expect(JSON.parse(line.slice('results '.length))).toEqual(Array.from({ length: runs }, (_, i) => i * 1000 + 111));

    const executions = readFileSync(activityLog, 'utf8').trim().split('\n').map((entry) => JSON.parse(entry) as { phase: string; runId: string; seq: number });
    expect(executions.filter((e) => e.phase === 'recover' && completedBefore.has(`${e.runId}/${e.seq}`))).toEqual([]);
    const reopened = await openLevelDbStore<HistoryEvent>(dataDir);
    try {
      const histories = [];
      for (const run of await reopened.listRuns({ namespace: 'default' })) {
        const history = await reopened.readHistory('default', run.runId);
        expect(history.filter((event) => event.type === 'WorkflowCompleted')).toHaveLength(1);
        expect(history.filter((event) => event.type === 'ActivityCompleted').map((event) => (event as { seq: number }).seq)).toEqual([1, 2, 3]);
        histories.push(history);
      }
      expect(await replayHistories({ component }, histories, { threads: 1 })).toMatchObject({ reproduced: runs, failed: [] });
    } finally {
      await reopened.close();
    }
  });
});
