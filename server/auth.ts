/**
 * Who may call what. `authenticate` turns the request's bearer credential into a principal
 * (401 if it has none that holds); `authorize(permission)` guards each route: the principal
 * must act in the route's namespace (one of another namespace is answered as if the namespace
 * did not exist: 404), the namespace must exist (404), and the principal's role must grant the
 * permission (403). A request refused here records nothing; each refusal is logged. A
 * guarded change that succeeded is written to the namespace's audit log.
 *
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { NamespaceNotFoundError, type Engine, type Logger, type Role } from '../engine/index.js';
import { HttpError } from './errors.js';
import { jwtVerifier, looksLikeJwt, type JwtOptions } from './jwt.js';

/** What a route needs: `admin` routes manage the server (namespaces, keys, the audit). */
export type Permission = 'read' | 'operate' | 'deploy' | 'worker' | 'admin';

/** What each permission allows, as a refusal names it ("a read key may not poll activity tasks"). */
const DENIED_ACTION: Record<Permission, string> = { read: 'read', operate: 'operate', deploy: 'deploy', worker: 'poll or complete activity tasks', admin: 'manage the server' };

const GRANTS: Record<Role, readonly Permission[]> = {
  admin: ['read', 'operate', 'deploy', 'worker', 'admin'],
  deploy: ['read', 'deploy'],
  operate: ['read', 'operate'],
  read: ['read'],
  worker: ['worker'],
};

export interface Principal {
  /** For logs and the audit: `key:<id>`, `token`, or `local` (auth not configured). */
  actor: string;
  role: Role;
  /** The one namespace it acts in; absent: every namespace. */
  namespace?: string;
  /** When the credential stops being valid (a JWT's `exp`), in epoch ms. */
  expiresAt?: number;
}

export interface AuthOptions {
  /** A static bearer token with every right (`aion server --token`). */
  token?: string;
  /** Require a credential on every request even while no API key exists yet. */
  requireAuth?: boolean;
  /** Also accept JWTs of this identity provider (docs/hosting.md). */
  jwt?: JwtOptions;
}

/** `auditNamespace`: set by routes whose namespace is in the body, not the path (keys, namespaces); `forwarded`: the request was answered by another engine of the cluster. */
export type AuthEnv = { Variables: { principal: Principal; auditNamespace?: string; credential?: string; forwarded?: true } };

const LOCAL: Principal = { actor: 'local', role: 'admin' };

/** Whether requests must carry a credential: a token or `requireAuth` given, or an API key ever created (then for good). */
export function authRequirement(engine: Engine, options: AuthOptions): () => Promise<boolean> {
  let required = options.token !== undefined || options.requireAuth === true || options.jwt !== undefined;
  return async () => (required ||= await engine.apiKeys.any());
}

export function authenticate(engine: Engine, options: AuthOptions, logger: Logger | undefined): MiddlewareHandler<AuthEnv> {
  const token = options.token === undefined ? undefined : Buffer.from(options.token);
  const required = authRequirement(engine, options);
  const verifyJwt = options.jwt && jwtVerifier(options.jwt);
  return async function authenticateRequest(c, next) {
    const header = c.req.header('authorization');
    const bearer = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    let principal: Principal | undefined;
    let refusal: string | undefined;
    if (bearer !== undefined && token !== undefined && isToken(bearer, token)) principal = { actor: 'token', role: 'admin' };
    else if (bearer !== undefined && verifyJwt && looksLikeJwt(bearer)) {
      const verified = await verifyJwt(bearer);
      if ('refused' in verified) refusal = verified.refused;
      else principal = verified;
    } else if (bearer !== undefined) {
      const key = await engine.apiKeys.verify(bearer);
      if (key) principal = { actor: `key:${key.id}`, role: key.role, ...(key.namespace !== undefined ? { namespace: key.namespace } : {}) };
    }
    if (principal && bearer !== undefined) c.set('credential', bearer);
    if (!principal && !(await required())) {
      // Without credentials the API is for this machine only: not for what a proxy forwards.
      if (c.req.header('forwarded') !== undefined || c.req.header('x-forwarded-for') !== undefined) {
        logger?.warn({ method: c.req.method, path: c.req.path }, 'request refused: forwarded to a server without credentials');
        throw new HttpError(401, 'UNAUTHENTICATED', 'this server has no credentials configured and answers only its own machine, not requests forwarded by a proxy (docs/hosting.md)');
      }
      principal = LOCAL;
    }
    if (!principal) {
      const reason = refusal ?? (bearer === undefined ? 'missing bearer credential (Authorization: Bearer <API key>)' : 'unknown or revoked API key, or wrong token');
      const keyId = bearer === undefined ? undefined : /^aion_([0-9a-f]{16})_/.exec(bearer)?.[1];
      logger?.warn({ method: c.req.method, path: c.req.path, reason, ...(keyId ? { keyId } : {}) }, 'request refused');
      throw new HttpError(401, 'UNAUTHENTICATED', reason);
    }
    c.set('principal', principal);
    await next();
  };
}

