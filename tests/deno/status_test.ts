// The status endpoint's shared handler under Deno: Web APIs only. Access and window checks need no
// database; with DATABASE_URL set, a database of its own is migrated and the page read through
// the same postgres.js adapter the Edge Function uses.
import postgres from 'postgres';
import { createPostgresDatabase } from '../../src/shared/db/postgres.ts';
import { createStatusHandler } from '../../src/shared/status/handler.ts';

const TOKEN = 'deno-status-token';

function assertEquals(actual: unknown, expected: unknown, message: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

function get(query: string, authorization?: string): Request {
  const headers = new Headers();
  if (authorization !== undefined) headers.set('authorization', authorization);
  return new Request(`http://127.0.0.1/.netlify/functions/api-webhook-status${query}`, { headers });
}

Deno.test('status handler: token, window and fail-closed checks', async () => {
  const handler = createStatusHandler({ token: TOKEN, db: null });
  assertEquals((await handler(get('', 'Bearer wrong'))).status, 401, 'wrong token');
  assertEquals((await handler(get(''))).status, 401, 'no header');
  assertEquals((await handler(get('?window=2d', `Bearer ${TOKEN}`))).status, 400, 'unknown window');
  const noDb = await handler(get('?window=1h', `Bearer ${TOKEN}`));
  assertEquals(noDb.status, 500, 'authorized, but no database');
  const closed = await createStatusHandler({ token: null, db: null })(get('', `Bearer ${TOKEN}`));
  assertEquals(closed.status, 500, 'no token configured');
  assertEquals(
    ((await closed.json()) as { error: string }).error.startsWith('STATUS_PAGE_TOKEN is not set'),
    true,
    'names the variable',
  );
});

const base = Deno.env.get('DATABASE_URL');

Deno.test({
  name: 'status handler: reads webhook_status_page from real Postgres',
  ignore: !base,
  async fn() {
    const name = `wr_deno_status_${crypto.randomUUID().slice(0, 8)}`;
    const admin = postgres(base as string, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(base as string);
    url.pathname = `/${name}`;
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const db = createPostgresDatabase(url.toString());
    try {
      const dir = new URL('../../supabase/migrations/', import.meta.url);
      const files = [...Deno.readDirSync(dir)].map((f) => f.name).filter((n) => n.endsWith('.sql')).sort();
      for (const file of files) await sql.unsafe(await Deno.readTextFile(new URL(file, dir)));
      await sql.unsafe(`insert into public.webhook_deliveries (delivery_id, event, route, status_code, response_ms)
                        values ('deno-1', 'ping', 'inline', 200, 4)`);
      const response = await createStatusHandler({ token: TOKEN, db })(get('?window=1h', `Bearer ${TOKEN}`));
      assertEquals(response.status, 200, 'status');
      const page = (await response.json()) as { window: string; deliveries: { total: number; routes: unknown[] } };
      assertEquals(page.window, '1h', 'window');
      assertEquals(page.deliveries.total, 1, 'one delivery');
      const inline = page.deliveries.routes[0] as Record<string, unknown>;
      for (const [key, value] of Object.entries({ route: 'inline', deliveries: 1, avg_ms: 4, p50_ms: 4, p95_ms: 4 })) {
        assertEquals(inline[key], value, `inline ${key}`);
      }
    } finally {
      await db.close();
      await sql.end();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  },
});
