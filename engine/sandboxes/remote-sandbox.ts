/**
 * A run's sandbox as the engine thread holds it: a handle on a sandbox living in one of the
 * sandbox threads. Every call is a request to that thread; none blocks the engine thread.
 *
 * @module
 */
import type { Activation, QueryResult } from '../../common/protocol.js';
import type { ParsedHistory } from '../history/activations.js';
import type { PayloadLimits } from '../payloads.js';
import type { ReplayLimits } from '../replay.js';
import type { UnusedSnapshot } from './restore.js';
import type { CapturedImage, GuestCode, SnapshotData, TemplateSpec, ThreadResults, UpdateToValidate } from './messages.js';
import type { Tenant } from './fair-queue.js';
import { SandboxLostError, type SandboxThread, type SandboxThreads } from './sandbox-threads.js';

export class RemoteSandbox {
  /** Memory the sandbox uses, as its thread last reported it. */
  residentBytes = 0;
  private released = false;
  /** Not yet created in its thread: the first activation creates it. */
  private fresh: boolean;

  private constructor(
    private readonly threads: SandboxThreads,
    private readonly thread: SandboxThread,
    readonly id: string,
    readonly template: TemplateSpec,
    /** Whose guest work this is: its activations, queries and validators take turns with other tenants' on the thread. */
    private readonly tenant: Tenant,
    fresh: boolean,
  ) {
    this.fresh = fresh;
  }

  /** A new sandbox (forked from the template at its first activation), on the least busy thread. */
  static async create(threads: SandboxThreads, id: string, template: TemplateSpec, code: () => Promise<GuestCode>, tenant: Tenant): Promise<RemoteSandbox> {
    const thread = threads.pick();
    try {
      await threads.loadTemplate(thread, template, code, true);
    } catch (error) {
      threads.sandboxGone(thread, template.key);
      throw error;
    }
    return new RemoteSandbox(threads, thread, id, template, tenant, true);
  }

  /**
   * A run's sandbox brought back from its snapshot (when usable) or by replaying its history.
   * Throws `DeterminismViolationError`, `SandboxCrash` or `SandboxLostError`.
   */
  static async wake(
    threads: SandboxThreads,
    id: string,
    template: TemplateSpec,
    code: () => Promise<GuestCode>,
    history: { parsed: ParsedHistory; length: number; snapshot?: SnapshotData; limits: ReplayLimits },
    tenant: Tenant,
  ): Promise<{ sandbox: RemoteSandbox; from: 'snapshot' | 'replay'; snapshotEventId: number; unusedSnapshot?: UnusedSnapshot }> {
    const thread = threads.pick();
    let woken: ThreadResults['wake'];
    try {
      await threads.loadTemplate(thread, template, code, true);
      woken = await threads.request(
        thread,
        { op: 'wake', sandboxId: id, template, history: history.parsed, historyLength: history.length, snapshot: history.snapshot, limits: history.limits },
        tenant,
      );
    } catch (error) {
      threads.sandboxGone(thread, template.key);
      throw error;
    }
    const sandbox = new RemoteSandbox(threads, thread, id, template, tenant, false);
    sandbox.residentBytes = woken.residentBytes;
    return { sandbox, from: woken.from, snapshotEventId: woken.snapshotEventId, unusedSnapshot: woken.unusedSnapshot };
  }

  /** True once the sandbox is gone: released, crashed, or lost with its thread. */
  get unusable(): boolean {
    return this.released || this.thread.dead;
  }

  /** Runs one activation; returns the guest's raw result (validated by the caller) and whether its payloads need checking. */
  async activate(activation: Activation, payloadLimits: PayloadLimits): Promise<{ raw: string; checkPayloads: boolean }> {
    this.assertHeld();
    const create = this.fresh;
    this.fresh = false;
    const result = await this.call(this.threads.request(this.thread, { op: 'activate', sandboxId: this.id, template: this.template, create, activation, payloadLimits }, this.tenant));
    this.residentBytes = result.residentBytes;
    return result;
  }

  /** Runs the updates' validators; nothing they do stays in the sandbox. */
  async validate(updates: UpdateToValidate[], time: number): Promise<ThreadResults['validate']['results']> {
    this.assertHeld();
    const result = await this.call(this.threads.request(this.thread, { op: 'validate', sandboxId: this.id, updates, time }, this.tenant));
    return result.results;
  }

  /** Runs a query; nothing it does stays in the sandbox. */
  query(name: string, args: unknown[], time: number): Promise<QueryResult> {
    this.assertHeld();
    return this.call(this.threads.request(this.thread, { op: 'query', sandboxId: this.id, name, args, time }, this.tenant));
  }

  /** The sandbox's state, compressed (between activations only). */
  capture(): Promise<CapturedImage & { build: string }> {
    this.assertHeld();
    return this.call(this.threads.request(this.thread, { op: 'capture', sandboxId: this.id }));
  }

  /** Gives the sandbox back (its thread reuses the instance). */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.thread.dead) return;
    this.threads.sandboxGone(this.thread, this.template.key);
    if (!this.fresh) this.threads.request(this.thread, { op: 'release', sandboxId: this.id }).catch(() => undefined);
  }

  /** A released sandbox is gone (for its run, as if lost with its thread). */
  private assertHeld(): void {
    if (this.released) throw new SandboxLostError(`sandbox ${this.id} was released`);
  }

  /** A request that fails leaves no sandbox behind in its thread (a crash drops it there too). */
  private async call<T>(request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (error) {
      this.release();
      throw error;
    }
  }
}
