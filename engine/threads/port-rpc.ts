/**
 * Calls between the engine's threads over a `MessagePort`: requests answered by id, errors
 * sent back as their class and fields and rebuilt on the calling side (so `instanceof` and
 * `code` work across threads), calls the caller aborts, streams pulled item by item, and
 * one-way notices.
 *
 * @module
 */
import type { MessagePort } from 'node:worker_threads';
import { errorClasses } from './error-classes.js';

/** What a side serves: each method takes the call's arguments and an abort signal. */
export type Handlers = Record<string, (args: unknown[], signal: AbortSignal) => unknown>;
/** Streams a side serves: each returns an async iterable, pulled one item per request. */
export type StreamHandlers = Record<string, (args: unknown[], signal: AbortSignal) => AsyncIterable<unknown>>;
/** One-way notices a side accepts. */
export type NoticeHandlers = Record<string, (payload: unknown) => void>;

type Message =
  | { kind: 'call'; id: number; method: string; args: unknown[] }
  | { kind: 'abort'; id: number }
  | { kind: 'result'; id: number; value: unknown }
  | { kind: 'error'; id: number; error: SentError }
  | { kind: 'open'; id: number; method: string; args: unknown[] }
  | { kind: 'next'; id: number; stream: number }
  | { kind: 'item'; id: number; done: boolean; value?: unknown }
  | { kind: 'close'; stream: number }
  | { kind: 'notice'; name: string; payload: unknown };

/** An error as it crosses: its class name and every own field (the cause sent the same way). */
export interface SentError {
  name: string;
  fields: Record<string, unknown>;
  cause?: SentError | { value: unknown };
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class PortRpc {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Calls being served, by id: aborted when the caller aborts or the port closes. */
  private readonly serving = new Map<number, AbortController>();
  private readonly streams = new Map<number, { iterator: AsyncIterator<unknown>; abort: AbortController }>();
  private closedWith: Error | undefined;

  constructor(
    private readonly port: MessagePort,
    private readonly served: { handlers?: Handlers; streams?: StreamHandlers; notices?: NoticeHandlers } = {},
    /** What calls fail with once the other thread is gone. */
    gone: () => Error = () => new Error('the thread at the other end of the port is gone'),
  ) {
    port.on('message', (message: Message) => this.receive(message));
    port.on('close', () => this.close(gone()));
  }

  /** True once closed, by either side or because the other thread is gone. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Calls `method` on the other side; aborting `signal` rejects at once and aborts it there. */
  call<T>(method: string, args: unknown[], signal?: AbortSignal): Promise<T> {
    return this.request<T>({ kind: 'call', method, args }, signal);
  }

  /** Sends a one-way notice (nothing comes back). */
  notify(name: string, payload: unknown): void {
    if (this.closedWith === undefined) this.port.postMessage({ kind: 'notice', name, payload } satisfies Message);
  }

  /** Opens a stream served on the other side; each item is asked for as it is consumed. Aborting `signal` ends it (quietly, as a local stream ends). */
  async *stream<T>(method: string, args: unknown[], signal?: AbortSignal): AsyncGenerator<T> {
    const unlessAborted = async <R>(request: Promise<R>): Promise<R | undefined> => {
      try {
        return await request;
      } catch (error) {
        if (signal?.aborted) return undefined;
        throw error;
      }
    };
    if (signal?.aborted) return;
    // Opened whatever happens meanwhile (it answers at once), so that an abort closes it there too.
    const stream = await unlessAborted(this.request<number>({ kind: 'open', method, args }));
    if (stream === undefined) return;
    try {
      for (;;) {
        const item = await unlessAborted(this.request<{ done: boolean; value?: T }>({ kind: 'next', stream }, signal));
        if (item === undefined || item.done) return;
        yield item.value as T;
      }
    } finally {
      if (this.closedWith === undefined) this.port.postMessage({ kind: 'close', stream } satisfies Message);
    }
  }

  /** Rejects every call in flight, aborts every call being served, and closes the port. */
  close(reason = new Error('the port was closed')): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = reason;
    for (const { reject } of this.pending.values()) reject(reason);
    this.pending.clear();
    for (const abort of this.serving.values()) abort.abort(reason);
    for (const { abort } of this.streams.values()) abort.abort(reason);
    this.serving.clear();
    this.streams.clear();
    this.port.close();
  }

