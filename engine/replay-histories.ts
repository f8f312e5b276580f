/**
 * `replayHistories`: the check a team runs before a deploy — many histories replayed against
 * one bundle, in parallel on the sandbox threads, their divergences grouped by what diverged
 * and where (the CLI's `aion replay --type T [--status S]` pulls them from a server).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { DEFAULT_LIMITS, type SandboxLimits } from '../sandbox/index.js';
import { loadGuestRuntime } from './guest-runtime.js';
import { locateDivergences } from './divergence.js';
import { DeterminismViolationError, InvalidArgumentError, type Divergence } from './errors.js';
import type { ParsedHistory } from './history/activations.js';
import { checkOptionKeys } from './input.js';
import { DEFAULT_REPLAY_LIMITS } from './replay.js';
import { eventsOf, readHistory, type ReplayableHistory } from './replay-history.js';
import type { GuestCode, TemplateSpec } from './sandboxes/messages.js';
import { defaultThreadCount, SandboxLostError, SandboxThreads } from './sandboxes/sandbox-threads.js';
import { BundleLocator, splitBundle } from './source-maps.js';

export interface ReplayHistoriesOptions {
  /** As `replayHistory`'s: also compare what commands carry. */
  strict?: boolean;
  /** As `replayHistory`'s: every divergence of each history, not just its first. */
  all?: boolean;
  limits?: Partial<SandboxLimits>;
  /** Sandbox threads to replay on (default: as an engine's, one per core but one). */
  threads?: number;
}

/** A run whose history the bundle does not reproduce. */
export interface DivergedRun {
  workflowId: string;
  runId: string;
  divergences: Divergence[];
}

/** Runs that diverge the same way: the same recorded event kind, at the same recorded line, with the same hint. */
export interface DivergenceGroup {
  /** The type of event the histories have there (`ActivityScheduled`), or that they have none. */
  kind: string;
  recordedAt?: string;
  hint?: string;
  /** The first divergence of each run in the group. */
  runs: { workflowId: string; runId: string; eventIndex: number; producedAt?: string }[];
}

export interface ReplayReport {
  /** Histories replayed (reproduced, diverged or failed). */
  replayed: number;
  reproduced: number;
  diverged: DivergedRun[];
  /** `diverged` grouped by what diverged and where, largest group first. */
  groups: DivergenceGroup[];
  /** Histories that could not be replayed at all (malformed, or the bundle crashed replaying them). */
  failed: { workflowId?: string; runId?: string; message: string }[];
}

/**
 * Replays `histories` against `bundle` (`{ code }`, or a WebAssembly component as
 * `{ component }`) on the sandbox threads and reports which reproduce, which diverge and how.
 */
export async function replayHistories(
  bundle: { code: string; sourceMap?: string } | { component: Uint8Array },
  histories: Iterable<ReplayableHistory> | AsyncIterable<ReplayableHistory>,
  options: ReplayHistoriesOptions = {},
): Promise<ReplayReport> {
  checkOptionKeys(options, ['strict', 'all', 'limits', 'threads'], 'replayHistories');
  const threadCount = options.threads ?? defaultThreadCount();
  if (!Number.isInteger(threadCount) || threadCount < 1 || threadCount > 256) throw new InvalidArgumentError('threads must be an integer between 1 and 256');
  const { code, locator }: { code: GuestCode; locator: BundleLocator } = 'component' in bundle ? { code: bundle.component, locator: new BundleLocator(undefined) } : splitBundle(bundle);
  const threads = SandboxThreads.shared(threadCount, await loadGuestRuntime());
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const hash = createHash('sha256').update(code).update(JSON.stringify(limits)).digest('hex').slice(0, 32);
  const template: TemplateSpec = { key: `replay:${hash}`, version: hash, limits, poolSize: 1, poolBytes: Infinity };
  const check = { strict: options.strict === true, all: options.all === true };
  const report: ReplayReport = { replayed: 0, reproduced: 0, diverged: [], groups: [], failed: [] };

  const replayOn = (parsed: ParsedHistory) =>
    threads.withTemplate(template, async () => code, (thread) => threads.request(thread, { op: 'replay', template, history: parsed, limits: DEFAULT_REPLAY_LIMITS, check }));
  const replayOne = async (history: ReplayableHistory): Promise<void> => {
    report.replayed++;
    let ids: { workflowId?: string; runId?: string } = {};
    try {
      const events = eventsOf(history);
      const started = events[0]?.type === 'WorkflowStarted' ? events[0] : undefined;
      if (started) ids = { workflowId: started.workflowId, runId: started.runId };
      const { parsed } = readHistory(events);
      try {
        await replayOn(parsed);
      } catch (error) {
        // Another replay on the same thread overran and the thread was stopped: once more, elsewhere.
        if (!(error instanceof SandboxLostError)) throw error;
        await replayOn(parsed);
      }
      report.reproduced++;
    } catch (error) {
      if (error instanceof DeterminismViolationError && ids.workflowId !== undefined && ids.runId !== undefined) {
        report.diverged.push({ workflowId: ids.workflowId, runId: ids.runId, divergences: locateDivergences(error, locator).divergences });
      } else {
        report.failed.push({ ...ids, message: (error as Error).message });
      }
    }
  };

  // As many histories in flight as keep every thread busy.
  const inFlight = new Set<Promise<void>>();
  for await (const history of histories) {
    const replay = replayOne(history).finally(() => inFlight.delete(replay));
    inFlight.add(replay);
    if (inFlight.size >= threads.size * 2) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  report.groups = groupDivergences(report.diverged);
  return report;
}

function groupDivergences(diverged: DivergedRun[]): DivergenceGroup[] {
  const groups = new Map<string, DivergenceGroup>();
  for (const { workflowId, runId, divergences } of diverged) {
    const first = divergences[0];
    const kind = first.eventType ?? 'a command the history does not have';
    const key = JSON.stringify([kind, first.recordedAt, first.hint]);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { kind, ...(first.recordedAt ? { recordedAt: first.recordedAt } : {}), ...(first.hint ? { hint: first.hint } : {}), runs: [] }));
    group.runs.push({ workflowId, runId, eventIndex: first.eventIndex, ...(first.producedAt ? { producedAt: first.producedAt } : {}) });
  }
  return [...groups.values()].sort((a, b) => b.runs.length - a.runs.length);
}
