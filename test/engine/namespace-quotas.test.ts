/**
 * Quotas a namespace holds its runs to beyond the engine's own limits: payload bytes and
 * history size. Each is
 * refused (or fails the run's step) naming the quota and its value, with nothing recorded for
 * a refused request, and another namespace is not affected.
 */
import { describe, expect, it } from 'vitest';
import { QuotaExceededError, WorkflowFailedError } from '../../engine/errors.js';
import type { Engine } from '../../engine/engine.js';
import { fixtureBundle, openEngine } from '../helpers.js';

const payloadActivities = {
  async large(bytes: number) {
    return 'y'.repeat(bytes);
  },
};

/** The message of the failure a run ended with. */
async function failureOf(result: Promise<unknown>): Promise<string> {
  const error = await result.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  return (error as WorkflowFailedError).cause.message;
}

async function withNamespace(engine: Engine, name: string, quotas: Record<string, number>, bundle: string): Promise<void> {
  await engine.namespaces.create(name, { quotas });
  await engine.deploy({ code: await fixtureBundle(bundle), namespace: name });
}

describe('maxPayloadBytes quota', () => {
  it('refuses start, update-with-start and signal arguments past it, recording nothing, where another namespace takes them', async () => {
    const engine = await openEngine({ activities: payloadActivities }, 'payloads.ts');
    await withNamespace(engine, 'small', { maxPayloadBytes: 1000 }, 'payloads.ts');
    const big = 'x'.repeat(2000);

    const refused = await engine.start('echo', { namespace: 'small', workflowId: 'big', args: [big] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(QuotaExceededError);
    expect((refused as QuotaExceededError).message).toBe('namespace small is at its quota maxPayloadBytes = 1000: args is 2004 bytes of JSON');
    expect(await engine.list({ namespace: 'small' })).toEqual([]);
    expect(await (await engine.start('echo', { workflowId: 'big', args: [big] })).result()).toBe(big);

    await expect(engine.startUpdateWithStart('echo', { namespace: 'small', workflowId: 'with-update', update: 'any', updateArgs: [big] })).rejects.toThrow(/quota maxPayloadBytes = 1000: update arguments is 2004 bytes/);
    expect(await engine.list({ namespace: 'small' })).toEqual([]);

    const waiting = await engine.start('callPatiently', { namespace: 'small', workflowId: 'waits', args: ['nobody', 1] });
    await expect(waiting.signal('anything', big)).rejects.toThrow('namespace small is at its quota maxPayloadBytes = 1000: signal arguments is 2004 bytes of JSON');
    expect((await waiting.history()).map((event) => event.type)).not.toContain('SignalReceived');
    await waiting.terminate();
  });

  it("holds the namespace's activity results and workflow failures to it", async () => {
    const engine = await openEngine({ activities: payloadActivities, supervision: { initialBackoffMs: 1 } }, 'payloads.ts');
    await withNamespace(engine, 'small', { maxPayloadBytes: 1000 }, 'payloads.ts');

    const activity = await (await engine.start('activityFailure', { namespace: 'small', args: ['large', 2000] })).result();
    expect(activity).toMatchObject({ type: 'PayloadTooLarge', message: "the result of activity 'large' is 2002 bytes of JSON (namespace small's quota maxPayloadBytes = 1000)" });
    expect(await (await engine.start('activityFailure', { args: ['large', 2000] })).result()).toBe('completed');

    const failed = await (await engine.start('throwLarge', { namespace: 'small', args: [2000] })).result().catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect((failed as WorkflowFailedError).cause.message).toMatch(/command 0 \(failWorkflow\) failure is \d+ bytes of JSON \(namespace small's quota maxPayloadBytes = 1000\)/);
  });

  it('applies a change to what comes next, and never lowers the engine limit it is above', async () => {
    const engine = await openEngine({}, 'payloads.ts');
    await withNamespace(engine, 'ns', { maxPayloadBytes: 10 * 1024 * 1024 }, 'payloads.ts');
    const big = 'x'.repeat(3 * 1024 * 1024);
    // Above the engine's 2 MiB limit, the quota changes nothing: the engine's limit refuses.
    await expect(engine.start('echo', { namespace: 'ns', args: [big] })).rejects.toThrow(`args is ${big.length + 4} bytes of JSON (limit ${2 * 1024 * 1024})`);
    expect(await (await engine.start('echo', { namespace: 'ns', args: ['x'.repeat(500)] })).result()).toHaveLength(500);
    await engine.namespaces.update('ns', { quotas: { maxPayloadBytes: 100 } });
    await expect(engine.start('echo', { namespace: 'ns', args: ['x'.repeat(500)] })).rejects.toThrow(/quota maxPayloadBytes = 100/);
  });
});

describe('history quotas', () => {
  it('terminate a run whose activation would take its history past maxHistoryEvents or maxHistoryBytes, naming the quota', async () => {
    const engine = await openEngine({}, 'long-running.ts');
    await withNamespace(engine, 'events', { maxHistoryEvents: 30 }, 'long-running.ts');
    await withNamespace(engine, 'bytes', { maxHistoryBytes: 3000 }, 'long-running.ts');

    const counted = await engine.start('manyAwaits', { namespace: 'events', args: [100, 1] });
    await expect(counted.result()).rejects.toThrow(/terminated/i);
    const history = await counted.history();
    expect(history.at(-1)).toMatchObject({ type: 'WorkflowTerminated', reason: expect.stringMatching(/^its history would pass namespace events's quota maxHistoryEvents = 30 \(3\d events\)$/) });
    // Beyond the 30 events: the last activation's job (its timer firing) and the termination.
    expect(history.length).toBe(32);

    const measured = await engine.start('manyAwaits', { namespace: 'bytes', args: [100, 1] });
    await expect(measured.result()).rejects.toThrow(/terminated/i);
    expect((await measured.history()).at(-1)).toMatchObject({ reason: expect.stringMatching(/^its history would pass namespace bytes's quota maxHistoryBytes = 3000 \(\d+ bytes\)$/) });

    // The same workflow in a namespace without the quota runs to its end.
    expect(await (await engine.start('manyAwaits', { args: [100, 1] })).result()).toBe(200);
  });

  it('refuse a signal or update to a run whose history is at the quota, recording nothing; cancellation still reaches it', async () => {
    const engine = await openEngine();
    await withNamespace(engine, 'small', { maxHistoryEvents: 8 }, 'workflows.ts');
    const handle = await engine.start('approval', { namespace: 'small' });
    let refusal: unknown;
    for (let i = 0; i < 10 && refusal === undefined; i++) await handle.signal('approve', `n${i}`).catch((error: unknown) => (refusal = error));
    expect(refusal).toBeInstanceOf(QuotaExceededError);
    expect((refusal as Error).message).toBe(`namespace small is at its quota maxHistoryEvents = 8: run ${handle.runId} has 8 events`);
    const length = (await handle.history()).length;
    await expect(handle.executeUpdate('setLimit', 100)).rejects.toThrow(/quota maxHistoryEvents = 8/);
    expect((await handle.history()).length).toBe(length);
    expect((await handle.describe()).status).toBe('Running');
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
  });

  it('tells runs to continue as new at 80 % of maxHistoryEvents', async () => {
    const engine = await openEngine({}, 'semantics.ts');
    await withNamespace(engine, 'ns', { maxHistoryEvents: 100 }, 'semantics.ts');
    const { historyLength } = (await (await engine.start('suggestsContinueAsNew', { namespace: 'ns' })).result()) as { historyLength: number };
    expect(historyLength).toBeGreaterThanOrEqual(80);
    expect(historyLength).toBeLessThan(90);
  });
});

describe('sandbox quotas', () => {
  it("run the namespace's sandboxes under its memory and CPU quotas, below the engine's limits", async () => {
    const engine = await openEngine({ limits: { cpuMsPerActivation: 20_000 }, supervision: { initialBackoffMs: 1 } }, 'fairness.ts');
    await withNamespace(engine, 'tight', { sandboxMemoryBytes: 8 * 1024 * 1024, cpuMsPerActivation: 20 }, 'fairness.ts');

    expect(await (await engine.start('allocates', { args: [12] })).result()).toBe(12);
    const hoarder = await engine.start('allocates', { namespace: 'tight', args: [12] });
    expect(await failureOf(hoarder.result())).toMatch(/out of memory/);

    const spins = 3_000_000; // some 100 ms: past 20 ms, within the replay's default budget
    expect(typeof (await (await engine.start('spin', { args: [spins] })).result())).toBe('number');
    const spinner = await engine.start('spin', { namespace: 'tight', args: [spins] });
    expect(await failureOf(spinner.result())).toMatch(/deterministic crash: the same cpu-budget crash 3 times in a row/);
  });

  it('keep a run under the sandbox quotas it started with: a later change applies to runs started after', async () => {
    const engine = await openEngine({ limits: { cpuMsPerActivation: 20_000 }, supervision: { initialBackoffMs: 1 } }, 'fairness.ts');
    await withNamespace(engine, 'ns', {}, 'fairness.ts');
    const before = await engine.start('spinsWhenSignalled', { namespace: 'ns', args: [3_000_000] });
    await engine.namespaces.update('ns', { quotas: { cpuMsPerActivation: 20 } });
    const after = await engine.start('spinsWhenSignalled', { namespace: 'ns', args: [3_000_000] });
    await before.signal('go');
    await after.signal('go');
    expect(typeof (await before.result())).toBe('number');
    expect(await failureOf(after.result())).toMatch(/deterministic crash: the same cpu-budget crash 3 times in a row/);
  });

  it('take a memory quota of at least 8 MiB', async () => {
    const engine = await openEngine();
    await expect(engine.namespaces.create('x', { quotas: { sandboxMemoryBytes: 1000 } })).rejects.toThrow('quota sandboxMemoryBytes must be at least 8388608 (8 MiB), got 1000');
  });
});
