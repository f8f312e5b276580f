/**
 * Supervision of sandboxes, per workflow type, in the manner of an Erlang supervisor: a
 * crashed sandbox is restarted (from its last snapshot, or by replay) after an exponential
 * backoff; past the restart intensity (more than `maxRestarts` crashes within `withinMs`) the
 * run fails with the crash as reason. A crash that repeats identically `deterministicAfter`
 * times in a row — the same code failing the same way at the same point of its history — is
 * deterministic: retrying cannot help, so the run fails at once.
 *
 * An error in workflow code that is not a failure (a `TypeError`, a bug) is not a crash of
 * the sandbox: as in Temporal, the workflow task fails and is retried, with the same backoff,
 * for as long as it takes to deploy a fix and upgrade the run (`engine.upgrade`).
 *
 * @module
 */
import type { FailureInfo } from '../common/protocol.js';
import { topFrame } from './source-maps.js';

/** The crash kind of a failed workflow task. */
export const WORKFLOW_ERROR = 'workflow-error';

/** Workflow code threw an error that is not a failure: its task failed. */
export class WorkflowTaskError extends Error {
  override name = 'WorkflowTaskError';
  constructor(readonly failure: FailureInfo) {
    const where = topFrame(failure.stack);
    super(`${cut(failure.type ?? 'Error', 256)}: ${cut(failure.message, 2048)}${where ? ` (at ${cut(where, 512)})` : ''}`);
  }
}

/** Failure texts are recorded with every retry of the task: kept short. */
function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)} …` : text;
}

export interface SupervisionPolicy {
  maxRestarts: number;
  withinMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  deterministicAfter: number;
}

export const DEFAULT_SUPERVISION: SupervisionPolicy = {
  maxRestarts: 5,
  withinMs: 60_000,
  initialBackoffMs: 100,
  maxBackoffMs: 30_000,
  deterministicAfter: 3,
};

export interface SupervisionOptions extends Partial<SupervisionPolicy> {
  /** Policies for particular workflow types (over the defaults above). */
  byType?: Record<string, Partial<SupervisionPolicy>>;
}

/** A crash as the run's history records it (crashes since the run last made progress). */
export interface Crash {
  time: number;
  kind: string;
  message: string;
}

export type Decision = { restart: true; delayMs: number } | { restart: false; reason: string };

export class Supervisor {
  constructor(
    readonly workflowType: string,
    readonly policy: SupervisionPolicy,
  ) {}

  /** What to do after `crash`, given the crashes before it since the run last made progress. */
  decide(previous: readonly Crash[], crash: Crash): Decision {
    const backoff = Math.min(this.policy.initialBackoffMs * 2 ** previous.length, this.policy.maxBackoffMs);
    if (crash.kind === WORKFLOW_ERROR) return { restart: true, delayMs: backoff };
    // Failed workflow tasks are not crashes of the sandbox: they count toward neither limit.
    const crashes = [...previous.filter((c) => c.kind !== WORKFLOW_ERROR), crash];
    let identical = 0;
    for (let i = crashes.length - 1; i >= 0 && crashes[i].kind === crash.kind && crashes[i].message === crash.message; i--) identical++;
    if (identical >= this.policy.deterministicAfter) {
      return { restart: false, reason: `deterministic crash: the same ${crash.kind} crash ${identical} times in a row (${crash.message})` };
    }
    const recent = crashes.filter((c) => crash.time - c.time <= this.policy.withinMs).length;
    if (recent > this.policy.maxRestarts) {
      return { restart: false, reason: `restart intensity exceeded: ${recent} crashes within ${this.policy.withinMs} ms (last: ${crash.kind}: ${crash.message})` };
    }
    return { restart: true, delayMs: backoff };
  }
}

/** One supervisor per workflow type. */
export class Supervisors {
  private readonly supervisors = new Map<string, Supervisor>();

  constructor(private readonly options: SupervisionOptions = {}) {
    validate({ ...DEFAULT_SUPERVISION, ...withoutByType(options) }, 'supervision');
    for (const [type, policy] of Object.entries(options.byType ?? {})) validate({ ...DEFAULT_SUPERVISION, ...withoutByType(options), ...policy }, `supervision.byType.${type}`);
  }

  for(workflowType: string): Supervisor {
    let supervisor = this.supervisors.get(workflowType);
    if (!supervisor) {
      supervisor = new Supervisor(workflowType, { ...DEFAULT_SUPERVISION, ...withoutByType(this.options), ...this.options.byType?.[workflowType] });
      this.supervisors.set(workflowType, supervisor);
    }
    return supervisor;
  }
}

function withoutByType(options: SupervisionOptions): Partial<SupervisionPolicy> {
  const { byType: _byType, ...policy } = options;
  return policy;
}

function validate(policy: SupervisionPolicy, where: string): void {
  for (const [key, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${where}.${key} must be a non-negative number, got ${value}`);
  }
  if (policy.deterministicAfter < 1) throw new RangeError(`${where}.deterministicAfter must be at least 1`);
}
