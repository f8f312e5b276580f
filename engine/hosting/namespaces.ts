/**
 * The namespace registry: which namespaces a server hosts. Runs, bundles, schedules and task
 * queues are already kept per namespace; the registry is what makes an unknown one an error
 * (the HTTP API answers 404 for it) and what hosting settings hang off. `default` always
 * exists.
 *
 * @module
 */
import type { EventStore } from '../../store/types.js';
import { AionError, InvalidArgumentError, NamespaceNotFoundError } from '../errors.js';
import type { HistoryEvent } from '../history/events.js';
import { checkOptionalString, checkOptionKeys } from '../input.js';

export const DEFAULT_NAMESPACE = 'default';

export interface NamespaceInfo {
  name: string;
  description?: string;
  createdAt: Date;
}

/** What a namespace can be given at creation or changed later. */
export interface NamespaceSettings {
  description?: string;
}

interface StoredNamespace {
  name: string;
  description?: string;
  createdAt: number;
}

const KIND = 'namespace';
/** Letters, digits, `.`, `_`, `-`; starting with a letter or digit: safe in URLs, keys and file names. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export class Namespaces {
  constructor(
    private readonly store: EventStore<HistoryEvent>,
    /** Whether the namespace has running runs or schedules (a delete is refused then). */
    private readonly inUse: (namespace: string) => Promise<string | undefined>,
  ) {}

  async create(name: string, settings: NamespaceSettings = {}): Promise<NamespaceInfo> {
    checkName(name);
    const record: StoredNamespace = { name, ...checkSettings(settings), createdAt: Date.now() };
    if (name === DEFAULT_NAMESPACE || (await this.store.getControl(KIND, name))) throw new AionError('ALREADY_EXISTS', `namespace ${name} already exists`);
    await this.store.write({ control: { put: [{ kind: KIND, id: name, value: record }] } });
    return infoOf(record);
  }

  async list(): Promise<NamespaceInfo[]> {
    const stored = await this.store.listControl(KIND);
    return [infoOf(defaultNamespace()), ...stored.map((record) => infoOf(record.value as StoredNamespace))];
  }

  /** The namespace, or `NamespaceNotFoundError`. */
  async describe(name: string): Promise<NamespaceInfo> {
    return infoOf(await this.read(name));
  }

  async exists(name: string): Promise<boolean> {
    return name === DEFAULT_NAMESPACE || (await this.store.getControl(KIND, name)) !== undefined;
  }

  async update(name: string, settings: NamespaceSettings): Promise<NamespaceInfo> {
    if (name === DEFAULT_NAMESPACE) throw new InvalidArgumentError('the default namespace has no settings to change');
    const record: StoredNamespace = { ...(await this.read(name)), ...checkSettings(settings) };
    await this.store.write({ control: { put: [{ kind: KIND, id: name, value: record }] } });
    return infoOf(record);
  }

  /**
   * Removes the namespace: requests to it are refused from then on. Refused while it has
   * running runs or schedules; its closed runs stay stored (and are visible again if a
   * namespace of that name is created).
   */
  async delete(name: string): Promise<void> {
    if (name === DEFAULT_NAMESPACE) throw new InvalidArgumentError('the default namespace cannot be deleted');
    await this.read(name);
    const busy = await this.inUse(name);
    if (busy) throw new AionError('FAILED_PRECONDITION', `namespace ${name} still has ${busy}: terminate or delete them first`);
    await this.store.write({ control: { delete: [{ kind: KIND, id: name }] } });
  }

  private async read(name: string): Promise<StoredNamespace> {
    if (name === DEFAULT_NAMESPACE) return defaultNamespace();
    const record = await this.store.getControl(KIND, name);
    if (!record) throw new NamespaceNotFoundError(name);
    return record.value as StoredNamespace;
  }
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidArgumentError(`a namespace name is 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(name)}`);
  }
}

function checkSettings(settings: NamespaceSettings): NamespaceSettings {
  checkOptionKeys(settings, ['description'], 'namespace');
  const description = checkOptionalString(settings.description, 'description', 1000);
  return description === undefined ? {} : { description };
}

const defaultNamespace = (): StoredNamespace => ({ name: DEFAULT_NAMESPACE, description: 'the namespace of requests that name none', createdAt: 0 });

const infoOf = (record: StoredNamespace): NamespaceInfo => ({ name: record.name, ...(record.description !== undefined ? { description: record.description } : {}), createdAt: new Date(record.createdAt) });
