/**
 * Untrusted bundles: an infinite loop, a memory bomb, unbounded recursion and a 200,000-deep
 * JSON.stringify each fail their own run with a reason; the engine and the other runs go on.
 */
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '../../engine/errors.js';
import { openEngine } from '../helpers.js';

const limits = { cpuMsPerActivation: 300, memoryBytes: 16 * 1024 * 1024 };

async function failureOf(engine: Awaited<ReturnType<typeof openEngine>>, type: string) {
  const handle = await engine.start(type);
  const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const description = await handle.describe();
  expect(description.status).toBe('Failed');
  expect(description.failure?.message).toBe(error.cause.message);
  return error.cause.message;
}

describe('hostile bundles', () => {
  it('stops an infinite loop at the CPU budget', async () => {
    const engine = await openEngine({ limits }, 'hostile.ts');
    const neighbour = await engine.start('fine', { args: [21] });
    expect(await failureOf(engine, 'infiniteLoop')).toMatch(/sandbox crashed \(cpu-budget\)/);
    expect(await neighbour.result()).toBe(42);
  });

  it('stops a memory bomb at the memory limit', async () => {
    const engine = await openEngine({ limits }, 'hostile.ts');
    expect(await failureOf(engine, 'memoryBomb')).toMatch(/out of memory/);
    expect(await (await engine.start('fine', { args: [1] })).result()).toBe(2);
  });

  it('stops unbounded recursion at the stack limit', async () => {
    const engine = await openEngine({ limits }, 'hostile.ts');
    expect(await failureOf(engine, 'unboundedRecursion')).toMatch(/stack overflow/);
    expect(await (await engine.start('fine', { args: [2] })).result()).toBe(4);
  });

  it('stops a 200,000-deep JSON.stringify without the host stack overflowing', async () => {
    const engine = await openEngine({ limits }, 'hostile.ts');
    expect(await failureOf(engine, 'deepJson')).toMatch(/stack overflow/);
    expect(await (await engine.start('fine', { args: [3] })).result()).toBe(6);
  });

  it('keeps serving every other run while hostile runs fail', async () => {
    const engine = await openEngine({ limits }, 'hostile.ts');
    const good = await Promise.all(Array.from({ length: 20 }, (_, i) => engine.start('fine', { args: [i] })));
    const bad = await Promise.all(['infiniteLoop', 'memoryBomb', 'unboundedRecursion', 'deepJson'].map((type) => engine.start(type)));
    expect(await Promise.all(good.map((h) => h.result()))).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    for (const handle of bad) expect((await handle.describe()).status).toMatch(/Failed|Running/);
    await Promise.all(bad.map((h) => h.result().catch(() => undefined)));
    expect((await engine.list({ status: 'Failed' })).length).toBe(4);
  });
});
