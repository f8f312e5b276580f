/**
 * Tenants and credentials over HTTP: every route tried without credentials, with a revoked
 * key, with a key of another namespace and with each role that must be refused (401, 404,
 * 403, and nothing recorded); one namespace's runs, bundles and schedules are invisible from
 * another; API keys are shown once and stop working when revoked; changes are audited.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import type { Engine } from '../../engine/engine.js';
import type { Role } from '../../engine/hosting/api-keys.js';
import { Engine as EngineClass } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { openMemoryStore } from '../../store/open.js';
import { createApp } from '../../server/app.js';
import type { AuthEnv } from '../../server/auth.js';
import { serveEngine } from '../../server/serve.js';
import { fixtureBundle, openEngine, silentLogger } from '../helpers.js';

type Permission = 'read' | 'operate' | 'deploy' | 'worker';

/** Every namespaced route, with what it needs. Ids name things that need not exist: refusals come first. */
const ROUTES: [method: string, path: string, permission: Permission, body?: unknown][] = [
  ['POST', '/bundles', 'deploy', { code: 'x' }],
  ['GET', '/versions', 'read'],
  ['POST', '/routes', 'deploy', { target: 'all', version: 'v1' }],
  ['DELETE', '/versions/v1', 'deploy'],
  ['POST', '/workflows', 'operate', { type: 'approval', workflowId: 'w1' }],
  ['GET', '/workflows', 'read'],
  ['GET', '/workflow-count', 'read'],
  ['GET', '/workflows/w1', 'read'],
  ['GET', '/workflows/w1/history', 'read'],
  ['GET', '/workflows/w1/events', 'read'],
  ['GET', '/events', 'read'],
  ['GET', '/workflows/w1/inspect?at=1', 'read'],
  ['GET', '/workflows/w1/timeline', 'read'],
  ['GET', '/workflows/w1/result', 'read'],
  ['POST', '/workflows/w1/signals/approve', 'operate', {}],
  ['POST', '/workflows/w1/queries/status', 'read', {}],
  ['POST', '/workflows/w1/updates/setLimit', 'operate', {}],
  ['GET', '/workflows/w1/updates/u1', 'read'],
  ['POST', '/workflows/w1/update-with-start', 'operate', { type: 'approval', update: 'setLimit' }],
  ['POST', '/workflows/w1/cancel', 'operate', {}],
  ['POST', '/workflows/w1/terminate', 'operate', {}],
  ['POST', '/workflows/w1/upgrade', 'operate', {}],
  ['POST', '/workflows/w1/reset', 'operate', { toEvent: 3 }],
  ['POST', '/workflows/w1/replay', 'deploy', { code: 'x' }],
  ['POST', '/workflows/w1/signal-with-start', 'operate', { type: 'approval', signal: 'approve' }],
  ['POST', '/activities/complete', 'worker', { taskToken: 'x' }],
  ['POST', '/activities/fail', 'worker', { taskToken: 'x' }],
  ['POST', '/activities/heartbeat', 'worker', { taskToken: 'x' }],
  ['POST', '/activities/report-cancellation', 'worker', { taskToken: 'x' }],
  ['POST', '/task-queues/q1/activity-tasks/poll', 'worker', { identity: 'w1', waitMs: 0 }],
  ['GET', '/task-queues/q1', 'read'],
  ['POST', '/schedules', 'operate', { scheduleId: 's1', spec: { cron: '0 3 * * *' }, action: { workflowType: 'approval' } }],
  ['GET', '/schedules', 'read'],
  ['GET', '/schedules/s1', 'read'],
  ['POST', '/schedules/s1/update', 'operate', {}],
  ['POST', '/schedules/s1/pause', 'operate', {}],
  ['POST', '/schedules/s1/resume', 'operate', {}],
  ['POST', '/schedules/s1/trigger', 'operate', {}],
  ['POST', '/schedules/s1/backfill', 'operate', {}],
  ['DELETE', '/schedules/s1', 'operate'],
];

