/**
 * Untrusted bundles: an infinite loop, a memory bomb, unbounded recursion, a 200,000-deep
 * JSON.stringify, a regular expression that compiles for seconds without checking its CPU
 * budget, a replaced serialiser: each fails its own run (or deploy) with a reason; the
 * engine thread, its HTTP API and the other runs go on meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '../../engine/errors.js';
import { serveEngine } from '../../server/serve.js';
import { slowRegexSource } from '../fixtures/hostile.js';
import { openEngine } from '../helpers.js';

const limits = { cpuMsPerActivation: 300, memoryBytes: 16 * 1024 * 1024 };
/** The slow regular expression needs room to compile (its slowness, not its size, is the attack). */
const regexLimits = { cpuMsPerActivation: 300, memoryBytes: 128 * 1024 * 1024 };
const fastRestarts = { initialBackoffMs: 1 };

async function failureOf(engine: Awaited<ReturnType<typeof openEngine>>, type: string, args: unknown[] = []) {
  const handle = await engine.start(type, { args });
  const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const description = await handle.describe();
  expect(description.status).toBe('Failed');
  expect(description.failure?.message).toBe(error.cause.message);
  return error.cause.message;
}

describe('hostile bundles', () => {
  it('stops an infinite loop at the CPU budget', async () => {
    const engine = await openEngine({ limits, supervision: fastRestarts }, 'hostile.ts');
    const neighbour = await engine.start('fine', { args: [21] });
    expect(await failureOf(engine, 'infiniteLoop')).toMatch(/sandbox crashed \(cpu-budget\)/);
    expect(await neighbour.result()).toBe(42);
  });

  it('stops a memory bomb at the memory limit', async () => {
    const engine = await openEngine({ limits, supervision: fastRestarts }, 'hostile.ts');
    expect(await failureOf(engine, 'memoryBomb')).toMatch(/out of memory/);
    expect(await (await engine.start('fine', { args: [1] })).result()).toBe(2);
  });

  it('stops unbounded recursion at the stack limit', async () => {
    const engine = await openEngine({ limits, supervision: fastRestarts }, 'hostile.ts');
    expect(await failureOf(engine, 'unboundedRecursion')).toMatch(/stack overflow/);
    expect(await (await engine.start('fine', { args: [2] })).result()).toBe(4);
  });

  it('stops a 200,000-deep JSON.stringify without the host stack overflowing', async () => {
    const engine = await openEngine({ limits, supervision: fastRestarts }, 'hostile.ts');
    expect(await failureOf(engine, 'deepJson')).toMatch(/stack overflow/);
    expect(await (await engine.start('fine', { args: [3] })).result()).toBe(6);
  });

  it('fails every hostile run and serves every other run', async () => {
    const engine = await openEngine({ limits, supervision: fastRestarts }, 'hostile.ts');
    const good = await Promise.all(Array.from({ length: 20 }, (_, i) => engine.start('fine', { args: [i] })));
    const bad = await Promise.all(['infiniteLoop', 'memoryBomb', 'unboundedRecursion', 'deepJson'].map((type) => engine.start(type)));
    expect(await Promise.all(good.map((h) => h.result()))).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    await Promise.all(bad.map((h) => h.result().catch(() => undefined)));
    for (const handle of bad) expect((await handle.describe()).status).toBe('Failed');
    expect((await engine.list({ status: 'Failed' })).length).toBe(4);
  });

  it('answers HTTP requests while a workflow spins in its sandbox thread', async () => {
    // A long budget: the spinning activation is still running when the health check returns.
    // Two threads: the spinning run holds one, the other serves the neighbour.
    const engine = await openEngine({ limits: { ...limits, cpuMsPerActivation: 3000 }, supervision: { deterministicAfter: 1 }, sandboxThreads: 2 }, 'hostile.ts');
    const server = await serveEngine(engine, { port: 0 });
    try {
      const spinning = await engine.start('infiniteLoop');
      // Its timer fires and the activation that spins starts (its thread is busy from then on).
      await new Promise<void>((resolve) => engine.events.on('activation', (run) => run.runId === spinning.runId && run.jobs.includes('fireTimer') && resolve()));
      const health = await fetch(`${server.url}/v1/health`);
      expect(health.status).toBe(200);
      expect(await (await engine.start('fine', { args: [5] })).result()).toBe(10);
      // Neither the crash nor anything else of the spinning activation is recorded yet.
      expect((await spinning.history()).map((e) => e.type)).toEqual(['WorkflowStarted', 'WorkflowTaskCompleted', 'TimerStarted']);
      await expect(spinning.result()).rejects.toThrow(WorkflowFailedError);
    } finally {
      await server.close();
    }
  });

  it('refuses at deploy a bundle whose evaluation never checks its budget (a slow regular expression), without stalling the engine', async () => {
    const engine = await openEngine({ limits: regexLimits }, 'hostile.ts');
    const neighbour = await engine.start('fine', { args: [4] });
    const deploy = engine.deploy({ code: `exports.w = async function w() { return 1 };\n${slowRegexSource};` });
    await expect(deploy).rejects.toThrow(/did not finish evaluating within its CPU budget \(stopped by the watchdog\)/);
    expect(await neighbour.result()).toBe(8);
  });

  it('crashes a run whose activation never checks its budget, restarting it until the crash is deterministic', async () => {
    const engine = await openEngine({ limits: regexLimits, supervision: fastRestarts }, 'hostile.ts');
    const neighbour = await engine.start('fine', { args: [6] });
    expect(await failureOf(engine, 'slowRegex')).toMatch(/sandbox crashed \(cpu-budget\): .*stopped by the watchdog.*deterministic crash/);
    expect(await neighbour.result()).toBe(12);
  });

  it('cannot replace the serialiser the runtime uses, and a result nested past the limit fails its run', async () => {
    const engine = await openEngine({ limits, supervision: fastRestarts }, 'hostile.ts');
    expect(await (await engine.start('hostileStringify')).result()).toBe('refused');
    expect(await (await engine.start('nested', { args: [100] })).result()).toEqual(JSON.parse(`${'['.repeat(100)}0${']'.repeat(100)}`));
    expect(await failureOf(engine, 'nested', [101])).toMatch(/is nested deeper than 100 levels/);
  });
});
