/**
 * Deployed bundles: stored under their content hash, bound per namespace to the workflow
 * types they export (the latest deploy of a type is what new runs of it start on), and
 * evaluated into templates in the sandbox threads, where each thread loads a version when it
 * first needs it and unloads it again once no sandbox of it lives there (the store keeps
 * every version; the engine thread keeps only what a version is called).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { SandboxLimits } from '../sandbox/index.js';
import type { BundleRecord, EventStore, WriteBatch } from '../store/types.js';
import { AionError, InvalidArgumentError, InvalidBundleError } from './errors.js';
import type { HistoryEvent } from './history/events.js';
import type { GuestCode, TemplateSpec } from './sandboxes/messages.js';
import type { SandboxThreads } from './sandboxes/sandbox-threads.js';
import { namespacePrefix, namespaceScopedId } from './hosting/namespaces.js';
import { KeyedLock } from './keyed-lock.js';
import { DEFAULT_REPLAY_LIMITS } from './replay.js';
import { readHistory } from './replay-history.js';
import { BundleLocator, splitInlineSourceMap } from './source-maps.js';
import { BundleLoadError } from './workflow-sandbox.js';

const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;
/** A JavaScript engine compiled into a component (componentize-js's SpiderMonkey) is about 12 MiB; 40 MiB still fits an HTTP body as base64. */
const MAX_COMPONENT_BYTES = 40 * 1024 * 1024;
/** The export a Temporal workflow module registers interceptors with: refused at deploy, not taken for a workflow type. */
const TEMPORAL_INTERCEPTORS_EXPORT = 'interceptors';
/** Parsed source maps kept in memory (a stack trace query or a failure needs one now and then). */
const LOCATORS_KEPT = 8;

export interface DeployResult {
  version: string;
  workflowTypes: string[];
}

/** A version deployed in a namespace, and the types new runs start on it. */
export interface VersionInfo {
  version: string;
  workflowTypes: string[];
  deployedAt: Date;
  /** The types whose new runs start on this version. */
  routedTypes: string[];
}

export interface DeployedVersion {
  version: string;
  workflowTypes: string[];
  deployedAt: number;
}

/** Which versions each namespace deployed (bundles themselves are shared, by content). */
export const VERSION_KIND = 'version';
export const versionId = (namespace: string, version: string): string => namespaceScopedId(namespace, version);

/** The content hash naming a version (a bundle's code, or a component's bytes). */
export const bundleVersion = (code: string | Uint8Array): string => createHash('sha256').update(code).digest('hex').slice(0, 32);

