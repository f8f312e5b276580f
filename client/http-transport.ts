/**
 * The client's operations over the HTTP API of `aion server` (docs/http-api.md). Errors come
 * back as `AionError`s with the server's code; a run that did not complete as a
 * `WorkflowFailedError` with its cause, as in process.
 *
 * @module
 */
import {
  AionError,
  fromFailureInfo,
  QueryFailedError,
  WorkflowAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateNotFoundError,
  type AionErrorCode,
  type FailureInfo,
  type HistoryEvent,
  type OverlapPolicy,
  type RunStatus,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleUpdate,
  type SignalWithStartOptions,
  type StartOptions,
  type UpdateWithStartOptions,
  type VisibilityQuery,
  type WorkflowDescription,
  type WorkflowSummary,
} from '../engine/index.js';
import type { ClientTransport, RunRef } from './transport.js';

/** The error body of the HTTP API (`failure`: the cause of a failed query or update). */
interface ErrorBody {
  code: string;
  message: string;
  failure?: FailureInfo;
  type?: string;
  workflowId?: string;
  runId?: string;
  updateId?: string;
}

/** The error an HTTP error answer stands for: the classes callers catch in process, with their cause or ids. */
function errorOf(status: number, body: ErrorBody | undefined): AionError {
  const message = body?.message ?? `the server answered ${status}`;
  if (body?.code === 'UPDATE_FAILED' && body.failure) return new WorkflowUpdateFailedError(message, fromFailureInfo(body.failure));
  if (body?.code === 'QUERY_FAILED') return new QueryFailedError(message, body.failure && fromFailureInfo(body.failure));
  if (body?.type === 'WorkflowNotFoundError' && body.workflowId !== undefined) return new WorkflowNotFoundError(body.workflowId, body.runId);
  if (body?.type === 'WorkflowAlreadyStartedError' && body.workflowId !== undefined && body.runId !== undefined) return new WorkflowAlreadyStartedError(body.workflowId, body.runId);
  if (body?.type === 'WorkflowUpdateNotFoundError' && body.updateId !== undefined && body.runId !== undefined) return new WorkflowUpdateNotFoundError(body.updateId, body.runId);
  const error = new AionError((body?.code ?? 'INVALID_ARGUMENT') as AionErrorCode, message);
  error.name = `AionError(${body?.code ?? status})`;
  return error;
}

export interface HttpConnectionOptions {
  /** `http://host:port`, or `host:port` (default `127.0.0.1:7233`). */
  address?: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
}

/** The base URL of a namespace's routes on the server at `address` (`http://host:port` or `host:port`, default `127.0.0.1:7233`). */
export function namespaceUrl(address: string | undefined, namespace: string): string {
  const given = address ?? '127.0.0.1:7233';
  const url = /^https?:\/\//.test(given) ? given : `http://${given}`;
  return `${url.replace(/\/$/, '')}/v1/namespaces/${encodeURIComponent(namespace)}`;
}

export class HttpTransport implements ClientTransport {
  private readonly base: string;

