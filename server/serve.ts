import { serve } from '@hono/node-server';
import type { Server as HttpServer } from 'node:http';
import { InvalidArgumentError, type Engine } from '../engine/index.js';
import { authRequirement } from './auth.js';
import { isLoopback } from './loopback.js';
import { createApp, type AppOptions } from './app.js';

/** How long, after `close()`, requests in progress may take to finish before their connections are closed. */
const CLOSE_GRACE_MS = 1000;

export interface ServeOptions extends AppOptions {
  port?: number;
  hostname?: string;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** On SIGINT or SIGTERM: stops serving, closes the engine (flushing its writes), and exits; with status 1 once the engine is fenced (another engine took over). */
export function stopOnSignals(server: RunningServer, engine: Engine): void {
  const stop = async (code: number) => {
    await server.close();
    await engine.close();
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  // Another engine took over what this one served: it would only answer with what it can no longer change.
  engine.events.on('storeAvailability', (change) => {
    if (!change.available && change.fenced) void stop(1);
  });
}

/**
 * Serves the HTTP API of `engine` until `close()`. Refuses an address other than loopback
 * while the API would take requests without credentials (no token, no API key yet).
 */
export async function serveEngine(engine: Engine, options: ServeOptions = {}): Promise<RunningServer> {
  const hostname = options.hostname ?? '127.0.0.1';
  if (!isLoopback(hostname) && !(await authRequirement(engine, options)())) {
    throw new InvalidArgumentError(`refusing to serve on ${hostname} without authentication: create an admin key first (aion server --init-admin-key, or AION_ADMIN_KEY), or give a token`);
  }
  const shutdown = new AbortController();
  const app = createApp(engine, { ...options, shutdown: shutdown.signal });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: options.port ?? 7233, hostname }, (info) => {
      resolve({
        url: `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            // Event streams and workers' long polls would keep it open: they end now (each client resumes, or polls again).
            shutdown.abort('the server is shutting down');
            (server as HttpServer).closeIdleConnections();
            // Connections of requests their clients gave up on (a worker's poll aborted by its shutdown) would hold the close
            // until the clients' keep-alive timeout: whatever is still open after a grace period is closed.
            setTimeout(() => (server as HttpServer).closeAllConnections(), CLOSE_GRACE_MS).unref();
          }),
      });
    });
    server.once('error', reject);
  });
}
