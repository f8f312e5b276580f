/**
 * The one limit on payloads: everything that enters a history — arguments, results,
 * failures with their stacks and causes, signal, update and query arguments, search
 * attributes, heartbeat details — is checked here before anything is recorded, in bytes of
 * its UTF-8 JSON and in nesting depth (a value nested deeper than the limit could overflow
 * the stack of whatever serialises it next).
 *
 * @module
 */
import type { FailureInfo } from '../common/protocol.js';

export interface PayloadLimits {
  /** Largest UTF-8 JSON size of one payload, in bytes. */
  maxPayloadBytes: number;
  /** Deepest nesting of arrays and objects in one payload. */
  maxPayloadDepth: number;
  /** Set when `maxPayloadBytes` is this namespace's `maxPayloadBytes` quota (lower than the engine's limit): a payload past it is refused as that quota. */
  quotaNamespace?: string;
}

export const DEFAULT_PAYLOAD_LIMITS: PayloadLimits = {
  maxPayloadBytes: 2 * 1024 * 1024,
  maxPayloadDepth: 100,
};

/** The engine's payload limits as they apply in a namespace: its `maxPayloadBytes` quota, when lower. */
export function payloadLimitsIn(limits: PayloadLimits, namespace: string, quota: number | undefined): PayloadLimits {
  return quota === undefined || quota >= limits.maxPayloadBytes ? limits : { ...limits, maxPayloadBytes: quota, quotaNamespace: namespace };
}

/** Why `value` cannot be recorded (a phrase to follow its name), or undefined if it can. */
export function payloadProblem(value: unknown, limits: PayloadLimits): string | undefined {
  return checkedPayload(value, limits)?.problem;
}

/** Why `value` cannot be recorded, and whether it is its namespace's quota (not the engine's limits) that refuses it, at how many bytes. */
export function checkedPayload(value: unknown, limits: PayloadLimits): { problem: string; byQuota?: { bytes: number } } | undefined {
  if (value === undefined) return undefined;
  if (nestedDeeperThan(value, limits.maxPayloadDepth)) return { problem: `is nested deeper than ${limits.maxPayloadDepth} levels (the limit)` };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    return { problem: `cannot be serialised as JSON: ${(error as Error).message}` };
  }
  if (json === undefined) return undefined;
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes <= limits.maxPayloadBytes) return undefined;
  const limit = limits.quotaNamespace === undefined ? `limit ${limits.maxPayloadBytes}` : `namespace ${limits.quotaNamespace}'s quota maxPayloadBytes = ${limits.maxPayloadBytes}`;
  return { problem: `is ${bytes} bytes of JSON (${limit})`, ...(limits.quotaNamespace !== undefined ? { byQuota: { bytes } } : {}) };
}

/** Whether arrays and objects in `value` nest deeper than `max` (the walk stops there, so it is bounded). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (max === 0) return true;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (nestedDeeperThan(item, max - 1)) return true;
  }
  return false;
}

/**
 * Whether the JSON text nests deeper than `max`: a scan of the text, so a document of any
 * depth is measured without parsing it into values first.
 */
export function jsonDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * A failure the host produced (an activity's error) made to fit the limit: without its
 * details, stack and causes, its message cut, and saying so. Failures from workflow code
 * are not cut: they are refused like any other payload.
 */
export function fitFailure(failure: FailureInfo, limits: PayloadLimits): FailureInfo {
  const problem = payloadProblem(failure, limits);
  if (problem === undefined) return failure;
  const keep = Math.min(4096, Math.floor(limits.maxPayloadBytes / 16));
  const cut = (info: FailureInfo, depth: number): FailureInfo => {
    const { details: _details, stack: _stack, cause, ...rest } = info;
    const short: FailureInfo = { ...rest, message: info.message.length > keep ? `${info.message.slice(0, keep)} …` : info.message };
    if (cause && depth < 8) short.cause = cut(cause, depth + 1);
    return short;
  };
  const fitted = cut(failure, 0);
  fitted.message = `${fitted.message} (the failure was cut to fit: it ${problem})`;
  return fitted;
}
