/**
 * How a `Client` reaches an engine: over HTTP to `aion server` (`Connection.connect`, as
 * Temporal's `Connection.connect({ address })`), or in this process (`Connection.inProcess`).
 *
 * @module
 */
import type { Engine } from '../engine/index.js';
import { HttpTransport, type HttpConnectionOptions } from './http-transport.js';
import { EngineTransport, type ClientTransport } from './transport.js';

export class Connection {
  private constructor(readonly transportFor: (namespace: string) => ClientTransport) {}

  /** A connection to an `aion server` over its HTTP API (`address`: `http://host:port` or `host:port`, default `127.0.0.1:7233`). */
  static async connect(options: HttpConnectionOptions = {}): Promise<Connection> {
    return Connection.lazy(options);
  }

  /** `connect` without awaiting (HTTP opens no session): what `new Client()` uses when given no connection. */
  static lazy(options: HttpConnectionOptions = {}): Connection {
    return new Connection((namespace) => new HttpTransport(options, namespace));
  }

  /** A connection to an engine in this process. */
  static inProcess(engine: Engine): Connection {
    return new Connection((namespace) => new EngineTransport(engine, namespace));
  }

  /** Nothing to release: HTTP requests are independent, an in-process engine is closed by its owner. */
  async close(): Promise<void> {}
}
