/**
 * `aion/activity`: the API of activity code, with Temporal's names (`Context.current()`,
 * `activityInfo`, `heartbeat`, `sleep`, `cancelled`, `cancellationSignal`, `log`,
 * `CompleteAsyncError`), so activity code ports by changing its import — and the activity's
 * own client (`Context.current().client`, `getClient()`): an aion/client `Client` on the
 * engine running the activity, in its namespace, to start, signal, query or update runs.
 *
 * @example
 * import { activityInfo, getClient, heartbeat } from 'aion/activity';
 * export async function notifyShipping(orderId: string) {
 *   await getClient().workflow.getHandle(`shipping-${orderId}`).signal('paid', activityInfo().workflowId);
 * }
 *
 * @module
 */
import { Client, Connection } from '../client/index.js';
import { Context, engineOf } from '../engine/activities/context.js';
import type { Engine } from '../engine/index.js';

export {
  activityContext,
  activityInfo,
  ActivityCancellationDetails,
  ApplicationFailure,
  cancellationDetails,
  cancellationSignal,
  cancelled,
  CancelledFailure,
  CompleteAsyncError,
  Context,
  heartbeat,
  log,
  sleep,
  TimeoutFailure,
  type ActivityInfo,
  type ActivityLogger,
} from '../engine/activities/context.js';

declare module '../engine/activities/context.js' {
  interface Context {
    /** A client of the engine running the activity, in the activity's namespace (Temporal's `Context.client`). */
    readonly client: Client;
  }
}

/** One client per engine and namespace, made when an activity first asks. */
const clients = new WeakMap<object, Map<string, Client>>();

function clientOf(context: Context): Client {
  const engine = engineOf(context);
  const { info } = context;
  if (!engine) throw new Error('Context.client is only available to activities the Aion engine or an aion/worker runs');
  let byNamespace = clients.get(engine);
  if (!byNamespace) clients.set(engine, (byNamespace = new Map()));
  let client = byNamespace.get(info.namespace);
  if (!client) {
    // A remote worker (aion/worker) hands its own connection to the server; the engine, itself.
    const connection = engine instanceof Connection ? engine : Connection.inProcess(engine as Engine);
    byNamespace.set(info.namespace, (client = new Client({ connection, namespace: info.namespace })));
  }
  return client;
}

// The engine's activity context does not know clients (they sit above the engine): this module, which activity code imports, gives it one.
Object.defineProperty(Context.prototype, 'client', {
  get(this: Context) {
    return clientOf(this);
  },
});

/** `Context.current().client`: a client of the engine running the current activity, in its namespace. */
export const getClient = (): Client => Context.current().client;