const GRANTED: Record<Exclude<Role, 'admin'>, Permission[]> = { deploy: ['read', 'deploy'], operate: ['read', 'operate'], read: ['read'], worker: ['worker'] };

let engine: Engine;
let app: Hono<AuthEnv>;
const keys: Record<string, string> = {};

const request = (method: string, path: string, key?: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

beforeEach(async () => {
  engine = await openEngine();
  app = createApp(engine);
  await engine.namespaces.create('acme', { description: 'the first tenant' });
  await engine.namespaces.create('globex');
  keys.admin = (await engine.apiKeys.create({ role: 'admin' })).key;
  for (const role of ['deploy', 'operate', 'read', 'worker'] as const) keys[role] = (await engine.apiKeys.create({ role, namespace: 'acme' })).key;
  keys.globex = (await engine.apiKeys.create({ role: 'operate', namespace: 'globex' })).key;
  const revoked = await engine.apiKeys.create({ role: 'operate', namespace: 'acme' });
  await engine.apiKeys.revoke(revoked.id);
  keys.revoked = revoked.key;
});

describe('credentials and roles', () => {
  it('guard every namespaced route (the table above lists them all)', () => {
    const registered = app.routes.filter((route) => route.path.startsWith('/v1/namespaces/:ns/') && route.method !== 'ALL').map((route) => `${route.method} ${route.path}`);
    const listed = ROUTES.map(([method, route]) => `${method} /v1/namespaces/:ns${route.replace(/\?.*$/, '').replace('/w1', '/:id').replace('/s1', '/:sid').replace('/u1', '/:updateId').replace('/versions/v1', '/versions/:version').replace('/task-queues/q1', '/task-queues/:tq').replace(/\/(signals|queries|updates)\/(?!:)\w+$/, '/$1/:name')}`);
    expect(new Set(registered)).toEqual(new Set(listed));
  });

  it('refuse every route without a credential, with a revoked key, from another namespace and for a role without the right, recording nothing', async () => {
    // What the requests would change, were they let through: a bundle to start runs of.
    await engine.deploy({ code: await fixtureBundle(), namespace: 'acme' });
    // The id is hex; the secret is base64url and may hold '_' itself (even last).
    const wrongSecret = `aion_${keys.operate.split('_')[1]}_${'A'.repeat(32)}`;
    for (const [method, route, permission, body] of ROUTES) {
      const path = `/v1/namespaces/acme${route}`;
      const what = `${method} ${route}`;
      expect((await request(method, path, undefined, body)).status, `${what} without credentials`).toBe(401);
      expect((await request(method, path, keys.revoked, body)).status, `${what} with a revoked key`).toBe(401);
      expect((await request(method, path, 'aion_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', body)).status, `${what} with a forged key`).toBe(401);
      expect((await request(method, path, wrongSecret, body)).status, `${what} with a real key id and a wrong secret`).toBe(401);
      const foreign = await request(method, path, keys.globex, body);
      expect([foreign.status, await errorOf(foreign)], `${what} with another namespace's key`).toEqual([404, { code: 'NOT_FOUND', message: 'namespace acme not found' }]);
      for (const [role, granted] of Object.entries(GRANTED)) {
        if (granted.includes(permission)) continue;
        const refused = await request(method, path, keys[role], body);
        expect(refused.status, `${what} with a ${role} key`).toBe(403);
        const action = permission === 'worker' ? 'poll or complete activity tasks' : permission;
        expect((await errorOf(refused)).message).toBe(`${role === 'operate' ? 'an' : 'a'} ${role} key may not ${action} in namespace acme`);
      }
    }
    // Nothing of the refused requests was recorded; the same start and schedule, allowed, are.
    expect(await engine.list({ namespace: 'acme' })).toEqual([]);
    expect(await engine.schedules.list({ namespace: 'acme' })).toEqual([]);
    expect(await engine.audit.list({ namespace: 'acme' })).toEqual([]);
    expect((await request('POST', '/v1/namespaces/acme/workflows', keys.operate, { type: 'approval', workflowId: 'w1' })).status).toBe(201);
    expect((await request('POST', '/v1/namespaces/acme/schedules', keys.operate, ROUTES.find(([, route]) => route === '/schedules')![3])).status).toBe(201);
    await engine.getHandle('w1', undefined, { namespace: 'acme' }).terminate();
    await engine.schedules.delete('s1', { namespace: 'acme' });
  });

  it('let each role do what it grants, and audit the changes with who made them', async () => {
    const deployed = await request('POST', '/v1/namespaces/acme/bundles', keys.deploy, { code: await fixtureBundle() });
    expect(deployed.status).toBe(201);
    const { version } = (await deployed.json()) as { version: string };
    expect((await request('POST', '/v1/namespaces/acme/workflows', keys.operate, { type: 'approval', workflowId: 'w1' })).status).toBe(201);
    expect((await request('POST', '/v1/namespaces/acme/workflows/w1/signals/approve', keys.operate, { args: ['ann'] })).status).toBe(202);
    expect((await request('GET', '/v1/namespaces/acme/workflows/w1', keys.read)).status).toBe(200);
    expect((await request('GET', '/v1/namespaces/acme/workflows/w1', keys.admin)).status).toBe(200);
    const entries = await engine.audit.list({ namespace: 'acme' });
    const keyId = (key: string) => `key:${key.split('_')[1]}`;
    expect(entries.map(({ actor, action, target }) => ({ actor, action, target }))).toEqual([
      { actor: keyId(keys.operate), action: 'signal', target: 'w1' },
      { actor: keyId(keys.operate), action: 'start', target: 'w1' },
      { actor: keyId(keys.deploy), action: 'deploy', target: version },
    ]);
  });

  it("hide one namespace's runs, bundles and schedules from another: the same answer as for what does not exist", async () => {
    await engine.deploy({ code: await fixtureBundle(), namespace: 'acme' });
    await engine.start('approval', { workflowId: 'secret', namespace: 'acme' });
    await engine.schedules.create({ scheduleId: 'nightly', namespace: 'acme', spec: { cron: '0 3 * * *' }, action: { workflowType: 'approval' } });
    const asked = await request('GET', '/v1/namespaces/acme/workflows/secret', keys.globex);
    const unknown = await request('GET', '/v1/namespaces/nowhere/workflows/secret', keys.globex);
    expect([asked.status, await errorOf(asked)]).toEqual([unknown.status, { code: 'NOT_FOUND', message: 'namespace acme not found' }]);
    expect(await errorOf(unknown)).toEqual({ code: 'NOT_FOUND', message: 'namespace nowhere not found' });
    // In its own namespace, the other's run, bundle and schedule do not exist.
    expect((await request('GET', '/v1/namespaces/globex/workflows/secret', keys.globex)).status).toBe(404);
    expect(((await (await request('GET', '/v1/namespaces/globex/workflows', keys.globex)).json()) as { workflows: unknown[] }).workflows).toEqual([]);
    expect(((await (await request('GET', '/v1/namespaces/globex/schedules', keys.globex)).json()) as { schedules: unknown[] }).schedules).toEqual([]);
    expect((await request('POST', '/v1/namespaces/globex/workflows', keys.globex, { type: 'approval' })).status).toBe(400);
    await engine.getHandle('secret', undefined, { namespace: 'acme' }).terminate();
    await engine.schedules.delete('nightly', { namespace: 'acme' });
  });
});

describe('event streams', () => {
  it('end an open stream once its key is revoked', async () => {
    const watching = createApp(engine, { credentialRecheckMs: 20 });
    const { key, id } = await engine.apiKeys.create({ role: 'read', namespace: 'acme' });
    const response = await watching.request('/v1/namespaces/acme/events', { headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const text = (async () => {
      let all = '';
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) all += new TextDecoder().decode(chunk.value);
      return all;
    })();
    await engine.apiKeys.revoke(id);
    expect(await text).toMatch(/event: error\ndata: \{"message":"the credential was revoked or expired, or the namespace deleted"\}/);
  });
});

describe('keys and namespaces', () => {
  it('show a key once, keep no secret, and refuse it once revoked', async () => {
    const created = (await (await request('POST', '/v1/keys', keys.admin, { role: 'read', namespace: 'acme', description: 'dashboards' })).json()) as { id: string; key: string };
    expect(created.key).toMatch(/^aion_[0-9a-f]{16}_[A-Za-z0-9_-]{32}$/);
    expect((await request('GET', '/v1/namespaces/acme/workflows', created.key)).status).toBe(200);
    const listed = JSON.stringify(await (await request('GET', '/v1/keys?namespace=acme', keys.admin)).json());
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.key.replace(/^aion_[0-9a-f]{16}_/, ''));
    expect((await request('POST', `/v1/keys/${created.id}/revoke`, keys.admin)).status).toBe(200);
    expect((await request('GET', '/v1/namespaces/acme/workflows', created.key)).status).toBe(401);
    // Only an admin manages keys and namespaces; a namespace's key may describe its own namespace.
    expect((await request('POST', '/v1/keys', keys.operate, { role: 'operate', namespace: 'acme' })).status).toBe(403);
    expect((await request('GET', '/v1/namespaces', keys.read)).status).toBe(403);
    expect((await request('GET', '/v1/namespaces/acme', keys.read)).status).toBe(200);
    expect((await request('GET', '/v1/namespaces/globex', keys.read)).status).toBe(404);
    expect((await request('GET', '/v1/audit', keys.operate)).status).toBe(403);
    const audit = (await (await request('GET', '/v1/audit?namespace=acme', keys.admin)).json()) as { entries: { action: string; target: string }[] };
    expect(audit.entries.map((entry) => entry.action)).toEqual(['key.revoke', 'key.create']);
    // Across namespaces (and the server's own, `*`), newest first.
    await request('POST', '/v1/keys', keys.admin, { role: 'admin' });
    const all = (await (await request('GET', '/v1/audit', keys.admin)).json()) as { entries: { namespace: string; action: string }[] };
    expect(all.entries.map((entry) => `${entry.namespace} ${entry.action}`)).toEqual(['* key.create', 'acme key.revoke', 'acme key.create']);
  });

  it('create, describe, update and delete namespaces; refuse a bad name, a duplicate, and deleting one in use', async () => {
    const admin = (method: string, path: string, body?: unknown) => request(method, path, keys.admin, body);
    expect((await admin('POST', '/v1/namespaces', { name: 'initech', description: 'reports' })).status).toBe(201);
    expect(await errorOf(await admin('POST', '/v1/namespaces', { name: 'initech' }))).toEqual({ code: 'ALREADY_EXISTS', message: 'namespace initech already exists' });
    expect((await errorOf(await admin('POST', '/v1/namespaces', { name: '../etc' }))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(await admin('POST', '/v1/namespaces', { name: 'x', quota: 1 }))).message).toMatch(/quota/);
    expect(await (await admin('PUT', '/v1/namespaces/initech', { description: 'all reports' })).json()).toMatchObject({ name: 'initech', description: 'all reports' });
    const names = ((await (await admin('GET', '/v1/namespaces')).json()) as { namespaces: { name: string }[] }).namespaces.map((ns) => ns.name);
    expect(names).toEqual(['default', 'acme', 'globex', 'initech']);
    await engine.deploy({ code: await fixtureBundle(), namespace: 'initech' });
    const run = await engine.start('approval', { namespace: 'initech' });
    expect(await errorOf(await admin('DELETE', '/v1/namespaces/initech'))).toEqual({ code: 'FAILED_PRECONDITION', message: 'namespace initech still has 1 running run: terminate or delete them first' });
    await run.terminate();
    const initechKey = (await engine.apiKeys.create({ role: 'read', namespace: 'initech' })).key;
    expect((await admin('DELETE', '/v1/namespaces/initech')).status).toBe(200);
    expect((await admin('GET', '/v1/namespaces/initech/workflows')).status).toBe(404);
    // Its keys went with it, and its name stays taken while its runs are stored.
    expect((await request('GET', '/v1/namespaces/initech', initechKey)).status).toBe(401);
    expect(await errorOf(await admin('POST', '/v1/namespaces', { name: 'initech' }))).toEqual({ code: 'FAILED_PRECONDITION', message: 'a deleted namespace initech left 1 run stored: choose another name' });
    expect((await errorOf(await admin('DELETE', '/v1/namespaces/default'))).message).toBe('the default namespace cannot be deleted');
  });

  it('keep metrics for admins once credentials are required, and refuse a proxy in front of a server without them', async () => {
    expect((await request('GET', '/metrics')).status).toBe(401);
    expect((await request('GET', '/metrics', keys.read)).status).toBe(403);
    expect((await request('GET', '/metrics', keys.admin)).status).toBe(200);
    const keyless = createApp(await openEngine());
    expect((await keyless.request('/v1/namespaces/default/workflows')).status).toBe(200);
    const forwarded = await keyless.request('/v1/namespaces/default/workflows', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect([forwarded.status, (await errorOf(forwarded)).message]).toEqual([401, expect.stringMatching(/answers only its own machine/)]);
  });

  it('register, on first open, the namespaces and versions a store from before the registry uses, keeping what is registered', async () => {
    const store = await openMemoryStore<HistoryEvent>();
    const first = await EngineClass.open({ logger: silentLogger, store });
    const { version } = await first.deploy({ code: await fixtureBundle(), namespace: 'legacy' });
    await (await first.start('approval', { namespace: 'legacy' })).terminate();
    await first.deploy({ code: await fixtureBundle() }); // routed in default, no run there
    await first.namespaces.create('kept', { description: 'made by hand' });
    await first.close();
    // As a store written before the registry: no records of legacy's namespace or of versions, no mark.
    const versions = await store.listControl('version');
    await store.write({ control: { delete: [{ kind: 'namespace', id: 'legacy' }, ...versions.map(({ kind, id }) => ({ kind, id })), { kind: 'migration', id: 'stored-runs-registered' }] } });
    const second = await EngineClass.open({ logger: silentLogger, store });
    try {
      expect((await second.namespaces.list()).map((ns) => [ns.name, ns.description])).toEqual([
        ['default', 'the namespace of requests that name none'],
        ['kept', 'made by hand'],
        ['legacy', 'registered with the runs it held'],
      ]);
      expect((await second.versions({ namespace: 'legacy' })).map((v) => v.version)).toEqual([version]);
      expect(await second.versions()).toEqual([expect.objectContaining({ version, routedTypes: expect.arrayContaining(['approval']) })]);
    } finally {
      await second.close();
      await store.close();
    }
  });

  it('refuse to serve beyond loopback while no credential is required', async () => {
    const open = await openEngine();
    await expect(serveEngine(open, { hostname: '0.0.0.0', port: 0 })).rejects.toThrow(/refusing to serve on 0\.0\.0\.0 without authentication/);
    await open.apiKeys.create({ role: 'admin' });
    const server = await serveEngine(open, { hostname: '0.0.0.0', port: 0 });
    const response = await fetch(`${server.url.replace('0.0.0.0', '127.0.0.1')}/v1/namespaces/default/workflows`);
    expect(response.status).toBe(401);
    await server.close();
  });
});

describe('JWT bearer tokens from an identity provider', () => {
  it('accept a signed token whose claims name a role and namespace; refuse a bad signature, no or a past expiry, another issuer or audience, a missing or contradictory claim', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const { privateKey: strangerKey } = await generateKeyPair('RS256');
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
    const idp = createServer((_, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)));
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    try {
      const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`;
      const jwtApp = createApp(engine, { jwt: { jwksUrl, issuer: 'https://idp.example', audience: 'aion' } });
      const sign = (claims: Record<string, unknown>, options: { key?: CryptoKey; issuer?: string; expires?: string } = {}) =>
        new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('ann@example.com').setIssuer(options.issuer ?? 'https://idp.example').setAudience('aion').setIssuedAt().setExpirationTime(options.expires ?? '5m').sign(options.key ?? privateKey);
      const call = async (token: string, path = '/v1/namespaces/acme/workflows') => {
        const response = await jwtApp.request(path, { headers: { authorization: `Bearer ${token}` } });
        return { status: response.status, message: response.ok ? '' : (await errorOf(response)).message };
      };
      expect(await call(await sign({ aion_role: 'read', aion_namespace: 'acme' }))).toEqual({ status: 200, message: '' });
      expect(await call(await sign({ aion_role: 'read', aion_namespace: 'globex' }))).toEqual({ status: 404, message: 'namespace acme not found' });
      expect(await call(await sign({ aion_role: 'admin' }), '/v1/namespaces')).toMatchObject({ status: 200 });
      expect(await call(await sign({ aion_role: 'read', aion_namespace: 'acme' }, { key: strangerKey }))).toMatchObject({ status: 401, message: expect.stringMatching(/^invalid JWT: signature verification failed/) });
      expect(await call(await sign({ aion_role: 'read', aion_namespace: 'acme' }, { expires: '-1m' }))).toMatchObject({ status: 401, message: expect.stringMatching(/^invalid JWT: .*exp/) });
      expect(await call(await sign({ aion_role: 'read', aion_namespace: 'acme' }, { issuer: 'https://elsewhere' }))).toMatchObject({ status: 401, message: expect.stringMatching(/^invalid JWT: .*iss/) });
      expect(await call(await sign({ aion_namespace: 'acme' }))).toEqual({ status: 401, message: "the JWT's aion_role claim must be one of admin, deploy, operate, read, worker" });
      expect(await call(await sign({ aion_role: 'operate' }))).toEqual({ status: 401, message: "the JWT's aion_namespace claim must name the namespace the token acts in (role operate)" });
      expect(await call(await sign({ aion_role: 'admin', aion_namespace: 'acme' }), '/v1/namespaces')).toEqual({ status: 401, message: 'an admin JWT acts in every namespace: it must not carry aion_namespace' });
      const timeless = await new SignJWT({ aion_role: 'read', aion_namespace: 'acme' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://idp.example').setAudience('aion').sign(privateKey);
      expect(await call(timeless)).toMatchObject({ status: 401, message: expect.stringMatching(/^invalid JWT: .*exp/) });
      const otherApp = await new SignJWT({ aion_role: 'read', aion_namespace: 'acme' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://idp.example').setAudience('wiki').setExpirationTime('5m').sign(privateKey);
      expect(await call(otherApp)).toMatchObject({ status: 401, message: expect.stringMatching(/^invalid JWT: .*aud/) });
      expect(() => createApp(engine, { jwt: { jwksUrl: 'http://idp.example/jwks.json', audience: 'aion' } })).toThrow(/the JWKS must be fetched over https/);
      // A token's changes are audited under its subject.
      await engine.deploy({ code: await fixtureBundle(), namespace: 'acme' });
      const operator = await sign({ aion_role: 'operate', aion_namespace: 'acme' });
      expect((await jwtApp.request('/v1/namespaces/acme/workflows', { method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'approval', workflowId: 'by-jwt' }) })).status).toBe(201);
      expect(await engine.audit.list({ namespace: 'acme' })).toEqual([expect.objectContaining({ actor: 'jwt:ann@example.com', action: 'start', target: 'by-jwt' })]);
      await engine.getHandle('by-jwt', undefined, { namespace: 'acme' }).terminate();
    } finally {
      await new Promise((resolve) => idp.close(resolve));
    }
  });
});

describe('quotas', () => {
  const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('refuse a start past the running runs or the start rate, naming the quota and its value, recording nothing', async () => {
    await engine.namespaces.update('acme', { quotas: { maxRunningRuns: 2, startsPerSecond: 0.001, startBurst: 3 } });
    await engine.deploy({ code: await fixtureBundle(), namespace: 'acme' });
    const start = (workflowId: string) => app.request('/v1/namespaces/acme/workflows', { ...json({ type: 'approval', workflowId }), headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.operate}` } });
    expect((await start('q1')).status).toBe(201);
    expect((await start('q2')).status).toBe(201);
    const full = await start('q3');
    expect([full.status, await errorOf(full)]).toEqual([409, { code: 'FAILED_PRECONDITION', message: 'namespace acme is at its quota maxRunningRuns = 2: 2 runs are running' }]);
    await engine.getHandle('q1', undefined, { namespace: 'acme' }).terminate();
    expect((await start('q4')).status).toBe(201); // the third start of the burst
    await engine.getHandle('q2', undefined, { namespace: 'acme' }).terminate();
    const limited = await start('q5');
    expect(limited.status).toBe(429);
    expect((await errorOf(limited)).message).toMatch(/^namespace acme is at its quota startsPerSecond = 0\.001: retry in \d+ ms$/);
    // Nothing was recorded for the refused starts; signal-with-start is held to the same quotas.
    expect((await engine.list({ namespace: 'acme' })).map((run) => run.workflowId).sort()).toEqual(['q1', 'q2', 'q4']);
    await expect(engine.signalWithStart('approval', { workflowId: 'q6', signal: 'approve', namespace: 'acme' })).rejects.toThrow(/quota startsPerSecond/);
    await engine.getHandle('q4', undefined, { namespace: 'acme' }).terminate();
  });

  it('refuse a deploy past the bundle size or the versions kept', async () => {
    await engine.namespaces.update('acme', { quotas: { maxBundleBytes: 1_000_000, maxVersions: 1 } });
    const code = await fixtureBundle();
    await engine.deploy({ code, namespace: 'acme' });
    await engine.deploy({ code, namespace: 'acme' }); // the same version again: nothing new kept
    await expect(engine.deploy({ code: await fixtureBundle('queried.ts'), namespace: 'acme' })).rejects.toThrow('namespace acme is at its quota maxVersions = 1: it keeps 1 versions: unload one first (aion unload)');
    await engine.namespaces.update('acme', { quotas: { maxBundleBytes: 100 } });
    await expect(engine.deploy({ code, namespace: 'acme' })).rejects.toThrow(/^namespace acme is at its quota maxBundleBytes = 100: the bundle is \d+ bytes$/);
  });

  it('refuse a payload past maxPayloadBytes with 409, naming the quota, recording nothing', async () => {
    await engine.namespaces.update('acme', { quotas: { maxPayloadBytes: 100 } });
    await engine.deploy({ code: await fixtureBundle(), namespace: 'acme' });
    const started = await app.request('/v1/namespaces/acme/workflows', { ...json({ type: 'greet', workflowId: 'p1', args: ['x'.repeat(200)] }), headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.operate}` } });
    expect([started.status, await errorOf(started)]).toEqual([409, { code: 'FAILED_PRECONDITION', message: 'namespace acme is at its quota maxPayloadBytes = 100: args is 204 bytes of JSON' }]);
    expect(await engine.list({ namespace: 'acme' })).toEqual([]);
  });

  it('take only known quotas with positive values, and show them', async () => {
    const admin = (method: string, path: string, body?: unknown) => request(method, path, keys.admin, body);
    expect((await errorOf(await admin('PUT', '/v1/namespaces/acme', { quotas: { maxRuns: 1 } }))).message).toMatch(/maxRuns/);
    expect((await errorOf(await admin('PUT', '/v1/namespaces/acme', { quotas: { maxRunningRuns: 1.5 } }))).message).toBe('quota maxRunningRuns must be a positive integer, got 1.5');
    expect(await (await admin('PUT', '/v1/namespaces/acme', { quotas: { maxRunningRuns: 10, startsPerSecond: 2.5 } })).json()).toMatchObject({ quotas: { maxRunningRuns: 10, startsPerSecond: 2.5 } });
    expect((await engine.audit.list({ namespace: 'acme' })).map((entry) => entry.action)).toEqual(['namespace.update']);
  });
});
