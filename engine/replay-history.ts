/**
 * `replayHistory`: replays an exported history offline against a bundle (the library call
 * behind `aion replay`), with the same machinery the engine uses to bring runs back.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { DEFAULT_LIMITS, QuickJSWasm, type SandboxLimits } from '../sandbox/index.js';
import { loadGuestRuntime } from './bundler.js';
import { locateDivergences } from './divergence.js';
import { AionError, DeterminismViolationError, InvalidArgumentError } from './errors.js';
import { checkOptionKeys } from './input.js';
import { HistoryFormatError, parseHistory, type ParsedHistory } from './history/activations.js';
import type { HistoryEvent } from './history/events.js';
import { DEFAULT_REPLAY_LIMITS } from './replay.js';
import { replaySandbox } from './sandboxes/restore.js';
import { BundleLocator, splitInlineSourceMap } from './source-maps.js';
import { WorkflowTemplate } from './workflow-sandbox.js';

export interface ReplayOptions {
  limits?: Partial<SandboxLimits>;
  /** Also compare what commands carry: activity and child arguments, timer durations, search attributes, memo, the result. */
  strict?: boolean;
  /** Report every divergence (the error's `divergences`), going on past each as far as the history lets the code run. */
  all?: boolean;
}

/** Accepts a bare event array or an exported history object (`{ events: [...] }`). */
export type ReplayableHistory = readonly HistoryEvent[] | { events: readonly HistoryEvent[] };

/**
 * Replays `history` against `bundle` (its source map inline, or given as `sourceMap`).
 * Resolves if the code reproduces every recorded command; rejects with
 * `DeterminismViolationError` at the first divergence (`eventIndex`, `expected`, `actual`, the
 * source lines of both sides, `recordedAt` and `producedAt`, and a `hint`), or with every one
 * of them in `divergences` when `all` is set.
 */
export async function replayHistory(bundle: { code: string; sourceMap?: string }, history: ReplayableHistory, options: ReplayOptions = {}): Promise<void> {
  checkOptionKeys(options, ['limits', 'strict', 'all'], 'replayHistory');
  const events = Array.isArray(history) ? history : (history as { events?: unknown }).events;
  if (!Array.isArray(events)) throw new InvalidArgumentError('a history is an array of events, or an object with an `events` array');
  let parsed: ParsedHistory;
  try {
    parsed = parseHistory(events as HistoryEvent[]);
  } catch (error) {
    if (error instanceof HistoryFormatError) throw new InvalidArgumentError(`malformed history at event ${error.eventIndex}: ${error.message}`);
    throw error;
  }
  const { code, sourceMap } = splitInlineSourceMap(bundle.code);
  const template = await cachedTemplate(code, { ...DEFAULT_LIMITS, ...options.limits });
  try {
    (await replaySandbox(template, parsed, DEFAULT_REPLAY_LIMITS, { strict: options.strict === true, all: options.all === true })).dispose();
  } catch (error) {
    if (error instanceof DeterminismViolationError) throw locateDivergences(error, new BundleLocator(bundle.sourceMap ?? sourceMap));
    if (error instanceof AionError) throw error;
    throw new AionError('DETERMINISM_VIOLATION', `replay failed: ${(error as Error).message}`, { cause: error });
  }
}

/** Offline replays of the same code reuse its template (a small cache, by code and limits). */
const templates = new Map<string, Promise<WorkflowTemplate>>();
const TEMPLATE_CACHE_SIZE = 8;

function cachedTemplate(code: string, limits: SandboxLimits): Promise<WorkflowTemplate> {
  const key = createHash('sha256').update(code).update(JSON.stringify(limits)).digest('hex');
  let template = templates.get(key);
  if (!template) {
    template = (async () => WorkflowTemplate.create(await QuickJSWasm.load(), limits, await loadGuestRuntime(), code))();
    template.catch(() => templates.delete(key));
    templates.set(key, template);
    if (templates.size > TEMPLATE_CACHE_SIZE) templates.delete(templates.keys().next().value!);
  }
  return template;
}
