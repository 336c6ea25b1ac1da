/**
 * The baseline the hybrid receiver is measured against: the least a receiver that stores
 * deliveries can do. Node http, HMAC-SHA256 verification of the raw body (node:crypto,
 * timingSafeEqual), JSON.parse, and one INSERT of the body as jsonb, then 202. Same driver and
 * pool as production (postgres.js, 4 connections, prepared statements where production prepares
 * them). No dedup, no routing, no job, no kick. Started by startChild(); DATABASE_URL and
 * GITHUB_WEBHOOK_SECRET from the env.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import postgres from 'postgres';
import { preparesStatements } from '../../src/shared/db/postgres.ts';
import type { QueryFn } from '../../src/shared/db/sql.ts';
import { announceReady } from './child.ts';

export const BARE_TABLE_SQL = `
  create table if not exists public.bench_bare_deliveries (
    id bigserial primary key,
    delivery_id text not null,
    event text not null,
    received_at timestamptz not null default now(),
    body jsonb not null
  )`;

export async function createBareTable(query: QueryFn): Promise<void> {
  await query(BARE_TABLE_SQL, []);
}

if (process.send && process.env.BENCH_BARE_RECEIVER === '1') {
  const secret = process.env.GITHUB_WEBHOOK_SECRET ?? '';
  const url = process.env.DATABASE_URL ?? '';
  const prepare = preparesStatements(url);
  const sql = postgres(url, { max: 4, prepare, onnotice: () => {} });
  const reply = (res: import('node:http').ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
      const given = Buffer.from(String(req.headers['x-hub-signature-256'] ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply(res, 401, '{"ok":false}');
      const text = raw.toString('utf8');
      try {
        JSON.parse(text);
      } catch {
        return reply(res, 400, '{"ok":false}');
      }
      try {
        await sql.unsafe('insert into public.bench_bare_deliveries (delivery_id, event, body) values ($1, $2, $3::jsonb)', [
          String(req.headers['x-github-delivery'] ?? ''),
          String(req.headers['x-github-event'] ?? ''),
          text,
        ], { prepare });
        reply(res, 202, '{"ok":true}');
      } catch (error) {
        reply(res, 503, JSON.stringify({ ok: false, error: String(error) }));
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    announceReady(typeof address === 'object' && address ? address.port : 0, async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sql.end({ timeout: 2 });
    });
  });
}
