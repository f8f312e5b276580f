/** Example activities: ordinary async functions, run by the engine outside the sandbox. */
import { Context } from 'aion/activity';

export async function reserveStock(item: string): Promise<void> {
  Context.current().heartbeat(item);
}

export async function chargeCard(orderId: string, amount: number): Promise<string> {
  if (amount <= 0) throw new Error(`invalid amount ${amount}`);
  return `ch_${orderId}_${amount}`;
}

export async function shipOrder(orderId: string, item: string): Promise<string> {
  return `TRACK-${orderId}-${item.toUpperCase()}`;
}
