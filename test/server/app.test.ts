/** The HTTP API's contract: routes, status codes, error bodies, authentication. */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.js';
import { completedElsewhere } from '../fixtures/temporal-activities.js';
import { Engine } from '../../engine/engine.js';
import { fixtureBundle, openEngine, silentLogger } from '../helpers.js';

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('HTTP API', () => {
  it('starts, signals, queries and returns results with the documented status codes', async () => {
    const app = createApp(await openEngine());
    const started = await app.request('/v1/namespaces/default/workflows', json({ type: 'approval', workflowId: 'h1' }));
    expect(started.status).toBe(201);
    expect(await started.json()).toMatchObject({ workflowId: 'h1' });
    expect((await app.request('/v1/namespaces/default/workflows/h1/signals/approve', json({ args: ['ann'] }))).status).toBe(202);
    const query = await app.request('/v1/namespaces/default/workflows/h1/queries/status', json({}));
    expect(await query.json()).toEqual({ result: 'approved by ann' });
    const update = await app.request('/v1/namespaces/default/workflows/h1/updates/setLimit', json({ args: [100] }));
    expect(await update.json()).toEqual({ updateId: expect.any(String), runId: expect.any(String), stage: 'COMPLETED', result: 0 });
    const result = await app.request('/v1/namespaces/default/workflows/h1/result');
    expect(await result.json()).toEqual({ status: 'Completed', result: { approvedBy: 'ann', limit: 100 } });
    const history = (await (await app.request('/v1/namespaces/default/workflows/h1/history')).json()) as { events: { type: string }[] };
    expect(history.events[0].type).toBe('WorkflowStarted');
  });

  it('answers a wait for a result that outlasts its long poll with 202 Running, and 200 once the run closed', async () => {
    const engine = await openEngine();
    const app = createApp(engine);
    await app.request('/v1/namespaces/default/workflows', json({ type: 'approval', workflowId: 'long' }));
    const waiting = await app.request('/v1/namespaces/default/workflows/long/result?waitMs=50');
    expect([waiting.status, await waiting.json()]).toEqual([202, { status: 'Running' }]);
    expect((await app.request('/v1/namespaces/default/workflows/long/result?waitMs=-1')).status).toBe(400);
    const handle = engine.getHandle('long');
    await handle.signal('approve', 'ann');
    await handle.executeUpdate('setLimit', 100);
    const closed = await app.request('/v1/namespaces/default/workflows/long/result?waitMs=50');
    expect([closed.status, await closed.json()]).toEqual([200, { status: 'Completed', result: { approvedBy: 'ann', limit: 100 } }]);
  });

  it('answers an update that outlasts its long poll with 202 ACCEPTED, and its result by id once it completed', async () => {
    const engine = await openEngine({}, 'updates.ts');
    const app = createApp(engine);
    await app.request('/v1/namespaces/default/workflows', json({ type: 'counter', workflowId: 'gated', args: [{ gated: true }] }));
    // A bad waitMs is refused before the update is sent.
    expect((await app.request('/v1/namespaces/default/workflows/gated/updates/add?waitMs=-1', json({ args: [1] }))).status).toBe(400);
    expect((await engine.getHandle('gated').history()).map((event) => event.type)).not.toContain('UpdateAccepted');
    const sent = await app.request('/v1/namespaces/default/workflows/gated/updates/add?waitMs=50', json({ args: [5], updateId: 'u1' }));
    expect([sent.status, await sent.json()]).toEqual([202, { updateId: 'u1', runId: expect.any(String), stage: 'ACCEPTED' }]);
    const waiting = await app.request('/v1/namespaces/default/workflows/gated/updates/u1?waitMs=50');
    expect([waiting.status, await waiting.json()]).toEqual([202, { stage: 'ACCEPTED' }]);
    await engine.getHandle('gated').signal('open');
    const done = await app.request('/v1/namespaces/default/workflows/gated/updates/u1');
    expect([done.status, await done.json()]).toEqual([200, { stage: 'COMPLETED', result: 5 }]);
    await engine.getHandle('gated').signal('finish');
    expect(await engine.getHandle('gated').result()).toBe(5);
  });

  it('completes an activity asynchronously by its task token, within its namespace only', async () => {
    const tokens: string[] = [];
    const engine = await openEngine({ activities: { completedLater: completedElsewhere(tokens) } }, 'temporal-compat.ts');
    await engine.namespaces.create('other');
    const app = createApp(engine);
    const started = await app.request('/v1/namespaces/default/workflows', json({ type: 'runsActivity', workflowId: 'a1', args: ['completedLater'] }));
    expect(started.status).toBe(201);
    await expect.poll(() => tokens.length).toBe(1);
    const taskToken = tokens[0];
    expect((await app.request('/v1/namespaces/default/activities/heartbeat', json({ taskToken, details: { at: 1 } }))).status).toBe(200);
    expect((await app.request('/v1/namespaces/other/activities/complete', json({ taskToken, result: 'wrong tenant' }))).status).toBe(404);
    expect((await app.request('/v1/namespaces/default/activities/complete', json({ taskToken: 42 }))).status).toBe(400);
    expect((await app.request('/v1/namespaces/default/activities/complete', json({ taskToken, result: 'over HTTP' }))).status).toBe(200);
    expect(await (await app.request('/v1/namespaces/default/workflows/a1/result')).json()).toEqual({ status: 'Completed', result: 'over HTTP' });
    expect((await app.request('/v1/namespaces/default/activities/complete', json({ taskToken, result: 'again' }))).status).toBe(404);
  });

  it('upgrades a run whose workflow task fails to a fixed version, and refuses one its history does not replay on', async () => {
    const engine = await Engine.open({ logger: silentLogger, activities: { charge: async (amount: number) => amount }, supervision: { initialBackoffMs: 5, maxBackoffMs: 10 } });
    try {
      const app = createApp(engine);
      await engine.deploy({ code: await fixtureBundle('task-failures-v1.ts') });
      expect((await app.request('/v1/namespaces/default/workflows', json({ type: 'invoice', workflowId: 'inv', args: [3] }))).status).toBe(201);
      const v3 = await engine.deploy({ code: await fixtureBundle('task-failures-v3.ts') });
      const refused = await app.request('/v1/namespaces/default/workflows/inv/upgrade', json({ version: v3.version }));
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('DETERMINISM_VIOLATION');
      const v2 = await engine.deploy({ code: await fixtureBundle('task-failures-v2.ts') });
      const upgraded = await app.request('/v1/namespaces/default/workflows/inv/upgrade', json({}));
      expect(await upgraded.json()).toMatchObject({ workflowId: 'inv', toVersion: v2.version });
      expect(await (await app.request('/v1/namespaces/default/workflows/inv/result')).json()).toEqual({ status: 'Completed', result: 'customer paid 3' });
    } finally {
      await engine.close();
    }
  });

  it('maps errors to status codes with a code and a message', async () => {
    const app = createApp(await openEngine());
    const cases: [Response | Promise<Response>, number, string][] = [
      [app.request('/v1/namespaces/default/workflows', json({ type: 'nope' })), 400, 'INVALID_ARGUMENT'],
      [app.request('/v1/namespaces/default/workflows/missing'), 404, 'NOT_FOUND'],
      [app.request('/v1/namespaces/default/workflows', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{oops' }), 400, 'INVALID_ARGUMENT'],
      // What a browser sends across sites unasked (a form, text/plain) is not taken.
      [app.request('/v1/namespaces/default/workflows', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"type":"approval"}' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [app.request('/v1/namespaces/default/workflows/x/signals/s', json({ args: 'not-an-array' })), 400, 'INVALID_ARGUMENT'],
      [app.request('/v1/namespaces/default/bundles', json({ code: 'exports.x = 1' })), 400, 'BUNDLE_INVALID'],
      [app.request('/v1/nowhere'), 404, 'NOT_FOUND'],
    ];
    for (const [response, status, code] of cases) {
      const r = await response;
      expect(r.status).toBe(status);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe(code);
      expect(body.error.message.length).toBeGreaterThan(0);
    }
    await app.request('/v1/namespaces/default/workflows', json({ type: 'sleeper', args: [60_000], workflowId: 'dup' }));
    const duplicate = await app.request('/v1/namespaces/default/workflows', json({ type: 'sleeper', args: [1], workflowId: 'dup' }));
    expect(duplicate.status).toBe(409);
    await app.request('/v1/namespaces/default/workflows/dup/terminate', json({}));
  });

  it('serves schedules and signal-with-start', async () => {
    const app = createApp(await openEngine());
    const created = await app.request('/v1/namespaces/default/schedules', json({ scheduleId: 's1', spec: { cron: '0 0 1 1 *' }, action: { workflowType: 'sleeper', args: [60_000] } }));
    expect(created.status).toBe(201);
    const triggered = (await (await app.request('/v1/namespaces/default/schedules/s1/trigger', json({}))).json()) as { fires: number };
    expect(triggered.fires).toBe(1);
    expect(((await (await app.request('/v1/namespaces/default/schedules')).json()) as { schedules: unknown[] }).schedules).toHaveLength(1);
    expect((await app.request('/v1/namespaces/default/schedules/s1', { method: 'DELETE' })).status).toBe(200);
    expect((await app.request('/v1/namespaces/default/schedules/s1')).status).toBe(404);
    const sws = await app.request('/v1/namespaces/default/workflows/w9/signal-with-start', json({ type: 'approval', signal: 'approve', signalArgs: ['ann'] }));
    expect(sws.status).toBe(202);
    expect(await (await app.request('/v1/namespaces/default/workflows/w9/queries/status', json({}))).json()).toEqual({ result: 'approved by ann' });
  });

  it('requires the bearer token when one is configured', async () => {
    const app = createApp(await openEngine(), { token: 's3cret' });
    expect((await app.request('/v1/namespaces/default/workflows')).status).toBe(401);
    expect((await app.request('/v1/namespaces/default/workflows', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await app.request('/v1/namespaces/default/workflows', { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    expect((await app.request('/v1/health')).status).toBe(200);
    // The UI's files carry no data: served without the token (the data they show is not).
    expect((await app.request('/ui/')).status).toBe(200);
    const script = await app.request('/ui/app.js');
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(script.headers.get('content-security-policy')).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect((await app.request('/ui/nothing.js')).status).toBe(404);
  });

  it('replays a run against an uploaded bundle, and refuses a body without one or a bundle that cannot replay it', async () => {
    const engine = await openEngine();
    const app = createApp(engine);
    await engine.start('sleeper', { args: [1], workflowId: 'r1' }).then((handle) => handle.result());
    const code = await fixtureBundle();
    const replayed = await app.request('/v1/namespaces/default/workflows/r1/replay', json({ code }));
    expect(await replayed.json()).toEqual({ reproduced: true, events: (await engine.getHandle('r1').history()).length, divergences: [] });
    const missing = await app.request('/v1/namespaces/default/workflows/r1/replay', json({}));
    expect(missing.status).toBe(400);
    const broken = await app.request('/v1/namespaces/default/workflows/r1/replay', json({ code: 'throw new Error("no")' }));
    expect(broken.status).toBe(422);
    expect(((await broken.json()) as { error: { code: string } }).error.code).toBe('REPLAY_FAILED');
  });
});
