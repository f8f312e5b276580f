/** Workflow ids of kill-receipts.test.ts: pairs that live in different partitions of a 16-partition folder (the test checks it). */
export const IDS = { parent: 'receipt-parent', child: 'receipt-child', sender: 'receipt-sender', target: 'receipt-target' };
