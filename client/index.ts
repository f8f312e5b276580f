/**
 * `aion/client`: Temporal's client API over an Aion engine, in process or over HTTP.
 *
 * @example
 * import { Client, Connection } from 'aion/client';
 * const client = new Client({ connection: await Connection.connect({ address: 'localhost:7233' }) });
 * const handle = await client.workflow.start(order, { taskQueue: 'orders', workflowId: 'order-1', args: [42] });
 * await handle.signal(approve, 'ann');
 * console.log(await handle.result());
 *
 * @module
 */
export { WorkflowUpdateStage, WorkflowIdConflictPolicy, WithStartWorkflowOperation, type WorkflowUpdateHandle, type WorkflowUpdateOptions } from './client.js';
export { Client, WorkflowClient, WorkflowHandle, AsyncCompletionClient, type ClientOptions, type WorkflowStartOptions, type WorkflowSignalWithStartOptions, type WorkflowExecutionDescription } from './client.js';
export { Connection } from './connection.js';
export { ScheduleClient, ScheduleHandle, ScheduleOverlapPolicy, type ScheduleCreateOptions } from './schedule-client.js';
export type { HttpConnectionOptions } from './http-transport.js';
export {
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowAlreadyStartedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateNotFoundError,
  QueryFailedError,
  ActivityNotFoundError,
  ActivityCancelledError,
  InvalidArgumentError,
  AionError,
  ApplicationFailure,
  ActivityFailure,
  ChildWorkflowFailure,
  CancelledFailure,
  TerminatedFailure,
  TimeoutFailure,
  TemporalFailure,
} from '../engine/index.js';
