import { figure, medianMs, type Figure, type Scenario } from '../scenario.js';
import { order3Engine, runMany } from '../workloads/index.js';

/** Waiting runs started first, so that a scan newest first meets them only after every closed run. */
const WAITING = 20;

export const filteredList: Scenario = {
  name: 'filtered-list',
  description: `list and count with a type, status or search attribute filter: ${WAITING} waiting runs of a rare type and customer, older than 20,000 closed runs of another type (LevelDB)`,
  async run({ quick }): Promise<Figure[]> {
    const closed = quick ? 2_000 : 20_000;
    const { engine } = await order3Engine();
    for (let i = 0; i < WAITING; i++) await engine.start('parked', { workflowId: `waiting-${i}`, searchAttributes: { Customer: 'rare' } });
    await runMany(engine, 'oneStep', closed, 100);
    const figures = [
      figure('list 20 of the rare type', await medianMs(30, () => engine.listPage({ workflowType: 'parked', pageSize: 20 })), 'ms'),
      figure('list 20 running', await medianMs(30, () => engine.listPage({ status: 'Running', pageSize: 20 })), 'ms'),
      figure('list 20 of the rare customer (search attribute)', await medianMs(30, () => engine.listPage({ searchAttributes: { Customer: 'rare' }, pageSize: 20 })), 'ms'),
      figure('count of the rare type', await medianMs(30, () => engine.count({ workflowType: 'parked' })), 'ms'),
      figure('list 20, no filter', await medianMs(30, () => engine.listPage({ pageSize: 20 })), 'ms'),
    ];
    await engine.close();
    return figures;
  },
};
