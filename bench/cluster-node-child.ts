/**
 * A node of the cluster benchmarks, in its own process: an engine serving a share of the
 * PostgreSQL schema argv[3] at argv[2] (cluster mode, lease time argv[5] ms), with the no-op
 * activities, and its HTTP API on port argv[4]. Prints `serving`; on SIGTERM prints the CPU it
 * used (JSON) and exits.
 */
import { Engine } from '../engine/engine.js';
import { serveEngine } from '../server/serve.js';
import { noopActivities, silentLogger } from './workloads/index.js';

const [url, schema, port, leaseTtlMs] = process.argv.slice(2);
const address = `http://127.0.0.1:${port}`;
const engine = await Engine.open({ postgres: { url, schema, cluster: { address }, leaseTtlMs: Number(leaseTtlMs) }, activities: noopActivities, logger: silentLogger });
const server = await serveEngine(engine, { port: Number(port) });
const cpu = process.cpuUsage();
process.stdout.write('serving\n');
process.once('SIGTERM', () => {
  const { user, system } = process.cpuUsage(cpu);
  process.stdout.write(`${JSON.stringify({ cpuMs: (user + system) / 1000 })}\n`);
  void server
    .close()
    .then(() => engine.close())
    .then(() => process.exit(0));
});
