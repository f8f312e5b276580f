/**
 * Validation of caller input (ids, names, payloads). Everything a caller passes goes
 * through here before anything is recorded, and bad input is an `InvalidArgumentError`
 * naming the field and the problem.
 *
 * @module
 */
import { unknownOptions } from '../common/options.js';
import { InvalidArgumentError, QuotaExceededError } from './errors.js';
import { checkedPayload, type PayloadLimits } from './payloads.js';

const MAX_ID_LENGTH = 256;
// NUL separates key parts in the store; other control characters make ids unprintable.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** An id or a name: a non-empty string of at most 256 characters, no control characters. */
export function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(`${field} must be a non-empty string`);
  if (value.length > MAX_ID_LENGTH) throw new InvalidArgumentError(`${field} is longer than ${MAX_ID_LENGTH} characters`);
  if (CONTROL_CHARACTERS.test(value)) throw new InvalidArgumentError(`${field} must not contain control characters`);
  return value;
}

/** Arguments: an array of JSON values, normalised as JSON carries them, within the payload limits. */
export function checkArgs(value: unknown, field: string, limits: PayloadLimits): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidArgumentError(`${field} must be an array`);
  return checkPayload(value, field, limits) as unknown[];
}

/** A JSON value within the payload limits, normalised as JSON carries it (what the history will hold). */
export function checkPayload(value: unknown, field: string, limits: PayloadLimits): unknown {
  const refused = checkedPayload(value, limits);
  if (refused?.byQuota) throw new QuotaExceededError(limits.quotaNamespace!, 'maxPayloadBytes', limits.maxPayloadBytes, `${field} is ${refused.byQuota.bytes} bytes of JSON`);
  if (refused !== undefined) throw new InvalidArgumentError(`${field} ${refused.problem}`);
  const json = value === undefined ? undefined : JSON.stringify(value);
  return json === undefined ? undefined : JSON.parse(json);
}

/** An options object whose keys are all known (see common/options.ts): otherwise an `InvalidArgumentError` naming the first unknown one. */
export function checkOptionKeys(options: unknown, known: readonly string[], what: string): void {
  const [problem] = unknownOptions(options, known, what);
  if (problem !== undefined) throw new InvalidArgumentError(problem);
}

/** A memo: an object of JSON fields within the payload limits. */
export function checkMemo(value: unknown, limits: PayloadLimits): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError('memo must be an object');
  return checkPayload(value, 'memo', limits) as Record<string, unknown>;
}

export function checkOptionalString(value: unknown, field: string, maxLength = 4096): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > maxLength) throw new InvalidArgumentError(`${field} must be a string of at most ${maxLength} characters`);
  return value;
}
