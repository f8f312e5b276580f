/**
 * Per-namespace quotas, kept in the namespace's record and enforced by the engine before
 * anything is recorded: a refused request names the quota and its value. Built so far: the
 * start rate (a token bucket), running runs, bundle bytes and versions kept (docs/hosting.md
 * lists what is not built yet).
 *
 * @module
 */
import { InvalidArgumentError, QuotaExceededError } from '../errors.js';
import { checkOptionKeys } from '../input.js';
import { MIN_MEMORY_BYTES, type SandboxLimits } from '../../sandbox/limits.js';
import type { RunRecord } from '../../store/types.js';

export interface NamespaceQuotas {
  /** Runs started from outside (start, signal- and update-with-start) per second, on average. */
  startsPerSecond?: number;
  /** How many starts may come at once above that rate (default: one second's worth). */
  startBurst?: number;
  /** Running runs at most; a start beyond is refused (children and continue-as-new are not: they are the runs' own work). */
  maxRunningRuns?: number;
  /** Largest bundle a deploy takes, in bytes. */
  maxBundleBytes?: number;
  /** Versions the namespace keeps deployed; a deploy of a new one beyond is refused (unload old ones). */
  maxVersions?: number;
  /**
   * Sandbox memory the namespace's runs keep resident, in bytes: beyond it, its least recently
   * used idle runs park (to their snapshots), before the engine's own limits park anyone's.
   */
  maxResidentBytes?: number;
  /**
   * Activity attempts of the namespace in flight at once (running in process, or handed to or
   * waiting for a remote worker); the others wait their turn.
   */
  maxActivityTasksInFlight?: number;
  /**
   * Events one run's history may hold: a signal or update sent to a run whose history has this
   * many is refused, and an activation that would take it past is recorded as the run's
   * termination instead. Runs started meanwhile are told to continue as new at 80 % of it.
   */
  maxHistoryEvents?: number;
  /** Bytes one run's history may hold (as Temporal measures a history's size), enforced as `maxHistoryEvents` is. */
  maxHistoryBytes?: number;
  /** Memory of each sandbox of the namespace's runs (QuickJS heap), in bytes, at least 8 MiB; it lowers the engine's `limits.memoryBytes`. A run keeps the value it started with. */
  sandboxMemoryBytes?: number;
  /** CPU time one activation (or query) of the namespace's runs may take, in ms; it lowers the engine's `limits.cpuMsPerActivation`. A run keeps the value it started with. */
  cpuMsPerActivation?: number;
  /**
   * Largest payload (arguments, results, failures, signal and update arguments, memo, heartbeat
   * details...) of the namespace, in bytes of JSON; it lowers the engine's own limit.
   */
  maxPayloadBytes?: number;
  /** The namespace's share of the sandbox threads' time, relative to the others' (default 1): fair scheduling gives a namespace of weight 2 twice the time of one of weight 1 when both have work waiting. */
  schedulingWeight?: number;
}

export const QUOTA_NAMES = ['startsPerSecond', 'startBurst', 'maxRunningRuns', 'maxBundleBytes', 'maxVersions', 'maxResidentBytes', 'maxActivityTasksInFlight', 'maxHistoryEvents', 'maxHistoryBytes', 'maxPayloadBytes', 'sandboxMemoryBytes', 'cpuMsPerActivation', 'schedulingWeight'] as const satisfies readonly (keyof NamespaceQuotas)[];

/** Scheduling weights are kept within a range where virtual times stay finite and no namespace starves. */
const MIN_WEIGHT = 0.01;
const MAX_WEIGHT = 100;

/** The quotas that may be fractions. */
const FRACTIONAL: readonly (keyof NamespaceQuotas)[] = ['startsPerSecond', 'schedulingWeight'];

/** Quotas as given: known names, positive numbers (integers but for the rate and the weight). */
export function checkQuotas(quotas: unknown): NamespaceQuotas {
  if (typeof quotas !== 'object' || quotas === null || Array.isArray(quotas)) throw new InvalidArgumentError('quotas must be an object of quota names and numbers');
  checkOptionKeys(quotas, QUOTA_NAMES, 'quotas');
  const checked: NamespaceQuotas = {};
  for (const [name, value] of Object.entries(quotas) as [keyof NamespaceQuotas, unknown][]) {
    if (value === undefined || value === null) continue;
    const valid = typeof value === 'number' && value > 0 && Number.isFinite(value) && (FRACTIONAL.includes(name) || Number.isInteger(value));
    if (!valid) throw new InvalidArgumentError(`quota ${name} must be a positive ${FRACTIONAL.includes(name) ? 'number' : 'integer'}, got ${JSON.stringify(value)}`);
    if (name === 'schedulingWeight' && (value < MIN_WEIGHT || value > MAX_WEIGHT)) throw new InvalidArgumentError(`quota schedulingWeight must be between ${MIN_WEIGHT} and ${MAX_WEIGHT}, got ${value}`);
    if (name === 'sandboxMemoryBytes' && value < MIN_MEMORY_BYTES) throw new InvalidArgumentError(`quota sandboxMemoryBytes must be at least ${MIN_MEMORY_BYTES} (${MIN_MEMORY_BYTES / 1024 / 1024} MiB), got ${value}`);
    checked[name] = value as number;
  }
  return checked;
}

/** What a run starting now keeps of its namespace's sandbox quotas (see `RunRecord.sandboxQuotas`): nothing when it has none. */
export function pinnedSandboxQuotas(quotas: NamespaceQuotas): Pick<RunRecord, 'sandboxQuotas'> {
  const { sandboxMemoryBytes: memoryBytes, cpuMsPerActivation } = quotas;
  if (memoryBytes === undefined && cpuMsPerActivation === undefined) return {};
  return { sandboxQuotas: { ...(memoryBytes !== undefined ? { memoryBytes } : {}), ...(cpuMsPerActivation !== undefined ? { cpuMsPerActivation } : {}) } };
}

/** The engine's sandbox limits as they apply to a run: its pinned quotas, where lower. */
export function sandboxLimitsIn(limits: SandboxLimits, quotas: RunRecord['sandboxQuotas']): SandboxLimits {
  if (quotas === undefined) return limits;
  return { ...limits, memoryBytes: Math.min(limits.memoryBytes, quotas.memoryBytes ?? Infinity), cpuMsPerActivation: Math.min(limits.cpuMsPerActivation, quotas.cpuMsPerActivation ?? Infinity) };
}

/** Token buckets of the namespaces' start rates (in memory: a restart refills them). */
export class StartRates {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number) {}

  /** Takes a start from `namespace`'s bucket, or refuses with `QuotaExceededError`. */
  take(namespace: string, quotas: NamespaceQuotas): void {
    const rate = quotas.startsPerSecond;
    if (rate === undefined) return;
    const burst = quotas.startBurst ?? Math.max(1, Math.ceil(rate));
    const now = this.now();
    const bucket = this.buckets.get(namespace) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    this.buckets.set(namespace, bucket);
    if (bucket.tokens < 1) throw new QuotaExceededError(namespace, 'startsPerSecond', rate, `retry in ${Math.ceil(((1 - bucket.tokens) / rate) * 1000)} ms`);
    bucket.tokens -= 1;
  }
}
