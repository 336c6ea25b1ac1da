/**
 * The status endpoint: the shared handler on a real database, and the deployed Netlify function
 * (netlify/functions/api-webhook-status.mts) loaded with its environment.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPostgresDatabase } from '../../src/shared/db/postgres.ts';
import { createStatusHandler } from '../../src/shared/status/handler.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../helpers/test-db.ts';

const URL_BASE = 'http://127.0.0.1/.netlify/functions/api-webhook-status';
const TOKEN = 'status-token-for-tests';

function get(query = '', authorization: string | null = `Bearer ${TOKEN}`, method = 'GET'): Request {
  const headers = new Headers();
  if (authorization !== null) headers.set('authorization', authorization);
  return new Request(`${URL_BASE}${query}`, { method, headers });
}

async function body(response: Response): Promise<Record<string, any>> {
  return (await response.json()) as Record<string, any>;
}

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => t?.close());

describe('createStatusHandler', () => {
  const handler = () => createStatusHandler({ token: TOKEN, db: t.db });

  it('answers the page for the right token, 24h by default, never cached', async () => {
    const response = await handler()(get());
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const page = await body(response);
    expect(page).toMatchObject({ window: '24h', bucket_seconds: 900 });
    expect(Object.keys(page).sort()).toEqual([
      'bucket_seconds', 'circuit', 'dead_letters', 'deliveries', 'from', 'generated_at', 'jobs', 'queue',
      'repositories', 'rolled_up_to', 'to', 'window', 'window_seconds',
    ]);
  });

  it.each([
    ['1h', 60],
    ['24h', 900],
    ['7d', 7200],
  ])('?window=%s → buckets of %i s', async (window, bucket) => {
    const page = await body(await handler()(get(`?window=${window}`)));
    expect(page).toMatchObject({ window, bucket_seconds: bucket });
  });

  it.each(['30d', '', '1H', '24', 'all'])('?window=%j → 400 naming the choices', async (window) => {
    const response = await handler()(get(`?window=${encodeURIComponent(window)}`));
    expect(response.status).toBe(400);
    expect(await body(response)).toEqual({ error: 'window must be one of 1h, 24h, 7d (default 24h)' });
  });

  it('a repeated window parameter is refused, not guessed', async () => {
    expect((await handler()(get('?window=1h&window=7d'))).status).toBe(400);
  });

  it.each([
    ['a wrong token', `Bearer not-${TOKEN}`],
    ['a token with a suffix', `Bearer ${TOKEN}x`],
    ['no Authorization header', null],
    ['another scheme', `Basic ${TOKEN}`],
  ])('%s → 401 with a Bearer challenge, nothing about the data', async (_, authorization) => {
    const response = await handler()(get('?window=7d', authorization));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="webhook-router status"');
    expect(await body(response)).toEqual({ error: 'Wrong or missing token: send Authorization: Bearer <STATUS_PAGE_TOKEN>.' });
  });

  it('a wrong token is refused before the window is checked', async () => {
    expect((await handler()(get('?window=nope', 'Bearer wrong'))).status).toBe(401);
  });

  it('no token configured → refuses every request and names STATUS_PAGE_TOKEN (fail closed)', async () => {
    const closed = createStatusHandler({ token: null, db: t.db });
    for (const authorization of [`Bearer ${TOKEN}`, 'Bearer ', null]) {
      const response = await closed(get('', authorization));
      expect(response.status).toBe(500);
      expect((await body(response)).error).toBe('STATUS_PAGE_TOKEN is not set: the status endpoint refuses every request until it is.');
    }
  });

  it('methods other than GET → 405 with Allow: GET', async () => {
    const response = await handler()(get('', `Bearer ${TOKEN}`, 'POST'));
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
  });

  it('no database configured → 500 naming the variables', async () => {
    const response = await createStatusHandler({ token: TOKEN, db: null })(get());
    expect(response.status).toBe(500);
    expect((await body(response)).error).toMatch(/DATABASE_URL.*VITE_SUPABASE_URL.*SUPABASE_SERVICE_ROLE_KEY/);
  });

  it('an unreachable database → 503, with the driver message only in the log', async () => {
    const down = createPostgresDatabase('postgres://status:pw-in-url@127.0.0.1:1/nothing', { connectTimeoutSeconds: 1 });
    const logs: Record<string, unknown>[] = [];
    try {
      const response = await createStatusHandler({ token: TOKEN, db: down, log: (e) => logs.push(e) })(get());
      expect(response.status).toBe(503);
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({ error: 'The database is unavailable; try again shortly.' });
      expect(text).not.toContain('pw-in-url');
      expect(logs).toEqual([expect.objectContaining({ msg: 'status page query failed', window: '24h' })]);
    } finally {
      await down.close();
    }
  });
});

describe('STATUS_PAGE_TOKEN in the configuration', () => {
  it('is read and trimmed; unset or blank is null', () => {
    expect(loadConfig({ STATUS_PAGE_TOKEN: '  abc  ' }).statusPageToken).toBe('abc');
    expect(loadConfig({ STATUS_PAGE_TOKEN: '   ' }).statusPageToken).toBeNull();
    expect(loadConfig({}).statusPageToken).toBeNull();
  });
});

describe('the deployed function netlify/functions/api-webhook-status.mts', () => {
  reportSkip('the Netlify status function', 'it connects with DATABASE_URL; PGlite has no URL (set DATABASE_URL to run it)');
  type Handler = (request: Request) => Promise<Response>;

  async function load(env: Record<string, string>): Promise<Handler> {
    vi.resetModules();
    (globalThis as { Netlify?: unknown }).Netlify = { env: { toObject: () => env } };
    return ((await import('../../netlify/functions/api-webhook-status.mts')) as { default: Handler }).default;
  }
  afterAll(() => {
    delete (globalThis as { Netlify?: unknown }).Netlify;
    vi.unstubAllEnvs();
  });

  it.skipIf(!onPostgres)('serves the page with the token from the environment, refuses without it', async () => {
    // Netlify.env wins over process.env, but the runner's own environment must not leak a token in.
    vi.stubEnv('STATUS_PAGE_TOKEN', '');
    const open = await load({ DATABASE_URL: t.url as string, STATUS_PAGE_TOKEN: TOKEN });
    const ok = await open(get('?window=1h'));
    expect(ok.status).toBe(200);
    expect((await body(ok)).window).toBe('1h');
    expect((await open(get('', 'Bearer nope'))).status).toBe(401);

    const closed = await load({ DATABASE_URL: t.url as string });
    const refused = await closed(get());
    expect(refused.status).toBe(500);
    expect((await body(refused)).error).toMatch(/^STATUS_PAGE_TOKEN is not set/);
  });

  it('a bad configuration → 500 naming the variable', async () => {
    const handler = await load({ STATUS_PAGE_TOKEN: TOKEN, WORKSPACE_THRESHOLD: 'many' });
    const response = await handler(get());
    expect(response.status).toBe(500);
    expect(await body(response)).toEqual({ error: 'Configuration error: WORKSPACE_THRESHOLD' });
  });
});
