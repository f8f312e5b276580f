/**
 * The namespace registry: which namespaces a server hosts. Runs, bundles, schedules and task
 * queues are already kept per namespace; the registry is what makes an unknown one an error
 * (the HTTP API answers 404 for it) and what hosting settings hang off. `default` always
 * exists.
 *
 * @module
 */
import { toMs, type Duration } from '../../common/time.js';
import type { EventStore, WriteBatch } from '../../store/types.js';
import { AionError, InvalidArgumentError, NamespaceNotFoundError } from '../errors.js';
import type { HistoryEvent } from '../history/events.js';
import { checkOptionalString, checkOptionKeys } from '../input.js';
import type { Tenant } from '../sandboxes/fair-queue.js';
import { checkQuotas, type NamespaceQuotas } from './quotas.js';

export const DEFAULT_NAMESPACE = 'default';

export interface NamespaceInfo {
  name: string;
  description?: string;
  quotas: NamespaceQuotas;
  /** How long a closed run is kept before it is deleted, in ms; absent: kept for ever. */
  retentionMs?: number;
  createdAt: Date;
}

/**
 * What a namespace can be given at creation or changed later (`quotas` replaces the namespace's
 * quotas; `retention: null` keeps closed runs for ever again; what is not given stays).
 */
export interface NamespaceSettings {
  description?: string;
  quotas?: NamespaceQuotas;
  /** How long a run is kept after it closed (`'30 days'`, or ms), at least a second. Applies to runs that close from then on. */
  retention?: Duration | null;
}

/** What the engine enforces for a namespace: its quotas and retention. */
export interface NamespacePolicy {
  quotas: NamespaceQuotas;
  retentionMs?: number;
}

export interface StoredNamespace {
  name: string;
  description?: string;
  quotas?: NamespaceQuotas;
  retentionMs?: number;
  createdAt: number;
  /** Set while a delete checks it is empty: the namespace takes no request meanwhile. */
  deleting?: true;
}

/** What the registry asks the engine about a namespace's contents, and what it does for it on delete. */
export interface NamespaceContents {
  /** Running runs or schedules, in words (a delete is refused then), or undefined. */
  inUse(namespace: string): Promise<string | undefined>;
  /** How many runs of any status the store holds for it. */
  storedRuns(namespace: string): Promise<number>;
  /** What else goes with its record, in the same write: its keys revoked, its versions and routes removed. */
  deletions(namespace: string): Promise<Pick<WriteBatch, 'control' | 'typeVersions'>>;
  /** Told once a namespace was created, changed or deleted (partition threads reload their copies). */
  changed(): Promise<void>;
}

export const NAMESPACE_KIND = 'namespace';
/** Letters, digits, `.`, `_`, `-`; starting with a letter or digit: safe in URLs, keys and file names. */
export const NAMESPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Control records kept per namespace (its versions, its audit entries) are keyed
 * `<namespace> U+0001 <rest>`: ids never hold control characters, so no namespace's prefix
 * reaches into another's.
 */
export const namespacePrefix = (namespace: string): string => `${namespace}\u0001`;
export const namespaceScopedId = (namespace: string, rest: string): string => namespacePrefix(namespace) + rest;

