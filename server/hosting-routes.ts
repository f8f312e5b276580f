/**
 * The HTTP routes that manage the server itself: namespaces, API keys and the audit log
 * (docs/hosting.md). Admin keys only, but for a namespace describing itself.
 *
 * @module
 */
import type { Context, Hono } from 'hono';
import type { Engine, NamespaceSettings, Role } from '../engine/index.js';
import type { AuthEnv, Authorizer } from './auth.js';
import { HttpError } from './errors.js';
import { jsonBody } from './json-body.js';

export function mountHostingRoutes(app: Hono<AuthEnv>, engine: Engine, guard: Authorizer): void {
  const name = (c: Context<AuthEnv>) => c.req.param('ns')!;
  /** Audit entries of routes whose namespace is in the body go to that namespace. */
  const auditIn = (c: Context<AuthEnv>, namespace: string | undefined) => c.set('auditNamespace', namespace ?? '*');

  app.get('/v1/namespaces', guard('admin'), async (c) => c.json({ namespaces: await engine.namespaces.list() }));
  app.post('/v1/namespaces', guard('admin', 'namespace.create'), async (c) => {
    const { name: namespace, ...settings } = await jsonBody<{ name?: unknown } & NamespaceSettings>(c);
    auditIn(c, typeof namespace === 'string' ? namespace : undefined);
    return c.json(await engine.namespaces.create(namespace as string, settings), 201);
  });
  app.get('/v1/namespaces/:ns', guard('read'), async (c) => c.json(await engine.namespaces.describe(name(c))));
  app.put('/v1/namespaces/:ns', guard('admin', 'namespace.update'), async (c) => c.json(await engine.namespaces.update(name(c), await jsonBody<NamespaceSettings>(c))));
  app.delete('/v1/namespaces/:ns', guard('admin', 'namespace.delete'), async (c) => {
    await engine.namespaces.delete(name(c));
    return c.json({});
  });

  app.post('/v1/keys', guard('admin', 'key.create'), async (c) => {
    const body = await jsonBody<{ role?: unknown; namespace?: unknown; description?: unknown }>(c);
    auditIn(c, typeof body.namespace === 'string' ? body.namespace : undefined);
    return c.json(await engine.apiKeys.create(body as { role: Role; namespace?: string; description?: string }), 201);
  });
  app.get('/v1/keys', guard('admin'), async (c) => c.json({ keys: await engine.apiKeys.list(c.req.query('namespace')) }));
  app.post('/v1/keys/:keyId/revoke', guard('admin', 'key.revoke'), async (c) => {
    const key = await engine.apiKeys.describe(c.req.param('keyId'));
    auditIn(c, key.namespace);
    return c.json(await engine.apiKeys.revoke(key.id));
  });

  app.get('/v1/audit', guard('admin'), async (c) => {
    const limit = c.req.query('limit');
    if (limit !== undefined && !/^\d+$/.test(limit)) throw new HttpError(400, 'INVALID_ARGUMENT', 'limit must be a positive integer');
    const namespace = c.req.query('namespace');
    // Without one: every namespace's, and the server's own (`*`: admin keys).
    const scope = namespace !== undefined ? { namespace } : { namespaces: ['*', ...(await engine.namespaces.list()).map((ns) => ns.name)] };
    return c.json({ entries: await engine.audit.list({ ...scope, ...(limit !== undefined ? { limit: Number(limit) } : {}) }) });
  });
}
