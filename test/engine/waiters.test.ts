/**
 * Nobody waits forever: an accepted update whose run closes (or continues as new) before it
 * completes fails, in the library and over HTTP; results and updates still pending when the
 * engine closes fail with `EngineClosedError`.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { EngineClosedError, WorkflowUpdateFailedError } from '../../engine/errors.js';
import { serveEngine } from '../../server/serve.js';
import { fixtureBundle, openEngine, silentLogger } from '../helpers.js';

/** Resolves once an activation delivering an update to `runId` has started. */
const updateDelivered = (engine: Engine, runId: string) =>
  new Promise<void>((resolve) => engine.events.on('activation', (activation) => activation.runId === runId && activation.jobs.includes('update') && resolve()));

describe('waiters', () => {
  for (const how of ['complete', 'continue'] as const) {
    it(`fail an accepted update when its run ${how === 'complete' ? 'completes' : 'continues as new'} first`, async () => {
      const engine = await openEngine({}, 'queried.ts');
      const handle = await engine.start('outlivesUpdates');
      const delivered = updateDelivered(engine, handle.runId!);
      const update = handle.executeUpdate('stuck').catch((e: unknown) => e);
      await delivered;
      await handle.signal('finish', how);
      const error = (await update) as WorkflowUpdateFailedError;
      expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(error.message).toBe("update 'stuck' failed: Workflow Update failed because the Workflow completed before the Update completed.");
      if (how === 'continue') await engine.getHandle(handle.workflowId).signal('finish', 'complete');
      expect(await engine.getHandle(handle.workflowId).result()).toBe(how === 'complete' ? 0 : 1);
    });
  }

  it('answer an HTTP update whose run completes first', async () => {
    const engine = await openEngine({}, 'queried.ts');
    const server = await serveEngine(engine, { port: 0 });
    try {
      const handle = await engine.start('outlivesUpdates', { workflowId: 'http-update' });
      const delivered = updateDelivered(engine, handle.runId!);
      const response = fetch(`${server.url}/v1/namespaces/default/workflows/http-update/updates/stuck`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      await delivered;
      await handle.signal('finish', 'complete');
      const answered = await response;
      expect(answered.status).toBe(422);
      expect(((await answered.json()) as { error: { code: string } }).error.code).toBe('UPDATE_FAILED');
    } finally {
      await server.close();
    }
  });

  it('fail results and updates still pending when the engine closes', async () => {
    const engine = await Engine.open({ logger: silentLogger });
    await engine.deploy({ code: await fixtureBundle('queried.ts') });
    const handle = await engine.start('outlivesUpdates');
    const delivered = updateDelivered(engine, handle.runId!);
    const update = handle.executeUpdate('stuck').catch((e: unknown) => e);
    const result = handle.result().catch((e: unknown) => e);
    await delivered;
    const closing = engine.close();
    expect(await update).toBeInstanceOf(EngineClosedError);
    expect(await result).toBeInstanceOf(EngineClosedError);
    await closing;
  });
});

