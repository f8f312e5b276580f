/**
 * Live history: a run's events from a position on and, when following, each one as it is
 * committed, until the run closes (`handle.events`); and every committed event of a
 * namespace's runs, filtered by workflow type and status (`engine.watch`). Both listen to the
 * store's `appended` events — registered when the stream is made, removed when it ends or its
 * signal aborts — so what they deliver is what the log holds, in order.
 *
 * @module
 */
import type { EventStore, RunStatus } from '../store/types.js';
import { AionError } from './errors.js';
import { isClosingEvent, type HistoryEvent } from './history/events.js';

/** Events a stream holds for a reader that does not keep up; past it the stream ends with `StreamLaggedError`. */
export const MAX_QUEUED_EVENTS = 10_000;

/** A live stream's reader fell too far behind: it ends, and the reader resumes from its last event. */
export class StreamLaggedError extends AionError {
  override name = 'StreamLaggedError';
  constructor() {
    super('FAILED_PRECONDITION', `the reader fell more than ${MAX_QUEUED_EVENTS} events behind: resume from the last event received`);
  }
}

type Append = { namespace: string; runId: string; events: unknown[] };

/** Committed events, queued until the reader takes them; wakes a reader waiting for more. */
class Inbox<T> {
  private items: T[] = [];
  private count = 0;
  private wake: (() => void) | undefined;
  private overflowed = false;

  push(items: T[], weight: number): void {
    this.count += weight;
    if (this.count > MAX_QUEUED_EVENTS) this.overflowed = true;
    else this.items.push(...items);
    this.wake?.();
  }

  /** The queued items, or (once some arrive, or `signal` aborts) what came meanwhile. */
  async take(signal: AbortSignal): Promise<T[]> {
    if (this.items.length === 0 && !this.overflowed && !signal.aborted) {
      let onAbort: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
      });
      signal.removeEventListener('abort', onAbort!);
      this.wake = undefined;
    }
    if (this.overflowed) throw new StreamLaggedError();
    const taken = this.items;
    this.items = [];
    this.count = 0;
    return taken;
  }
}

/** Listens to the store's appends from now until `signal` aborts or `stop()` is called. */
function listen(store: EventStore<HistoryEvent>, signal: AbortSignal, onAppend: (append: Append) => void): () => void {
  const stop = () => {
    store.events.off('appended', onAppend);
    signal.removeEventListener('abort', stop);
  };
  store.events.on('appended', onAppend);
  signal.addEventListener('abort', stop, { once: true });
  return stop;
}

/**
 * The run's events from `from` on; with `follow`, then each one committed after, until its
 * closing event (or the run is found closed, or `signal` aborts).
 */
export function historyEvents(
  store: EventStore<HistoryEvent>,
  namespace: string,
  runId: string,
  options: { from: number; follow: boolean; signal: AbortSignal },
): AsyncGenerator<HistoryEvent> {
  const { signal } = options;
  const inbox = new Inbox<HistoryEvent>();
  // Listening before reading: what is committed meanwhile is queued (and skipped if read already).
  const stop = options.follow
    ? listen(store, signal, (append) => {
        if (append.namespace === namespace && append.runId === runId) inbox.push(append.events as HistoryEvent[], append.events.length);
      })
    : () => {};
  return (async function* () {
    try {
      let next = options.from;
      for (const event of await store.readHistory(namespace, runId, { from: options.from })) {
        yield event;
        next = event.eventId + 1;
        if (isClosingEvent(event)) return;
      }
      // Asked to go on past a closing event already sent: nothing will come.
      if (!options.follow || (await store.getRun(namespace, runId))?.status !== 'Running') return;
      while (!signal.aborted) {
        for (const event of await inbox.take(signal)) {
          if (event.eventId < next) continue;
          yield event;
          next = event.eventId + 1;
          if (isClosingEvent(event)) return;
        }
      }
    } finally {
      stop();
    }
  })();
}

/** An event of a namespace-wide watch: which run, of what type, and its status as read when the event is delivered. */
export interface WatchedEvent {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: RunStatus;
  event: HistoryEvent;
}

/** Every event committed to `namespace`'s runs from now on (of one type, and in one status, if given), until `signal` aborts. */
export function namespaceEvents(
  store: EventStore<HistoryEvent>,
  namespace: string,
  options: { workflowType?: string; status?: RunStatus; signal: AbortSignal },
): AsyncGenerator<WatchedEvent> {
  const { signal } = options;
  const inbox = new Inbox<{ runId: string; events: HistoryEvent[] }>();
  const stop = listen(store, signal, (append) => {
    if (append.namespace === namespace) inbox.push([{ runId: append.runId, events: append.events as HistoryEvent[] }], append.events.length);
  });
  return (async function* () {
    try {
      while (!signal.aborted) {
        for (const { runId, events } of await inbox.take(signal)) {
          const run = await store.getRun(namespace, runId);
          if (!run || (options.workflowType !== undefined && run.workflowType !== options.workflowType) || (options.status !== undefined && run.status !== options.status)) continue;
          for (const event of events) yield { workflowId: run.workflowId, runId, workflowType: run.workflowType, status: run.status, event };
        }
      }
    } finally {
      stop();
    }
  })();
}
