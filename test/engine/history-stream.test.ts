/**
 * Live history: `handle.events({ follow })` delivers the run's history and then each event
 * as it is committed, ending with the run; resumes from an event; stops when aborted.
 * `engine.watch` delivers a namespace's committed events, filtered by workflow type; over
 * HTTP both are server-sent events, resumable with `Last-Event-ID`.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../engine/history/events.js';
import type { WatchedEvent } from '../../engine/history-stream.js';
import { Engine } from '../../engine/engine.js';
import { openMemoryStore } from '../../store/open.js';
import { createApp } from '../../server/app.js';
import { serveEngine } from '../../server/serve.js';
import { fixtureBundle, openEngine, silentLogger } from '../helpers.js';

async function collect<T>(events: AsyncIterable<T>, until?: (item: T) => boolean): Promise<T[]> {
  const got: T[] = [];
  for await (const item of events) {
    got.push(item);
    if (until?.(item)) break;
  }
  return got;
}

describe('live history', () => {
  it('follows a run to its end: the history so far, then each event as it is committed', async () => {
    const engine = await openEngine();
    const handle = await engine.start('approval', { workflowId: 'followed' });
    const followed = collect(handle.events({ follow: true }));
    await expect.poll(async () => (await handle.history()).at(-1)?.type).toBe('WorkflowTaskCompleted');
    await handle.signal('approve', 'ann');
    await handle.executeUpdate('setLimit', 100);
    await handle.result();
    const history = await handle.history();
    expect(await followed).toEqual(history);
    expect(history.at(-1)?.type).toBe('WorkflowCompleted');
    // From an event on, without following: what is recorded from there.
    expect(await collect(handle.events({ from: 3 }))).toEqual(history.slice(2));
  });

  it('stops following when aborted, and refuses a bad start', async () => {
    const engine = await openEngine();
    const handle = await engine.start('approval');
    const abort = new AbortController();
    const seen: HistoryEvent[] = [];
    const following = (async () => {
      for await (const event of handle.events({ follow: true, signal: abort.signal })) {
        seen.push(event);
        if (event.type === 'WorkflowTaskCompleted') abort.abort();
      }
    })();
    await following;
    expect(seen.at(-1)?.type).toBe('WorkflowTaskCompleted');
    await expect(collect(handle.events({ from: 0 }))).rejects.toThrow('from must be an event id (an integer from 1)');
    await handle.terminate();
  });

  it('lets go of the store when a stream ends, is aborted, or the engine closes; ends at once past a closed run', async () => {
    const store = await openMemoryStore<HistoryEvent>();
    const engine = await Engine.open({ logger: silentLogger, store });
    try {
      await engine.deploy({ code: await fixtureBundle() });
      const handle = await engine.start('approval');
      await expect.poll(async () => (await handle.history()).length).toBeGreaterThan(1);
      const length = (await handle.history()).length;
      // Waiting for what comes next when aborted.
      const abort = new AbortController();
      const waiting = collect(handle.events({ from: length + 1, follow: true, signal: abort.signal }));
      await expect.poll(() => store.events.listenerCount('appended')).toBe(1);
      abort.abort();
      expect(await waiting).toEqual([]);
      expect(store.events.listenerCount('appended')).toBe(0);
      // Watches end when the engine closes.
      const watching = collect(engine.watch());
      expect(store.events.listenerCount('appended')).toBe(1);
      await handle.terminate();
      const history = await handle.history();
      expect(await collect(handle.events({ from: history.length + 1, follow: true }))).toEqual([]);
      await engine.close();
      expect((await watching).at(-1)?.event.type).toBe('WorkflowTerminated');
      expect(store.events.listenerCount('appended')).toBe(0);
    } finally {
      await engine.close();
      await store.close();
    }
  });

  it("watches a namespace's runs of one type", async () => {
    const engine = await openEngine();
    const abort = new AbortController();
    const watched = collect(engine.watch({ workflowType: 'approval', signal: abort.signal }), (item: WatchedEvent) => item.event.type === 'WorkflowCompleted');
    await (await engine.start('sleeper', { args: [1], workflowId: 'other-type' })).result();
    const approval = await engine.start('approval', { workflowId: 'watched' });
    await approval.signal('approve', 'eve');
    await approval.executeUpdate('setLimit', 100);
    await approval.result();
    const items = await watched;
    abort.abort();
    expect(new Set(items.map((item) => item.workflowId))).toEqual(new Set(['watched']));
    expect(items.map((item) => item.event)).toEqual(await approval.history());
    expect(items.at(-1)).toMatchObject({ workflowType: 'approval', status: 'Completed' });
  });

  it('watches the runs of one status only', async () => {
    const engine = await openEngine();
    const abort = new AbortController();
    const closed = collect(engine.watch({ status: 'Completed', signal: abort.signal }), (item: WatchedEvent) => item.event.type === 'WorkflowCompleted');
    const run = await engine.start('sleeper', { args: [1] });
    await run.result();
    const items = await closed;
    abort.abort();
    // The status is the run's once each write is committed: only the write that completed it.
    expect(items.map((item) => item.event.type)).toEqual(['TimerFired', 'WorkflowTaskCompleted', 'WorkflowCompleted']);
  });

  it('ends the streams it serves when the server shuts down, telling the client to resume', async () => {
    const engine = await openEngine();
    const server = await serveEngine(engine, { port: 0 });
    const handle = await engine.start('approval', { workflowId: 'open-stream' });
    await expect.poll(async () => (await handle.history()).length).toBeGreaterThan(1);
    const response = await fetch(`${server.url}/v1/namespaces/default/workflows/open-stream/events?follow=true`);
    const reader = response.body!.getReader();
    await reader.read(); // the stream is open
    await server.close();
    let text = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
    expect(text).toMatch(/event: error\ndata: \{"message":"the server is shutting down: resume with Last-Event-ID"\}/);
    await handle.terminate();
  });

  it('serves the history as server-sent events, resumable after the last event received', async () => {
    const engine = await openEngine();
    const app = createApp(engine);
    const handle = await engine.start('approval', { workflowId: 'sse' });
    await handle.signal('approve', 'ann');
    await handle.executeUpdate('setLimit', 100);
    await handle.result();
    const history = await handle.history();
    const read = async (headers: Record<string, string> = {}, query = '') => {
      const messages: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (message) => messages.push(message) });
      parser.feed(await (await app.request(`/v1/namespaces/default/workflows/sse/events${query}`, { headers })).text());
      return messages;
    };
    const { runId } = await handle.describe();
    const all = await read({}, '?follow=true');
    expect(all.filter((m) => m.event === 'history').map((m) => [m.id, JSON.parse(m.data) as HistoryEvent])).toEqual(history.map((event) => [`${runId}:${event.eventId}`, event]));
    expect(all.at(-1)).toMatchObject({ event: 'end', data: JSON.stringify({ runId, closed: true }) });
    const resumed = await read({ 'last-event-id': `${runId}:4` });
    expect(resumed.filter((m) => m.event === 'history').map((m) => m.id)).toEqual(history.slice(4).map((event) => `${runId}:${event.eventId}`));
    // After the closing event of a closed run nothing follows: 204, which ends a browser's EventSource.
    expect((await app.request('/v1/namespaces/default/workflows/sse/events?follow=true', { headers: { 'last-event-id': `${runId}:${history.length}` } })).status).toBe(204);
    expect((await app.request('/v1/namespaces/default/workflows/sse/events?from=x')).status).toBe(400);
    expect((await app.request('/v1/namespaces/default/events?status=Sleeping')).status).toBe(400);
  });
});