export class Namespaces {
  /** Each namespace's quotas and retention, read once (the registry is the only writer). */
  private readonly policies = new Map<string, NamespacePolicy>();
  /** Each namespace as the sandbox threads' fair scheduling knows it (its weight follows its quotas). */
  private readonly tenants = new Map<string, Tenant>();
  private readonly weightsUpdated = new WeakSet<Tenant>();

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly contents: NamespaceContents,
  ) {}

  async create(name: string, settings: NamespaceSettings = {}): Promise<NamespaceInfo> {
    checkName(name);
    const record: StoredNamespace = withSettings({ name, createdAt: Date.now() }, settings);
    if (name === DEFAULT_NAMESPACE || (await this.store.getControl(NAMESPACE_KIND, name))) throw new AionError('ALREADY_EXISTS', `namespace ${name} already exists`);
    // The runs of a deleted namespace of that name are still stored: they are not another tenant's to see.
    const stored = await this.contents.storedRuns(name);
    if (stored > 0) throw new AionError('FAILED_PRECONDITION', `a deleted namespace ${name} left ${stored} run${stored === 1 ? '' : 's'} stored: choose another name`);
    await this.store.write({ control: { put: [{ kind: NAMESPACE_KIND, id: name, value: record }] } });
    this.policies.set(name, policyOf(record));
    await this.contents.changed();
    return infoOf(record);
  }

  /**
   * Reads every namespace's quotas and retention, so that what is enforced without waiting
   * (`quotasNow`: payload sizes, residency, activity slots) is known from the start.
   */
  async load(): Promise<void> {
    const records = await this.store.listControl(NAMESPACE_KIND);
    // Replaced at once: a reload (another thread changed them) never shows none meanwhile.
    this.policies.clear();
    for (const { value } of records) {
      const record = value as StoredNamespace;
      if (record.deleting) continue;
      this.policies.set(record.name, policyOf(record));
      const tenant = this.tenants.get(record.name);
      if (tenant) tenant.weight = record.quotas?.schedulingWeight ?? 1;
    }
  }

  async list(): Promise<NamespaceInfo[]> {
    const stored = (await this.store.listControl(NAMESPACE_KIND)).map((record) => record.value as StoredNamespace).filter((record) => !record.deleting);
    return [infoOf(defaultNamespace()), ...stored.map(infoOf)];
  }

  /** The namespace, or `NamespaceNotFoundError`. */
  async describe(name: string): Promise<NamespaceInfo> {
    return infoOf(await this.read(name));
  }

  /** The namespace's quotas and retention (none for `default`, or a namespace not registered). */
  async policyOf(name: string): Promise<NamespacePolicy> {
    let policy = this.policies.get(name);
    if (policy === undefined) {
      const record = name === DEFAULT_NAMESPACE ? undefined : ((await this.store.getControl(NAMESPACE_KIND, name))?.value as StoredNamespace | undefined);
      policy = record ? policyOf(record) : { quotas: {} };
      this.policies.set(name, policy);
    }
    return policy;
  }

  /** The namespace's quotas (none for `default`, or a namespace not registered). */
  async quotasOf(name: string): Promise<NamespaceQuotas> {
    return (await this.policyOf(name)).quotas;
  }

  /** The namespace's quotas if they are known now (read already), without waiting; a read is started otherwise. */
  quotasNow(name: string): NamespaceQuotas | undefined {
    const policy = this.policies.get(name);
    if (policy === undefined) void this.policyOf(name).catch(() => undefined);
    return policy?.quotas;
  }

  /** The namespace as a tenant of the sandbox threads: one object per namespace, its weight kept current. */
  tenant(name: string): Tenant {
    let tenant = this.tenants.get(name);
    if (!tenant) {
      const created: Tenant = { name, weight: 1 };
      this.tenants.set(name, (tenant = created));
      void this.quotasOf(name).then(
        // Unless an update set it meanwhile (this read may have begun before).
        (quotas) => this.tenants.get(name) === created && !this.weightsUpdated.has(created) && (created.weight = quotas.schedulingWeight ?? 1),
        () => undefined, // the default weight, until the namespace's next update
      );
    }
    return tenant;
  }

  async exists(name: string): Promise<boolean> {
    if (name === DEFAULT_NAMESPACE) return true;
    const record = await this.store.getControl(NAMESPACE_KIND, name);
    return record !== undefined && !(record.value as StoredNamespace).deleting;
  }

  async update(name: string, settings: NamespaceSettings): Promise<NamespaceInfo> {
    if (name === DEFAULT_NAMESPACE) throw new InvalidArgumentError('the default namespace has no settings to change');
    const record = withSettings(await this.read(name), settings);
    await this.store.write({ control: { put: [{ kind: NAMESPACE_KIND, id: name, value: record }] } });
    this.policies.set(name, policyOf(record));
    const tenant = this.tenants.get(name);
    if (tenant) {
      tenant.weight = record.quotas?.schedulingWeight ?? 1;
      this.weightsUpdated.add(tenant);
    }
    await this.contents.changed();
    return infoOf(record);
  }

  /**
   * Removes the namespace — and, in the same write, revokes its API keys and removes its
   * versions and routes: requests to it are refused from then on. Refused while it has running runs or schedules — checked with the
   * namespace closed to requests, so none starts meanwhile. Its closed runs stay stored, and
   * its name cannot be taken again while they are.
   */
  async delete(name: string): Promise<void> {
    if (name === DEFAULT_NAMESPACE) throw new InvalidArgumentError('the default namespace cannot be deleted');
    const record = await this.read(name);
    await this.store.write({ control: { put: [{ kind: NAMESPACE_KIND, id: name, value: { ...record, deleting: true } }] } });
    const busy = await this.contents.inUse(name);
    if (busy) {
      await this.store.write({ control: { put: [{ kind: NAMESPACE_KIND, id: name, value: record }] } });
      throw new AionError('FAILED_PRECONDITION', `namespace ${name} still has ${busy}: terminate or delete them first`);
    }
    const { control, typeVersions } = await this.contents.deletions(name);
    await this.store.write({ control: { put: control?.put ?? [], delete: [{ kind: NAMESPACE_KIND, id: name }, ...(control?.delete ?? [])] }, typeVersions: typeVersions ?? [] });
    this.policies.delete(name);
    this.tenants.delete(name);
    await this.contents.changed();
  }

  private async read(name: string): Promise<StoredNamespace> {
    if (name === DEFAULT_NAMESPACE) return defaultNamespace();
    const record = await this.store.getControl(NAMESPACE_KIND, name);
    if (!record || (record.value as StoredNamespace).deleting) throw new NamespaceNotFoundError(name);
    return record.value as StoredNamespace;
  }
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAMESPACE_NAME.test(name)) {
    throw new InvalidArgumentError(`a namespace name is 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(name)}`);
  }
}

