/**
 * The built-in `__stack_trace` and `__enhanced_stack_trace` queries: what each pending
 * operation waits on, in the workflow's own source locations (through the bundle's source
 * map), or in the bundle's when it has none.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import type { WorkflowHandle } from '../../engine/handle.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import type { EnhancedStackTrace } from '../../common/protocol.js';
import { openMemoryStore } from '../../store/open.js';
import { fixture, openEngine, silentLogger } from '../helpers.js';

const BUNDLE = 'stack-traces.ts';
const source = readFileSync(fixture(BUNDLE), 'utf8');
const file = relative(process.cwd(), fixture(BUNDLE));
/** The 1-based line of `text` holding `marker: name` (or the exact `search`). */
const lineOf = (name: string, text = source, search = `marker: ${name}`): number => text.split('\n').findIndex((line) => line.includes(search)) + 1;

const stackTrace = async (handle: WorkflowHandle): Promise<string> => (await handle.query('__stack_trace')) as string;
const enhancedStackTrace = async (handle: WorkflowHandle): Promise<EnhancedStackTrace> => (await handle.query('__enhanced_stack_trace')) as EnhancedStackTrace;

/** An activity that stays pending until the test ends. */
const pendingForever = () => ({ slow: () => new Promise<string>(() => undefined) });

describe('stack trace queries', () => {
  it('name the workflow file and line of every pending operation', async () => {
    const engine = await openEngine({ activities: pendingForever() }, BUNDLE);
    const handle = await engine.start('waiting');
    await expect.poll(async () => (await stackTrace(handle)).split('\n\n').length).toBe(2);
    const stacks = (await stackTrace(handle)).split('\n\n');
    // One stack per pending operation; async functions under their own names, columns exact.
    expect(stacks.sort()).toEqual([
      `    at waitForRelease (${file}:${lineOf('condition')}:9)\n    at waiting (${file}:${lineOf('activity') + 1}:5)`,
      `    at waiting (${file}:${lineOf('activity')}:5)`,
    ]);
    // Only the workflow's frames: neither the engine's runtime nor the bundler's helpers.
    expect(stacks.join('\n')).not.toMatch(/workflow-bundle\.js|aion-guest-runtime|__async/);
  });

  it('are in describe() of a running run, and not of a closed one', async () => {
    const engine = await openEngine({ activities: pendingForever() }, BUNDLE);
    const handle = await engine.start('waiting');
    await expect.poll(async () => (await stackTrace(handle)).split('\n\n').length).toBe(2);
    expect((await handle.describe()).stackTrace).toBe(await stackTrace(handle));
    await handle.terminate('done looking');
    expect((await handle.describe()).stackTrace).toBeUndefined();
  });

  it('answer the enhanced form with structured locations and the sources', async () => {
    const engine = await openEngine({ activities: pendingForever() }, BUNDLE);
    const handle = await engine.start('waiting');
    await expect.poll(async () => (await enhancedStackTrace(handle)).stacks.length).toBe(2);
    const trace = await enhancedStackTrace(handle);
    const lines = trace.stacks.map(({ locations }) => locations[0]);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file_path: file, line: lineOf('activity'), internal_code: false }),
        expect.objectContaining({ file_path: file, line: lineOf('condition'), function_name: 'waitForRelease', internal_code: false }),
      ]),
    );
    expect(trace.sources[file]).toEqual([{ line_offset: 0, content: source }]);
  });

  it('follow the run: a released wait leaves, a new one appears, a terminated run shows where it stopped', async () => {
    const engine = await openEngine({ activities: { slow: async () => 'done' } }, BUNDLE);
    const handle = await engine.start('waiting');
    await expect.poll(() => stackTrace(handle)).toMatch(new RegExp(`${file}:${lineOf('condition')}:`));
    await handle.signal('release');
    await expect.poll(() => stackTrace(handle)).toMatch(new RegExp(`^\\s*at .*${file}:${lineOf('timer')}:\\d+\\)?(\\n|$)`));
    expect(await stackTrace(handle)).not.toContain('\n\n');
    // describe() lists the timer, with when it fires.
    const { pending } = await handle.describe();
    expect(pending?.timers).toEqual([{ seq: 1, fireAt: expect.any(Date) }]);
    expect(pending!.timers[0].fireAt.getTime() - Date.now()).toBeGreaterThan(59 * 60_000);
    await handle.terminate('done looking');
    expect(await stackTrace(handle)).toMatch(new RegExp(`${file}:${lineOf('timer')}:`));
  });

  it('answer nothing for a run that ended with nothing pending', async () => {
    const engine = await openEngine({ activities: { slow: async () => 'done' } }, BUNDLE);
    const handle = await engine.start('waiting');
    await handle.signal('release');
    await expect.poll(() => stackTrace(handle)).toMatch(new RegExp(`${file}:${lineOf('timer')}:`));
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect(await stackTrace(handle)).toBe('');
  });

  it('keep the source map beside the version, not in the code the sandbox evaluates', async () => {
    const store = await openMemoryStore<HistoryEvent>();
    const engine = await Engine.open({ logger: silentLogger, store });
    const { code } = await bundleWorkflowCode({ workflowsPath: fixture(BUNDLE) });
    const { version } = await engine.deploy({ code });
    expect((await engine.deploy({ code })).version).toBe(version);
    const stored = await store.getBundle(version);
    expect(stored?.code).not.toContain('sourceMappingURL');
    expect(JSON.parse(stored?.sourceMap ?? '{}')).toMatchObject({ sources: expect.arrayContaining([file]) });
    await engine.close();
  });

  it('name the bundle line when the bundle has no source map', async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath: fixture(BUNDLE), sourceMap: false });
    const engine = await Engine.open({ logger: silentLogger, activities: pendingForever() });
    await engine.deploy({ code });
    const handle = await engine.start('waiting');
    await expect.poll(() => stackTrace(handle)).toMatch(new RegExp(`workflow-bundle\\.js:${lineOf('activity', code, 'slow(),')}:`));
    await engine.close();
  });
});
