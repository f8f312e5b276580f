/**
 * Step debugging: `aion replay --inspect` in a real child process, driven over the inspector
 * protocol as Chrome DevTools or VS Code would drive it: a breakpoint set in the workflow's
 * TypeScript (through the bundle's source map) is hit at that line with the run's values,
 * `--break-at-event` stops before the activation delivering that event, a `debugger;`
 * statement stops, and the replay still checks the history to the end.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generatedPositionFor, originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { silentLogger, suiteTempDir } from '../helpers.js';
import { InspectorClient, type InspectorEvent } from '../inspector-client.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'cli/main.ts');
const dir = suiteTempDir('aion-debugger-');

const SOURCE = `import { proxyActivities, sleep } from '@temporalio/workflow';

const { charge } = proxyActivities<{ charge(id: string): Promise<string> }>({ startToCloseTimeout: '1 minute' });

export async function debugged(id: string): Promise<string> {
  const receipt = await charge(id);
  const total = receipt.length; // breakpoint here
  await sleep('1 ms');
  debugger; // a debugger statement
  return \`\${receipt}:\${total}\`;
}
`;
const workflowFile = join(dir, 'workflows.ts');
const lineOf = (text: string): number => SOURCE.split('\n').findIndex((line) => line.includes(text)) + 1;

let bundleFile: string;
let historyFile: string;
let history: HistoryEvent[];

beforeAll(async () => {
  writeFileSync(workflowFile, SOURCE);
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowFile });
  bundleFile = join(dir, 'bundle.js');
  writeFileSync(bundleFile, code);
  const engine = await Engine.open({ logger: silentLogger, activities: { charge: async (id: string) => `paid-${id}` } });
  try {
    await engine.deploy({ code });
    const handle = await engine.start('debugged', { args: ['o1'], workflowId: 'o1' });
    expect(await handle.result()).toBe('paid-o1:7');
    history = await handle.history();
  } finally {
    await engine.close();
  }
  historyFile = join(dir, 'history.json');
  writeFileSync(historyFile, JSON.stringify({ events: history }));
});

/** `aion replay --inspect` on a random port; resolves once it says where its inspector listens. */
function replayUnderInspector(...args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'replay', '--bundle', bundleFile, '--history', historyFile, '--inspect', '127.0.0.1:0', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      const match = /Debugger listening on (ws:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
    });
    void exited.then((code) => reject(new Error(`aion replay exited (${code}) before its inspector listened`)));
  });
  return { child, url, exited, stdout: () => stdout };
}

let replay: ReturnType<typeof replayUnderInspector> | undefined;
afterAll(() => {
  replay?.child.kill('SIGKILL');
});

describe('aion replay --inspect', { timeout: 60_000 }, () => {
  it('stops at a breakpoint in the workflow TypeScript, at --break-at-event and at debugger;, and still checks the history', async () => {
    const completed = history.find((event) => event.type === 'ActivityCompleted')!.eventId;
    replay = replayUnderInspector('--break-at-event', String(completed));
    const inspector = await InspectorClient.connect(await replay.url);
    await inspector.send('Runtime.enable');
    await inspector.send('Debugger.enable');
    await inspector.send('Runtime.runIfWaitingForDebugger');

    // Stopped once the bundle is loaded: the bundle's script carries its source map.
    const loaded = await inspector.next('Debugger.paused');
    expect(scriptOf(inspector, loaded)).toMatch(/aion-replay-break\.js$/);
    const bundleScript = inspector.received('Debugger.scriptParsed').find((event) => String(event.params.url).endsWith('workflow-bundle.js'))!;
    expect(bundleScript.params.url).toBe(pathToFileURL(join(root, 'workflow-bundle.js')).href);
    const map = new TraceMap(Buffer.from(String(bundleScript.params.sourceMapURL).split(',')[1], 'base64').toString('utf8'));
    const source = relative(root, workflowFile);
    expect(map.sources).toContain(source);

    // A breakpoint on a TypeScript line, placed where the source map says, as a debugger does.
    const generated = generatedPositionFor(map, { source, line: lineOf('// breakpoint here'), column: 2 });
    await inspector.send('Debugger.setBreakpoint', { location: { scriptId: bundleScript.params.scriptId, lineNumber: generated.line! - 1, columnNumber: generated.column! } });
    await inspector.send('Debugger.resume');

    // --break-at-event: before the activation that delivers the activity's completion, with it in scope.
    const atEvent = await inspector.next('Debugger.paused');
    expect(scriptOf(inspector, atEvent)).toMatch(/aion-replay-break\.js$/);
    const delivered = await evaluate(inspector, atEvent, 'activation.historyLength + 1');
    expect(delivered).toBeGreaterThanOrEqual(completed);
    expect(await evaluate(inspector, atEvent, 'activation.jobs.map((job) => job.kind).join()')).toMatch(/resolveActivity/);
    await inspector.send('Debugger.resume');

    // The breakpoint, at its TypeScript line, with the run's values.
    const atBreakpoint = await inspector.next('Debugger.paused');
    expect(originalLine(map, atBreakpoint)).toEqual({ source, line: lineOf('// breakpoint here') });
    expect(await evaluate(inspector, atBreakpoint, 'receipt')).toBe('paid-o1');
    await inspector.send('Debugger.resume');

    // The debugger statement, after the timer fired.
    const atStatement = await inspector.next('Debugger.paused');
    expect(originalLine(map, atStatement)).toEqual({ source, line: lineOf('// a debugger statement') });
    // Workflow code reads the time its activation recorded: the marker after the fired timer (a millisecond after the firing, at times).
    const fired = history.findIndex((event) => event.type === 'TimerFired');
    const activation = history.slice(fired).find((event) => event.type === 'WorkflowTaskCompleted')!;
    expect(await evaluate(inspector, atStatement, 'Date.now()')).toBe(activation.time);
    await inspector.send('Debugger.resume');

    expect(await replay.exited).toBe(0);
    expect(replay.stdout()).toMatch(/the code reproduces the history/);
    inspector.close();
  });

  it('refuses --break-at-event without --inspect, naming the option', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'replay', '--bundle', bundleFile, '--history', historyFile, '--break-at-event', '3'], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(1);
    expect(stderr).toMatch(/--break-at-event and --source-root go with --inspect/);
  });
});

/** The URL of the script the top frame of a pause is in. */
function scriptOf(inspector: InspectorClient, paused: InspectorEvent): string {
  const { scriptId } = (paused.params.callFrames as { location: { scriptId: string } }[])[0].location;
  return String(inspector.received('Debugger.scriptParsed').find((event) => event.params.scriptId === scriptId)?.params.url);
}

function originalLine(map: TraceMap, paused: InspectorEvent): { source: string | null; line: number | null } {
  const { location } = (paused.params.callFrames as { location: { lineNumber: number; columnNumber: number } }[])[0];
  const original = originalPositionFor(map, { line: location.lineNumber + 1, column: location.columnNumber });
  return { source: original.source, line: original.line };
}

async function evaluate(inspector: InspectorClient, paused: InspectorEvent, expression: string): Promise<unknown> {
  const callFrameId = (paused.params.callFrames as { callFrameId: string }[])[0].callFrameId;
  const { result } = await inspector.send<{ result: { value?: unknown } }>('Debugger.evaluateOnCallFrame', { callFrameId, expression, returnByValue: true });
  return result.value;
}
