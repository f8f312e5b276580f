import { describe, expect, it } from 'vitest';
import { makeActivities } from '../fixtures/activities.js';
import { openEngine } from '../helpers.js';

describe('smoke', () => {
  it('runs order3 end to end', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handle = await engine.start('order', { args: ['book', 3], workflowId: 'o1' });
    expect(await handle.result()).toEqual({ reservation: 'reserved:book', charged: 300, shipped: 'shipped:book' });
    const history = await handle.history();
    console.log(history.map((e) => e.type).join(' '));
    console.log(await handle.describe());
  });
});
