/**
 * A worker's calls to `aion server` (docs/http-api.md, "Remote activity workers"): long polls
 * of its task queue, and reports on the attempts it runs, all authenticated with its API key.
 *
 * @module
 */
import { namespaceUrl } from '../client/http-transport.js';
import type { ActivityTaskMessage } from '../engine/index.js';

export interface WorkerConnectionOptions {
  /** `http://host:port`, or `host:port` (default `127.0.0.1:7233`). */
  address?: string;
  /** An API key (or token) with the `worker` role in the worker's namespace, sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
}

/** An answer of the server that is not a success: its HTTP status and error code. */
export class WorkerCallError extends Error {
  override name = 'WorkerCallError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** The call cannot succeed by trying again: bad credentials, a namespace that does not exist, a bad request. */
  get permanent(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429;
  }
}

/** How long the server holds a poll open without a task. */
const POLL_WAIT_MS = 20_000;
/** How long a call may take before the worker gives up on it (and retries, or counts a heartbeat as not sent). */
const CALL_TIMEOUT_MS = 30_000;

export interface FailureReport {
  message: string;
  type?: string;
  nonRetryable?: boolean;
  details?: unknown[];
  stack?: string;
}

export class WorkerTransport {
  private readonly namespacePath: string;

  constructor(
    private readonly connection: WorkerConnectionOptions,
    namespace: string,
  ) {
    this.namespacePath = namespaceUrl(connection.address, namespace);
  }

  /** The next task of the queue, or undefined when the server's long poll ended without one. */
  async poll(taskQueue: string, identity: string, signal: AbortSignal): Promise<ActivityTaskMessage | undefined> {
    // The server answers within POLL_WAIT_MS: a poll that takes much longer went astray.
    const answer = await this.call(`/task-queues/${encodeURIComponent(taskQueue)}/activity-tasks/poll`, { identity, waitMs: POLL_WAIT_MS }, AbortSignal.any([signal, AbortSignal.timeout(POLL_WAIT_MS + CALL_TIMEOUT_MS)]));
    return answer as ActivityTaskMessage | undefined;
  }

  async complete(taskToken: string, result: unknown): Promise<void> {
    await this.call('/activities/complete', { taskToken, result });
  }

  async fail(taskToken: string, failure: FailureReport): Promise<void> {
    await this.call('/activities/fail', { taskToken, failure });
  }

  async reportCancellation(taskToken: string, details: unknown): Promise<void> {
    await this.call('/activities/report-cancellation', { taskToken, details });
  }

  /** Records a heartbeat; rejects with a `WorkerCallError` (409 NOT_RUNNING) once the workflow asked the activity to cancel. */
  async heartbeat(taskToken: string, details: unknown): Promise<void> {
    await this.call('/activities/heartbeat', { taskToken, details });
  }

  private async call(path: string, body: unknown, signal: AbortSignal = AbortSignal.timeout(CALL_TIMEOUT_MS)): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.connection.apiKey) headers.authorization = `Bearer ${this.connection.apiKey}`;
    const response = await fetch(`${this.namespacePath}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal });
    if (response.status === 204) return undefined;
    const text = await response.text();
    let parsed: { error?: { code?: string; message?: string } } | undefined;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw new WorkerCallError(response.status, parsed?.error?.code ?? 'UNKNOWN', parsed?.error?.message ?? `the server answered ${response.status}`);
    return parsed;
  }
}
