/**
 * Payloads: what enters a history round-trips byte for byte through the store (and a
 * restart), and one byte-based limit (with a nesting limit) applies to every payload, checked
 * before anything is recorded.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, WorkflowFailedError } from '../../engine/errors.js';
import { Engine } from '../../engine/engine.js';
import { replayHistory } from '../../engine/replay-history.js';
import { fixtureBundle, openEngine, silentLogger, tempDir } from '../helpers.js';

const MiB = 1024 * 1024;

const payloadActivities = {
  async large(bytes: number) {
    return 'é'.repeat(bytes / 2);
  },
  async throwLarge(bytes: number) {
    throw new Error('y'.repeat(bytes));
  },
};

describe('payloads through the store', () => {
  it('round-trip byte for byte across a restart: __proto__ and constructor keys, -0, large integers, lone surrogates, nesting at the limit (100 levels with the argument list)', async () => {
    const text = `{"__proto__":{"isAdmin":true},"constructor":{"prototype":{}},"zero":-0,"big":123456789012345678901234567890,"lone":"\\ud83d and \\udc00","deep":${'['.repeat(98)}1${']'.repeat(98)}}`;
    const payload = JSON.parse(text) as unknown;
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, logger: silentLogger });
    await first.deploy({ code: await fixtureBundle('payloads.ts') });
    const handle = await first.start('echo', { args: [payload], workflowId: 'edge' });
    const before = await handle.result();
    expect(JSON.stringify(before)).toBe(JSON.stringify(payload));
    expect(Object.keys(before as object)).toContain('__proto__');
    await first.close();

    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      const after = await second.getHandle('edge').result();
      expect(JSON.stringify(after)).toBe(JSON.stringify(before));
      expect(Object.keys(after as object)).toEqual(Object.keys(before as object));
      await replayHistory({ code: await fixtureBundle('payloads.ts') }, await second.getHandle('edge').history());
    } finally {
      await second.close();
    }
  });
});

describe('the payload limit', () => {
  it('counts bytes of UTF-8, not characters, for start and signal arguments', async () => {
    const engine = await openEngine({}, 'payloads.ts');
    // 1 Mi characters, 3 MiB of UTF-8.
    const euros = '€'.repeat(MiB);
    const start = engine.start('echo', { args: [euros] });
    await expect(start).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(start).rejects.toThrow(`args is ${3 * MiB + 4} bytes of JSON (limit ${2 * MiB})`);
    const running = await engine.start('echo', { args: ['ok'] });
    await expect(engine.getHandle(running.workflowId).signal('s', euros)).rejects.toThrow(/signal arguments is \d+ bytes of JSON/);
  });

  it('refuses arguments nested past the limit, and accepts them at it', async () => {
    const engine = await openEngine({}, 'payloads.ts');
    const nest = (depth: number): unknown => (depth === 0 ? 0 : [nest(depth - 1)]);
    await expect(engine.start('echo', { args: [nest(100)] })).rejects.toThrow('args is nested deeper than 100 levels (the limit)');
    expect(await (await engine.start('echo', { args: [nest(99)] })).result()).toEqual(nest(99));
  });

  it('fails a run whose failure is too large instead of recording it', async () => {
    const engine = await openEngine({ supervision: { initialBackoffMs: 1 } }, 'payloads.ts');
    const handle = await engine.start('throwLarge', { args: [3 * MiB] });
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.cause.message).toMatch(/command 0 \(failWorkflow\) failure is \d+ bytes of JSON \(limit 2097152\)/);
    expect(JSON.stringify(await handle.history()).length).toBeLessThan(64 * 1024);
  });

  it('fails an activity whose result is too large, and cuts an activity failure to fit, without host paths in its stack', async () => {
    const engine = await openEngine({ activities: payloadActivities }, 'payloads.ts');
    const large = await (await engine.start('activityFailure', { args: ['large', 3 * MiB] })).result();
    expect(large).toMatchObject({ type: 'PayloadTooLarge', nonRetryable: true, message: `the result of activity 'large' is ${3 * MiB + 2} bytes of JSON (limit ${2 * MiB})` });
    const thrown = (await (await engine.start('activityFailure', { args: ['throwLarge', 3 * MiB] })).result()) as { messageLength: number; stack?: string };
    expect(thrown.messageLength).toBeLessThan(64 * 1024);
    const small = (await (await engine.start('activityFailure', { args: ['throwLarge', 10] })).result()) as { stack: string };
    expect(small.stack).toMatch(/at throwLarge \(payloads\.test\.ts:\d+:\d+\)/);
    expect(small.stack).not.toContain(process.cwd());
  });
});
