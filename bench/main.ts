/**
 * `npm run bench`: runs every scenario (or `--only NAME[,NAME]`), each repetition in a fresh
 * process, and prints one table of medians with min and max; the same figures go to
 * bench/results/latest.json with the machine's CPU count, Node version and git commit.
 * `--quick` shrinks the workloads for a smoke run; `--repeat N` (default 3) sets repetitions.
 *
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Figure } from './scenario.js';
import { scenarios } from './scenarios/index.js';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, repeat: { type: 'string', default: '3' } },
});
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 3) throw new Error('--repeat must be an integer of at least 3 (figures are medians)');
const wanted = values.only?.split(',');
const unknown = wanted?.filter((name) => !scenarios.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
const selected = scenarios.filter((s) => !wanted || wanted.includes(s.name));

const runner = fileURLToPath(new URL(`./run-scenario.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
const nodeArgs = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];

function runOnce(name: string): Promise<Figure[]> {
  return new Promise((resolve, reject) => {
    // --expose-gc: memory figures are taken after a full collection.
    const child = spawn(process.execPath, ['--expose-gc', ...nodeArgs, runner, name, values.quick ? 'quick' : 'full'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => {
      const line = output.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('FIGURES ')) reject(new Error(`scenario ${name} failed (exit ${code})`));
      else resolve(JSON.parse(line.slice('FIGURES '.length)) as Figure[]);
    });
  });
}

interface Row {
  scenario: string;
  metric: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  samples: number[];
}

const rows: Row[] = [];
const failed: string[] = [];
for (const scenario of selected) {
  process.stderr.write(`${scenario.name}: ${scenario.description}\n`);
  const repetitions: Figure[][] = [];
  try {
    for (let i = 0; i < repeat; i++) repetitions.push(await runOnce(scenario.name));
  } catch (error) {
    // One broken scenario must not cost the figures of the others.
    process.stderr.write(`${(error as Error).message}\n`);
    failed.push(scenario.name);
    continue;
  }
  for (const [index, first] of repetitions[0].entries()) {
    const samples = repetitions.map((figures) => figures[index].value);
    const sorted = [...samples].sort((a, b) => a - b);
    rows.push({ scenario: scenario.name, metric: first.metric, unit: first.unit, median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted.at(-1)!, samples });
  }
}

const format = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const table = [
  ['scenario', 'metric', 'median', 'min', 'max', 'unit'],
  ...rows.map((r) => [r.scenario, r.metric, format(r.median), format(r.min), format(r.max), r.unit]),
];
const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
const numeric = new Set([2, 3, 4]);
for (const row of table) process.stdout.write(`${row.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ')}\n`);

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
} catch {
  // not a git checkout
}
const resultsDir = fileURLToPath(new URL(`../${import.meta.url.includes('/dist/') ? '../' : ''}bench/results/`, import.meta.url));
mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  `${resultsDir}latest.json`,
  `${JSON.stringify({ date: new Date().toISOString(), commit, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, quick: values.quick, repeat, scenarios: selected.map((s) => ({ name: s.name, description: s.description })), figures: rows }, null, 2)}\n`,
);
process.stdout.write(`\nfigures: medians of ${repeat} runs (min, max); written to bench/results/latest.json\n`);
if (failed.length > 0) {
  process.stderr.write(`failed scenarios: ${failed.join(', ')}\n`);
  process.exitCode = 1;
}
