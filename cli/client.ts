/**
 * The CLI's client of the HTTP API (docs/http-api.md).
 *
 * @module
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export class CliError extends Error {
  constructor(
    message: string,
    /** Process exit code for this error. */
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface ClientOptions {
  endpoint: string;
  namespace: string;
  token?: string;
}

export class AionClient {
  constructor(private readonly options: ClientOptions) {}

  /** Calls `method path` under the namespace (`/v1/namespaces/<ns>` + `path`). */
  call<T>(method: Method, path: string, body?: unknown): Promise<T> {
    return this.callServer<T>(method, `/v1/namespaces/${encodeURIComponent(this.options.namespace)}${path}`, body);
  }

  /** Calls `method path` of the server itself (`/v1/keys`, `/v1/namespaces`...). */
  async callServer<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new CliError(`the server answered ${response.status} with a body that is not JSON`);
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new CliError(error?.message ?? `the server answered ${response.status}`);
    }
    return parsed as T;
  }

  /** Each server-sent event of `GET path` under the namespace, as it arrives (until the server ends the stream). */
  async *events(path: string): AsyncGenerator<EventSourceMessage> {
    const response = await this.request('GET', `/v1/namespaces/${encodeURIComponent(this.options.namespace)}${path}`);
    if (response.status === 204) return; // nothing follows (a closed run, asked for what comes after its end)
    if (!response.ok || !response.body) {
      const error = ((await response.json().catch(() => ({}))) as { error?: { message?: string } }).error;
      throw new CliError(error?.message ?? `the server answered ${response.status}`);
    }
    const messages: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (message) => messages.push(message) });
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      yield* messages.splice(0);
    }
  }

  private async request(method: Method, path: string, body?: unknown): Promise<Response> {
    const url = `${this.options.endpoint.replace(/\/$/, '')}${path}`;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    try {
      return await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      const reason = cause?.code === 'ECONNREFUSED' ? 'connection refused' : (error as Error).message;
      throw new CliError(`cannot reach the Aion server at ${this.options.endpoint} (${reason}); is \`aion server\` running?`);
    }
  }
}

/** `/workflows/<id>` with an optional run id. */
export function workflowPath(workflowId: string, suffix = '', runId?: string, query: Record<string, string> = {}): string {
  const params = new URLSearchParams({ ...query, ...(runId !== undefined ? { runId } : {}) });
  return `/workflows/${encodeURIComponent(workflowId)}${suffix}${params.size > 0 ? `?${params}` : ''}`;
}
