/**
 * API keys: credentials for the HTTP API, each for one namespace and one role (or `admin`: the
 * whole server). A key is shown once, when created; the store keeps only a SHA-256 of its
 * secret (a random 192-bit secret needs no slow hash), compared in constant time. Revoking
 * takes effect on the next request: every check reads the key's record.
 *
 * Key format: `aion_<id>_<secret>` — the id (public, in logs and the audit) finds the record.
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ControlRecord, EventStore } from '../../store/types.js';
import { ApiKeyNotFoundError, InvalidArgumentError } from '../errors.js';
import type { HistoryEvent } from '../history/events.js';
import { checkOptionalString, checkOptionKeys } from '../input.js';
import type { Namespaces } from './namespaces.js';

/** `admin`: everything, in every namespace. The others hold in their key's namespace only. */
export const ROLES = ['admin', 'deploy', 'operate', 'read', 'worker'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKeyInfo {
  id: string;
  /** The namespace the key acts in; absent for `admin`. */
  namespace?: string;
  role: Role;
  description?: string;
  createdAt: Date;
  revokedAt?: Date;
}

export interface NewApiKey extends ApiKeyInfo {
  /** The key itself: shown this once, never stored. */
  key: string;
}

interface StoredKey {
  id: string;
  namespace?: string;
  role: Role;
  description?: string;
  /** Hex SHA-256 of the secret. */
  hash: string;
  createdAt: number;
  revokedAt?: number;
}

const KIND = 'api-key';
const FORMAT = /^aion_([0-9a-f]{16})_([A-Za-z0-9_-]{32})$/;

const hashOf = (secret: string): Buffer => createHash('sha256').update(secret).digest();

export class ApiKeys {
  /** Whether a key exists, once read (keys are never deleted, only revoked; made here, or announced by another engine of a cluster). */
  private anyKey: boolean | undefined;

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly namespaces: Namespaces,
    /** Told of a key made (the other engines of a cluster learn that keys exist). */
    private readonly created: () => Promise<void> = async () => undefined,
  ) {}

  /** Another engine may have made the first key: whether one exists is read again. */
  forgetAbsence(): void {
    if (this.anyKey === false) this.anyKey = undefined;
  }

  async create(options: { role: Role; namespace?: string; description?: string }): Promise<NewApiKey> {
    checkOptionKeys(options, ['role', 'namespace', 'description'], 'API key');
    const { role, namespace } = options;
    if (!ROLES.includes(role)) throw new InvalidArgumentError(`role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(role)}`);
    if (role === 'admin' && namespace !== undefined) throw new InvalidArgumentError('an admin key acts in every namespace: give it no namespace');
    if (role !== 'admin') {
      if (namespace === undefined) throw new InvalidArgumentError(`a ${role} key acts in one namespace: give its namespace`);
      await this.namespaces.describe(namespace);
    }
    const description = checkOptionalString(options.description, 'description', 1000);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const record: StoredKey = { id, role, ...(namespace !== undefined ? { namespace } : {}), ...(description !== undefined ? { description } : {}), hash: hashOf(secret).toString('hex'), createdAt: Date.now() };
    await this.store.write({ control: { put: [{ kind: KIND, id, value: record }] } });
    this.anyKey = true;
    await this.created();
    return { ...infoOf(record), key: `aion_${id}_${secret}` };
  }

  /**
   * Registers an admin key chosen elsewhere (a secret from the deployment's vault, given to
   * `aion server` as `AION_ADMIN_KEY`), once: the same key again changes nothing.
   */
  async registerAdminKey(key: string): Promise<ApiKeyInfo> {
    const match = FORMAT.exec(key);
    if (!match) throw new InvalidArgumentError('an API key is aion_<16 hex digits>_<32 base64url characters> (see docs/hosting.md to make one)');
    const [, id, secret] = match;
    const existing = await this.store.getControl(KIND, id);
    if (existing) {
      const record = existing.value as StoredKey;
      if (!timingSafeEqual(hashOf(secret), Buffer.from(record.hash, 'hex'))) throw new InvalidArgumentError(`API key ${id} exists with another secret`);
      return infoOf(record);
    }
    const record: StoredKey = { id, role: 'admin', description: 'registered from AION_ADMIN_KEY', hash: hashOf(secret).toString('hex'), createdAt: Date.now() };
    await this.store.write({ control: { put: [{ kind: KIND, id, value: record }] } });
    this.anyKey = true;
    await this.created();
    return infoOf(record);
  }

  /** Every key (of one namespace, if given), revoked ones too, oldest first. */
  async list(namespace?: string): Promise<ApiKeyInfo[]> {
    const records = (await this.store.listControl(KIND)).map((record) => record.value as StoredKey);
    return records.filter((record) => namespace === undefined || record.namespace === namespace).sort((a, b) => a.createdAt - b.createdAt).map(infoOf);
  }

  async describe(id: string): Promise<ApiKeyInfo> {
    return infoOf(await this.read(id));
  }

  /** Revokes the key (idempotent); requests with it are refused from now on. */
  async revoke(id: string): Promise<ApiKeyInfo> {
    const record = await this.read(id);
    if (record.revokedAt === undefined) {
      record.revokedAt = Date.now();
      await this.store.write({ control: { put: [{ kind: KIND, id, value: record }] } });
    }
    return infoOf(record);
  }

  /** The key's identity if `key` is a live key, undefined otherwise (malformed, unknown, wrong secret, revoked). */
  async verify(key: string): Promise<ApiKeyInfo | undefined> {
    const match = FORMAT.exec(key);
    if (!match) return undefined;
    const stored = await this.store.getControl(KIND, match[1]);
    if (!stored) return undefined;
    const record = stored.value as StoredKey;
    if (!timingSafeEqual(hashOf(match[2]), Buffer.from(record.hash, 'hex')) || record.revokedAt !== undefined) return undefined;
    return infoOf(record);
  }

  /** The records that revoke every live key of `namespace` (for a write that deletes it). */
  async revocationsOf(namespace: string): Promise<ControlRecord[]> {
    const now = Date.now();
    return (await this.store.listControl(KIND))
      .map((record) => record.value as StoredKey)
      .filter((record) => record.namespace === namespace && record.revokedAt === undefined)
      .map((record) => ({ kind: KIND, id: record.id, value: { ...record, revokedAt: now } }));
  }

  /**
   * Whether any key was ever created (a server with keys requires one on every request). Asked
   * on every request of a server without keys: read once, then known (keys are made here).
   */
  async any(): Promise<boolean> {
    if (this.anyKey === undefined) {
      const found = (await this.store.listControl(KIND, { limit: 1 })).length > 0;
      // A key created during the read counts too.
      this.anyKey = this.anyKey === true || found;
    }
    return this.anyKey;
  }

  private async read(id: string): Promise<StoredKey> {
    const stored = typeof id === 'string' ? await this.store.getControl(KIND, id) : undefined;
    if (!stored) throw new ApiKeyNotFoundError(String(id));
    return stored.value as StoredKey;
  }
}

function infoOf({ id, namespace, role, description, createdAt, revokedAt }: StoredKey): ApiKeyInfo {
  return {
    id,
    ...(namespace !== undefined ? { namespace } : {}),
    role,
    ...(description !== undefined ? { description } : {}),
    createdAt: new Date(createdAt),
    ...(revokedAt !== undefined ? { revokedAt: new Date(revokedAt) } : {}),
  };
}
