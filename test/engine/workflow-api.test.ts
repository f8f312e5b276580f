/**
 * The workflow API (aion/workflow) end to end, through the engine: every call's result,
 * the history it records, and the errors callers see.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError, QueryFailedError, WorkflowUpdateFailedError, WorkflowAlreadyStartedError, InvalidArgumentError, WorkflowNotFoundError, WorkflowNotRunningError } from '../../engine/errors.js';
import type { Logger } from '../../engine/logger.js';
import { activityEvents, calls, makeActivities } from '../fixtures/activities.js';
import { fixtureBundle, openEngine } from '../helpers.js';

const types = (events: { type: string }[]) => events.map((e) => e.type);

describe('activities', () => {
  it('runs activities in order, records each step, and returns the result', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handle = await engine.start('order', { args: ['book', 3], workflowId: 'order-1' });
    expect(await handle.result()).toEqual({ reservation: 'reserved:book', charged: 300, shipped: 'shipped:book' });
    const history = await handle.history();
    expect(types(history)).toEqual([
      'WorkflowStarted', 'WorkflowTaskCompleted', 'ActivityScheduled',
      'ActivityCompleted', 'WorkflowTaskCompleted', 'ActivityScheduled',
      'ActivityCompleted', 'WorkflowTaskCompleted', 'TimerStarted',
      'TimerFired', 'WorkflowTaskCompleted', 'ActivityScheduled',
      'ActivityCompleted', 'WorkflowTaskCompleted', 'WorkflowCompleted',
    ]);
    expect(history[2]).toMatchObject({ type: 'ActivityScheduled', seq: 1, activityType: 'reserve', args: ['book'] });
    expect(history[8]).toMatchObject({ type: 'TimerStarted', seq: 1, durationMs: 10 });
    expect(history.map((e) => e.eventId)).toEqual(history.map((_, i) => i + 1));
  });

  it('retries a failing activity per its policy and reports the attempt', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handle = await engine.start('retrying', { args: ['k1', 2] });
    expect(await handle.result()).toEqual({ attempts: 3, attemptSeen: 3 });
    const completed = (await handle.history()).find((e) => e.type === 'ActivityCompleted');
    expect(completed).toMatchObject({ attempt: 3 });
  });

  it('fails the activity after maximumAttempts with the last failure as cause', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handle = await engine.start('retrying', { args: ['k2', 10] });
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const failure = (error as WorkflowFailedError).cause;
    expect(failure.name).toBe('ActivityFailure');
    expect((failure.cause as Error).message).toBe('flaky failure 5');
    expect((await handle.history()).find((e) => e.type === 'ActivityFailed')).toMatchObject({ attempt: 5 });
  });

  it('does not retry a non-retryable ApplicationFailure; the workflow sees ActivityFailure with the cause', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handle = await engine.start('activityFails');
    expect(await handle.result()).toEqual({ name: 'ActivityFailure', cause: 'ApplicationFailure', type: 'Refused', message: 'no stock' });
    expect((await handle.history()).filter((e) => e.type === 'ActivityFailed')).toHaveLength(1);
  });

  it('enforces the start-to-close timeout on every attempt', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handle = await engine.start('activityTimesOut');
    expect(await handle.result()).toEqual({ name: 'ActivityFailure', message: 'Activity task timed out', cause: 'TimeoutFailure', timeoutType: 'START_TO_CLOSE' });
  });

  it('stops retrying once the schedule-to-close timeout would pass', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handle = await engine.start('scheduleToCloseExpires');
    expect(await handle.result()).toEqual({ name: 'ActivityFailure', cause: expect.stringMatching(/^flaky failure \d+$/) });
    const failed = (await handle.history()).find((e) => e.type === 'ActivityFailed') as { attempt: number };
    // 400 ms between attempts, 1.5 s in all: at most four attempts (without the deadline it retries 1,000 times).
    expect(failed.attempt).toBeLessThanOrEqual(4);
  });

  it('hands the last heartbeat details to the next attempt', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    expect(await (await engine.start('resumesFromHeartbeat')).result()).toEqual({ attempt: 2, resumedFrom: { progress: 7, key: 'r1' } });
  });

  it('keeps a heartbeating activity alive and fails one that stops heartbeating', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    expect(await (await engine.start('heartbeats', { args: [8] })).result()).toBe(8);
    expect(await (await engine.start('missedHeartbeat')).result()).toBe('HEARTBEAT');
  });
});

describe('timers and conditions', () => {
  it('sleeps on a durable timer', async () => {
    const engine = await openEngine();
    const started = Date.now();
    const handle = await engine.start('sleeper', { args: [50] });
    expect(await handle.result()).toBe('woke');
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    const fired = (await handle.history()).find((e) => e.type === 'TimerFired');
    const timer = (await handle.history()).find((e) => e.type === 'TimerStarted');
    expect(timer).toMatchObject({ durationMs: 50 });
    expect(fired!.time).toBeGreaterThanOrEqual((timer as { fireAt: number }).fireAt);
  });

  it('resolves condition(fn, timeout) true when fn becomes true first, and cancels its timer', async () => {
    const engine = await openEngine();
    const handle = await engine.start('conditionTimeout', { args: [60_000] });
    await handle.signal('approve', 'ann');
    expect(await handle.result()).toBe(true);
    expect(types(await handle.history())).toContain('TimerCanceled');
  });

  it('resolves condition(fn, timeout) false when the timeout elapses first', async () => {
    const engine = await openEngine();
    expect(await (await engine.start('conditionTimeout', { args: [20] })).result()).toBe(false);
  });

  it('cancellation scopes: withTimeout, the current scope across awaits, cancel, clearTimeout', async () => {
    const engine = await openEngine();
    expect(await (await engine.start('scopes')).result()).toEqual(['timeout-cancelled', 'same-scope-after-await', 'scope-cancelled']);
  });
});

describe('signals, queries and updates', () => {
  it('delivers signals, answers queries and runs updates durably', async () => {
    const engine = await openEngine();
    const handle = await engine.start('approval', { workflowId: 'approval-1' });
    expect(await handle.query('status')).toBe('waiting');
    await handle.signal('approve', 'ann');
    expect(await handle.query('status')).toBe('approved by ann');
    expect(await handle.executeUpdate('setLimit', 50)).toBe(0);
    expect(await handle.executeUpdate('setLimit', 150)).toBe(50);
    expect(await handle.result()).toEqual({ approvedBy: 'ann', limit: 150 });
    const history = await handle.history();
    expect(history.find((e) => e.type === 'SignalReceived')).toMatchObject({ name: 'approve', args: ['ann'] });
    expect(history.filter((e) => e.type === 'UpdateAccepted')).toHaveLength(2);
    expect(history.filter((e) => e.type === 'UpdateCompleted').map((e) => (e as { result?: unknown }).result)).toEqual([0, 50]);
  });

  it('rejects an update its validator refuses, without changing the workflow', async () => {
    const engine = await openEngine();
    const handle = await engine.start('approval');
    const error = await handle.executeUpdate('setLimit', -1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((error as Error).message).toContain('limit must not be negative');
    expect(await handle.executeUpdate('setLimit', 5)).toBe(0);
    const unknown = await handle.executeUpdate('nope').catch((e: unknown) => e);
    expect((unknown as Error).message).toContain("no handler for update 'nope'");
    await handle.terminate('done');
  });

  it('buffers signals that arrive before their handler is set', async () => {
    const engine = await openEngine();
    const handle = await engine.start('lateHandler');
    await handle.signal('approve', 'first');
    await handle.signal('approve', 'second');
    expect(await handle.result()).toEqual(['first', 'second']);
  });

  it('fails a query that tries to schedule work, not the workflow', async () => {
    const engine = await openEngine();
    const handle = await engine.start('queryThatSchedules');
    const error = await handle.query('status').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as Error).message).toContain('cannot be scheduled from a query handler');
    expect((await handle.describe()).status).toBe('Running');
    const unknown = await handle.query('missing').catch((e: unknown) => e);
    expect((unknown as Error).message).toContain("no handler for query 'missing'");
    await handle.terminate();
  });

  it('answers queries on a closed run by replaying it', async () => {
    const engine = await openEngine();
    const handle = await engine.start('approval');
    await handle.signal('approve', 'bob');
    await handle.executeUpdate('setLimit', 100);
    await handle.result();
    expect(await handle.query('status')).toBe('approved by bob');
  });
});

describe('results, failures and lifecycle', () => {
  it('fails the run with the ApplicationFailure it throws', async () => {
    const engine = await openEngine();
    const handle = await engine.start('failing', { args: ['out of stock'] });
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.status).toBe('Failed');
    expect(error.cause).toMatchObject({ name: 'ApplicationFailure', message: 'out of stock', type: 'BusinessError', details: [1, 2] });
    const description = await handle.describe();
    expect(description.status).toBe('Failed');
    expect(description.failure).toEqual({ message: 'out of stock', type: 'BusinessError' });
  });

  it('fails the workflow task, not the run, with a plain error (as Temporal): the run stays Running and retries', async () => {
    const engine = await openEngine({ supervision: { initialBackoffMs: 5, maxBackoffMs: 10 } });
    const handle = await engine.start('throwsPlainError');
    await expect.poll(async () => (await handle.describe()).supervision?.crashes ?? 0).toBeGreaterThanOrEqual(2);
    // The message says where, in the workflow's own source.
    const lastCrash = { kind: 'workflow-error', message: expect.stringMatching(/^TypeError: plain bug \(at throwsPlainError \(test\/fixtures\/workflows\.ts:\d+:\d+\)\)$/) };
    expect(await handle.describe()).toMatchObject({ status: 'Running', supervision: { lastCrash } });
    await handle.terminate('test over');
  });

  it('cancels: the workflow sees the cancellation, cleans up in a non-cancellable scope, and ends Canceled', async () => {
    calls.length = 0;
    const engine = await openEngine({ activities: makeActivities() });
    const handle = await engine.start('cancellable');
    await handle.cancel('user asked');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.status).toBe('Canceled');
    expect(error.cause.name).toBe('CancelledFailure');
    expect(calls).toContainEqual({ name: 'ship', args: ['cleanup'] });
    expect(types(await handle.history())).toEqual(expect.arrayContaining(['CancelRequested', 'TimerCanceled', 'WorkflowCanceled']));
    expect((await handle.describe()).status).toBe('Canceled');
  });

  it('cancelling the workflow cancels its running activity; the activity sees it', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const started = once(activityEvents, 'waitForCancel:started');
    const cancelled = once(activityEvents, 'waitForCancel:cancelled');
    const handle = await engine.start('cancelActivity');
    await started;
    await handle.cancel();
    expect(await handle.result()).toBe('activity cancelled');
    expect(await cancelled).toEqual([true]);
    expect(types(await handle.history())).toContain('ActivityCancelRequested');
  });

  it('terminates without running workflow code', async () => {
    const engine = await openEngine();
    const handle = await engine.start('sleeper', { args: [60_000] });
    await handle.terminate('enough');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.status).toBe('Terminated');
    expect(error.cause.message).toBe('enough');
    expect((await handle.history()).at(-1)).toMatchObject({ type: 'WorkflowTerminated', reason: 'enough' });
    await expect(handle.signal('approve', 'x')).rejects.toBeInstanceOf(WorkflowNotRunningError);
    await expect(handle.terminate()).rejects.toBeInstanceOf(WorkflowNotRunningError);
  });

  it('refuses a second start of a running workflow id, allows it once the run closed', async () => {
    const engine = await openEngine();
    const first = await engine.start('sleeper', { args: [60_000], workflowId: 'dup' });
    await expect(engine.start('sleeper', { args: [1], workflowId: 'dup' })).rejects.toBeInstanceOf(WorkflowAlreadyStartedError);
    await first.terminate();
    const second = await engine.start('greet', { args: ['again'], workflowId: 'dup' });
    expect(second.runId).not.toBe(first.runId);
    expect(await engine.getHandle('dup').result()).toBe('hello again');
    expect(await engine.getHandle('dup', first.runId).describe()).toMatchObject({ status: 'Terminated' });
  });

  it('describes and lists runs by status and type', async () => {
    const engine = await openEngine();
    await (await engine.start('greet', { args: ['a'], workflowId: 'g1' })).result();
    const sleeping = await engine.start('sleeper', { args: [60_000], workflowId: 's1' });
    const description = await sleeping.describe();
    expect(description).toMatchObject({ workflowId: 's1', workflowType: 'sleeper', status: 'Running', taskQueue: 'default', namespace: 'default' });
    expect(description.startTime).toBeInstanceOf(Date);
    expect(description.historyLength).toBe(3);
    expect(description.version).toMatch(/^[0-9a-f]{32}$/);
    expect((await engine.list({ status: 'Running' })).map((r) => r.workflowId)).toEqual(['s1']);
    expect((await engine.list({ status: 'Completed', workflowType: 'greet' })).map((r) => r.workflowId)).toEqual(['g1']);
    expect((await engine.list({ workflowType: 'sleeper' })).map((r) => r.status)).toEqual(['Running']);
    await sleeping.terminate();
  });

  it('gives workflowInfo, deterministic time, randomness and uuid4', async () => {
    const engine = await openEngine();
    const handle = await engine.start('determinism', { workflowId: 'det-1' });
    const result = (await handle.result()) as { first: { now: number; date: string; random: number; uuid: string }; second: { now: number }; info: string };
    const started = (await handle.history())[0];
    expect(result.info).toBe('det-1');
    expect(result.first.now).toBeGreaterThanOrEqual(started.time);
    expect(new Date(result.first.date).getTime()).toBe(result.first.now);
    expect(result.second.now - result.first.now).toBeGreaterThanOrEqual(20);
    expect(result.first.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(result.first.random).toBeGreaterThanOrEqual(0);
    expect(result.first.random).toBeLessThan(1);
  });

  it('logs from workflow code with the run ids, silently while replaying', async () => {
    const lines: { level: string; message: string; attributes: object }[] = [];
    const capture = (level: string) => (attributes: object, message: string) => lines.push({ level, message, attributes });
    const logger: Logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') };
    const engine = await openEngine({ logger, maxResidentRuns: 1 });
    const handle = await engine.start('logging', { workflowId: 'log-1' });
    // Another resident run evicts this one, so its next activation restores or replays it.
    await (await engine.start('sleeper', { args: [60_000] })).terminate();
    expect(await handle.result()).toBe('logged');
    const workflowLines = lines.filter((l) => (l.attributes as { workflowId?: string }).workflowId === 'log-1');
    expect(workflowLines.map((l) => `${l.level}:${l.message}`)).toEqual(['info:before sleep', 'info:console works 42', 'warn:after sleep']);
    expect(workflowLines[0].attributes).toMatchObject({ step: 1, runId: handle.runId });
  });
});

describe('namespaces', () => {
  it('keeps workflows, bundles and ids of namespaces apart', async () => {
    const engine = await openEngine();
    await engine.deploy({ code: await fixtureBundle(), namespace: 'tenant-a' });
    const a = await engine.start('greet', { args: ['a'], workflowId: 'same-id', namespace: 'tenant-a' });
    const d = await engine.start('greet', { args: ['d'], workflowId: 'same-id' });
    expect(await a.result()).toBe('hello a');
    expect(await d.result()).toBe('hello d');
    expect(await engine.getHandle('same-id', undefined, { namespace: 'tenant-a' }).result()).toBe('hello a');
    expect((await engine.list({ namespace: 'tenant-a' })).map((w) => w.namespace)).toEqual(['tenant-a']);
    await expect(engine.start('greet', { namespace: 'tenant-b' })).rejects.toThrow(/in namespace 'tenant-b'/);
  });
});

describe('bad input', () => {
  it('refuses bad ids, types, payloads and unknown workflows with clear errors', async () => {
    const engine = await openEngine();
    await expect(engine.start('nope')).rejects.toThrow(/no deployed bundle exports a workflow named 'nope'/);
    await expect(engine.start('greet', { workflowId: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.start('greet', { workflowId: 'a\u0000b' })).rejects.toThrow(/control characters/);
    await expect(engine.start('greet', { args: 'x' as unknown as unknown[] })).rejects.toThrow(/args must be an array/);
    await expect(engine.start('greet', { args: [10n] })).rejects.toThrow(/cannot be serialised as JSON/);
    await expect(engine.start('greet', { args: ['x'.repeat(3 * 1024 * 1024)] })).rejects.toThrow(/limit/);
    await expect(engine.getHandle('missing').result()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(engine.list({ status: 'Sleeping' as never })).rejects.toThrow(/status must be one of/);
    await expect(engine.deploy({ code: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await engine.list()).toEqual([]);
  });
});
