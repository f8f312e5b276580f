/**
 * Runs one repetition of one scenario in this (fresh) process and prints its figures as the
 * last line of output: `FIGURES <json>`.
 */
import { scenarios } from './scenarios/index.js';

const [name, mode] = process.argv.slice(2);
const scenario = scenarios.find((s) => s.name === name);
if (!scenario) throw new Error(`unknown scenario ${name}`);
const figures = await scenario.run({ quick: mode === 'quick' });
process.stdout.write(`FIGURES ${JSON.stringify(figures)}\n`);
process.exit(0);
