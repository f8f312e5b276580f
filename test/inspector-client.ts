/** A minimal client of the inspector protocol (what Chrome DevTools and VS Code speak), over `ws`. */
import WebSocket from 'ws';

export interface InspectorEvent {
  method: string;
  params: Record<string, unknown>;
}

export class InspectorClient {
  private nextId = 1;
  private readonly replies = new Map<number, { resolve(result: unknown): void; reject(error: Error): void }>();
  private readonly events: InspectorEvent[] = [];
  private readonly waiters: { method: string; resolve(event: InspectorEvent): void; reject(error: Error): void }[] = [];

  private constructor(private readonly socket: WebSocket) {
    // The debuggee went away: whatever is awaited will not come.
    socket.on('close', () => {
      for (const waiter of this.waiters.splice(0)) waiter.reject(new Error(`the inspector closed before ${waiter.method}`));
      for (const reply of this.replies.values()) reply.reject(new Error('the inspector closed before replying'));
      this.replies.clear();
    });
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
      if (message.id !== undefined) {
        const reply = this.replies.get(message.id);
        this.replies.delete(message.id);
        if (message.error) reply?.reject(new Error(message.error.message));
        else reply?.resolve(message.result);
        return;
      }
      const event = { method: message.method!, params: message.params ?? {} };
      const waiter = this.waiters.findIndex((w) => w.method === event.method);
      if (waiter >= 0) this.waiters.splice(waiter, 1)[0].resolve(event);
      else this.events.push(event);
    });
  }

  static connect(url: string): Promise<InspectorClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => resolve(new InspectorClient(socket)));
      socket.once('error', reject);
    });
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.replies.set(id, { resolve: resolve as (result: unknown) => void, reject }));
  }

  /** The next event named `method` (one already received first); rejects if the inspector closes first. */
  next(method: string): Promise<InspectorEvent> {
    const queued = this.events.findIndex((event) => event.method === method);
    if (queued >= 0) return Promise.resolve(this.events.splice(queued, 1)[0]);
    if (this.socket.readyState !== WebSocket.OPEN) return Promise.reject(new Error(`the inspector is closed: no ${method} will come`));
    return new Promise((resolve, reject) => this.waiters.push({ method, resolve, reject }));
  }

  /** Every event named `method` received and not yet taken. */
  received(method: string): InspectorEvent[] {
    return this.events.filter((event) => event.method === method);
  }

  close(): void {
    this.socket.close();
  }
}
