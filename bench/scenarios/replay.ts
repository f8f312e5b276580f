import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistory } from '../../engine/replay-history.js';
import { figure, median, percentile, type Figure, type Scenario } from '../scenario.js';
import { noopActivities, order3Code } from '../workloads/index.js';

async function record(code: string, type: string, args: unknown[]): Promise<HistoryEvent[]> {
  const engine = await Engine.open({ activities: noopActivities, logger: { debug() {}, info() {}, warn() {}, error() {} } });
  await engine.deploy({ code });
  const handle = await engine.start(type, { args });
  await handle.result();
  const history = await handle.history();
  await engine.close();
  return history;
}

export const replay: Scenario = {
  name: 'replay',
  description: 'replayHistory: one order3 history 1,000 times (Temporal TS: 10-14 ms per 28-event history), one ~10,000-event history',
  async run({ quick }): Promise<Figure[]> {
    const code = await order3Code();
    const order3 = await record(code, 'order3', [1]);
    const times: number[] = [];
    const count = quick ? 100 : 1000;
    await replayHistory({ code }, order3); // template evaluated once, like a replay worker
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await replayHistory({ code }, order3);
      times.push(performance.now() - t);
    }
    const elapsed = performance.now() - started;
    const long = await record(code, 'manySteps', [quick ? 300 : 3334]);
    const t = performance.now();
    await replayHistory({ code }, long);
    const longMs = performance.now() - t;
    return [
      figure(`order3 history (${order3.length} events): per history p50`, median(times), 'ms'),
      figure('order3 history: per history p99', percentile(times, 99), 'ms'),
      figure('order3 histories replayed', (count / elapsed) * 1000, 'histories/s'),
      figure(`long history (${long.length} events)`, longMs, 'ms'),
      figure('long history', (long.length / longMs) * 1000, 'events/s'),
    ];
  },
};