  constructor(
    private readonly options: HttpConnectionOptions,
    namespace: string,
  ) {
    this.base = namespaceUrl(options.address, namespace);
  }

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const response = await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    const parsed = (text === '' ? {} : JSON.parse(text)) as T & { error?: ErrorBody };
    if (!response.ok) throw errorOf(response.status, parsed.error);
    return parsed;
  }

  private path(run: RunRef, suffix = '', query: Record<string, string | undefined> = {}): string {
    const params = new URLSearchParams(Object.entries({ runId: run.runId, ...query }).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const search = params.size > 0 ? `?${params}` : '';
    return `/workflows/${encodeURIComponent(run.workflowId)}${suffix}${search}`;
  }

  start(workflowType: string, options: StartOptions) {
    return this.call<{ workflowId: string; runId: string }>('POST', '/workflows', { type: workflowType, ...options });
  }

  signalWithStart(workflowType: string, options: SignalWithStartOptions) {
    const { workflowId, ...rest } = options;
    return this.call<{ workflowId: string; runId: string }>('POST', this.path({ workflowId }, '/signal-with-start'), { type: workflowType, ...rest });
  }

  async result(run: RunRef) {
    let body: { status: RunStatus; result?: unknown; failure?: FailureInfo };
    // The server answers `Running` after each long poll: ask again until the run closed.
    do body = await this.call('GET', this.path(run, '/result', run.followRuns === false ? { followRuns: 'false' } : {}));
    while (body.status === 'Running');
    if (body.status === 'Completed') return body.result;
    throw new WorkflowFailedError(`Workflow execution ${body.status.toLowerCase()}`, body.status, fromFailureInfo(body.failure!));
  }

  async signal(run: RunRef, name: string, args: unknown[]) {
    await this.call('POST', this.path(run, `/signals/${encodeURIComponent(name)}`), { args });
  }

  async query(run: RunRef, name: string, args: unknown[]) {
    return (await this.call<{ result: unknown }>('POST', this.path(run, `/queries/${encodeURIComponent(name)}`), { args })).result;
  }

  async executeUpdate(run: RunRef, name: string, args: unknown[], updateId?: string) {
    const answer = await this.call<UpdateAnswer & { updateId: string; runId: string }>('POST', this.path(run, `/updates/${encodeURIComponent(name)}`), { args, updateId });
    // Still running at the end of the server's long poll: wait for it by its id.
    return answer.stage === 'COMPLETED' ? answer.result : this.updateResult({ workflowId: run.workflowId, runId: answer.runId }, answer.updateId);
  }

  async startUpdate(run: RunRef, name: string, args: unknown[], updateId?: string) {
    const accepted = await this.call<{ updateId: string; runId: string }>('POST', this.path(run, `/updates/${encodeURIComponent(name)}`), { args, updateId, waitForStage: 'ACCEPTED' });
    return this.startedUpdate({ workflowId: run.workflowId, runId: accepted.runId }, accepted);
  }

  async updateResult(run: RunRef, updateId: string) {
    let answer: UpdateAnswer;
    // The server answers `ACCEPTED` after each long poll: ask again until the update completed.
    do answer = await this.call('GET', this.path(run, `/updates/${encodeURIComponent(updateId)}`));
    while (answer.stage !== 'COMPLETED');
    return answer.result;
  }

  async startUpdateWithStart(workflowType: string, options: UpdateWithStartOptions) {
    const { workflowId, ...rest } = options;
    const accepted = await this.call<{ workflowId: string; runId: string; updateId: string }>('POST', this.path({ workflowId }, '/update-with-start'), {
      type: workflowType,
      ...rest,
      waitForStage: 'ACCEPTED',
    });
    return { workflowId: accepted.workflowId, ...this.startedUpdate({ workflowId, runId: accepted.runId }, accepted) };
  }

  /** An accepted update whose result is asked for when wanted (once). */
  private startedUpdate(run: { workflowId: string; runId: string }, accepted: { updateId: string; runId: string }) {
    let result: Promise<unknown> | undefined;
    return { updateId: accepted.updateId, runId: accepted.runId, result: () => (result ??= this.updateResult(run, accepted.updateId)) };
  }

  async cancel(run: RunRef, reason?: string) {
    await this.call('POST', this.path(run, '/cancel'), { reason });
  }

  async terminate(run: RunRef, reason?: string) {
    await this.call('POST', this.path(run, '/terminate'), { reason });
  }

  async describe(run: RunRef) {
    const body = await this.call<WorkflowDescription & { startTime: string; closeTime?: string }>('GET', this.path(run));
    return { ...body, startTime: new Date(body.startTime), ...(body.closeTime ? { closeTime: new Date(body.closeTime) } : {}) } as WorkflowDescription;
  }

  async history(run: RunRef) {
    return (await this.call<{ events: HistoryEvent[] }>('GET', this.path(run, '/history'))).events;
  }

  async list(query: VisibilityQuery, limit?: number) {
    const body = await this.call<{ workflows: (WorkflowSummary & { startTime: string; closeTime?: string })[] }>('GET', `/workflows?${listParams(query, limit)}`);
    return body.workflows.map((summary) => ({ ...summary, startTime: new Date(summary.startTime), ...(summary.closeTime ? { closeTime: new Date(summary.closeTime) } : {}) }));
  }

  async count(query: VisibilityQuery) {
    return (await this.call<{ count: number }>('GET', `/workflow-count?${listParams(query)}`)).count;
  }

  async completeActivity(taskToken: Uint8Array | string, result: unknown) {
    await this.call('POST', '/activities/complete', { taskToken: base64(taskToken), result });
  }

  async failActivity(taskToken: Uint8Array | string, failure: Error) {
    const { message, type, nonRetryable, details } = failure as Error & { type?: string; nonRetryable?: boolean; details?: unknown[] };
    await this.call('POST', '/activities/fail', { taskToken: base64(taskToken), failure: { message, type: type ?? failure.name, nonRetryable, details } });
  }

  async heartbeatActivity(taskToken: Uint8Array | string, details: unknown) {
    await this.call('POST', '/activities/heartbeat', { taskToken: base64(taskToken), details });
  }

  async reportActivityCancellation(taskToken: Uint8Array | string, details: unknown) {
    await this.call('POST', '/activities/report-cancellation', { taskToken: base64(taskToken), details });
  }

  async createSchedule(options: ScheduleOptions) {
    return scheduleFromJson(await this.call<ScheduleJson>('POST', '/schedules', options));
  }

  async describeSchedule(scheduleId: string) {
    return scheduleFromJson(await this.call<ScheduleJson>('GET', `/schedules/${encodeURIComponent(scheduleId)}`));
  }

  async listSchedules() {
    return (await this.call<{ schedules: ScheduleJson[] }>('GET', '/schedules')).schedules.map(scheduleFromJson);
  }

  async updateSchedule(scheduleId: string, update: ScheduleUpdate) {
    return scheduleFromJson(await this.call<ScheduleJson>('POST', `/schedules/${encodeURIComponent(scheduleId)}/update`, update));
  }

  async changeSchedule(scheduleId: string, change: 'pause' | 'resume') {
    return scheduleFromJson(await this.call<ScheduleJson>('POST', `/schedules/${encodeURIComponent(scheduleId)}/${change}`));
  }

  async triggerSchedule(scheduleId: string, overlap?: OverlapPolicy) {
    return scheduleFromJson(await this.call<ScheduleJson>('POST', `/schedules/${encodeURIComponent(scheduleId)}/trigger`, overlap !== undefined ? { overlap } : {}));
  }

  async backfillSchedule(scheduleId: string, backfill: { start: Date; end: Date; overlap?: OverlapPolicy }) {
    return scheduleFromJson(await this.call<ScheduleJson>('POST', `/schedules/${encodeURIComponent(scheduleId)}/backfill`, backfill));
  }

  async deleteSchedule(scheduleId: string) {
    await this.call('DELETE', `/schedules/${encodeURIComponent(scheduleId)}`);
  }
}

