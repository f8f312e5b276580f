import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AionError, BundleError, type AionErrorCode } from '../engine/index.js';

/** HTTP status of each engine error code. */
const STATUS: Record<AionErrorCode, ContentfulStatusCode> = {
  INVALID_ARGUMENT: 400,
  BUNDLE_INVALID: 400,
  NOT_FOUND: 404,
  ALREADY_STARTED: 409,
  NOT_RUNNING: 409,
  DETERMINISM_VIOLATION: 409,
  WORKFLOW_FAILED: 422,
  QUERY_FAILED: 422,
  UPDATE_FAILED: 422,
  ENGINE_CLOSED: 503,
};

export interface ErrorBody {
  error: { code: string; message: string };
}

/** Maps an error to its HTTP status and JSON body; unknown errors are 500s without details. */
export function errorResponse(error: unknown): { status: ContentfulStatusCode; body: ErrorBody } {
  if (error instanceof AionError) return { status: STATUS[error.code], body: { error: { code: error.code, message: error.message } } };
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
