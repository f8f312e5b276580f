import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '../../../common/failures.js';
import { WorkflowFailedError, WorkflowNotFoundError } from '../../../engine/errors.js';
import { PortRpc, type Handlers, type StreamHandlers } from '../../../engine/threads/port-rpc.js';

/** Both ends of a channel: `client` calls what `server` serves. */
function pair(handlers: Handlers, streams: StreamHandlers = {}, notices: Record<string, (payload: unknown) => void> = {}) {
  const { port1, port2 } = new MessageChannel();
  const server = new PortRpc(port2, { handlers, streams, notices });
  const client = new PortRpc(port1);
  return { client, server, close: () => (client.close(), server.close()) };
}

describe('calls between threads', () => {
  it('answers calls, and rebuilds errors as their own class with their fields and causes', async () => {
    const { client, close } = pair({
      add: ([a, b]) => (a as number) + (b as number),
      missing: ([id]) => {
        throw new WorkflowNotFoundError(id as string, 'r1');
      },
      failed: () => {
        throw new WorkflowFailedError('wf', 'Failed', ApplicationFailure.create({ message: 'card declined', type: 'Declined', nonRetryable: true }));
      },
      odd: () => {
        throw Object.assign(new (class CustomError extends Error {})('custom'), { detail: 7 });
      },
    });
    expect(await client.call('add', [2, 3])).toBe(5);
    const notFound = await client.call('missing', ['order-1']).catch((error: unknown) => error);
    expect(notFound).toBeInstanceOf(WorkflowNotFoundError);
    expect(notFound).toMatchObject({ code: 'NOT_FOUND', workflowId: 'order-1', runId: 'r1', message: 'workflow order-1 has no run r1' });
    const failed = (await client.call('failed', []).catch((error: unknown) => error)) as WorkflowFailedError;
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect(failed.cause).toBeInstanceOf(ApplicationFailure);
    expect(failed.cause).toMatchObject({ message: 'card declined', type: 'Declined', nonRetryable: true });
    // A class this side does not know arrives as an Error with its name and fields.
    const odd = (await client.call('odd', []).catch((error: unknown) => error)) as Error & { detail: number };
    expect(odd).toBeInstanceOf(Error);
    expect({ name: odd.name, message: odd.message, detail: odd.detail }).toEqual({ name: 'CustomError', message: 'custom', detail: 7 });
    await expect(client.call('nothing', [])).rejects.toThrow('no method nothing is served on this port');
    close();
  });

  it('aborts a call on both sides', async () => {
    let served: AbortSignal | undefined;
    const { client, close } = pair({
      wait: (_args, signal) => {
        served = signal;
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
    });
    const abort = new AbortController();
    const call = client.call('wait', [], abort.signal);
    await expect.poll(() => served).toBeDefined();
    abort.abort(new Error('caller gave up'));
    await expect(call).rejects.toThrow('caller gave up');
    await expect.poll(() => served!.aborted).toBe(true);
    close();
  });

  it('pulls streams item by item, and ends the served iterator when the reader stops', async () => {
    let produced = 0;
    let ended = false;
    const { client, close } = pair(
      {},
      {
        count: async function* ([from]) {
          try {
            for (let n = from as number; ; n++) {
              produced++;
              yield n;
            }
          } finally {
            ended = true;
          }
        },
      },
    );
    const seen: number[] = [];
    for await (const n of client.stream<number>('count', [10])) {
      seen.push(n);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([10, 11, 12]);
    await expect.poll(() => ended).toBe(true);
    expect(produced).toBe(3);
    close();
  });

  it('delivers notices, and rejects calls in flight when the other side closes', async () => {
    const received: unknown[] = [];
    const { client, server } = pair({ never: () => new Promise(() => undefined) }, {}, { hello: (payload) => received.push(payload) });
    client.notify('hello', { n: 1 });
    await expect.poll(() => received).toEqual([{ n: 1 }]);
    const call = client.call('never', []);
    server.close();
    await expect(call).rejects.toThrow('the thread at the other end of the port is gone');
  });
});
