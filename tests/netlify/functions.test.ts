import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { seedRepository } from '../../src/node/seed.ts';
import { listenLocal } from '../helpers/net.ts';
import { payloadFor, signedRequest, TEST_SECRET } from '../helpers/deliveries.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../helpers/test-db.ts';

type Handler = (request: Request, context: { waitUntil: (p: Promise<unknown>) => void }) => Promise<Response>;

let t: TestDatabase;
let drainServer: Server;
let drainUrl: string;
const kicks: { authorization: string | undefined; body: string }[] = [];

/** The deployed entrypoints read Netlify.env; each scenario loads a fresh module instance. */
async function loadFunction(name: string, env: Record<string, string>): Promise<Handler> {
  vi.resetModules();
  (globalThis as { Netlify?: unknown }).Netlify = { env: { toObject: () => env } };
  const mod = (await import(`../../netlify/functions/${name}.mts`)) as { default: Handler };
  return mod.default;
}

beforeAll(async () => {
  t = await createTestDatabase();
  drainServer = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    kicks.push({ authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  drainUrl = `${await listenLocal(drainServer)}/functions/v1/process-webhook`;
});
afterAll(async () => {
  delete (globalThis as { Netlify?: unknown }).Netlify;
  drainServer?.close();
  await t?.close();
});
beforeEach(() => {
  kicks.length = 0;
});

describe('Netlify entrypoints', () => {
  reportSkip('Netlify functions on DATABASE_URL', 'the deployed functions connect over TCP (set DATABASE_URL to run it)');

  it.skipIf(!onPostgres)('hybrid: answers 202 with the job id and starts a drain ({}) through waitUntil', async () => {
    const repo = { fullName: 'acme/netlify-hybrid', githubId: 880_001 };
    await seedRepository(t.query, { ...repo, workspaces: 11 });
    const handler = await loadFunction('api-workspaces-webhook-hybrid', {
      GITHUB_WEBHOOK_SECRET: TEST_SECRET,
      DATABASE_URL: t.url as string,
      PROCESS_WEBHOOK_URL: drainUrl,
      PROCESS_WEBHOOK_SECRET: 'drain-token',
    });
    const pending: Promise<unknown>[] = [];
    const response = await handler(
      await signedRequest({ event: 'repository', payload: payloadFor('repository', repo) }),
      { waitUntil: (p) => pending.push(p) },
    );
    expect(response.status).toBe(202);
    const body = await response.json();
    expect(pending).toHaveLength(1);
    await Promise.all(pending);
    expect(body.jobId).toEqual(expect.any(String));
    expect(kicks).toEqual([{ authorization: 'Bearer drain-token', body: '{}' }]);
  });

  it.skipIf(!onPostgres)('original: does the work inline and answers 200', async () => {
    const repo = { fullName: 'acme/netlify-sync', githubId: 880_002 };
    const seeded = await seedRepository(t.query, { ...repo, workspaces: 3 });
    const handler = await loadFunction('api-workspaces-webhook', { GITHUB_WEBHOOK_SECRET: TEST_SECRET, DATABASE_URL: t.url as string });
    const response = await handler(
      await signedRequest({ event: 'issues', payload: payloadFor('issues', repo, (p) => p.action === 'opened') }),
      { waitUntil: () => {} },
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ route: 'inline', workspaces: 3, cachesInvalidated: 3 });
    const [stale] = await t.query(
      'select count(*)::int as n from workspace_metrics_cache where is_stale and workspace_id = any($1::uuid[])',
      [seeded.workspaceIds],
    );
    expect(stale?.n).toBe(3);
    expect(kicks).toHaveLength(0);
  });

  it('a bad variable answers 500 naming it, and records nothing', async () => {
    const handler = await loadFunction('api-workspaces-webhook-hybrid', {
      GITHUB_WEBHOOK_SECRET: TEST_SECRET,
      WORKSPACE_THRESHOLD: 'ten',
    });
    const response = await handler(await signedRequest({ event: 'ping', payload: payloadFor('ping', null) }), { waitUntil: () => {} });
    expect(response.status).toBe(500);
    expect((await response.json()).error).toBe('Configuration error: WORKSPACE_THRESHOLD');
  });

  it('never echoes a configuration value (URLs carry passwords)', async () => {
    const handler = await loadFunction('api-workspaces-webhook-hybrid', {
      GITHUB_WEBHOOK_SECRET: TEST_SECRET,
      DATABASE_URL: 'mysql://app:Sup3rS3cret@db.example.com/app',
    });
    const response = await handler(await signedRequest({ event: 'ping', payload: payloadFor('ping', null) }), { waitUntil: () => {} });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).toContain('DATABASE_URL');
    expect(text).not.toContain('Sup3rS3cret');
  });

  it('answers 405 to other methods even before the configuration is read', async () => {
    const handler = await loadFunction('api-workspaces-webhook-hybrid', { WORKSPACE_THRESHOLD: 'ten' });
    const response = await handler(new Request('http://localhost/', { method: 'GET' }), { waitUntil: () => {} });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('without any database configured a verified delivery answers 503', async () => {
    // Netlify.env wins over process.env (which may carry the test runner's DATABASE_URL).
    const handler = await loadFunction('api-workspaces-webhook-hybrid', { GITHUB_WEBHOOK_SECRET: TEST_SECRET, DATABASE_URL: '' });
    const response = await handler(await signedRequest({ event: 'ping', payload: payloadFor('ping', null) }), { waitUntil: () => {} });
    expect(response.status).toBe(503);
    expect((await response.json()).error).toMatch(/No database is configured/);
  });
});