type ScheduleJson = Omit<ScheduleDescription, 'nextFireTimes'> & { nextFireTimes: string[] };

const scheduleFromJson = (json: ScheduleJson): ScheduleDescription => ({ ...json, nextFireTimes: json.nextFireTimes.map((time) => new Date(time)) });

const base64 = (token: Uint8Array | string): string => (typeof token === 'string' ? token : Buffer.from(token).toString('base64'));

function listParams(query: VisibilityQuery, limit?: number): URLSearchParams {
  const params = new URLSearchParams();
  if (query.status !== undefined) params.set('status', query.status);
  if (query.workflowType !== undefined) params.set('type', query.workflowType);
  if (query.workflowId !== undefined) params.set('workflowId', query.workflowId);
  const iso = (bound: Date | string | number) => new Date(bound).toISOString();
  if (query.startTime?.from !== undefined) params.set('startTimeFrom', iso(query.startTime.from));
  if (query.startTime?.to !== undefined) params.set('startTimeTo', iso(query.startTime.to));
  if (query.closeTime?.from !== undefined) params.set('closeTimeFrom', iso(query.closeTime.from));
  if (query.closeTime?.to !== undefined) params.set('closeTimeTo', iso(query.closeTime.to));
  if (query.searchAttributes !== undefined) params.set('searchAttributes', JSON.stringify(query.searchAttributes));
  if (limit !== undefined) params.set('limit', String(limit));
  return params;
}

/** What the server answers for an update: its result once completed; only its stage while it runs. */
type UpdateAnswer = { stage: 'COMPLETED'; result: unknown } | { stage: 'ACCEPTED' };
