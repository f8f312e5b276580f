/**
 * The web UI end to end, in a real browser: Debian's Chromium (headless), driven by
 * playwright-core, against `serveEngine` with a bearer token. The flows a user clicks through:
 * the token prompt, the runs list and its filters, a run's timeline (activity attempts, timer,
 * child linked, update, signal, continue-as-new chain), an event's details, the state at an
 * event with a query, the pending view, and a replay of the run against an uploaded bundle.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import { serveEngine, type RunningServer } from '../../server/serve.js';
import { silentLogger, suiteTempDir } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'ui-test-token';
const dir = suiteTempDir('aion-ui-');

const SOURCE = `import { condition, continueAsNew, defineQuery, defineSignal, defineUpdate, executeChild, proxyActivities, setHandler, sleep } from '@temporalio/workflow';

const { charge } = proxyActivities<{ charge(id: string): Promise<string> }>({ startToCloseTimeout: '1 minute', retry: { initialInterval: '10 ms' } });

export const approve = defineSignal<[string]>('approve');
export const stage = defineQuery<string>('stage');
export const discount = defineUpdate<number, [number]>('discount');

export async function checkout(id: string, round = 1): Promise<string> {
  if (round > 1) return 'done';
  let current = 'charging';
  let approvedBy = '';
  let off = 0;
  setHandler(stage, () => current);
  setHandler(approve, (who) => { approvedBy = who; });
  setHandler(discount, (percent) => (off = percent));
  const receipt = await charge(id); // charge
  current = 'labelling';
  await sleep('20 ms');
  const label = await executeChild(labeller, { args: [id], workflowId: \`label-\${id}\` });
  current = 'waiting for approval';
  await condition(() => approvedBy !== ''); // approval
  current = \`approved by \${approvedBy} with \${off}% off (\${receipt}, \${label})\`;
  await continueAsNew<typeof checkout>(id, round + 1);
  return current;
}

export async function labeller(id: string): Promise<string> {
  return \`label-\${id}\`;
}
`;

let engine: Engine;
let server: RunningServer;
let browser: Browser;
/** The first test's page, which meets the token prompt. */
let page: Page;
/** The other tests' page: the token already in its tab. */
let runPage: Page;
const discount = 'discount';
const bundleFile = join(dir, 'bundle.js');
const changedBundleFile = join(dir, 'changed.js');

async function bundleOf(source: string, name: string): Promise<string> {
  mkdirSync(join(dir, name), { recursive: true });
  const path = join(dir, name, 'workflows.ts');
  writeFileSync(path, source);
  return (await bundleWorkflowCode({ workflowsPath: path })).code;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`the UI tests need Debian's chromium at ${CHROMIUM} (.ci/run installs it: apt-get install chromium)`);
  const code = await bundleOf(SOURCE, 'base');
  writeFileSync(bundleFile, code);
  writeFileSync(changedBundleFile, await bundleOf(SOURCE.replace("await sleep('20 ms');", "await sleep('20 ms');\n  await charge('again');"), 'changed'));
  let attempts = 0;
  engine = await Engine.open({
    logger: silentLogger,
    activities: {
      charge: async (id: string) => {
        if (++attempts === 1) throw new Error('card declined');
        return `paid-${id}`;
      },
    },
  });
  await engine.deploy({ code });
  const done = await engine.start('checkout', { args: ['c1'], workflowId: 'c1', searchAttributes: { CustomKeywordField: ['vip'] } });
  await done.executeUpdate(discount, { args: [15] });
  await done.signal('approve', 'ann');
  expect(await done.result()).toBe('done');
  await engine.start('checkout', { args: ['c2'], workflowId: 'c2' });
  await vi.waitFor(async () => expect(await engine.getHandle('c2').query('stage')).toBe('waiting for approval'), { timeout: 10_000, interval: 20 });

  server = await serveEngine(engine, { port: 0, token: TOKEN });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  runPage = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await runPage.addInitScript((token) => sessionStorage.setItem('aion.token', token), TOKEN);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await engine?.close();
});

