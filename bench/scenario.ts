/** What a benchmark scenario is: a function run in a fresh process that returns figures. */

export interface Figure {
  /** What is measured, e.g. `throughput`. */
  metric: string;
  value: number;
  unit: string;
}

export interface ScenarioContext {
  /** Smaller workloads for a smoke run. */
  quick: boolean;
}

export interface Scenario {
  name: string;
  /** One line on what the scenario does (printed with the table). */
  description: string;
  run(context: ScenarioContext): Promise<Figure[]>;
}

export const figure = (metric: string, value: number, unit: string): Figure => ({ metric, value, unit });

/** The p-th percentile (0–100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const median = (values: readonly number[]): number => percentile(values, 50);

/** Calls `call` `count` times, one after the other; the median time, in ms. */
export async function medianMs(count: number, call: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  return median(times);
}
