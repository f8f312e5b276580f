/**
 * The sandbox threads, as the engine thread sees them: a pool of worker threads that run all
 * guest code (activations, queries, validators, replays, bundle evaluation), so the engine's
 * event loop — its store, timers and HTTP API — never waits on a workflow.
 *
 * A watchdog checks each busy thread's published unit deadline (see sandbox-thread.ts) and
 * terminates a thread whose unit overran its CPU budget by more than a grace period, however
 * it got stuck: the request that was running fails as a `cpu-budget` crash, the other
 * requests queued on that thread fail as lost, and the thread's sandboxes are gone (their
 * runs come back from snapshots or by replay). A new thread takes its place.
 *
 * One pool per process and thread count, shared by the engines of the process (as the
 * compiled QuickJS module is); an engine's sandbox ids carry its own prefix.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../threads/start-worker.js';
import { SandboxCrash } from '../../sandbox/index.js';
import { DeterminismViolationError } from '../errors.js';
import { BundleLoadError } from '../workflow-sandbox.js';
import { FairQueue, type Candidate, type Tenant } from './fair-queue.js';
import type { GuestCode, TemplateSpec, ThreadData, ThreadFailure, ThreadRequest, ThreadResponse, ThreadResults } from './messages.js';

/** A unit of guest work may overrun its budget by this much before the watchdog stops its thread. */
export const WATCHDOG_GRACE_MS = 500;
const WATCHDOG_INTERVAL_MS = 50;
/** Templates a thread keeps loaded while no sandbox of theirs lives there. */
const IDLE_TEMPLATES_PER_THREAD = 4;
/**
 * Tenants' units (their runs' guest work: activations, wakes, queries, validators) wait in the
 * engine thread's fair queue and are sent to the thread one at a time, so that each next unit
 * is the fair queue's choice at that moment. One tenant alone on a thread, with light
 * activations, has several sent ahead (at most this many, of at most this much expected work
 * together), so that the thread does not idle between them; another tenant's unit then waits
 * for those few milliseconds more. A wake (a replay) is never sent ahead.
 */
const FAIR_UNITS_AHEAD = 16;
const FAIR_AHEAD_MS = 10;

/** Sandbox threads by default: one per core but one (the engine thread's), at least two. */
export const defaultThreadCount = (): number => Math.max(2, availableParallelism() - 1);

/** The sandbox was lost with a thread that was stopped for another run's sake (not its own fault). */
export class SandboxLostError extends Error {
  override name = 'SandboxLostError';
}

interface Pending {
  op: ThreadRequest['op'];
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** The tenant charged for the request's thread time, and the time it was expected to take. */
  tenant?: Tenant;
  expectedMs?: number;
}

/** A tenant's request waiting in the engine thread for its turn on the thread. */
interface FairUnit {
  op: ThreadRequest['op'];
  post(expectedMs: number): void;
  reject(error: unknown): void;
}

/** One worker thread and what the engine thread knows of it. */
export class SandboxThread {
  readonly pending = new Map<number, Pending>();
  /**
   * Templates loaded (or loading) in the thread, with the sandboxes of each (reserved or living):
   * `sent` settles once the load request is posted (its code read first), `info` once the
   * thread evaluated it.
   */
  readonly templates = new Map<string, { sent: Promise<unknown>; info: Promise<ThreadResults['load']>; loaded: boolean; sandboxes: number }>();
  sandboxes = 0;
  /** Set once the thread was stopped: its sandboxes are gone. */
  dead = false;
  /** Tenants' requests not sent yet, and the sent ones the thread holds: how many, whose, and their expected thread time. */
  readonly fair = new FairQueue<FairUnit>();
  fairInThread = 0;
  fairTenantInThread: Tenant | undefined;
  fairExpectedMs = 0;
  private readonly deadline: Float64Array;

  /** A tenant's unit sent to the thread ended (or was never sent): what the thread holds shrinks by it. */
  fairUnitLeft(expectedMs: number): void {
    this.fairInThread--;
    this.fairExpectedMs = this.fairInThread === 0 ? 0 : this.fairExpectedMs - expectedMs;
  }

