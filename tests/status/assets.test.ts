/**
 * Every file the status page loads is served: by the local stack (chart library straight from
 * node_modules) and, after the Netlify build's `build:status`, from public/. The stack runs on
 * its embedded database here, as `npm start` does with no DATABASE_URL.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyVendorAssets, PUBLIC_DIR, VENDOR_ASSETS } from '../../src/node/status-assets.ts';
import { cliEnv, startStack, type RunningStack } from '../helpers/cli.ts';

/** Root-relative paths in status.html, plus the modules its scripts import, transitively. */
function pageAssets(): string[] {
  const found = new Set<string>();
  const html = readFileSync(join(PUBLIC_DIR, 'status.html'), 'utf8');
  for (const [, path] of html.matchAll(/(?:src|href)="(\/[^"]+)"/g)) found.add(path as string);
  const queue = [...found].filter((p) => p.endsWith('.js') && !p.startsWith('/vendor/'));
  while (queue.length) {
    const script = readFileSync(join(PUBLIC_DIR, queue.pop() as string), 'utf8');
    for (const [, module] of script.matchAll(/from '\.\/([^']+)'/g)) {
      const path = `/${module}`;
      if (!found.has(path)) queue.push(path);
      found.add(path);
    }
  }
  return [...found].sort();
}

describe('the status page assets', () => {
  it('the page loads its chart library and its own modules, nothing from another origin', () => {
    const assets = pageAssets();
    expect(assets).toEqual([
      '/status-app.js', '/status-charts.js', '/status-format.js', '/status-tables.js', '/status.css',
      '/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css',
    ]);
    const html = readFileSync(join(PUBLIC_DIR, 'status.html'), 'utf8');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('build:status puts the installed uPlot (and its licence) where Netlify publishes it', () => {
    const out = mkdtempSync(join(tmpdir(), 'wr-public-'));
    try {
      const written = copyVendorAssets(out).map((f) => f.slice(out.length));
      expect(written.sort()).toEqual(Object.keys(VENDOR_ASSETS).sort());
      for (const [path, source] of Object.entries(VENDOR_ASSETS)) {
        expect(readFileSync(join(out, path)).equals(readFileSync(source)), path).toBe(true);
      }
      expect(readFileSync(join(out, '/vendor/uPlot.LICENSE.txt'), 'utf8')).toMatch(/MIT License/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('the local stack serves the status page', () => {
  let stack: RunningStack;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wr-status-assets-'));
    stack = await startStack(cliEnv({ WEBHOOK_ROUTER_DATA_DIR: dataDir }));
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('at /status and /status.html, with every asset the page loads', async () => {
    const page = await fetch(`${stack.base}/status`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toBe(readFileSync(join(PUBLIC_DIR, 'status.html'), 'utf8'));
    expect(await (await fetch(`${stack.base}/status.html`)).text()).toBe(html);
    for (const path of pageAssets()) {
      const response = await fetch(`${stack.base}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type'), path).toMatch(path.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      const local = path.startsWith('/vendor/') ? (VENDOR_ASSETS[path] as string) : join(PUBLIC_DIR, path);
      expect(Buffer.from(await response.arrayBuffer()).equals(readFileSync(local)), path).toBe(true);
    }
    expect((await fetch(`${stack.base}/status`, { method: 'POST' })).status).toBe(405);
  });

  it('prints a generated token when STATUS_PAGE_TOKEN is unset, and its data endpoint takes only that', async () => {
    const match = /status page {7}(\S+)\n {20}token: ([0-9a-f]{32}) \(generated; set STATUS_PAGE_TOKEN to choose one\)/.exec(stack.stdout());
    expect(match?.[1]).toBe(`${stack.base}/status`);
    const data = `${stack.base}/.netlify/functions/api-webhook-status?window=1h`;
    expect((await fetch(data, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const response = await fetch(data, { headers: { authorization: `Bearer ${match?.[2]}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ window: '1h', bucket_seconds: 60, deliveries: { total: 0 } });
  });
});
