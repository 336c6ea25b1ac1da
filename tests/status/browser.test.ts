/**
 * The status page as a person sees it: `webhook-router start` on real Postgres, real deliveries
 * sent with `webhook-router send`, an Inngest stand-in that goes down, and headless Chromium
 * reading /status. Screenshots go to .ci/out/ (and to docs/ with UPDATE_DOCS_SCREENSHOT=1).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSkipReason, launchChromium, type Browser } from '../helpers/browser.ts';
import { cliEnv, ROOT, runCli, startStack, type RunningStack } from '../helpers/cli.ts';
import { startInngestStandIn, type InngestStandIn } from '../helpers/inngest-standin.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from '../helpers/test-db.ts';

const skip = browserSkipReason() ?? (onPostgres ? null : 'it seeds a dead letter with SQL beside the running stack; set DATABASE_URL');
// .ci/run requires it: there a missing browser or database is a failure, not a skip.
const required = process.env.STATUS_BROWSER_REQUIRED === '1';
if (skip && !required) console.warn(`[skip] status page in Chromium: ${skip}`);

if (skip && required) {
  describe('the status page in Chromium (required here)', () => {
    it('has what it needs', () => {
      throw new Error(`the browser test cannot run: ${skip}`);
    });
  });
}

const TOKEN = `status-${randomUUID()}`;
const EVENT_KEY = `evt-key-${randomUUID()}`;
const SECRET = `webhook-secret-${randomUUID()}`;

/** Pixels with a clear hue: the series a chart drew (axes, grid and text are grey). */
async function colouredPixels(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (target) => {
    const canvas = target.querySelector('canvas');
    if (!canvas) return -1;
    const ctx = canvas.getContext('2d');
    if (!ctx) return -1;
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0, data[i + 3] ?? 0];
      if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n += 1;
    }
    return n;
  });
}

/** A table as text: header cells, then each row's cells. */
async function tableText(page: Page, id: string): Promise<string[][]> {
  return page.$$eval(`#${id} tr`, (rows) => rows.map((row) => [...row.children].map((cell) => (cell.textContent ?? '').trim())));
}

function column(table: string[][], name: string): string[] {
  const index = (table[0] ?? []).indexOf(name);
  if (index < 0) throw new Error(`no column ${name} in ${JSON.stringify(table[0])}`);
  return table.slice(1).map((row) => row[index] ?? '');
}

const sum = (cells: string[]) => cells.reduce((total, cell) => total + Number(cell.replace(/[^\d.]/g, '') || 0), 0);

