/**
 * A small cache of promises by key, for work a thread does once and reuses (templates,
 * transpiled components): at most `size` are kept, the oldest dropped first, and a promise
 * that rejects is forgotten so the next call tries again.
 *
 * @module
 */
export class PromiseCache<T> {
  private readonly entries = new Map<string, Promise<T>>();

  constructor(private readonly size: number) {}

  /** The promise kept for `key`, or `make()`'s, kept from now on. */
  get(key: string, make: () => Promise<T>): Promise<T> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = make();
      entry.catch(() => this.entries.get(key) === entry && this.entries.delete(key));
      this.entries.set(key, entry);
      if (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value!);
    }
    return entry;
  }
}
