/**
 * The HTTP JSON API over an `Engine` (routes in docs/http-api.md). A thin layer: it parses
 * requests, calls the engine's public API and maps errors to status codes.
 *
 * @module
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import {
  ApplicationFailure,
  isClosingEventType,
  replayHistories,
  RUN_STATUSES,
  toFailureInfo,
  WorkflowFailedError,
  type Engine,
  type Logger,
  type OverlapPolicy,
  type RunStatus,
  type ScheduleOptions,
  type ScheduleUpdate,
  type SignalWithStartOptions,
  type StartOptions,
  type UpdateWithStartOptions,
  type VisibilityQuery,
} from '../engine/index.js';
import { errorResponse, HttpError } from './errors.js';
import { pollAcrossCluster } from './cluster-polls.js';
import { FORWARDED_HEADER, forwardToOwner } from './forward.js';
import { authenticate, authorizer, stillAuthorized, type AuthEnv, type AuthOptions } from './auth.js';
import { mountHostingRoutes } from './hosting-routes.js';
import { jsonBody } from './json-body.js';
import { mountUi } from './ui.js';

export interface AppOptions extends AuthOptions {
  logger?: Logger;
  /** Aborted when the server shuts down: ends the event streams it serves. */
  shutdown?: AbortSignal;
  /** How often an open event stream checks its credential still holds (default 30 s). */
  credentialRecheckMs?: number;
}

const CREDENTIAL_RECHECK_MS = 30_000;