/** Retention is between a second and a hundred years (as the engine's other durations are bounded). */
const MIN_RETENTION_MS = 1000;
const MAX_RETENTION_MS = 100 * 365 * 24 * 3600 * 1000;

/** The record with `settings` applied, checked: what is not given stays. */
function withSettings(record: StoredNamespace, settings: NamespaceSettings): StoredNamespace {
  checkOptionKeys(settings, ['description', 'quotas', 'retention'], 'namespace');
  const next: StoredNamespace = { ...record };
  const description = checkOptionalString(settings.description, 'description', 1000);
  if (description !== undefined) next.description = description;
  if (settings.quotas !== undefined) next.quotas = checkQuotas(settings.quotas);
  if (settings.retention === null) delete next.retentionMs;
  else if (settings.retention !== undefined) next.retentionMs = checkRetention(settings.retention);
  return next;
}

function checkRetention(retention: Duration): number {
  let retentionMs: number;
  try {
    retentionMs = toMs(retention);
  } catch {
    throw new InvalidArgumentError(`retention must be a duration such as '30 days' (or ms), got ${JSON.stringify(retention)}`);
  }
  if (retentionMs < MIN_RETENTION_MS || retentionMs > MAX_RETENTION_MS) throw new InvalidArgumentError(`retention must be between 1 second and 100 years, got ${JSON.stringify(retention)}`);
  return Math.round(retentionMs);
}

const policyOf = (record: StoredNamespace): NamespacePolicy => ({ quotas: record.quotas ?? {}, ...(record.retentionMs !== undefined ? { retentionMs: record.retentionMs } : {}) });

const defaultNamespace = (): StoredNamespace => ({ name: DEFAULT_NAMESPACE, description: 'the namespace of requests that name none', createdAt: 0 });

const infoOf = (record: StoredNamespace): NamespaceInfo => ({
  name: record.name,
  ...(record.description !== undefined ? { description: record.description } : {}),
  quotas: record.quotas ?? {},
  ...(record.retentionMs !== undefined ? { retentionMs: record.retentionMs } : {}),
  createdAt: new Date(record.createdAt),
});
