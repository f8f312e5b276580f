/**
 * The `maxActivityTasksInFlight` quota: at most that many of a namespace's activity attempts
 * run at once (in process, or handed to or waiting for a remote worker); the others wait, in
 * order, for a slot. Nothing is refused: a namespace's activities only queue behind its own.
 *
 * @module
 */
export class InFlightLimit {
  private readonly counts = new Map<string, number>();
  /** Attempts waiting for a slot, by namespace; `start` answers false when the attempt is no longer wanted. */
  private readonly waiting = new Map<string, (() => boolean)[]>();

  constructor(private readonly limitOf: (namespace: string) => number | undefined) {}

  /** Takes a slot for `start` now (it runs at once) or when one frees; `start` answers false if it no longer wants it. */
  acquire(namespace: string, start: () => boolean): void {
    if (this.hasRoom(namespace)) return this.startIn(namespace, start);
    let queue = this.waiting.get(namespace);
    if (!queue) this.waiting.set(namespace, (queue = []));
    queue.push(start);
  }

  /** Takes a slot whatever the limit (an attempt that was already running when the engine restarted). */
  take(namespace: string): void {
    this.counts.set(namespace, (this.counts.get(namespace) ?? 0) + 1);
  }

  /** Frees a slot: the next waiting attempt that still wants it starts. */
  release(namespace: string): void {
    const count = (this.counts.get(namespace) ?? 1) - 1;
    if (count === 0) this.counts.delete(namespace);
    else this.counts.set(namespace, count);
    const queue = this.waiting.get(namespace);
    if (!queue || queue.length === 0) {
      this.waiting.delete(namespace);
      return;
    }
    if (this.hasRoom(namespace)) this.startIn(namespace, queue.shift()!);
  }

  private hasRoom(namespace: string): boolean {
    const limit = this.limitOf(namespace);
    return limit === undefined || (this.counts.get(namespace) ?? 0) < limit;
  }

  /** Starts `start` in a slot it takes; one it no longer wants goes to the next waiting attempt. */
  private startIn(namespace: string, start: () => boolean): void {
    this.take(namespace);
    if (!start()) this.release(namespace);
  }
}
