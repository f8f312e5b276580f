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
import { createApp } from '../../server/app.js';
import { openEngine } from '../helpers.js';

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
    const all = await read({}, '?follow=true');
    expect(all.filter((m) => m.event === 'history').map((m) => [m.id, JSON.parse(m.data) as HistoryEvent])).toEqual(history.map((event) => [String(event.eventId), event]));
    expect(all.at(-1)?.event).toBe('end');
    const resumed = await read({ 'last-event-id': '4' });
    expect(resumed.filter((m) => m.event === 'history').map((m) => Number(m.id))).toEqual(history.slice(4).map((event) => event.eventId));
    expect((await app.request('/v1/namespaces/default/workflows/sse/events?from=x')).status).toBe(400);
    expect((await app.request('/v1/namespaces/default/events?status=Sleeping')).status).toBe(400);
  });
});
