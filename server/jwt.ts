/**
 * JWT bearer tokens from a site's identity provider, verified against its JWKS (`jose`): the
 * signature, an expiry the token must have, the audience (required: a token the provider
 * minted for another application is not one for this server), and the issuer when configured.
 * Two claims say what the token may do: `aion_role` (a role of the API keys) and
 * `aion_namespace` (the namespace it acts in; none for `admin`).
 *
 * @module
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { InvalidArgumentError, ROLES, type Role } from '../engine/index.js';
import type { Principal } from './auth.js';
import { isLoopback } from './loopback.js';

export interface JwtOptions {
  /** The identity provider's JWKS (`https://idp.example/.well-known/jwks.json`; plain HTTP only on loopback). */
  jwksUrl: string;
  /** The audience tokens for this server carry (`aud`). */
  audience: string;
  issuer?: string;
}

export const ROLE_CLAIM = 'aion_role';
export const NAMESPACE_CLAIM = 'aion_namespace';

/** A compact JWS: three base64url parts. */
export const looksLikeJwt = (bearer: string): boolean => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(bearer);

/** Verifies a token: its principal, or why it is refused. */
export function jwtVerifier(options: JwtOptions): (token: string) => Promise<Principal | { refused: string }> {
  const url = new URL(options.jwksUrl);
  if (url.protocol !== 'https:' && !isLoopback(url.hostname)) throw new InvalidArgumentError(`the JWKS must be fetched over https (got ${url.protocol}//${url.host})`);
  if (typeof options.audience !== 'string' || options.audience === '') throw new InvalidArgumentError('JWTs need an audience to check (--jwt-audience)');
  const keys = createRemoteJWKSet(url);
  return async (token) => {
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, { audience: options.audience, requiredClaims: ['exp'], ...(options.issuer ? { issuer: options.issuer } : {}) }));
    } catch (error) {
      return { refused: `invalid JWT: ${(error as Error).message}` };
    }
    const role = claims[ROLE_CLAIM];
    const namespace = claims[NAMESPACE_CLAIM];
    if (typeof role !== 'string' || !ROLES.includes(role as Role)) return { refused: `the JWT's ${ROLE_CLAIM} claim must be one of ${ROLES.join(', ')}` };
    if (role !== 'admin' && typeof namespace !== 'string') return { refused: `the JWT's ${NAMESPACE_CLAIM} claim must name the namespace the token acts in (role ${role})` };
    // An admin acts everywhere: a token that names a namespace too was meant for less.
    if (role === 'admin' && namespace !== undefined) return { refused: `an admin JWT acts in every namespace: it must not carry ${NAMESPACE_CLAIM}` };
    return {
      actor: `jwt:${typeof claims.sub === 'string' ? claims.sub : 'unknown'}`,
      role: role as Role,
      ...(role !== 'admin' ? { namespace: namespace as string } : {}),
      expiresAt: (claims.exp as number) * 1000,
    };
  };
}
