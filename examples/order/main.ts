/**
 * `npm start`: opens an engine on ./aion-data, deploys the example bundle, runs one order
 * workflow to completion (approving it by signal), prints its result and history, and keeps
 * the HTTP API running for the `aion` CLI.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, defaultLogger, Engine } from 'aion';
import { serveEngine, stopOnSignals } from 'aion/server';
import * as activities from './activities.js';

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const workflowsPath = existsSync(here('./workflows.ts')) ? here('./workflows.ts') : here('./workflows.js');
const dataDir = process.env.AION_DATA ?? './aion-data';
const port = Number(process.env.PORT ?? 7233);

const engine = await Engine.open({ dataDir, activities, logger: defaultLogger(process.env.AION_LOG_LEVEL ?? 'warn') });
const { version } = await engine.deploy(await bundleWorkflowCode({ workflowsPath }));
console.log(`deployed example bundle ${version} (data: ${dataDir})`);

const orderId = `order-${Date.now()}`;
const handle = await engine.start('processOrder', { workflowId: orderId, args: [{ id: orderId, item: 'book', amount: 42 }] });
console.log(`started ${orderId}; status: ${await handle.query('status')}`);
await handle.signal('approve', 'ann');
console.log('result:', await handle.result());
console.log('history:');
for (const { eventId, type, time, ...attributes } of await handle.history()) {
  console.log(`  ${String(eventId).padStart(3)} ${new Date(time).toISOString()} ${type.padEnd(22)} ${JSON.stringify(attributes)}`);
}

const server = await serveEngine(engine, { port });
console.log(`\nHTTP API on ${server.url} — try: npx aion list, npx aion history ${orderId}, npx aion describe ${orderId} (Ctrl-C to stop)`);
stopOnSignals(server, engine);