  private request<T>(message: { kind: 'call'; method: string; args: unknown[] } | { kind: 'open'; method: string; args: unknown[] } | { kind: 'next'; stream: number }, signal?: AbortSignal): Promise<T> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      // Throws (a value structured clone cannot copy) before anything is pending.
      this.port.postMessage({ ...message, id } as Message);
      const onAbort = () => {
        this.pending.delete(id);
        this.port.postMessage({ kind: 'abort', id } satisfies Message);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (value) => (settle(), resolve(value as T)),
        reject: (error) => (settle(), reject(error)),
      });
    });
  }

  private receive(message: Message): void {
    switch (message.kind) {
      case 'call':
        return this.serve(message.id, () => this.handler(this.served.handlers, message.method)(message.args, this.abortOf(message.id).signal));
      case 'open':
        return this.serve(message.id, () => this.open(message.id, message.method, message.args));
      case 'next':
        return this.serve(message.id, () => this.next(message.stream));
      case 'abort':
        this.serving.get(message.id)?.abort(new Error('the caller aborted the call'));
        return;
      case 'close':
        this.closeStream(message.stream);
        return;
      case 'result':
      case 'item':
        this.settle(message.id, (pending) => pending.resolve(message.kind === 'result' ? message.value : { done: message.done, value: message.value }));
        return;
      case 'error':
        this.settle(message.id, (pending) => pending.reject(rebuildError(message.error)));
        return;
      case 'notice':
        this.served.notices?.[message.name]?.(message.payload);
        return;
    }
  }

  private settle(id: number, how: (pending: Pending) => void): void {
    const pending = this.pending.get(id);
    if (!pending) return; // aborted meanwhile
    this.pending.delete(id);
    how(pending);
  }

  private abortOf(id: number): AbortController {
    let abort = this.serving.get(id);
    if (!abort) this.serving.set(id, (abort = new AbortController()));
    return abort;
  }

  private serve(id: number, work: () => unknown): void {
    const answer = (message: Message) => {
      this.serving.delete(id);
      if (this.closedWith !== undefined) return;
      try {
        this.port.postMessage(message);
      } catch (error) {
        // An answer structured clone cannot copy: the caller gets why instead of waiting forever.
        this.port.postMessage({ kind: 'error', id, error: sendError(error) } satisfies Message);
      }
    };
    Promise.resolve()
      .then(work)
      .then(
        (value) => answer(value instanceof StreamItem ? { kind: 'item', id, done: value.done, value: value.value } : { kind: 'result', id, value }),
        (error: unknown) => answer({ kind: 'error', id, error: sendError(error) }),
      );
  }

  private open(id: number, method: string, args: unknown[]): number {
    const abort = this.abortOf(id);
    this.serving.delete(id);
    const iterable = this.handler(this.served.streams, method)(args, abort.signal);
    this.streams.set(id, { iterator: iterable[Symbol.asyncIterator](), abort });
    return id;
  }

  private async next(stream: number): Promise<StreamItem> {
    const open = this.streams.get(stream);
    if (!open) throw new Error(`stream ${stream} is closed`);
    const item = await open.iterator.next();
    if (item.done) this.streams.delete(stream);
    return new StreamItem(item.done === true, item.value);
  }

  private closeStream(stream: number): void {
    const open = this.streams.get(stream);
    if (!open) return;
    this.streams.delete(stream);
    open.abort.abort(new Error('the stream was closed by its reader'));
    open.iterator.return?.().catch(() => undefined);
  }

  private handler<H>(handlers: Record<string, H> | undefined, method: string): H {
    const handler = handlers !== undefined && Object.hasOwn(handlers, method) ? handlers[method] : undefined;
    if (handler === undefined) throw new Error(`no method ${method} is served on this port`);
    return handler;
  }
}

/** One item of a stream, as the serving side answers a `next`. */
class StreamItem {
  constructor(
    readonly done: boolean,
    readonly value: unknown,
  ) {}
}

/**
 * A payload (arguments, a result, details) as JSON carries it, as the engine records it — a
 * value with `toJSON` (a date library's, a decimal's) as its JSON, not its fields — before it
 * crosses; as it is if it is no JSON (the receiving engine's check then says why, as it would
 * in one thread).
 */
export function asJson<T>(value: T): T {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return value;
  }
  // A function or a symbol has no JSON: it is recorded as nothing.
  return (json === undefined ? undefined : JSON.parse(json)) as T;
}

/** How many causes deep an error is sent. */
const MAX_CAUSE_DEPTH = 8;

export function sendError(error: unknown, depth = 0): SentError {
  if (!(error instanceof Error)) return { name: 'Error', fields: { message: String(error) } };
  const fields: Record<string, unknown> = { message: error.message, stack: error.stack };
  for (const [key, value] of Object.entries(error)) if (key !== 'cause') fields[key] = cloneable(value);
  const sent: SentError = { name: error.constructor.name, fields };
  if (error.cause !== undefined && depth < MAX_CAUSE_DEPTH) sent.cause = error.cause instanceof Error ? sendError(error.cause, depth + 1) : { value: cloneable(error.cause) };
  return sent;
}

/** The error as its own class (or `Error`, for a class this side does not know), with its fields. */
export function rebuildError(sent: SentError): Error {
  const known = Object.hasOwn(errorClasses, sent.name) ? errorClasses[sent.name] : undefined;
  const error = Object.create((known ?? Error).prototype) as Error;
  for (const [key, value] of Object.entries(sent.fields)) Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: key !== 'message' && key !== 'stack' });
  if (known === undefined && sent.name !== 'Error') error.name = sent.name;
  if (sent.cause !== undefined) Object.defineProperty(error, 'cause', { value: 'name' in sent.cause ? rebuildError(sent.cause) : sent.cause.value, writable: true, configurable: true });
  return error;
}

/** A field as structured clone can copy it: as it is, else as JSON (a library's error with functions in a nested field), else its description. */
function cloneable(value: unknown): unknown {
  try {
    structuredClone(value);
    return value;
  } catch {
    try {
      return JSON.parse(JSON.stringify(value)) as unknown;
    } catch {
      return String(value);
    }
  }
}
