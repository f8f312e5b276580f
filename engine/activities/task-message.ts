/**
 * An activity task as a remote worker receives it: what the attempt runs (type, arguments)
 * and its `ActivityInfo`, in JSON. The worker rebuilds the `ActivityInfo` its activity code
 * reads, so an activity sees the same facts in a worker as in the engine's process.
 *
 * @module
 */
import type { ActivityInfo } from './context.js';

/** `ActivityInfo` without what JSON cannot carry (the token's bytes, dates) or repeats. */
export type WireActivityInfo = Omit<ActivityInfo, 'taskToken' | 'scheduledTime' | 'workflowExecution' | 'workflowNamespace' | 'activityNamespace' | 'isLocal'>;

export interface ActivityTaskMessage {
  activityType: string;
  args: unknown[];
  info: WireActivityInfo;
}

export function toTaskMessage(info: ActivityInfo, args: unknown[]): ActivityTaskMessage {
  const { taskToken: _token, scheduledTime: _time, workflowExecution: _execution, workflowNamespace: _ns, activityNamespace: _ans, isLocal: _local, ...wire } = info;
  return { activityType: info.activityType, args, info: wire };
}

/** The `ActivityInfo` of a task a worker received. */
export function infoOfTaskMessage(message: ActivityTaskMessage): ActivityInfo {
  const { info } = message;
  return {
    ...info,
    taskToken: new Uint8Array(Buffer.from(info.base64TaskToken, 'base64')),
    isLocal: false,
    scheduledTime: new Date(info.scheduledTimestampMs),
    workflowExecution: { workflowId: info.workflowId, runId: info.runId },
    workflowNamespace: info.namespace,
    activityNamespace: info.namespace,
  };
}