/**
 * Whether what authorised a request still holds — for a request that lasts (an event stream):
 * an API key not revoked since, a JWT not expired, its namespace still there.
 */
export async function stillAuthorized(engine: Engine, c: Context<AuthEnv>): Promise<boolean> {
  const principal = c.get('principal');
  if (principal.expiresAt !== undefined && Date.now() >= principal.expiresAt) return false;
  const namespace = c.req.param('ns');
  if (namespace !== undefined && !(await engine.namespaces.exists(namespace))) return false;
  const credential = c.get('credential');
  return !principal.actor.startsWith('key:') || (credential !== undefined && (await engine.apiKeys.verify(credential)) !== undefined);
}

/** Constant time over the token's length. */
function isToken(given: string, token: Buffer): boolean {
  const bytes = Buffer.from(given);
  return bytes.length === token.length && timingSafeEqual(bytes, token);
}

export interface Authorizer {
  /** Guards a route: the principal may `permission` in the route's namespace; a success is audited as `action` if given. */
  (permission: Permission, action?: string): MiddlewareHandler<AuthEnv>;
}

export function authorizer(engine: Engine, logger: Logger | undefined): Authorizer {
  const refuse = (c: Context<AuthEnv>, error: Error): never => {
    logger?.warn({ actor: c.get('principal').actor, method: c.req.method, path: c.req.path, reason: error.message }, 'request refused');
    throw error;
  };
  return (permission, action) =>
    async function authorizeRequest(c, next) {
      const principal = c.get('principal');
      const namespace = c.req.param('ns');
      if (namespace !== undefined) {
        if (principal.namespace !== undefined && principal.namespace !== namespace) refuse(c, new NamespaceNotFoundError(namespace));
        if (!(await engine.namespaces.exists(namespace))) refuse(c, new NamespaceNotFoundError(namespace));
      }
      if (!GRANTS[principal.role].includes(permission)) {
        const where = principal.namespace !== undefined ? ` in namespace ${principal.namespace}` : '';
        refuse(c, new HttpError(403, 'PERMISSION_DENIED', `${withArticle(principal.role)} key may not ${DENIED_ACTION[permission]}${where}`));
      }
      await next();
      // A change another engine of the cluster made (the request was forwarded there) is audited there.
      if (action !== undefined && c.res.status < 400 && !c.get('forwarded')) {
        const entry = { namespace: namespace ?? c.get('auditNamespace') ?? '*', actor: principal.actor, action, ...(await targetOf(c)) };
        // The change is made and answered: a failed audit write is the operator's to see, not the caller's to retry.
        await engine.audit.record(entry).catch((error: unknown) => logger?.error({ err: error, ...entry }, 'could not write the audit entry of a change'));
      }
    };
}

const withArticle = (role: Role): string => `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`;

/** What a change acted on: the route's workflow, schedule, key or version, or the version a deploy or route named. */
async function targetOf(c: Context<AuthEnv>): Promise<{ target?: string }> {
  const target = c.req.param('id') ?? c.req.param('sid') ?? c.req.param('keyId') ?? c.req.param('version');
  if (target !== undefined) return { target };
  const body = (await c.res.clone().json().catch(() => undefined)) as { version?: unknown; id?: unknown; name?: unknown; workflowId?: unknown } | undefined;
  const value = body?.workflowId ?? body?.version ?? body?.id ?? body?.name;
  return typeof value === 'string' ? { target: value } : {};
}
