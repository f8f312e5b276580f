/**
 * Child process of the disk-full test, run inside a small tmpfs (see disk-full.test.ts).
 *   fill  <dataDir> <fillerPath>: serves an engine over HTTP, fills the disk, reports what
 *         callers got while it was full, frees the space, waits for the store to come back,
 *         starts more runs, prints `confirmed <json>`, then SIGKILLs itself;
 *   check <dataDir>: reopens the folder and prints `check <json>` with the result of every run in it.
 */
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import type { Logger } from '../../engine/logger.js';
import { serveEngine } from '../../server/serve.js';
import { fixture } from '../helpers-node.js';

const [phase, dataDir, arg] = process.argv.slice(2);
const print = (label: string, value: unknown) => process.stdout.write(`${label} ${JSON.stringify(value)}\n`);

/** Counts what the engine logs, by the second. */
const logLines: number[] = [];
const counting = (): void => void logLines.push(Date.now());
const logger: Logger = { debug: counting, info: counting, warn: counting, error: counting };

if (phase === 'fill') {
  const engine = await Engine.open({ dataDir, logger });
  const server = await serveEngine(engine, { port: 0 });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}/v1/namespaces/default${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000), // a start that hangs fails the test
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  await engine.deploy({ code: (await bundleWorkflowCode({ workflowsPath: fixture('workflows.ts') })).code });
  const before = await call('POST', '/workflows', { type: 'greet', workflowId: 'before', args: ['a'] });
  // A run whose timer comes due while the disk is full.
  const sleeping = await call('POST', '/workflows', { type: 'sleeper', workflowId: 'sleeping', args: [300] });

  // Fill the disk.
  const fd = openSync(arg, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  const unavailable = once(engine.events, 'storeAvailability');
  // The store's log file may still have room in its last page: starts that fit there are confirmed.
  const fitInLastPage: string[] = [];
  let first: Awaited<ReturnType<typeof call>> | undefined;
  for (let i = 0; i < 50 && !first; i++) {
    const response = await call('POST', '/workflows', { type: 'greet', workflowId: `full-${i}`, args: ['b'] });
    if (response.status === 201) fitInLastPage.push(`full-${i}`);
    else first = response;
  }
  const whileFull = first ? [first] : [];
  for (let i = 0; i < 3; i++) whileFull.push(await call('POST', '/workflows', { type: 'greet', workflowId: `refused-${i}`, args: ['b'] }));
  await unavailable;
  const health = await fetch(`${server.url}/v1/health`);
  // No hot loop: the log stays quiet while the disk is full (the sleeper's timer came due meanwhile).
  const quietFrom = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const linesWhileFull = logLines.filter((t) => t >= quietFrom).length;

  const available = new Promise<void>((resolve) => engine.events.on('storeAvailability', (change) => change.available && resolve()));
  unlinkSync(arg);
  await available;
  const after = [];
  for (let i = 0; i < 5; i++) after.push(await call('POST', '/workflows', { type: 'greet', workflowId: `after-${i}`, args: [`c${i}`] }));
  print('confirmed', {
    before: before.status,
    sleeping: sleeping.status,
    fitInLastPage,
    whileFull: whileFull.map(({ status, body }) => ({ status, code: (body.error as { code?: string }).code, message: (body.error as { message?: string }).message })),
    health: { status: health.status, body: await health.json() },
    linesWhileFull,
    after: after.map(({ status, body }) => ({ status, workflowId: body.workflowId })),
  });
  process.kill(process.pid, 'SIGKILL');
} else {
  const engine = await Engine.open({ dataDir, logger });
  const results: Record<string, unknown> = {};
  for (const { workflowId } of await engine.list()) {
    results[workflowId] = await engine
      .getHandle(workflowId)
      .result()
      .catch((error: unknown) => `error: ${(error as Error).message}`);
  }
  print('check', results);
  await engine.close();
}
