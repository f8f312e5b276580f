/**
 * JWT bearer tokens from a site's identity provider, verified against its JWKS (`jose`): the
 * signature, expiry, and the issuer and audience when configured. Two claims say what the
 * token may do: `aion_role` (a role of the API keys) and `aion_namespace` (the namespace it
 * acts in; none for `admin`).
 *
 * @module
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { ROLES, type Role } from '../engine/index.js';
import type { Principal } from './auth.js';

export interface JwtOptions {
  /** The identity provider's JWKS (`https://idp.example/.well-known/jwks.json`). */
  jwksUrl: string;
  issuer?: string;
  audience?: string;
}

export const ROLE_CLAIM = 'aion_role';
export const NAMESPACE_CLAIM = 'aion_namespace';

/** A compact JWS: three base64url parts. */
export const looksLikeJwt = (bearer: string): boolean => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(bearer);

/** Verifies a token: its principal, or why it is refused. */
export function jwtVerifier(options: JwtOptions): (token: string) => Promise<Principal | { refused: string }> {
  const keys = createRemoteJWKSet(new URL(options.jwksUrl));
  return async (token) => {
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, { ...(options.issuer ? { issuer: options.issuer } : {}), ...(options.audience ? { audience: options.audience } : {}) }));
    } catch (error) {
      return { refused: `invalid JWT: ${(error as Error).message}` };
    }
    const role = claims[ROLE_CLAIM];
    const namespace = claims[NAMESPACE_CLAIM];
    if (typeof role !== 'string' || !ROLES.includes(role as Role)) return { refused: `the JWT's ${ROLE_CLAIM} claim must be one of ${ROLES.join(', ')}` };
    if (role !== 'admin' && typeof namespace !== 'string') return { refused: `the JWT's ${NAMESPACE_CLAIM} claim must name the namespace the token acts in (role ${role})` };
    return { actor: `jwt:${typeof claims.sub === 'string' ? claims.sub : 'unknown'}`, role: role as Role, ...(role !== 'admin' ? { namespace: namespace as string } : {}) };
  };
}