export class BundleRegistry {
  private readonly typeVersions = new Map<string, string>();
  /** A short hash of each set of limits templates were asked for (the engine's, and namespaces' quotas). */
  private readonly limitsKeys = new Map<string, string>();
  private readonly locators = new Map<string, BundleLocator>();
  /** Deploys, routes and unloads of one namespace, one at a time: each checks what the others change. */
  private readonly versionChanges = new KeyedLock();

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    readonly threads: SandboxThreads,
    /** The limits every sandbox of these bundles runs under. */
    readonly limits: SandboxLimits,
    /** Instances each template keeps ready in a thread, and the memory they may hold (they count against the resident memory budget). */
    private readonly pool: { size: number; bytes: number },
  ) {
  }

  /**
   * Stores `bundle` (idempotent: same code, same version) and makes it current for its
   * types. An inline source map is kept beside the code, not evaluated with it (the first
   * deploy of a version gives it its map). The bundle is evaluated under `limits` (the
   * namespace's): a bundle whose top level does not fit them is refused there.
   */
  deploy(bundle: unknown, namespace: string, limits: SandboxLimits = this.limits): Promise<DeployResult> {
    checkBundle(bundle);
    // Named by the code alone: the same code built elsewhere (other paths in its map) is the same version.
    const { code, sourceMap } = splitInlineSourceMap(bundle);
    return this.versionChanges.run(namespace, () => this.deployLocked(bundleVersion(code), { code, ...(sourceMap !== undefined ? { sourceMap } : {}) }, namespace, limits));
  }

  /**
   * Stores a WebAssembly component (wit/workflow.wit) as a version, named by its bytes, and
   * makes it current for its types. It is checked and transpiled in a sandbox thread, and
   * instantiated under `limits`: a component that imports what a workflow may not, or that
   * does not fit them, is refused naming why.
   */
  deployComponent(component: unknown, namespace: string, limits: SandboxLimits = this.limits): Promise<DeployResult> {
    checkComponent(component);
    const bytes = new Uint8Array(component);
    return this.versionChanges.run(namespace, () => this.deployLocked(bundleVersion(bytes), { code: '', component: bytes }, namespace, limits));
  }

  private async deployLocked(version: string, source: Pick<BundleRecord, 'code' | 'sourceMap' | 'component'>, namespace: string, limits: SandboxLimits): Promise<DeployResult> {
    const existing = await this.store.getBundle(version);
    const loaded = !existing || limits !== this.limits ? await this.load(version, source.component ?? source.code, limits) : undefined;
    const workflowTypes = existing?.workflowTypes ?? loaded!.workflowTypes;
    if (!existing && workflowTypes.includes(TEMPORAL_INTERCEPTORS_EXPORT)) {
      throw new InvalidBundleError(`the bundle exports '${TEMPORAL_INTERCEPTORS_EXPORT}', Temporal's workflow interceptors, which are not supported: remove the export (and the behaviour it adds)`);
    }
    const deployedHere = await this.store.getControl(VERSION_KIND, versionId(namespace, version));
    const deployed: DeployedVersion = { version, workflowTypes, deployedAt: Date.now() };
    await this.store.write({
      bundles: existing ? [] : [{ version, ...source, workflowTypes, deployedAt: deployed.deployedAt }],
      typeVersions: workflowTypes.map((workflowType) => ({ namespace, workflowType, version })),
      control: { put: deployedHere ? [] : [{ kind: VERSION_KIND, id: versionId(namespace, version), value: deployed }] },
    });
    for (const workflowType of workflowTypes) this.typeVersions.set(typeKey(namespace, workflowType), version);
    return { version, workflowTypes };
  }

  /** Forgets which versions types are routed to (another thread changed them): they are read again. */
  forgetRoutes(): void {
    this.typeVersions.clear();
  }

  /** The version new runs of `workflowType` start on, if any bundle exports it. */
  async currentVersion(namespace: string, workflowType: string): Promise<string | undefined> {
    const key = typeKey(namespace, workflowType);
    let version = this.typeVersions.get(key);
    if (version === undefined) {
      version = await this.store.getTypeVersion(namespace, workflowType);
      if (version !== undefined) this.typeVersions.set(key, version);
    }
    return version;
  }

  /** The workflow types `code` exports (evaluated in a thread, as a deploy does: the template is kept for it). */
  async typesOf(bundle: unknown): Promise<string[]> {
    checkBundle(bundle);
    const { code } = splitInlineSourceMap(bundle);
    const version = bundleVersion(code);
    return (await this.store.getBundle(version))?.workflowTypes ?? (await this.load(version, code)).workflowTypes;
  }

  /** The versions `namespace` deployed, newest first, with the types routed to each. */
  async versions(namespace: string): Promise<VersionInfo[]> {
    const deployed = (await this.store.listControl(VERSION_KIND, { prefix: namespacePrefix(namespace) })).map((record) => record.value as DeployedVersion);
    const infos = await Promise.all(
      deployed.map(async ({ version, workflowTypes, deployedAt }) => {
        const routed = await Promise.all(workflowTypes.map(async (type) => ((await this.currentVersion(namespace, type)) === version ? [type] : [])));
        return { version, workflowTypes, deployedAt: new Date(deployedAt), routedTypes: routed.flat() };
      }),
    );
    return infos.sort((a, b) => b.deployedAt.getTime() - a.deployedAt.getTime());
  }

  /** A version `namespace` deployed (another namespace's is as unknown as one never deployed); `InvalidArgumentError` otherwise. */
  async deployedIn(namespace: string, version: string): Promise<BundleRecord> {
    if (!(await this.store.getControl(VERSION_KIND, versionId(namespace, version)))) throw new InvalidArgumentError(`bundle version ${version} is not deployed in namespace ${namespace}`);
    return this.deployed(version);
  }

  /**
   * Routes new runs of `target` (a workflow type, or `all` the version exports) to `version`,
   * atomically: a rollback, or a roll forward. Running runs stay on their versions.
   */
  route(namespace: string, target: string, version: string): Promise<string[]> {
    return this.versionChanges.run(namespace, () => this.routeLocked(namespace, target, version));
  }

  private async routeLocked(namespace: string, target: string, version: string): Promise<string[]> {
    const { workflowTypes } = await this.deployedIn(namespace, version);
    if (target !== 'all' && !workflowTypes.includes(target)) throw new InvalidArgumentError(`bundle version ${version} does not export a workflow named '${target}'`);
    const types = target === 'all' ? workflowTypes : [target];
    await this.store.write({ typeVersions: types.map((workflowType) => ({ namespace, workflowType, version })) });
    for (const workflowType of types) this.typeVersions.set(typeKey(namespace, workflowType), version);
    return types;
  }

  /**
   * Removes `version` from `namespace`'s versions: it can no longer be routed to, upgraded to
   * or reset onto there. Refused while types are routed to it, or `pinnedRuns` names running
   * runs on it. The code stays stored (closed runs are still inspected and replayed on it).
   */
  unload(namespace: string, version: string, pinnedRuns: () => Promise<string | undefined>): Promise<void> {
    return this.versionChanges.run(namespace, async () => {
      const pinned = await pinnedRuns();
      if (pinned) throw new AionError('FAILED_PRECONDITION', `bundle version ${version} has ${pinned}: let them finish, upgrade or terminate them first`);
      await this.unloadLocked(namespace, version);
    });
  }

  private async unloadLocked(namespace: string, version: string): Promise<void> {
    const [info] = (await this.versions(namespace)).filter((candidate) => candidate.version === version);
    if (!info) throw new InvalidArgumentError(`bundle version ${version} is not deployed in namespace ${namespace}`);
    if (info.routedTypes.length > 0) throw new AionError('FAILED_PRECONDITION', `bundle version ${version} is routed for ${info.routedTypes.join(', ')}: route them to another version first`);
    await this.store.write({ control: { delete: [{ kind: VERSION_KIND, id: versionId(namespace, version) }] } });
  }

  /** What removes the namespace's versions and routes (for the write that deletes it); forgets what it knew of them. */
  async forgetNamespace(namespace: string): Promise<Pick<WriteBatch, 'control' | 'typeVersions'>> {
    const deployed = (await this.store.listControl(VERSION_KIND, { prefix: namespacePrefix(namespace) })).map((record) => record.value as DeployedVersion);
    const types = new Set(deployed.flatMap((version) => version.workflowTypes));
    for (const type of types) this.typeVersions.delete(typeKey(namespace, type));
    return {
      control: { delete: deployed.map(({ version }) => ({ kind: VERSION_KIND, id: versionId(namespace, version) })) },
      typeVersions: [...types].map((workflowType) => ({ namespace, workflowType, version: null })),
    };
  }

  /** What a sandbox thread needs to evaluate a version, under `limits` (a template per version and limits). */
  template(version: string, limits: SandboxLimits = this.limits): TemplateSpec {
    const json = JSON.stringify(limits);
    let limitsKey = this.limitsKeys.get(json);
    if (limitsKey === undefined) {
      limitsKey = createHash('sha256').update(json).digest('hex').slice(0, 12);
      this.limitsKeys.set(json, limitsKey);
    }
    return { key: `${version}:${limitsKey}`, version, limits, poolSize: this.pool.size, poolBytes: this.pool.bytes };
  }

  /** A deployed version: its code and the workflow types it exports; `InvalidArgumentError` for one that is not deployed. */
  async deployed(version: string): Promise<BundleRecord> {
    const bundle = await this.store.getBundle(version);
    if (!bundle) throw new InvalidArgumentError(`bundle version ${version} is not deployed`);
    return bundle;
  }

  /** Maps a version's stack frames to its sources (see `BundleLocator`); kept for a few versions. */
  async locator(version: string): Promise<BundleLocator> {
    let locator = this.locators.get(version);
    if (!locator) {
      locator = new BundleLocator((await this.store.getBundle(version))?.sourceMap);
      if (this.locators.size >= LOCATORS_KEPT) this.locators.delete(this.locators.keys().next().value!);
      this.locators.set(version, locator);
    }
    return locator;
  }

  /** Reads a version's code (or component) from the store (for a thread that loads it). */
  code(version: string): () => Promise<GuestCode> {
    return async () => {
      const bundle = await this.store.getBundle(version);
      if (!bundle) throw new InvalidBundleError(`bundle version ${version} is not deployed`);
      return bundle.component ?? bundle.code;
    };
  }

  /**
   * Replays a history on a deployed version in a sandbox thread (a component's code runs
   * nowhere else): a `DeterminismViolationError` says where it diverges.
   */
  async replayInThread(version: string, history: HistoryEvent[]): Promise<void> {
    const { parsed } = readHistory(history);
    const template = this.template(version);
    await this.threads.withTemplate(template, this.code(version), (thread) =>
      this.threads.request(thread, { op: 'replay', template, history: parsed, limits: DEFAULT_REPLAY_LIMITS, check: { strict: false, all: false } }),
    );
  }

  /** Evaluates a version in the least busy thread; a bundle that does not load is an `InvalidBundleError`. */
  private async load(version: string, code: GuestCode, limits: SandboxLimits = this.limits): Promise<{ workflowTypes: string[] }> {
    try {
      return await this.threads.loadTemplate(this.threads.pick(), this.template(version, limits), async () => code);
    } catch (error) {
      if (error instanceof BundleLoadError) throw new InvalidBundleError(error.message);
      throw error;
    }
  }
}

function checkComponent(component: unknown): asserts component is Uint8Array {
  if (!(component instanceof Uint8Array) || component.byteLength === 0) throw new InvalidArgumentError('a component is a non-empty Uint8Array of a WebAssembly component\'s bytes');
  if (component.byteLength > MAX_COMPONENT_BYTES) throw new InvalidArgumentError(`the component is ${component.byteLength} bytes (limit ${MAX_COMPONENT_BYTES})`);
}

function checkBundle(bundle: unknown): asserts bundle is string {
  if (typeof bundle !== 'string' || bundle.trim() === '') throw new InvalidArgumentError('a bundle is a non-empty string of JavaScript');
  const bytes = Buffer.byteLength(bundle, 'utf8');
  if (bytes > MAX_BUNDLE_BYTES) throw new InvalidArgumentError(`the bundle is ${bytes} bytes (limit ${MAX_BUNDLE_BYTES})`);
}

const typeKey = (namespace: string, workflowType: string): string => `${namespace}\u0000${workflowType}`;