/** A stream that failed after it started: the client is told why, in the stream. */
async function sseError(error: Error, stream: SSEStreamingApi): Promise<void> {
  await stream.writeSSE({ event: 'error', data: JSON.stringify({ message: error.message }) });
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** The longest a long poll (a worker's poll, a wait for a result) is held: below the idle timeouts of common reverse proxies (60 s). */
const LONG_POLL_MS = 50_000;

export function createApp(engine: Engine, options: AppOptions = {}): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const authenticateRequest = authenticate(engine, options, options.logger);

  app.onError(async (error, c) => {
    // Cluster mode: a call for a partition another engine serves is answered by that engine.
    const forwarded = await forwardToOwner(engine, error, c, options.logger);
    if (forwarded) {
      c.set('forwarded', true);
      return forwarded;
    }
    const { status, body } = errorResponse(error);
    if (status === 500) options.logger?.error({ err: error, path: c.req.path }, 'request failed');
    return c.json(body, status);
  });
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  /** 200 while the engine takes writes; 503 with the reason while its store refuses them. */
  app.get('/v1/health', (c) => {
    const health = engine.health();
    return c.json(health, health.status === 'ok' ? 200 : 503);
  });
  mountUi(app);

  app.use('/v1/*', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ error: { code: 'INVALID_ARGUMENT', message: 'request body too large' } }, 413) }));
  // After /v1/health, which answers before it: health needs no credential.
  app.use('/v1/*', authenticateRequest);
  const guard = authorizer(engine, options.logger);
  mountHostingRoutes(app, engine, guard);
  // Metrics name every tenant's workflow types: an admin's, once the server requires credentials.
  app.get('/metrics', authenticateRequest, guard('admin'), async (c) => c.text(await engine.metrics.registry.metrics(), 200, { 'content-type': engine.metrics.registry.contentType }));
  app.get('/v1/cluster/status', guard('admin'), async (c) => c.json(await engine.clusterStatus()));

  const ns = (c: Context) => c.req.param('ns')!;
  const visibilityQuery = (c: Context): VisibilityQuery => {
    const attributes = c.req.query('searchAttributes');
    let searchAttributes: VisibilityQuery['searchAttributes'];
    try {
      searchAttributes = attributes === undefined ? undefined : (JSON.parse(attributes) as VisibilityQuery['searchAttributes']);
    } catch {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'searchAttributes must be a JSON object of predicates');
    }
    const range = (from: string | undefined, to: string | undefined) => (from === undefined && to === undefined ? undefined : { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
    const startTime = range(c.req.query('startTimeFrom'), c.req.query('startTimeTo'));
    const closeTime = range(c.req.query('closeTimeFrom'), c.req.query('closeTimeTo'));
    return {
      namespace: ns(c),
      status: c.req.query('status') as RunStatus | undefined,
      workflowType: c.req.query('type'),
      workflowId: c.req.query('workflowId'),
      ...(startTime ? { startTime } : {}),
      ...(closeTime ? { closeTime } : {}),
      ...(searchAttributes ? { searchAttributes } : {}),
    };
  };
  const handle = (c: Context) => engine.getHandle(c.req.param('id')!, c.req.query('runId'), { namespace: ns(c), followRuns: c.req.query('followRuns') !== 'false' });

  app.post('/v1/namespaces/:ns/bundles', guard('deploy', 'deploy'), async (c) => {
    const body = await jsonBody<{ code?: unknown; component?: unknown; check?: unknown }>(c);
    // A component travels as base64 in the JSON body.
    if (body.component !== undefined && typeof body.component !== 'string') throw new HttpError(400, 'INVALID_ARGUMENT', 'component must be the base64 of a WebAssembly component');
    const source = body.component === undefined ? { code: body.code as string } : { component: new Uint8Array(Buffer.from(body.component as string, 'base64')) };
    return c.json(await engine.deploy({ ...source, namespace: ns(c), ...(body.check === true ? { check: true } : {}) }), 201);
  });

  app.get('/v1/namespaces/:ns/versions', guard('read'), async (c) => c.json({ versions: await engine.versions({ namespace: ns(c) }) }));
  /** Routes new runs of a type (or `all` the version exports) to a deployed version: rollback and roll forward. */
  app.post('/v1/namespaces/:ns/routes', guard('deploy', 'route'), async (c) => {
    const body = await jsonBody<{ target?: unknown; version?: unknown }>(c);
    return c.json(await engine.route(body.target as string, body.version as string, { namespace: ns(c) }));
  });
  app.delete('/v1/namespaces/:ns/versions/:version', guard('deploy', 'unload'), async (c) => {
    await engine.unload(c.req.param('version')!, { namespace: ns(c) });
    return c.json({});
  });

  app.post('/v1/namespaces/:ns/workflows', guard('operate', 'start'), async (c) => {
    // The body is the type and the start options (the engine refuses an unknown option by name).
    const { type, ...options } = await jsonBody<{ type?: unknown } & StartOptions>(c);
    const started = await engine.start(type as string, { ...options, namespace: ns(c) });
    return c.json({ workflowId: started.workflowId, runId: started.runId }, 201);
  });

  app.get('/v1/namespaces/:ns/workflows', guard('read'), async (c) => {
    const limit = c.req.query('limit');
    const workflows = await engine.list({ ...visibilityQuery(c), limit: limit === undefined ? undefined : Number(limit) });
    return c.json({ workflows });
  });

  app.get('/v1/namespaces/:ns/workflow-count', guard('read'), async (c) => c.json({ count: await engine.count(visibilityQuery(c)) }));

  app.get('/v1/namespaces/:ns/workflows/:id', guard('read'), async (c) => c.json(await handle(c).describe()));

  app.get('/v1/namespaces/:ns/workflows/:id/history', guard('read'), async (c) => c.json({ events: await handle(c).history() }));

  /**
   * The run's history as server-sent events (`id`: `<runId>:<eventId>`, `event: history`), from
   * `from` (or after the `Last-Event-ID` a reconnecting client sends, in that run); with
   * `follow=true`, then each event as it is committed. Ends with `event: end` once the run's
   * closing event was sent, `event: error` if the stream stops otherwise; `204` when asked for
   * what follows the closing event of a closed run (a browser's EventSource stops on it).
   */
  app.get('/v1/namespaces/:ns/workflows/:id/events', guard('read'), async (c) => {
    const resume = /^([^:]+):(\d+)$/.exec(c.req.header('last-event-id') ?? '');
    const from = resume ? Number(resume[2]) + 1 : Number(c.req.query('from') ?? 1);
    if (!Number.isInteger(from) || from < 1) throw new HttpError(400, 'INVALID_ARGUMENT', 'from must be an event id (Last-Event-ID: <runId>:<eventId>)');
    const run = await engine.getHandle(c.req.param('id')!, resume?.[1] ?? c.req.query('runId'), { namespace: ns(c) }).describe();
    if (run.status !== 'Running' && from > run.historyLength) return c.body(null, 204);
    const follow = c.req.query('follow') === 'true';
    const events = engine.getHandle(run.workflowId, run.runId, { namespace: ns(c) });
    return streamSSE(
      c,
      async (stream) => {
        const signal = streamSignal(stream, c);
        let closed = false;
        for await (const event of events.events({ from, follow, signal })) {
          await stream.writeSSE({ id: `${run.runId}:${event.eventId}`, event: 'history', data: JSON.stringify(event) });
          closed = isClosingEventType(event.type);
        }
        if (closed || !follow) await stream.writeSSE({ event: 'end', data: JSON.stringify({ runId: run.runId, closed }) });
        else if (!stream.aborted) await stream.writeSSE({ event: 'error', data: JSON.stringify({ message: `${String(signal.reason)}: resume with Last-Event-ID` }) });
      },
      sseError,
    );
  });

  /** Every event committed to the namespace's runs from now on (`type`, `status` filter), as server-sent events. */
  app.get('/v1/namespaces/:ns/events', guard('read'), async (c) => {
    const status = c.req.query('status') as RunStatus | undefined;
    if (status !== undefined && !RUN_STATUSES.includes(status)) throw new HttpError(400, 'INVALID_ARGUMENT', `status must be one of ${RUN_STATUSES.join(', ')}`);
    const workflowType = c.req.query('type');
    return streamSSE(
      c,
      async (stream) => {
        const signal = streamSignal(stream, c);
        for await (const watched of engine.watch({ namespace: ns(c), ...(workflowType !== undefined ? { workflowType } : {}), ...(status !== undefined ? { status } : {}), signal })) {
          await stream.writeSSE({ event: 'history', data: JSON.stringify(watched) });
        }
        if (!stream.aborted) await stream.writeSSE({ event: 'error', data: JSON.stringify({ message: String(signal.reason) }) });
      },
      sseError,
    );
  });

  /** Aborts when the request's client goes, the server shuts down (closing it does not wait for long polls), or one of `also` aborts. */
  const requestSignal = (c: Context, ...also: AbortSignal[]): AbortSignal => AbortSignal.any([c.req.raw.signal, ...(options.shutdown ? [options.shutdown] : []), ...also]);

  /** A long poll's end: the request's `waitMs` (default and most: LONG_POLL_MS), or `requestSignal`'s. */
  const longPollSignal = (c: Context): AbortSignal => {
    const waitMs = Math.min(Number(c.req.query('waitMs') ?? LONG_POLL_MS), LONG_POLL_MS);
    if (!(waitMs >= 0)) throw new HttpError(400, 'INVALID_ARGUMENT', 'waitMs must be a number of milliseconds, at least 0');
    return requestSignal(c, AbortSignal.timeout(waitMs));
  };

  /**
   * How an update request waits, checked before anything is sent: not at all past acceptance
   * (`waitForStage: 'ACCEPTED'`), or until it completed — a long poll (the default).
   */
  const updateWait = (c: Context, waitForStage: unknown): AbortSignal | undefined => {
    if (waitForStage === 'ACCEPTED') return undefined;
    if (waitForStage !== undefined && waitForStage !== 'COMPLETED') throw new HttpError(400, 'INVALID_ARGUMENT', 'waitForStage is ACCEPTED or COMPLETED');
    return longPollSignal(c);
  };

  /**
   * An update's answer: 200 with `stage: 'COMPLETED'` and its result, or 202 with its ids and
   * `stage: 'ACCEPTED'` once accepted — when no more was asked (`wait` undefined), or the update is
   * still running at the long poll's end (the client then asks `GET …/updates/{id}`).
   */
  const answerUpdate = async (c: Context, ids: Record<string, string | undefined>, update: { result(options: { signal: AbortSignal }): Promise<unknown> }, wait: AbortSignal | undefined) => {
    if (!wait) return c.json({ ...ids, stage: 'ACCEPTED' }, 202);
    try {
      return c.json({ ...ids, stage: 'COMPLETED', result: await update.result({ signal: wait }) });
    } catch (error) {
      if (wait.aborted) return c.json({ ...ids, stage: 'ACCEPTED' }, 202);
      throw error;
    }
  };

  /**
   * Aborts when the client goes, the server shuts down (so that closing it does not wait for
   * streams), or the credential that opened the stream stops holding (checked every
   * `credentialRecheckMs`); its reason says which.
   */
  const streamSignal = (stream: SSEStreamingApi, c: Context<AuthEnv>): AbortSignal => {
    const abort = new AbortController();
    stream.onAbort(() => abort.abort('the client went away'));
    const recheck = setInterval(() => {
      void stillAuthorized(engine, c).then((holds) => holds || abort.abort('the credential was revoked or expired, or the namespace deleted'), () => undefined);
    }, options.credentialRecheckMs ?? CREDENTIAL_RECHECK_MS);
    recheck.unref();
    const signal = options.shutdown ? AbortSignal.any([abort.signal, options.shutdown]) : abort.signal;
    signal.addEventListener('abort', () => clearInterval(recheck), { once: true });
    return signal;
  };


  app.get('/v1/namespaces/:ns/workflows/:id/inspect', guard('read'), async (c) => {
    const at = Number(c.req.query('at'));
    const query = c.req.query('query');
    const args = c.req.query('args');
    let parsedArgs: unknown;
    try {
      parsedArgs = args === undefined ? undefined : JSON.parse(args);
    } catch {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'args must be a JSON array');
    }
    if (parsedArgs !== undefined && !Array.isArray(parsedArgs)) throw new HttpError(400, 'INVALID_ARGUMENT', 'args must be a JSON array');
    return c.json(await handle(c).inspect({ at, ...(query !== undefined ? { query } : {}), ...(parsedArgs !== undefined ? { args: parsedArgs as unknown[] } : {}) }));
  });

  /** Each activation of the run (up to event `until`). */
  app.get('/v1/namespaces/:ns/workflows/:id/timeline', guard('read'), async (c) => {
    const until = c.req.query('until');
    return c.json({ steps: await handle(c).timeline(until === undefined ? {} : { until: Number(until) }) });
  });

  /**
   * Waits for the run to close, at most `waitMs` (default and most: LONG_POLL_MS): 200 once it
   * closed, the body saying whether it completed; 202 `{ status: 'Running' }` while it still
   * runs then — clients ask again, so no request is held for hours (Node's fetch gives up on a
   * response after 5 minutes, proxies sooner).
   */
  app.get('/v1/namespaces/:ns/workflows/:id/result', guard('read'), async (c) => {
    const signal = longPollSignal(c);
    let result: unknown;
    try {
      result = await handle(c).result({ signal });
    } catch (error) {
      if (error instanceof WorkflowFailedError) return c.json({ status: error.status, failure: toFailureInfo(error.cause) });
      if (signal.aborted) return c.json({ status: 'Running' }, 202);
      throw error;
    }
    return c.json({ status: 'Completed', result });
  });

  app.post('/v1/namespaces/:ns/workflows/:id/signals/:name', guard('operate', 'signal'), async (c) => {
    await handle(c).signal(c.req.param('name'), ...(await argsOf(c)));
    return c.json({}, 202);
  });

  app.post('/v1/namespaces/:ns/workflows/:id/queries/:name', guard('read'), async (c) => c.json({ result: await handle(c).query(c.req.param('name'), ...(await argsOf(c))) }));

  /** Sends an update; answers once it is accepted (`waitForStage: 'ACCEPTED'`) or completed (the default). */
  app.post('/v1/namespaces/:ns/workflows/:id/updates/:name', guard('operate', 'update'), async (c) => {
    const { waitForStage, ...options } = await jsonBody<{ args?: unknown[]; updateId?: string; waitForStage?: unknown }>(c, {});
    const wait = updateWait(c, waitForStage);
    const update = await handle(c).startUpdate(c.req.param('name'), options);
    return answerUpdate(c, { updateId: update.updateId, runId: update.runId }, update, wait);
  });

  /** Waits for an update the run accepted (by its id) to complete, at most `waitMs` (a long poll, as for results). */
  app.get('/v1/namespaces/:ns/workflows/:id/updates/:updateId', guard('read'), async (c) => answerUpdate(c, {}, handle(c).getUpdateHandle(c.req.param('updateId')), longPollSignal(c)));

  /** Update-with-start: the update goes to the running run, or to a run started for it. */
  app.post('/v1/namespaces/:ns/workflows/:id/update-with-start', guard('operate', 'update-with-start'), async (c) => {
    const { type, waitForStage, ...options } = await jsonBody<{ type?: unknown; waitForStage?: unknown } & UpdateWithStartOptions>(c);
    const wait = updateWait(c, waitForStage);
    const { workflow, update } = await engine.startUpdateWithStart(type as string, { ...options, workflowId: c.req.param('id')!, namespace: ns(c) });
    return answerUpdate(c, { workflowId: workflow.workflowId, runId: workflow.runId, updateId: update.updateId }, update, wait);
  });

  app.post('/v1/namespaces/:ns/workflows/:id/cancel', guard('operate', 'cancel'), async (c) => {
    await handle(c).cancel((await jsonBody<{ reason?: string }>(c, {})).reason);
    return c.json({}, 202);
  });

  app.post('/v1/namespaces/:ns/workflows/:id/terminate', guard('operate', 'terminate'), async (c) => {
    await handle(c).terminate((await jsonBody<{ reason?: string }>(c, {})).reason);
    return c.json({}, 202);
  });

  /** Moves the run (default: the workflow's latest) to another version of its bundle, if its history replays there. */
  app.post('/v1/namespaces/:ns/workflows/:id/upgrade', guard('operate', 'upgrade'), async (c) => {
    const body = await jsonBody<{ version?: unknown }>(c, {});
    const { runId } = await handle(c).describe();
    return c.json(await engine.upgrade(runId, { namespace: ns(c), ...(body.version !== undefined ? { version: body.version as string } : {}) }));
  });

  /** A new run that carries on from event `toEvent` of this one (see `engine.reset`). */
  app.post('/v1/namespaces/:ns/workflows/:id/reset', guard('operate', 'reset'), async (c) => {
    const body = await jsonBody<{ toEvent?: unknown; version?: unknown; reason?: unknown }>(c);
    return c.json(await engine.reset(c.req.param('id')!, { ...(body as { toEvent: number; version?: string; reason?: string }), namespace: ns(c), ...(c.req.query('runId') ? { runId: c.req.query('runId') } : {}) }));
  });

  /** Replays the run's history against an uploaded bundle (on the sandbox threads): whether it reproduces, and each divergence. It runs the caller's code: a deploy key's right. */
  app.post('/v1/namespaces/:ns/workflows/:id/replay', guard('deploy'), async (c) => {
    const body = await jsonBody<{ code?: unknown; strict?: unknown; all?: unknown }>(c);
    if (typeof body.code !== 'string') throw new HttpError(400, 'INVALID_ARGUMENT', 'code must be the bundle (the output of `aion build`)');
    const history = await handle(c).history();
    // On the engine's own sandbox threads, under its limits: as the engine would run the bundle.
    const report = await replayHistories({ code: body.code }, [history], { strict: body.strict === true, all: body.all === true, threads: engine.sandboxThreads, limits: engine.sandboxLimits });
    if (report.failed.length > 0) throw new HttpError(422, 'REPLAY_FAILED', `the history cannot be replayed against this bundle: ${report.failed[0].message}`);
    return c.json({ reproduced: report.reproduced === 1, events: history.length, divergences: report.diverged[0]?.divergences ?? [] });
  });

  app.post('/v1/namespaces/:ns/workflows/:id/signal-with-start', guard('operate', 'signal-with-start'), async (c) => {
    const { type, ...options } = await jsonBody<{ type?: unknown } & SignalWithStartOptions>(c);
    const started = await engine.signalWithStart(type as string, { ...options, workflowId: c.req.param('id')!, namespace: ns(c) });
    return c.json({ workflowId: started.workflowId, runId: started.runId }, 202);
  });

  // Asynchronous activity completion ------------------------------------------------------
  const completion = async (c: Context) => {
    const body = await jsonBody<{ taskToken?: unknown }>(c);
    if (typeof body.taskToken !== 'string') throw new HttpError(400, 'INVALID_ARGUMENT', 'taskToken must be the base64 task token of the activity');
    return { body, handle: engine.asyncCompletion(body.taskToken, { namespace: ns(c) }) };
  };
  app.post('/v1/namespaces/:ns/activities/complete', guard('worker'), async (c) => {
    const { body, handle } = await completion(c);
    await handle.complete((body as { result?: unknown }).result);
    return c.json({});
  });
  app.post('/v1/namespaces/:ns/activities/fail', guard('worker'), async (c) => {
    const { body, handle } = await completion(c);
    const failure = (body as { failure?: { message?: unknown; type?: unknown; nonRetryable?: unknown; details?: unknown; stack?: unknown } }).failure;
    if (typeof failure?.message !== 'string') throw new HttpError(400, 'INVALID_ARGUMENT', 'failure.message must be a string');
    const error = ApplicationFailure.create({
      message: failure.message,
      type: typeof failure.type === 'string' ? failure.type : undefined,
      nonRetryable: failure.nonRetryable === true,
      details: Array.isArray(failure.details) ? failure.details : undefined,
    });
    // The worker's stack, so that the workflow and `aion describe` show where the activity failed.
    if (typeof failure.stack === 'string') error.stack = failure.stack;
    await handle.fail(error);
    return c.json({});
  });
  app.post('/v1/namespaces/:ns/activities/heartbeat', guard('worker'), async (c) => {
    const { body, handle } = await completion(c);
    await handle.heartbeat((body as { details?: unknown }).details);
    return c.json({});
  });
  app.post('/v1/namespaces/:ns/activities/report-cancellation', guard('worker'), async (c) => {
    const { body, handle } = await completion(c);
    await handle.reportCancellation((body as { details?: unknown }).details);
    return c.json({});
  });

  // Remote activity workers (aion/worker) -------------------------------------------------
  app.post('/v1/namespaces/:ns/task-queues/:tq/activity-tasks/poll', guard('worker'), async (c) => {
    const body = await jsonBody<{ identity?: unknown; waitMs?: unknown }>(c);
    if (typeof body.identity !== 'string' || body.identity === '') throw new HttpError(400, 'INVALID_ARGUMENT', 'identity must name the polling worker');
    if (body.waitMs !== undefined && (typeof body.waitMs !== 'number' || !(body.waitMs >= 0))) throw new HttpError(400, 'INVALID_ARGUMENT', 'waitMs must be a number of milliseconds, at least 0');
    const waitMs = Math.min((body.waitMs as number | undefined) ?? 20_000, LONG_POLL_MS);
    const poll = { namespace: ns(c), taskQueue: c.req.param('tq')!, identity: body.identity, waitMs, signal: requestSignal(c) };
    // A poll another engine of the cluster passed on is answered with this engine's attempts only.
    const forwarded = c.req.header(FORWARDED_HEADER) !== undefined;
    const task = forwarded ? await engine.pollActivityTask(poll) : await pollAcrossCluster(engine, { ...poll, headers: c.req.raw.headers });
    return task === undefined ? c.body(null, 204) : c.json(task);
  });
  app.get('/v1/namespaces/:ns/task-queues/:tq', guard('read'), async (c) => c.json(await engine.describeTaskQueue(c.req.param('tq')!, { namespace: ns(c) })));

  // Schedules ---------------------------------------------------------------------------
  const scheduleId = (c: Context) => c.req.param('sid')!;
  const inNamespace = (c: Context) => ({ namespace: ns(c) });

  app.post('/v1/namespaces/:ns/schedules', guard('operate', 'schedule.create'), async (c) => {
    const body = await jsonBody<ScheduleOptions>(c);
    return c.json(await engine.schedules.create({ ...body, namespace: ns(c) }), 201);
  });
  app.get('/v1/namespaces/:ns/schedules', guard('read'), async (c) => c.json({ schedules: await engine.schedules.list(inNamespace(c)) }));
  app.get('/v1/namespaces/:ns/schedules/:sid', guard('read'), async (c) => c.json(await engine.schedules.describe(scheduleId(c), inNamespace(c))));
  app.post('/v1/namespaces/:ns/schedules/:sid/update', guard('operate', 'schedule.update'), async (c) =>
    c.json(await engine.schedules.update(scheduleId(c), await jsonBody<ScheduleUpdate>(c), inNamespace(c))),
  );
  for (const verb of ['pause', 'resume'] as const) {
    app.post(`/v1/namespaces/:ns/schedules/:sid/${verb}`, guard('operate', `schedule.${verb}`), async (c) => c.json(await engine.schedules[verb](scheduleId(c), inNamespace(c))));
  }
  app.post('/v1/namespaces/:ns/schedules/:sid/trigger', guard('operate', 'schedule.trigger'), async (c) => {
    const { overlap } = await jsonBody<{ overlap?: OverlapPolicy }>(c, {});
    return c.json(await engine.schedules.trigger(scheduleId(c), { ...inNamespace(c), ...(overlap !== undefined ? { overlap } : {}) }));
  });
  app.post('/v1/namespaces/:ns/schedules/:sid/backfill', guard('operate', 'schedule.backfill'), async (c) => {
    const body = await jsonBody<{ start?: unknown; end?: unknown; overlap?: unknown }>(c);
    const backfill = { start: body.start as string, end: body.end as string, ...(body.overlap !== undefined ? { overlap: body.overlap as OverlapPolicy } : {}) };
    return c.json(await engine.schedules.backfill(scheduleId(c), backfill, inNamespace(c)));
  });
  app.delete('/v1/namespaces/:ns/schedules/:sid', guard('operate', 'schedule.delete'), async (c) => {
    await engine.schedules.delete(scheduleId(c), inNamespace(c));
    return c.json({});
  });

  return app;
}


async function argsOf(c: Context): Promise<unknown[]> {
  const { args } = await jsonBody<{ args?: unknown }>(c, {});
  if (args === undefined) return [];
  if (!Array.isArray(args)) throw new HttpError(400, 'INVALID_ARGUMENT', 'args must be a JSON array');
  return args;
}
