/** Why a sandbox stopped being usable. */
export type SandboxCrashKind =
  /** The CPU budget of an activation ran out (the guest was interrupted). */
  | 'cpu-budget'
  /** The guest allocated past its memory limit. */
  | 'memory-limit'
  /** The guest recursed past its stack limit. */
  | 'stack-overflow'
  /** WebAssembly trapped, or the host's own stack overflowed inside the guest. */
  | 'trap'
  /** A guest entry point threw, or returned something that is not what the host asked for. */
  | 'guest-error';

/**
 * A sandbox crash: the sandbox must be disposed; the host is unaffected. Carries what the
 * guest reported, as plain strings (never a guest handle).
 */
export class SandboxCrash extends Error {
  override name = 'SandboxCrash';
  constructor(
    readonly kind: SandboxCrashKind,
    message: string,
    readonly guestStack?: string,
  ) {
    super(message);
  }
}

/** Evaluating a script in the sandbox threw (a bundle that fails at load time, for example). */
export class GuestEvaluationError extends Error {
  override name = 'GuestEvaluationError';
  constructor(
    message: string,
    readonly guestStack?: string,
  ) {
    super(message);
  }
}