  constructor(
    readonly worker: Worker,
    watchdog: SharedArrayBuffer,
  ) {
    this.deadline = new Float64Array(watchdog);
  }

  /** The request whose unit overran, if one did. */
  overrun(now: number): number | undefined {
    const deadline = this.deadline[0];
    return deadline > 0 && now > deadline + WATCHDOG_GRACE_MS ? this.deadline[1] : undefined;
  }
}

export class SandboxThreads {
  private static readonly pools = new Map<number, SandboxThreads>();
  private readonly threads: (SandboxThread | undefined)[];
  private nextId = 1;
  private watchdog: NodeJS.Timeout | undefined;

  private constructor(
    count: number,
    private readonly runtimeSource: string,
  ) {
    this.threads = new Array<SandboxThread | undefined>(count).fill(undefined);
  }

  /** The process's pool of `count` threads. */
  static shared(count: number, runtimeSource: string): SandboxThreads {
    let pool = SandboxThreads.pools.get(count);
    if (!pool) {
      pool = new SandboxThreads(count, runtimeSource);
      SandboxThreads.pools.set(count, pool);
    }
    return pool;
  }

  /**
   * Starts every thread that is not running yet. A thread takes 120–170 ms to load its
   * modules and compile QuickJS; an engine opening calls this as soon as it has the guest
   * runtime, while its store opens, instead of delaying the first wake after a restart.
   */
  start(): void {
    for (let i = 0; i < this.threads.length; i++) this.thread(i);
  }

  get size(): number {
    return this.threads.length;
  }

  /** The thread for a new sandbox: the one with the fewest (a stopped thread's slot counts as empty: it is respawned). */
  pick(): SandboxThread {
    const load = (thread: SandboxThread | undefined) => (!thread || thread.dead ? 0 : thread.sandboxes);
    let best = 0;
    for (let i = 1; i < this.threads.length; i++) if (load(this.threads[i]) < load(this.threads[best])) best = i;
    return this.thread(best);
  }

  /**
   * Makes sure `thread` has the template, evaluating its bundle there if needed. With
   * `reserve`, a sandbox of it is counted from now on (so the template stays loaded), until
   * `sandboxGone` — which the caller must call even if the sandbox never comes to be.
   */
  loadTemplate(thread: SandboxThread, template: TemplateSpec, code: () => Promise<GuestCode>, reserve = false): Promise<ThreadResults['load']> {
    let entry = thread.templates.get(template.key);
    if (!entry) {
      // Wrapped: `sent` must not wait for the reply.
      const sent = code().then((source) => ({ reply: this.request(thread, { op: 'load', template, code: source }) }));
      const info = sent.then(({ reply }) => reply);
      const created = { sent, info, loaded: false, sandboxes: 0 };
      entry = created;
      thread.templates.set(template.key, created);
      info.then(
        () => {
          created.loaded = true;
          this.unloadIdle(thread);
        },
        () => thread.templates.get(template.key) === created && thread.templates.delete(template.key),
      );
    }
    if (reserve) {
      thread.sandboxes++;
      entry.sandboxes++;
    }
    return entry.info;
  }

  /**
   * Has every thread start evaluating a template it does not have; resolves once each has been
   * asked (a run's wake may be reading the code for one of them meanwhile), without waiting for
   * the evaluations: what the runs about to wake need is then ready, or nearly, when they ask
   * (`Engine.open` after a restart). A template that fails to load fails again, and is
   * reported, when a run asks for it.
   */
  async warm(template: TemplateSpec, code: () => Promise<GuestCode>): Promise<void> {
    const threads = Array.from({ length: this.threads.length }, (_, i) => this.thread(i));
    const lacking = threads.filter((thread) => !thread.templates.has(template.key));
    if (lacking.length > 0) {
      const source = await code();
      for (const thread of lacking) this.loadTemplate(thread, template, async () => source).catch(() => undefined);
    }
    await Promise.all(threads.map((thread) => thread.templates.get(template.key)?.sent.catch(() => undefined)));
  }

