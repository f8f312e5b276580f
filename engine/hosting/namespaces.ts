/**
 * The namespace registry: which namespaces a server hosts. Runs, bundles, schedules and task
 * queues are already kept per namespace; the registry is what makes an unknown one an error
 * (the HTTP API answers 404 for it) and what hosting settings hang off. `default` always
 * exists.
 *
 * @module
 */
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
  createdAt: Date;
}

/** What a namespace can be given at creation or changed later (`quotas` replaces the namespace's quotas). */
export interface NamespaceSettings {
  description?: string;
  quotas?: NamespaceQuotas;
}

export interface StoredNamespace {
  name: string;
  description?: string;
  quotas?: NamespaceQuotas;
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
  /** Each namespace's quotas, read once (the registry is the only writer). */
  private readonly quotaCache = new Map<string, NamespaceQuotas>();
  /** Each namespace as the sandbox threads' fair scheduling knows it (its weight follows its quotas). */
  private readonly tenants = new Map<string, Tenant>();
  private readonly weightsUpdated = new WeakSet<Tenant>();

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly contents: NamespaceContents,
  ) {}

  async create(name: string, settings: NamespaceSettings = {}): Promise<NamespaceInfo> {
    checkName(name);
    const record: StoredNamespace = { name, ...checkSettings(settings), createdAt: Date.now() };
    if (name === DEFAULT_NAMESPACE || (await this.store.getControl(NAMESPACE_KIND, name))) throw new AionError('ALREADY_EXISTS', `namespace ${name} already exists`);
    // The runs of a deleted namespace of that name are still stored: they are not another tenant's to see.
    const stored = await this.contents.storedRuns(name);
    if (stored > 0) throw new AionError('FAILED_PRECONDITION', `a deleted namespace ${name} left ${stored} run${stored === 1 ? '' : 's'} stored: choose another name`);
    await this.store.write({ control: { put: [{ kind: NAMESPACE_KIND, id: name, value: record }] } });
    this.quotaCache.delete(name);
    return infoOf(record);
  }

  async list(): Promise<NamespaceInfo[]> {
    const stored = (await this.store.listControl(NAMESPACE_KIND)).map((record) => record.value as StoredNamespace).filter((record) => !record.deleting);
    return [infoOf(defaultNamespace()), ...stored.map(infoOf)];
  }

  /** The namespace, or `NamespaceNotFoundError`. */
  async describe(name: string): Promise<NamespaceInfo> {
    return infoOf(await this.read(name));
  }

  /** The namespace's quotas (none for `default`, or a namespace not registered). */
  async quotasOf(name: string): Promise<NamespaceQuotas> {
    let quotas = this.quotaCache.get(name);
    if (quotas === undefined) {
      quotas = name === DEFAULT_NAMESPACE ? {} : (((await this.store.getControl(NAMESPACE_KIND, name))?.value as StoredNamespace | undefined)?.quotas ?? {});
      this.quotaCache.set(name, quotas);
    }
    return quotas;
  }

  /** The namespace's quotas if they are known now (read already), without waiting; a read is started otherwise. */
  quotasNow(name: string): NamespaceQuotas | undefined {
    const quotas = this.quotaCache.get(name);
    if (quotas === undefined) void this.quotasOf(name).catch(() => undefined);
    return quotas;
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
    const record: StoredNamespace = { ...(await this.read(name)), ...checkSettings(settings) };
    await this.store.write({ control: { put: [{ kind: NAMESPACE_KIND, id: name, value: record }] } });
    this.quotaCache.delete(name);
    const tenant = this.tenants.get(name);
    if (tenant) {
      tenant.weight = record.quotas?.schedulingWeight ?? 1;
      this.weightsUpdated.add(tenant);
    }
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
    this.quotaCache.delete(name);
    this.tenants.delete(name);
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

function checkSettings(settings: NamespaceSettings): NamespaceSettings {
  checkOptionKeys(settings, ['description', 'quotas'], 'namespace');
  const description = checkOptionalString(settings.description, 'description', 1000);
  return { ...(description !== undefined ? { description } : {}), ...(settings.quotas !== undefined ? { quotas: checkQuotas(settings.quotas) } : {}) };
}

const defaultNamespace = (): StoredNamespace => ({ name: DEFAULT_NAMESPACE, description: 'the namespace of requests that name none', createdAt: 0 });

const infoOf = (record: StoredNamespace): NamespaceInfo => ({
  name: record.name,
  ...(record.description !== undefined ? { description: record.description } : {}),
  quotas: record.quotas ?? {},
  createdAt: new Date(record.createdAt),
});
