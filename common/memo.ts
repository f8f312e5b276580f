/**
 * Memo: non-indexed fields a run carries for whoever describes it (Temporal's memo). One rule
 * for applying an upsert, shared by the guest's `upsertMemo` and the host's run state.
 *
 * @module
 */

/** Applies an upsert to `memo`: `null` removes a field, any other value sets it. */
export function applyMemoUpsert(memo: Record<string, unknown>, upsert: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(upsert)) {
    if (value === null) delete memo[name];
    // Defined, not assigned: a field named `__proto__` is a field like any other.
    else Object.defineProperty(memo, name, { value, enumerable: true, writable: true, configurable: true });
  }
}
