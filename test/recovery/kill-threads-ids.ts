import { partitionOfWorkflow } from '../../store/partitions.js';

/** Pairs of runs kill-threads.test.ts starts. */
export const PAIRS = 24;

/** The thread (of two) serving a workflow id of the default namespace in a folder of 16 partitions. */
export const threadOf = (workflowId: string): number => partitionOfWorkflow('default', workflowId, 16) % 2;

/** The ids of pair `i`: a parent and its child, a sender and its target, each pair served by two different threads (of two). */
export function pairIds(i: number): { parent: string; child: string; sender: string; target: string } {
  const other = (id: string, prefix: string) => {
    for (let n = 0; ; n++) if (threadOf(`${prefix}-${i}-${n}`) !== threadOf(id)) return `${prefix}-${i}-${n}`;
  };
  const parent = `parent-${i}`;
  const sender = `sender-${i}`;
  return { parent, child: other(parent, 'child'), sender, target: other(sender, 'target') };
}