describe.skipIf(skip)('the status page in Chromium', () => {
  let t: TestDatabase;
  let stack: RunningStack;
  let inngest: InngestStandIn;
  let browser: Browser;
  let page: Page;
  let dataDir: string;
  let env: Record<string, string>;
  const outDir = join(ROOT, '.ci/out');

  async function send(...args: string[]): Promise<Record<string, unknown>> {
    const result = await runCli(['send', ...args], env);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout.split('\n').slice(1).join('\n')) as Record<string, unknown>;
  }

  beforeAll(async () => {
    t = await createTestDatabase();
    inngest = await startInngestStandIn();
    dataDir = mkdtempSync(join(tmpdir(), 'wr-status-'));
    env = cliEnv({
      DATABASE_URL: t.url as string,
      WEBHOOK_ROUTER_DATA_DIR: dataDir,
      GITHUB_WEBHOOK_SECRET: SECRET,
      STATUS_PAGE_TOKEN: TOKEN,
      INNGEST_EVENT_KEY: EVENT_KEY,
      INNGEST_BASE_URL: inngest.url,
      // Pushes wait an hour for company, so they stay queued; one failed send opens the circuit.
      PUSH_DEBOUNCE_SECONDS: '3600',
      CIRCUIT_FAILURE_THRESHOLD: '1',
      CIRCUIT_COOLDOWN_SECONDS: '600',
    });
    stack = await startStack(env, { drainIntervalSeconds: 3600 });
    browser = await launchChromium();
    page = await browser.context.newPage();
    mkdirSync(outDir, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await inngest?.close();
    await t?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('the local stack prints the link', () => {
    expect(stack.stdout()).toContain(`status page       ${stack.base}/status`);
  });

  it('asks for the token, shows the error for a wrong one, and then an empty window', async () => {
    await page.goto(`${stack.base}/status`);
    await expect.poll(() => page.isVisible('#login')).toBe(true);
    expect(await page.textContent('label[for="token"]')).toContain('STATUS_PAGE_TOKEN');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('token');
    expect(await page.isVisible('#dashboard')).toBe(false);

    await page.fill('#token', 'not-the-token');
    await page.press('#token', 'Enter');
    await expect.poll(() => page.textContent('#login-error')).toContain('That token was refused (401 Unauthorized)');
    expect(await page.isVisible('#dashboard')).toBe(false);

    await page.fill('#token', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#dashboard', { state: 'visible' });
    expect(await page.textContent('#deliveries-empty')).toBe('No deliveries in the last 24 hours.');
    expect(await page.isVisible('#deliveries-body')).toBe(false);
    expect(await page.textContent('#dead-summary')).toContain('No dead letters');
    expect(await page.textContent('#circuit')).toContain('closed: Inngest sends go through');
    // Kept for this tab only.
    expect(await page.evaluate(() => sessionStorage.getItem('webhook-router-status-token'))).toBe(TOKEN);
  });

  it('traffic arrives: inline, queued, coalesced, a duplicate, an open circuit, a dead letter', async () => {
    for (const [repo, workspaces] of [['acme/busy', '12'], ['acme/small', '2']] as const) {
      const seeded = await runCli(['seed', '--repo', repo, '--workspaces', workspaces], env);
      expect(seeded.code, seeded.stderr).toBe(0);
    }
    const guid = randomUUID();
    expect(await send('repository', '--repo', 'acme/small', '--delivery', guid)).toMatchObject({ route: 'inline' });
    expect(await send('repository', '--repo', 'acme/small', '--delivery', guid)).toMatchObject({ duplicate: true });
    // The receive path recorded the duplicate it answered.
    expect(await t.query('select reason, event, status_code from public.webhook_delivery_duplicates where delivery_id = $1', [guid])).toEqual([
      { reason: 'delivery_id', event: 'repository', status_code: 200 },
    ]);
    expect(await send('push', '--repo', 'acme/busy')).toMatchObject({ route: 'queued', coalesced: false });
    expect(await send('push', '--repo', 'acme/busy')).toMatchObject({ route: 'queued', coalesced: true });
    const small = await send('push', '--repo', 'acme/small');
    expect(small).toMatchObject({ route: 'queued' });

    // Inngest goes down: the pull request's job is kicked, its send fails, the circuit opens.
    inngest.failWith = 500;
    expect(await send('pull_request', '--repo', 'acme/busy')).toMatchObject({ route: 'queued' });
    await expect
      .poll(async () => (await t.query(`select state from public.webhook_circuit_breakers where name = 'inngest'`, []))[0]?.state, { timeout: 30_000 })
      .toBe('open');
    expect(inngest.requests.filter((r) => r.method === 'POST' && r.path === `/e/${EVENT_KEY}`).length).toBeGreaterThan(1);

    // A job that can never succeed ends in the dead letter, through the drain's own SQL.
    const jobId = String(small.jobId);
    await t.query('update public.background_jobs set run_at = now() where id = $1', [jobId]);
    expect(await t.query('select id from public.claim_webhook_jobs($1, 1, 60, $2)', ['status-test', jobId])).toHaveLength(1);
    const [failed] = await t.query('select status from public.fail_webhook_job($1, $2, $3, false)', [
      jobId,
      'status-test',
      `inngest send: POST ${env.INNGEST_BASE_URL}/e/${EVENT_KEY} answered 400 (event too large)`,
    ]);
    expect(failed?.status).toBe('failed');
  }, 120_000);

  it('refreshes by itself and shows the numbers in tables', async () => {
    // No click: the 15-second refresh brings all of the traffic in.
    await expect
      .poll(() => page.textContent('#summary'), { timeout: 25_000, interval: 500 })
      .toMatch(/Deliveries in window6.*Dead letters1/);
    expect(await page.isVisible('#deliveries-body')).toBe(true);
    const ack = await tableText(page, 'table-ack');
    expect(ack.slice(1).map((row) => [row[0], row[1]])).toEqual([
      ['inline', '1'],
      ['queued', '3'],
      ['coalesced', '1'],
      ['duplicate', '1'],
      ['no workspace', '0'],
      ['ignored', '0'],
    ]);
    const routes = await tableText(page, 'table-routes');
    expect(sum(column(routes, 'Total'))).toBe(6);
    expect(sum(column(routes, 'queued'))).toBe(3);
    const statuses = await tableText(page, 'table-status');
    expect(sum(column(statuses, '200'))).toBe(2);
    expect(sum(column(statuses, '202'))).toBe(4);

    const summary = await page.textContent('#summary');
    expect(summary).toContain('Deliveries in window6');
    expect(summary).toContain('Duplicates in window1');
    expect(summary).toContain('Dead letters1');
    expect(await page.textContent('#queue')).toContain('Queued2');

    const jobs = await tableText(page, 'table-jobs');
    const byType = Object.fromEntries(jobs.slice(1).map((row) => [row[0], row]));
    expect(column(jobs, 'Type')).toEqual(['webhook/pull_request', 'webhook/push']);
    expect(byType['webhook/push']?.slice(1, 3)).toEqual(['1', '0']);
    expect(byType['webhook/pull_request']?.slice(1, 3)).toEqual(['1', '0']);
    expect(column(jobs, 'Failed')).toEqual(['0', '1']);

    const repos = await tableText(page, 'table-repos');
    expect(repos.slice(1).map((row) => [row[0], row[1], row[4]])).toEqual([
      ['acme/busy', '3', '12'],
      ['acme/small', '2', '2'],
    ]);
  }, 60_000);

  it('draws every chart with its data', async () => {
    for (const chart of ['#chart-routes', '#chart-status', '#chart-ack']) {
      expect(await colouredPixels(page, chart), chart).toBeGreaterThan(30);
    }
    const legend = await page.textContent('#chart-routes .u-legend');
    for (const label of ['inline', 'queued', 'coalesced', 'duplicate', 'no workspace', 'ignored']) expect(legend).toContain(label);
    expect(await page.textContent('#chart-status .u-legend')).toContain('HTTP 202');
  });

  it('lists the dead letter with its replay command, and the open circuit', async () => {
    const dead = await tableText(page, 'table-dead');
    expect(dead).toHaveLength(2);
    const [id, type, repository, error, , replay] = dead[1] ?? [];
    expect([type, repository]).toEqual(['webhook/push', 'acme/small']);
    expect(error).toMatch(/\/e\/\[redacted\] answered 400/);
    expect(replay).toBe(`npx webhook-router replay --job ${id}Copy`);
    expect(await page.textContent('#table-dead code')).toBe(id);

    const circuit = await page.textContent('#circuit');
    expect(circuit).toContain('open: sends are paused and jobs wait');
    expect(circuit).toContain('Consecutive failures1');
    expect(circuit).toMatch(/Next probe.*\(in (9|10) min/);
    // Nothing secret on the page: not the event key, the webhook secret or the token.
    const text = await page.evaluate(() => document.body.innerText);
    for (const secret of [EVENT_KEY, SECRET, TOKEN]) expect(text).not.toContain(secret);
  });

  it('keeps the token for the tab, switches windows, and every table is reachable by keyboard', async () => {
    await page.reload();
    await page.waitForSelector('#dashboard', { state: 'visible' });
    expect(await page.isVisible('#login')).toBe(false);

    await page.check('input[value="1h"]');
    await expect.poll(() => page.textContent('#updated')).toContain('1 min buckets');
    expect(new URL(page.url()).searchParams.get('window')).toBe('1h');
    await page.check('input[value="7d"]');
    await expect.poll(() => page.textContent('#updated')).toContain('2 h buckets');
    await page.check('input[value="24h"]');
    await expect.poll(() => page.textContent('#updated')).toContain('15 min buckets');

    const reached = new Set<string>();
    await page.focus('input[value="24h"]');
    for (let i = 0; i < 40; i += 1) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => {
        const el = document.activeElement;
        return el?.querySelector('table')?.id ?? el?.textContent?.trim() ?? '';
      }));
    }
    for (const table of ['table-routes', 'table-status', 'table-ack', 'table-jobs', 'table-dead', 'table-repos']) {
      expect(reached, table).toContain(table);
    }
    expect(reached).toContain('Copy');
    await page.screenshot({ path: join(outDir, 'status-page.png'), fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT) await page.screenshot({ path: join(ROOT, 'docs/status-page.png'), fullPage: true });
  });

  it('fits a narrow screen', async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    await expect
      .poll(() => page.$eval('#chart-routes canvas', (c) => c.getBoundingClientRect().width), { timeout: 5_000 })
      .toBeLessThanOrEqual(360);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    expect(await colouredPixels(page, '#chart-routes')).toBeGreaterThan(30);
    await page.screenshot({ path: join(outDir, 'status-page-narrow.png'), fullPage: true });
  });
});
