/**
 * Live history: a run's events from a position on and, when following, each one as it is
 * committed, until the run closes (`handle.events`); and every committed event of a
 * namespace's runs, filtered by workflow type and status (`engine.watch`). Both listen to the
 * store's `appended` events, so what they deliver is what the log holds, in order.
 *
 * @module
 */
import type { EventStore, RunStatus } from '../store/types.js';
import { isClosingEvent, type HistoryEvent } from './history/events.js';

/** Committed events, queued until the reader takes them; wakes a reader waiting for more. */
class Inbox<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;

  push(...items: T[]): void {
    this.items.push(...items);
    this.wake?.();
  }

  /** The queued items, or (once some arrive, or `signal` aborts) what came meanwhile. */
  async take(signal: AbortSignal | undefined): Promise<T[]> {
    if (this.items.length === 0 && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      this.wake = undefined;
    }
    return this.items.splice(0);
  }
}

/**
 * The run's events from `from` on; with `follow`, then each one committed after, until its
 * closing event (or `signal` aborts).
 */
export async function* historyEvents(
  store: EventStore<HistoryEvent>,
  namespace: string,
  runId: string,
  options: { from: number; follow: boolean; signal?: AbortSignal },
): AsyncGenerator<HistoryEvent> {
  const inbox = new Inbox<HistoryEvent>();
  // Listening before reading: what is committed meanwhile is queued, and read twice at most.
  const listener = (append: { namespace: string; runId: string; events: unknown[] }) => {
    if (append.namespace === namespace && append.runId === runId) inbox.push(...(append.events as HistoryEvent[]));
  };
  if (options.follow) store.events.on('appended', listener);
  try {
    let next = options.from;
    for (const event of await store.readHistory(namespace, runId, { from: options.from })) {
      yield event;
      next = event.eventId + 1;
      if (isClosingEvent(event)) return;
    }
    while (options.follow && !options.signal?.aborted) {
      for (const event of await inbox.take(options.signal)) {
        if (event.eventId < next) continue;
        yield event;
        next = event.eventId + 1;
        if (isClosingEvent(event)) return;
      }
    }
  } finally {
    store.events.off('appended', listener);
  }
}

/** An event of a namespace-wide watch: which run, of what type, in what status once it was committed. */
export interface WatchedEvent {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: RunStatus;
  event: HistoryEvent;
}

/** Every event committed to `namespace`'s runs from now on (of one type, and in one status, if given), until `signal` aborts. */
export async function* namespaceEvents(
  store: EventStore<HistoryEvent>,
  namespace: string,
  options: { workflowType?: string; status?: RunStatus; signal?: AbortSignal },
): AsyncGenerator<WatchedEvent> {
  const inbox = new Inbox<{ runId: string; events: HistoryEvent[] }>();
  const listener = (append: { namespace: string; runId: string; events: unknown[] }) => {
    if (append.namespace === namespace) inbox.push({ runId: append.runId, events: append.events as HistoryEvent[] });
  };
  store.events.on('appended', listener);
  try {
    while (!options.signal?.aborted) {
      for (const { runId, events } of await inbox.take(options.signal)) {
        const run = await store.getRun(namespace, runId);
        if (!run || (options.workflowType !== undefined && run.workflowType !== options.workflowType) || (options.status !== undefined && run.status !== options.status)) continue;
        for (const event of events) yield { workflowId: run.workflowId, runId, workflowType: run.workflowType, status: run.status, event };
      }
    }
  } finally {
    store.events.off('appended', listener);
  }
}
