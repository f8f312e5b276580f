/**
 * Example workflow: an order that reserves stock, charges the customer, waits (durably) for
 * an approval signal with a deadline, then ships. Queries report its progress.
 */
import { ApplicationFailure, condition, defineQuery, defineSignal, log, proxyActivities, setHandler, sleep } from 'aion/workflow';
import type * as activities from './activities.js';

const { reserveStock, chargeCard, shipOrder } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 5, initialInterval: '200ms' },
});

export interface Order {
  id: string;
  item: string;
  amount: number;
}

export const approve = defineSignal<[string]>('approve');
export const status = defineQuery<string>('status');

export async function processOrder(order: Order): Promise<{ orderId: string; chargeId: string; tracking: string; approvedBy: string }> {
  let state = 'reserving';
  let approvedBy: string | undefined;
  setHandler(status, () => state);
  setHandler(approve, (by) => {
    approvedBy = by;
  });

  await reserveStock(order.item);
  state = 'charging';
  const chargeId = await chargeCard(order.id, order.amount);
  state = 'awaiting approval';
  log.info('waiting for approval', { orderId: order.id });
  if (!(await condition(() => approvedBy !== undefined, '1 day'))) {
    throw ApplicationFailure.nonRetryable(`order ${order.id} was not approved within a day`, 'NotApproved');
  }
  await sleep('50ms'); // a durable pause, as a real workflow might wait for a warehouse slot
  state = 'shipping';
  const tracking = await shipOrder(order.id, order.item);
  state = 'done';
  return { orderId: order.id, chargeId, tracking, approvedBy: approvedBy! };
}