describe('web UI', { timeout: 60_000 }, () => {
  it('asks for the token, then lists runs and filters them', async () => {
    await page.goto(`${server.url}/ui`);
    await page.locator('#token-form').waitFor();
    await page.fill('#token', TOKEN);
    await page.click('#token-form button');
    const rows = page.locator('#runs tbody tr');
    await expect.poll(() => rows.count()).toBe(5); // c1, its successor, its child, c2 and its child
    await page.selectOption('select[name=status]', 'Running');
    await page.click('#filters button');
    await expect.poll(() => page.locator('#runs tbody tr').allInnerTexts()).toEqual([expect.stringMatching(/^c2\tcheckout\tRunning/)]);
    await page.selectOption('select[name=status]', '');
    await page.fill('input[name=searchAttributes]', '{"CustomKeywordField":{"contains":"vip"}}');
    await page.click('#filters button');
    // The run and its successor: continue-as-new carries the search attributes over.
    await expect.poll(() => page.locator('#runs tbody tr td:first-child').allInnerTexts()).toEqual(['c1', 'c1']);
  });

  it("shows a run's timeline, with the child linked and the continue-as-new chain", async () => {
    await openRun('c1', (await firstRunOf('c1')).runId);
    const timeline = runPage.locator('#timeline');
    const lanes = await timeline.locator('.lane .label').allInnerTexts();
    expect(lanes).toEqual(['activity charge (2 attempts)', 'update discount', 'timer 20 ms', 'child labeller label-c1', 'signals, cancels']);
    expect(await timeline.locator('.span.activity').getAttribute('title')).toMatch(/attempt 2$/);
    await timeline.getByRole('link', { name: 'label-c1' }).click();
    await expect.poll(() => runPage.locator('h1').innerText()).toMatch(/label-c1\s+Completed/);
    await runPage.goBack();
    await runPage.locator('#timeline').getByRole('link', { name: /^run / }).click();
    await expect.poll(() => runPage.locator('h1').innerText()).toMatch(/c1\s+Completed/);
    expect(await runPage.locator('#events tbody tr').count()).toBeGreaterThan(1);
  });

  it('shows an event, and the state after it with a query answered as then', async () => {
    const first = await firstRunOf('c1');
    await openRun('c1', first.runId);
    const history = await engine.getHandle('c1', first.runId).history();
    const timerStarted = history.find((event) => event.type === 'TimerStarted')!;
    await runPage.locator(`#events tr[data-event="${timerStarted.eventId}"]`).click();
    await expect.poll(() => runPage.locator('#event-details h2').innerText()).toBe(`Event ${timerStarted.eventId}: TimerStarted`);
    expect(await runPage.locator('#inspect-at').inputValue()).toBe(String(timerStarted.eventId));
    await runPage.fill('#inspect-query', 'stage');
    await runPage.click('#state button');
    await expect.poll(() => runPage.locator('#inspect-output').innerText()).toContain('"labelling"');
    expect(await runPage.locator('#inspect-pending').innerText()).toMatch(/workflows\.ts:\d+/);
  });

  it('shows what a running run waits on', async () => {
    await openRun('c2');
    expect(await runPage.locator('#pending').innerText()).toMatch(/waiting on signals or conditions only/i);
    expect(await runPage.locator('#pending pre').innerText()).toContain(`base/workflows.ts:${lineOf('// approval')}:`);
  });

  it('replays the run against an uploaded bundle and shows the divergence, or that it reproduces', async () => {
    await openRun('c1', (await firstRunOf('c1')).runId);
    await runPage.setInputFiles('#replay-bundle', changedBundleFile);
    await runPage.click('#replay button');
    await expect.poll(() => runPage.locator('#replay-output').innerText()).toMatch(/diverges from the history/);
    expect(await runPage.locator('#replay-output .divergence').first().innerText()).toMatch(/produced at\s+.*workflows\.ts:\d+/);
    await runPage.setInputFiles('#replay-bundle', bundleFile);
    await runPage.click('#replay button');
    await expect.poll(() => runPage.locator('#replay-output').innerText()).toMatch(/reproduces the history/);
    expect(await distinctColours(runPage)).toBeGreaterThan(20);
  });
});

const lineOf = (text: string): number => SOURCE.split('\n').findIndex((line) => line.includes(text)) + 1;

/** Opens a run's page and waits until it shows that run. */
async function openRun(workflowId: string, runId?: string): Promise<void> {
  await runPage.goto(`${server.url}/ui/#/runs/${workflowId}${runId ? `?runId=${runId}` : ''}`);
  await expect.poll(() => runPage.locator('#run-id').innerText().catch(() => '')).toBe(runId ?? (await engine.getHandle(workflowId).describe()).runId);
}

/** The first run of `workflowId`'s chain (the one that continued as new). */
async function firstRunOf(workflowId: string) {
  const runs = await engine.list({ workflowId });
  return runs.find((run) => run.status === 'ContinuedAsNew')!;
}

/** How many colours a screenshot of the page has (a blank page has one or two). */
async function distinctColours(page: Page): Promise<number> {
  const png = (await page.screenshot()).toString('base64');
  return page.evaluate(async (data) => {
    const image = new Image();
    image.src = `data:image/png;base64,${data}`;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext('2d')!;
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, image.width, image.height).data;
    const colours = new Set<number>();
    for (let i = 0; i < pixels.length; i += 4 * 7) colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
    return colours.size;
  }, png);
}
