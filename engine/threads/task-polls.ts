/**
 * A remote worker's poll of a threaded engine: its main thread asks each partition thread for
 * a waiting attempt without waiting there (so no thread hands out an attempt nobody receives),
 * and otherwise waits until a thread says an attempt joined that queue, or the poll's time is
 * up. A notice that comes while the threads are being asked makes the poll ask again. A
 * thread being restarted is not asked (its attempts are dispatched again once it is back).
 *
 * @module
 */
import type { ActivityTaskMessage } from '../activities/task-message.js';
import type { TaskQueueDescription } from '../activities/task-queues.js';
import { unlessGone, type ThreadLinks } from './thread-links.js';

export class ThreadedTaskPolls {
  /** Attempts queued so far, by queue: a poll that saw none asks again if this moved meanwhile. */
  private readonly queued = new Map<string, number>();
  private readonly waiting = new Map<string, Set<() => void>>();
  /** Where the next poll starts asking, so no thread's queue waits behind another's. */
  private next = 0;

  constructor(private readonly threads: ThreadLinks) {}

  /** A partition thread queued an attempt in `namespace`'s `taskQueue`. */
  onQueued(namespace: string, taskQueue: string): void {
    const key = queueKey(namespace, taskQueue);
    this.queued.set(key, (this.queued.get(key) ?? 0) + 1);
    for (const wake of this.waiting.get(key) ?? []) wake();
  }

  async poll(options: { namespace: string; taskQueue: string; identity: string; waitMs: number; signal?: AbortSignal }): Promise<ActivityTaskMessage | undefined> {
    const { namespace, taskQueue, identity, signal } = options;
    const key = queueKey(namespace, taskQueue);
    const deadline = Date.now() + options.waitMs;
    for (;;) {
      const seen = this.queued.get(key) ?? 0;
      const threads = this.threads.live();
      const start = this.next++ % Math.max(1, threads.length);
      for (let i = 0; i < threads.length; i++) {
        if (signal?.aborted) return undefined;
        const thread = threads[(start + i) % threads.length];
        // A thread that died meanwhile has no attempt to give (its replacement dispatches them again).
        const task = await unlessGone(thread, thread.call<ActivityTaskMessage | undefined>('pollActivityTask', [{ namespace, taskQueue, identity, waitMs: 0 }]), undefined);
        if (task !== undefined) return task;
      }
      if ((this.queued.get(key) ?? 0) !== seen) continue;
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return undefined;
      await this.queuedOrTimeout(key, left, signal);
    }
  }

  /** The queue as every thread has it: attempts waiting in all, and the workers that polled any. */
  async describe(namespace: string, taskQueue: string): Promise<TaskQueueDescription> {
    const parts = await Promise.all(this.threads.live().map((thread) => unlessGone(thread, thread.call<TaskQueueDescription>('describeTaskQueue', [taskQueue, { namespace }]), { backlog: 0, pollers: [] })));
    const pollers = new Map<string, string>();
    for (const { identity, lastAccessTime } of parts.flatMap((part) => part.pollers)) {
      if ((pollers.get(identity) ?? '') < lastAccessTime) pollers.set(identity, lastAccessTime);
    }
    return { backlog: parts.reduce((sum, part) => sum + part.backlog, 0), pollers: [...pollers].map(([identity, lastAccessTime]) => ({ identity, lastAccessTime })) };
  }

  private queuedOrTimeout(key: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiters = this.waiting.get(key) ?? new Set();
      this.waiting.set(key, waiters);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0) this.waiting.delete(key);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
  }
}

const queueKey = (namespace: string, taskQueue: string): string => JSON.stringify([namespace, taskQueue]);
