import { serve } from '@hono/node-server';
import type { Engine } from '../engine/index.js';
import { createApp, type AppOptions } from './app.js';

export interface ServeOptions extends AppOptions {
  port?: number;
  hostname?: string;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** On SIGINT or SIGTERM: stops serving, closes the engine (flushing its writes), and exits. */
export function stopOnSignals(server: RunningServer, engine: Engine): void {
  const stop = async () => {
    await server.close();
    await engine.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** Serves the HTTP API of `engine` until `close()`. */
export function serveEngine(engine: Engine, options: ServeOptions = {}): Promise<RunningServer> {
  const app = createApp(engine, options);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: options.port ?? 7233, hostname: options.hostname ?? '127.0.0.1' }, (info) => {
      resolve({
        url: `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`,
        close: () => new Promise<void>((done, fail) => server.close((error) => (error ? fail(error) : done()))),
      });
    });
    server.once('error', reject);
  });
}
