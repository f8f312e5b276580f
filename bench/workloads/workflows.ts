/** Benchmark workloads: order3 (three sequential activities, then a 10 ms durable sleep) and friends. */
import { condition, defineSignal, proxyActivities, setHandler, sleep } from 'aion/workflow';

const { step1, step2, step3 } = proxyActivities<{
  step1(n: number): Promise<number>;
  step2(n: number): Promise<number>;
  step3(n: number): Promise<number>;
}>({ startToCloseTimeout: '10s' });

export async function order3(n: number): Promise<number> {
  await step1(n);
  await step2(n);
  await step3(n);
  await sleep(10);
  return n;
}

export async function order3NoSleep(n: number): Promise<number> {
  await step1(n);
  await step2(n);
  return step3(n);
}

/** One activity round trip, for step latency. */
export async function oneStep(n: number): Promise<number> {
  return step1(n);
}

/** `n` sequential activities: a long history (about 3 events per step). */
export async function manySteps(n: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < n; i++) total += await step1(i);
  return total;
}


const wake = defineSignal('wake');

/** Takes `steps` activity round trips (a history to replay), then parks on a long timer until signalled `wake`. */
export async function parked(steps = 0): Promise<string> {
  let woken = false;
  setHandler(wake, () => {
    woken = true;
  });
  for (let i = 0; i < steps; i++) await step1(i);
  return (await condition(() => woken, '30 days')) ? 'woken' : 'timed out';
}

/** Sleeps until `wakeAt` (epoch ms), then runs one activity with `n` (the recovery benchmark kills the engine meanwhile). */
export async function sleepUntilThenStep(wakeAt: number, n: number): Promise<number> {
  await sleep(Math.max(1, wakeAt - Date.now()));
  return step1(n);
}

const { crashThread } = proxyActivities<{ crashThread(): Promise<string> }>({ startToCloseTimeout: '1 minute' });

/** Runs the activity that ends its partition thread once (the thread-restart benchmark). */
export async function crashesItsThread(): Promise<string> {
  return crashThread();
}

const ping = defineSignal('ping');

/** Counts `ping` signals forever: each is an activation that emits no command (the crossing benchmark). */
export async function listens(): Promise<void> {
  let pings = 0;
  setHandler(ping, () => void pings++);
  await condition(() => pings < 0);
}

/** A noisy tenant's CPU hog: `rounds` activations that each compute for a while (`iterations` of a loop), an activity between them. */
export async function cpuHog(rounds: number, iterations: number): Promise<number> {
  let total = 0;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < iterations; i++) total = (total + i * 7) % 1_000_003;
    await step1(round);
  }
  return total;
}

/** A noisy tenant's memory bomb: allocates until the sandbox's memory cap stops it (its run crashes, is restarted, and fails). */
export async function memoryBomb(): Promise<number> {
  const hoard: string[] = [];
  for (;;) hoard.push('x'.repeat(64 * 1024) + hoard.length);
}
