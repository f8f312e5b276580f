/**
 * `aion/server`: the HTTP JSON API over an engine (routes in docs/http-api.md).
 *
 * @module
 */
export { createApp, type AppOptions } from './app.js';
export { serveEngine, stopOnSignals, type ServeOptions, type RunningServer } from './serve.js';
export { isLoopback } from './loopback.js';
