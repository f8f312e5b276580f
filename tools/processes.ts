/**
 * Small helpers about processes for the tools, benchmarks and tests that start servers: a free
 * loopback port, and the CPU time a process tree used.
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A loopback port free now (a server started a moment later takes it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** CPU time (ms) of a process and its children (a server's backends), from /proc (Linux). */
export function processTreeCpuMs(root: number): number {
  const ticksPerMs = 100 / 1000; // USER_HZ is 100 on Linux
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // Fields after the command (which may hold spaces) in parentheses: state, ppid, …, utime (14th), stime (15th).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(name);
    if (pid !== root && Number(fields[1]) !== root) continue;
    total += (Number(fields[11]) + Number(fields[12])) / ticksPerMs;
  }
  return total;
}
