/**
 * Deployed bundles: stored under their content hash, bound per namespace to the workflow
 * types they export (the latest deploy of a type is what new runs of it start on), and
 * evaluated into one template per version on first use.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { QuickJSWasm, SandboxLimits } from '../sandbox/index.js';
import type { EventStore } from '../store/types.js';
import type { GuestRuntime } from './bundler.js';
import { InvalidArgumentError, InvalidBundleError } from './errors.js';
import type { HistoryEvent } from './history/events.js';
import { BundleLoadError, WorkflowTemplate } from './workflow-sandbox.js';

const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;

export interface DeployResult {
  version: string;
  workflowTypes: string[];
}

/** The content hash naming a bundle version. */
export const bundleVersion = (code: string): string => createHash('sha256').update(code).digest('hex').slice(0, 32);

export class BundleRegistry {
  private readonly templates = new Map<string, Promise<WorkflowTemplate>>();
  private readonly typeVersions = new Map<string, string>();

  constructor(
    private readonly store: EventStore<HistoryEvent>,
    private readonly wasm: QuickJSWasm,
    private readonly runtime: GuestRuntime,
    private readonly limits: SandboxLimits,
    /** Instances each template keeps ready (they count against the resident memory budget). */
    private readonly poolSize: number,
  ) {}

  /** Stores `code` (idempotent: same code, same version) and makes it current for its types. */
  async deploy(code: unknown, namespace: string): Promise<DeployResult> {
    if (typeof code !== 'string' || code.trim() === '') throw new InvalidArgumentError('a bundle is a non-empty string of JavaScript');
    if (code.length > MAX_BUNDLE_BYTES) throw new InvalidArgumentError(`the bundle is ${code.length} bytes (limit ${MAX_BUNDLE_BYTES})`);
    const version = bundleVersion(code);
    const existing = await this.store.getBundle(version);
    const workflowTypes = existing?.workflowTypes ?? (await this.template(version, code)).workflowTypes;
    await this.store.write({
      bundles: existing ? [] : [{ version, code, workflowTypes, deployedAt: Date.now() }],
      typeVersions: workflowTypes.map((workflowType) => ({ namespace, workflowType, version })),
    });
    for (const workflowType of workflowTypes) this.typeVersions.set(typeKey(namespace, workflowType), version);
    return { version, workflowTypes };
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

  /** The template of a version (evaluated once per process). */
  template(version: string, code?: string): Promise<WorkflowTemplate> {
    let template = this.templates.get(version);
    if (!template) {
      template = this.createTemplate(version, code);
      template.catch(() => this.templates.delete(version));
      this.templates.set(version, template);
    }
    return template;
  }

  private async createTemplate(version: string, code?: string): Promise<WorkflowTemplate> {
    const source = code ?? (await this.store.getBundle(version))?.code;
    if (source === undefined) throw new InvalidBundleError(`bundle version ${version} is not deployed`);
    try {
      const template = await WorkflowTemplate.create(this.wasm, this.limits, this.runtime, source);
      template.setPoolSize(this.poolSize);
      return template;
    } catch (error) {
      if (error instanceof BundleLoadError) throw new InvalidBundleError(error.message);
      throw error;
    }
  }
}

const typeKey = (namespace: string, workflowType: string): string => `${namespace}\u0000${workflowType}`;
