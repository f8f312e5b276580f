/**
 * Task tokens: what identifies an activity task outside the engine (`activityInfo().taskToken`),
 * so that whoever completes an activity asynchronously can name it. Opaque to callers; here
 * the activity's namespace, run and sequence number.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

export interface TaskRef {
  namespace: string;
  runId: string;
  seq: number;
  /** The attempt the token was given to: a later attempt is not completed by an earlier one's completer. */
  attempt: number;
}

export function encodeTaskToken(ref: TaskRef): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify([ref.namespace, ref.runId, ref.seq, ref.attempt]), 'utf8'));
}

/** Decodes a token given as bytes or as base64 text; anything else is an `InvalidArgumentError`. */
export function decodeTaskToken(token: Uint8Array | string): TaskRef {
  const bytes = typeof token === 'string' ? Buffer.from(token, 'base64') : token instanceof Uint8Array ? Buffer.from(token) : undefined;
  let parsed: unknown;
  try {
    parsed = bytes && JSON.parse(bytes.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 4 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string' || !Number.isInteger(parsed[2]) || !Number.isInteger(parsed[3])) {
    throw new InvalidArgumentError('not an activity task token (expected the bytes of activityInfo().taskToken, or their base64)');
  }
  return { namespace: parsed[0], runId: parsed[1], seq: parsed[2] as number, attempt: parsed[3] as number };
}
