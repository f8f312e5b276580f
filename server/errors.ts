import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  AionError,
  BundleError,
  QueryFailedError,
  StoreError,
  toFailureInfo,
  WorkflowAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateNotFoundError,
  type AionErrorCode,
  type FailureInfo,
  type StoreErrorCode,
} from '../engine/index.js';

/** HTTP status of each engine error code. */
const STATUS: Record<AionErrorCode, ContentfulStatusCode> = {
  INVALID_ARGUMENT: 400,
  BUNDLE_INVALID: 400,
  NOT_FOUND: 404,
  ALREADY_STARTED: 409,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  RESOURCE_EXHAUSTED: 429,
  NOT_RUNNING: 409,
  DETERMINISM_VIOLATION: 409,
  WORKFLOW_TASK_FAILED: 422,
  WORKFLOW_FAILED: 422,
  QUERY_FAILED: 422,
  UPDATE_FAILED: 422,
  ENGINE_CLOSED: 503,
  QUARANTINED: 409,
  PARTITION_ELSEWHERE: 503,
};

/** HTTP status of each store error code (the engine passes store failures on as they are). */
const STORE_STATUS: Record<StoreErrorCode, ContentfulStatusCode> = {
  AION_STORE_UNAVAILABLE: 503,
  AION_STORE_CLOSED: 503,
  AION_STORE_IO: 503,
  AION_STORE_CONFLICT: 409,
  AION_STORE_CORRUPT: 500,
  AION_STORE_DAMAGED: 500,
  AION_STORE_LOCKED: 500,
  AION_STORE_FENCED: 503,
  AION_STORE_PARTITION_MOVED: 503,
  AION_STORE_INVALID_VALUE: 400,
  AION_STORE_LAYOUT: 500,
};

export interface ErrorBody {
  /**
   * `failure`: the workflow's failure behind a failed query or update (its `cause`); `type`
   * and the ids: which error it is, for the client to give the same class (not-found and
   * already-started errors).
   */
  error: { code: string; message: string; failure?: FailureInfo; type?: string; workflowId?: string; runId?: string; updateId?: string };
}

/** Maps an error to its HTTP status and JSON body; unknown errors are 500s without details. */
export function errorResponse(error: unknown): { status: ContentfulStatusCode; body: ErrorBody } {
  if (error instanceof QueryFailedError || error instanceof WorkflowUpdateFailedError) {
    const failure = error.cause === undefined ? {} : { failure: toFailureInfo(error.cause) };
    return { status: STATUS[error.code], body: { error: { code: error.code, message: error.message, ...failure } } };
  }
  if (error instanceof WorkflowNotFoundError || error instanceof WorkflowAlreadyStartedError) {
    const ids = { workflowId: error.workflowId, ...(error.runId !== undefined ? { runId: error.runId } : {}) };
    return { status: STATUS[error.code], body: { error: { code: error.code, message: error.message, type: error.name, ...ids } } };
  }
  if (error instanceof WorkflowUpdateNotFoundError) {
    return { status: STATUS[error.code], body: { error: { code: error.code, message: error.message, type: error.name, updateId: error.updateId, runId: error.runId } } };
  }
  if (error instanceof AionError) return { status: STATUS[error.code], body: { error: { code: error.code, message: error.message } } };
  if (error instanceof StoreError) return { status: STORE_STATUS[error.code], body: { error: { code: error.code, message: error.message } } };
  if (error instanceof BundleError) return { status: 400, body: { error: { code: 'BUNDLE_INVALID', message: error.message } } };
  if (error instanceof HttpError) return { status: error.status, body: { error: { code: error.code, message: error.message } } };
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error (see the server log)' } } };
}

/** A request the HTTP layer itself refuses (bad JSON, missing credentials). */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
