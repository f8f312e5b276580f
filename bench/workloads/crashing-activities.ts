/**
 * The no-op activities, and `crashThread`, which ends the partition thread running it with an
 * uncaught exception — once: the file named by `AION_BENCH_CRASH_MARKER` says it happened, so
 * the attempt the restarted thread dispatches again completes (the thread-restart scenario).
 */
import { existsSync, writeFileSync } from 'node:fs';

export { step1, step2, step3 } from './noop-activities.js';

export async function crashThread(): Promise<string> {
  const marker = process.env.AION_BENCH_CRASH_MARKER;
  if (marker === undefined || existsSync(marker)) return 'survived';
  writeFileSync(marker, '');
  setImmediate(() => {
    throw new Error('the benchmark ends this partition thread');
  });
  return new Promise<never>(() => undefined);
}