  /** Runs `work` on the least busy thread with the template loaded there (kept loaded meanwhile). */
  async withTemplate<T>(template: TemplateSpec, code: () => Promise<GuestCode>, work: (thread: SandboxThread) => Promise<T>): Promise<T> {
    const thread = this.pick();
    try {
      await this.loadTemplate(thread, template, code, true);
      return await work(thread);
    } finally {
      this.sandboxGone(thread, template.key);
    }
  }

  /** A sandbox of `templateKey` left `thread` (released, crashed, lost, or never created). */
  sandboxGone(thread: SandboxThread, templateKey: string): void {
    if (thread.dead) return;
    thread.sandboxes--;
    const entry = thread.templates.get(templateKey);
    if (entry) entry.sandboxes--;
    this.unloadIdle(thread);
  }

  /** What the live threads hold, as they report it. */
  async stats(): Promise<{ templates: number; sandboxes: number }> {
    const reports = await Promise.all(this.threads.map((thread) => (thread && !thread.dead ? this.request(thread, { op: 'stats' }).catch(() => ({ templates: 0, sandboxes: 0 })) : { templates: 0, sandboxes: 0 })));
    return reports.reduce((sum, report) => ({ templates: sum.templates + report.templates, sandboxes: sum.sandboxes + report.sandboxes }), { templates: 0, sandboxes: 0 });
  }

  /**
   * Sends a request; rejects with `SandboxCrash`, `DeterminismViolationError`, `BundleLoadError`
   * or `SandboxLostError`. A tenant's request waits its turn in the thread's fair queue.
   */
  request<K extends ThreadRequest['op']>(thread: SandboxThread, request: Extract<ThreadRequest, { op: K }>, tenant?: Tenant): Promise<ThreadResults[K]> {
    if (thread.dead) return Promise.reject(new SandboxLostError('the sandbox thread was stopped'));
    return new Promise<ThreadResults[K]>((resolve, reject) => {
      const post = (expectedMs?: number) => {
        const id = this.nextId++;
        if (thread.pending.size === 0) thread.worker.ref();
        thread.pending.set(id, { op: request.op, resolve: resolve as (value: unknown) => void, reject, ...(tenant ? { tenant, expectedMs } : {}) });
        try {
          thread.worker.postMessage({ ...request, id });
        } catch (error) {
          // Not sent (a value that cannot be cloned): it fails alone, and frees its place.
          thread.pending.delete(id);
          if (thread.pending.size === 0) thread.worker.unref();
          throw error;
        }
        this.watch();
      };
      if (!tenant) return post();
      thread.fair.push(tenant, { op: request.op, post, reject });
      this.pump(thread);
    });
  }

  /** Sends the tenants' next requests, by the fair queue's choice, while the thread holds fewer than it may. */
  private pump(thread: SandboxThread): void {
    const fits = ({ tenant, unit, expectedMs, competing }: Candidate<FairUnit>) =>
      thread.fairInThread === 0 ||
      (!competing && unit.op !== 'wake' && tenant === thread.fairTenantInThread && thread.fairInThread < FAIR_UNITS_AHEAD && thread.fairExpectedMs + expectedMs <= FAIR_AHEAD_MS);
    while (!thread.dead) {
      const next = thread.fair.next(fits);
      if (!next) return;
      thread.fairInThread++;
      thread.fairTenantInThread = next.tenant;
      thread.fairExpectedMs += next.expectedMs;
      try {
        next.unit.post(next.expectedMs);
      } catch (error) {
        thread.fairUnitLeft(next.expectedMs);
        next.unit.reject(error);
      }
    }
  }

  /** Releases every sandbox whose id starts with `prefix` (an engine closed), in every live thread. */
  releaseAll(prefix: string): void {
    for (const thread of this.threads) {
      if (!thread || thread.dead) continue;
      this.request(thread, { op: 'releaseAll', prefix }).catch(() => undefined);
    }
  }

