/**
 * Activity task queues: where an activity attempt that no function of this engine runs waits
 * for a remote worker (`aion/worker`) polling its namespace's task queue. One FIFO per
 * (namespace, task queue); a poll takes the oldest attempt or waits for one (long poll).
 * Nothing here is persisted: the attempts are the dispatcher's recorded tasks, queued again
 * when the engine restarts.
 *
 * @module
 */

/** An attempt waiting in a queue: `claim` starts it for the poller (undefined: it is no longer wanted). */
export interface QueuedAttempt<T> {
  claim(worker: string): T | undefined;
}

interface Poller<T> {
  worker: string;
  deliver(task: T | undefined): void;
}

interface TaskQueue<T> {
  backlog: Set<QueuedAttempt<T>>;
  pollers: Poller<T>[];
  /** The workers that polled recently, with when they last did. */
  seen: Map<string, number>;
}

export interface TaskQueueDescription {
  /** Attempts waiting for a worker. */
  backlog: number;
  /** Workers polling now or during the last minute, with when they last polled. */
  pollers: { identity: string; lastAccessTime: string }[];
}

/** How long a worker counts as a poller of a queue after its last poll. */
const POLLER_MEMORY_MS = 60_000;

export class ActivityTaskQueues<T> {
  private readonly queues = new Map<string, TaskQueue<T>>();

  /** `onQueued`: told when an attempt waits in a queue with no poller (a threaded engine's main thread polls again). */
  constructor(private readonly onQueued: (namespace: string, taskQueue: string) => void = () => undefined) {}

  /** Queues an attempt, or hands it to a waiting poller at once. */
  offer(namespace: string, taskQueue: string, attempt: QueuedAttempt<T>): void {
    const queue = this.queue(namespace, taskQueue);
    const poller = queue.pollers.shift();
    if (!poller) {
      queue.backlog.add(attempt);
      this.onQueued(namespace, taskQueue);
      return;
    }
    const task = attempt.claim(poller.worker);
    if (task !== undefined) poller.deliver(task);
    else queue.pollers.unshift(poller);
  }

  /** Takes an attempt out of its queue (it timed out, was cancelled, or a worker reclaimed it). */
  withdraw(namespace: string, taskQueue: string, attempt: QueuedAttempt<T>): void {
    const queue = this.queues.get(queueKey(namespace, taskQueue));
    if (!queue) return;
    queue.backlog.delete(attempt);
    this.dropIfUnused(namespace, taskQueue, queue);
  }

  /** A queue with nothing waiting, nobody polling and no recent poller is forgotten (any name a worker polls makes one). */
  private dropIfUnused(namespace: string, taskQueue: string, queue: TaskQueue<T>): void {
    if (isUnused(queue)) this.queues.delete(queueKey(namespace, taskQueue));
  }

  /**
   * The oldest attempt of the queue, started for `worker`; waits up to `waitMs` for one.
   * Undefined when none came, or when `signal` aborted (the poller went away).
   */
  poll(namespace: string, taskQueue: string, worker: string, options: { waitMs: number; signal?: AbortSignal }): Promise<T | undefined> {
    // A poller that went away takes nothing (what it took would wait for its timeout).
    if (options.signal?.aborted) return Promise.resolve(undefined);
    const queue = this.queue(namespace, taskQueue);
    forgetIdlePollers(queue, Date.now());
    queue.seen.set(worker, Date.now());
    for (const attempt of queue.backlog) {
      queue.backlog.delete(attempt);
      const task = attempt.claim(worker);
      if (task !== undefined) return Promise.resolve(task);
    }
    return new Promise((resolve) => {
      const poller: Poller<T> = {
        worker,
        deliver: (task) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', leave);
          resolve(task);
        },
      };
      const leave = () => {
        const index = queue.pollers.indexOf(poller);
        if (index >= 0) queue.pollers.splice(index, 1);
        poller.deliver(undefined);
        this.dropIfUnused(namespace, taskQueue, queue);
      };
      const timer = setTimeout(leave, options.waitMs);
      options.signal?.addEventListener('abort', leave, { once: true });
      queue.pollers.push(poller);
    });
  }

  describe(namespace: string, taskQueue: string): TaskQueueDescription {
    const queue = this.queues.get(queueKey(namespace, taskQueue));
    if (!queue) return { backlog: 0, pollers: [] };
    const now = Date.now();
    const polling = new Set(queue.pollers.map((poller) => poller.worker));
    forgetIdlePollers(queue, now);
    return {
      backlog: queue.backlog.size,
      pollers: [...queue.seen].map(([identity, at]) => ({ identity, lastAccessTime: new Date(polling.has(identity) ? now : at).toISOString() })),
    };
  }

  /** Ends every waiting poll with nothing (the engine closes). */
  close(): void {
    for (const queue of this.queues.values()) for (const poller of queue.pollers.splice(0)) poller.deliver(undefined);
    this.queues.clear();
  }

  private queue(namespace: string, taskQueue: string): TaskQueue<T> {
    const key = queueKey(namespace, taskQueue);
    let queue = this.queues.get(key);
    if (!queue) {
      // Queues come into being by being named: the unused ones go when another comes.
      for (const [otherKey, other] of this.queues) {
        if (isUnused(other)) this.queues.delete(otherKey);
      }
      this.queues.set(key, (queue = { backlog: new Set(), pollers: [], seen: new Map() }));
    }
    return queue;
  }
}

const queueKey = (namespace: string, taskQueue: string): string => `${namespace}\u0000${taskQueue}`;

function isUnused<T>(queue: TaskQueue<T>): boolean {
  forgetIdlePollers(queue, Date.now());
  return queue.backlog.size === 0 && queue.pollers.length === 0 && queue.seen.size === 0;
}

/** Forgets the workers that have not polled for a while and poll no more. */
function forgetIdlePollers<T>(queue: TaskQueue<T>, now: number): void {
  if (queue.seen.size === 0) return;
  const polling = new Set(queue.pollers.map((poller) => poller.worker));
  for (const [worker, at] of queue.seen) if (!polling.has(worker) && now - at > POLLER_MEMORY_MS) queue.seen.delete(worker);
}