  private thread(index: number): SandboxThread {
    const existing = this.threads[index];
    if (existing && !existing.dead) return existing;
    const thread = this.spawn();
    this.threads[index] = thread;
    return thread;
  }

  private spawn(): SandboxThread {
    const watchdog = new SharedArrayBuffer(2 * Float64Array.BYTES_PER_ELEMENT);
    const data: ThreadData = { runtimeSource: this.runtimeSource, watchdog };
    const worker = startWorker(new URL('./sandbox-thread', import.meta.url), { workerData: data });
    const thread = new SandboxThread(worker, watchdog);
    worker.on('message', (response: ThreadResponse) => this.settle(thread, response));
    worker.on('error', (error) => void this.stop(thread, undefined, `the sandbox thread failed: ${error.message}`));
    worker.on('exit', () => void this.stop(thread, undefined, 'the sandbox thread exited'));
    // After the listeners: adding a 'message' listener refs the worker's port again. An idle thread must not keep the process alive.
    worker.unref();
    return thread;
  }

  private settle(thread: SandboxThread, response: ThreadResponse): void {
    const pending = thread.pending.get(response.id);
    if (!pending) return;
    thread.pending.delete(response.id);
    if (response.ok) pending.resolve(response.value);
    else pending.reject(errorOf(response.failure));
    if (pending.tenant !== undefined) {
      thread.fairUnitLeft(pending.expectedMs ?? 0);
      thread.fair.charge(pending.tenant, response.busyMs);
      this.pump(thread);
    }
    if (thread.pending.size === 0) thread.worker.unref();
  }

  /** Arms the watchdog while any thread is busy. */
  private watch(): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => {
      const now = performance.timeOrigin + performance.now();
      let busy = false;
      for (const thread of this.threads) {
        if (!thread || thread.dead || thread.pending.size === 0) continue;
        busy = true;
        const culprit = thread.overrun(now);
        if (culprit !== undefined) void this.stop(thread, culprit, 'the sandbox thread was stopped by the watchdog');
      }
      if (!busy) {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
      }
    }, WATCHDOG_INTERVAL_MS);
    this.watchdog.unref();
  }

  /** Terminates a thread: the culprit's request fails as a CPU-budget crash, the others as lost. */
  private async stop(thread: SandboxThread, culprit: number | undefined, reason: string): Promise<void> {
    if (thread.dead) return;
    thread.dead = true;
    const pending = [...thread.pending];
    thread.pending.clear();
    for (const waiting of thread.fair.drain()) waiting.reject(new SandboxLostError(`${reason}; its sandboxes are rebuilt`));
    for (const [id, request] of pending) {
      if (id !== culprit) request.reject(new SandboxLostError(`${reason}; its sandboxes are rebuilt`));
      else if (request.op === 'load') request.reject(new BundleLoadError(`the bundle or component did not finish evaluating within its CPU budget (stopped by the watchdog)`));
      else request.reject(new SandboxCrash('cpu-budget', 'the activation ran past its CPU budget without being interruptible (stopped by the watchdog)'));
    }
    await thread.worker.terminate();
  }

  /** Unloads the oldest loaded templates no sandbox uses, beyond the few a thread keeps. */
  private unloadIdle(thread: SandboxThread): void {
    const idle = [...thread.templates].filter(([, entry]) => entry.loaded && entry.sandboxes === 0);
    for (const [key] of idle.slice(0, Math.max(0, idle.length - IDLE_TEMPLATES_PER_THREAD))) {
      thread.templates.delete(key);
      this.request(thread, { op: 'unload', key }).catch(() => undefined);
    }
  }
}

function errorOf(failure: ThreadFailure): Error {
  switch (failure.kind) {
    case 'crash':
      return new SandboxCrash(failure.crashKind, failure.message, failure.guestStack);
    case 'violation': {
      const { kind: _kind, ...divergence } = failure;
      return new DeterminismViolationError(divergence);
    }
    case 'bundle':
      return new BundleLoadError(failure.message);
    case 'lost':
      return new SandboxLostError(failure.message);
    case 'error':
      return new Error(`sandbox thread: ${failure.message}`);
  }
}
