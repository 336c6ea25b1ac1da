/**
 * public.webhook_status_page and its rollup, on the real migrations: every number on the page is
 * recomputed here from the raw rows (tests/helpers/status-data.ts) and compared.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../helpers/test-db.ts';
import { expectedDeliveries, nearestRank, ROUTES, SECRETS, seedStatusData, windowBuckets } from '../helpers/status-data.ts';

type Json = Record<string, any>;

const WINDOWS = [
  { window: '1h', seconds: 3600, bucket: 60 },
  { window: '24h', seconds: 86400, bucket: 900 },
  { window: '7d', seconds: 604800, bucket: 7200 },
] as const;

async function page(t: TestDatabase, window: string | null = '24h'): Promise<Json> {
  const [row] = await t.query('select public.webhook_status_page($1) as page', [window]);
  return row?.page as Json;
}

/** Nearest-rank percentile, as the page's histogram estimates it: within its 10 % bucket. */
function expectPercentile(actual: unknown, values: number[], fraction: number) {
  const exact = nearestRank(values, fraction);
  if (exact === null) return expect(actual).toBeNull();
  expect(Math.abs(Number(actual) - exact)).toBeLessThanOrEqual(exact * 0.1 + 1);
}

/** Every windowed number on the page, recomputed from the raw rows. */
async function expectMatchesRaw(t: TestDatabase, p: Json): Promise<void> {
  const bucket = Number(p.bucket_seconds);
  const buckets = windowBuckets(new Date(p.from), new Date(p.to), bucket);
  expect(p.deliveries.buckets.map((b: string) => new Date(b).getTime())).toEqual(buckets.map((b) => b.getTime()));
  const expected = await expectedDeliveries(t.query, new Date(p.from), bucket, buckets);
  expect(Number(p.deliveries.total)).toBe(expected.total);
  for (const route of ROUTES) expect(p.deliveries.by_route[route].map(Number), route).toEqual(expected.byRoute[route]);
  expect(Object.keys(p.deliveries.by_status).sort()).toEqual(Object.keys(expected.byStatus).sort());
  for (const [code, counts] of Object.entries(expected.byStatus)) expect(p.deliveries.by_status[code].map(Number), code).toEqual(counts);
  for (const r of p.deliveries.routes) {
    const e = expected.routes[r.route];
    expect(Number(r.deliveries), r.route).toBe(e?.deliveries);
    const timed = e?.timed ?? [];
    if (timed.length === 0) expect(r.avg_ms).toBeNull();
    else expect(Number(r.avg_ms)).toBeCloseTo(timed.reduce((x, y) => x + y, 0) / timed.length, 0);
    expectPercentile(r.p50_ms, timed, 0.5);
    expectPercentile(r.p95_ms, timed, 0.95);
  }
  expect(p.repositories.map((r: Json) => ({ ...r, deliveries: Number(r.deliveries), queued: Number(r.queued), inline: Number(r.inline) })))
    .toEqual(expected.repositories);

  const jobs = await t.query('select type, status, duration_ms, completed_at, failed_at from public.background_jobs', []);
  const from = new Date(p.from).getTime();
  const types = [...new Set(jobs.map((j) => String(j.type)))].sort();
  expect(p.jobs.map((j: Json) => j.type)).toEqual(types);
  for (const type of types) {
    const mine = jobs.filter((j) => j.type === type);
    const finished = (status: string, column: string) =>
      mine.filter((j) => j.status === status && new Date(j[column] as string).getTime() >= from);
    const completed = finished('completed', 'completed_at');
    const durations = completed.filter((j) => j.duration_ms !== null).map((j) => Number(j.duration_ms));
    const row = p.jobs.find((j: Json) => j.type === type);
    expect(row).toMatchObject({
      queued: mine.filter((j) => j.status === 'queued').length,
      processing: mine.filter((j) => j.status === 'processing').length,
      completed: completed.length,
      failed: finished('failed', 'failed_at').length,
    });
    if (durations.length === 0) expect(row.completed_avg_ms).toBeNull();
    else expect(Number(row.completed_avg_ms)).toBeCloseTo(durations.reduce((x, y) => x + y, 0) / durations.length, 0);
    expectPercentile(row.completed_p95_ms, durations, 0.95);
  }
}

/**
 * Moves every stored moment `minutes` back, as if that much time had passed since: raw rows,
 * bucket rows, window starts and the watermark alike. Only a whole number of a level's buckets
 * keeps that level's bucket rows aligned, so each scenario checks the windows its steps keep.
 */
async function travel(t: TestDatabase, minutes: number): Promise<void> {
  const shift = `interval '${minutes} minutes'`;
  for (const statement of [
    `update public.webhook_deliveries set received_at = received_at - ${shift}`,
    `update public.webhook_delivery_duplicates set received_at = received_at - ${shift}`,
    `update public.background_jobs set created_at = created_at - ${shift}, completed_at = completed_at - ${shift},
       failed_at = failed_at - ${shift}, started_at = started_at - ${shift}`,
    // Through a far-off detour: shifting in place would collide with the primary key row by row.
    ...['deliveries', 'latency', 'repositories', 'jobs'].flatMap((table) => [
      `update public.webhook_status_bucket_${table} set bucket_start = bucket_start + interval '1000 years'`,
      `update public.webhook_status_bucket_${table} set bucket_start = bucket_start - interval '1000 years' - ${shift}`,
    ]),
    `update public.webhook_status_windows set window_start = window_start - ${shift}`,
    `update public.webhook_status_rollup_state set rolled_up_to = rolled_up_to - ${shift}`,
  ]) await t.query(statement, []);
}

describe('webhook_status_page on an empty database', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t?.close());

  it.each(WINDOWS)('$window: dense zero buckets of $bucket s, nothing else', async ({ window, seconds, bucket }) => {
    const p = await page(t, window);
    expect(p).toMatchObject({ window, window_seconds: seconds, bucket_seconds: bucket });
    // Whole buckets from the one holding now − window to the one holding now.
    expect(p.deliveries.buckets).toHaveLength(seconds / bucket + 1);
    expect(new Date(p.deliveries.buckets[0]).getTime()).toBe(new Date(p.from).getTime());
    expect(new Date(p.from).getTime()).toBeLessThanOrEqual(new Date(p.to).getTime() - seconds * 1000);
    expect(Object.keys(p.deliveries.by_route).sort()).toEqual([...ROUTES].sort());
    for (const route of ROUTES) expect(p.deliveries.by_route[route]).toEqual(p.deliveries.buckets.map(() => 0));
    expect(p.deliveries).toMatchObject({ total: 0, by_status: {} });
    expect(p.deliveries.routes).toEqual(ROUTES.map((route) => ({ route, deliveries: 0, avg_ms: null, p50_ms: null, p95_ms: null })));
    expect(p.queue).toEqual({ queued: 0, ready: 0, processing: 0, expired_leases: 0, oldest_queued_at: null, oldest_queued_age_seconds: null });
    expect(p.jobs).toEqual([]);
    expect(p.dead_letters).toEqual({ total: 0, in_window: 0, latest: [] });
    expect(p.circuit).toMatchObject({ name: 'inngest', state: 'closed', consecutive_failures: 0, probe_at: null, probing: false });
    expect(p.repositories).toEqual([]);
  });

  it('defaults to 24h and refuses an unknown window with a clear error', async () => {
    expect((await page(t, null)).window).toBe('24h');
    await expect(page(t, '30d')).rejects.toThrow(/unknown window "30d": choose 1h, 24h or 7d/);
  });

  it('is granted to service_role only', async () => {
    const fn = 'public.webhook_status_page(text)';
    const rows = await t.query(
      `select r.rolname, has_function_privilege(r.rolname, $1, 'execute') as can
       from pg_roles r where r.rolname in ('anon', 'authenticated', 'service_role') order by 1`,
      [fn],
    );
    expect(rows).toEqual([
      { rolname: 'anon', can: false },
      { rolname: 'authenticated', can: false },
      { rolname: 'service_role', can: true },
    ]);
    const tables = await t.query(
      `select c.relname, has_table_privilege('anon', c.oid, 'select') as anon, has_table_privilege('authenticated', c.oid, 'select') as authenticated
       from pg_class c where c.relname like 'webhook_status_%' and c.relkind = 'r' order by 1`,
      [],
    );
    expect(tables.map((r) => r.relname)).toEqual([
      'webhook_status_bucket_deliveries', 'webhook_status_bucket_jobs', 'webhook_status_bucket_latency',
      'webhook_status_bucket_repositories', 'webhook_status_rollup_state', 'webhook_status_window_jobs',
      'webhook_status_window_latency', 'webhook_status_window_repositories', 'webhook_status_windows',
    ]);
    for (const row of tables) expect(row).toMatchObject({ anon: false, authenticated: false });
  });
});

describe('webhook_status_page against the raw rows', () => {
  let t: TestDatabase;
  let json: Record<string, Json> = {};
  beforeAll(async () => {
    t = await createTestDatabase();
    await seedStatusData(t.query);
    // History folded in over two earlier passes; the page's own pass adds the rest, then the tail.
    await t.query(`select public.webhook_status_rollup(p_until => now() - interval '3 days')`, []);
    await t.query(`select public.webhook_status_rollup(p_until => now() - interval '50 minutes')`, []);
    for (const { window } of WINDOWS) json[window] = await page(t, window);
  });
  afterAll(async () => t?.close());

  it('rolled up to two minutes before the minute it ran, leaving the newest rows to the raw tail', async () => {
    const [state] = await t.query(`select rolled_up_to = date_trunc('minute', now()) - interval '2 minutes' as current from public.webhook_status_rollup_state`, []);
    expect(state?.current).toBe(true);
    const [tail] = await t.query(
      `select count(*)::int as n from public.webhook_deliveries where received_at >= (select rolled_up_to from public.webhook_status_rollup_state)`,
      [],
    );
    expect(tail?.n).toBeGreaterThanOrEqual(20);
  });

  it.each(WINDOWS)('$window: deliveries by route and status, ack percentiles, repositories, jobs', async ({ window }) => {
    expect(Number((json[window] as Json).deliveries.total)).toBeGreaterThan(0);
    await expectMatchesRaw(t, json[window] as Json);
  });

  it('the queue now: queued, ready, processing, expired leases, oldest queued', async () => {
    const p = json['24h'] as Json;
    const [now] = await t.query(
      `select count(*) filter (where status = 'queued')::int as queued,
              count(*) filter (where status = 'queued' and run_at <= now())::int as ready,
              count(*) filter (where status = 'processing')::int as processing,
              count(*) filter (where status = 'processing' and locked_until < now())::int as expired,
              min(created_at) filter (where status = 'queued') as oldest
       from public.background_jobs`,
      [],
    );
    expect(p.queue).toMatchObject({ queued: now?.queued, ready: now?.ready, processing: now?.processing, expired_leases: now?.expired });
    expect(now?.expired).toBeGreaterThan(0);
    expect(new Date(p.queue.oldest_queued_at).getTime()).toBe(new Date(now?.oldest as string).getTime());
    expect(p.queue.oldest_queued_age_seconds).toBeGreaterThan(0);
  });

  it('dead letters newest first, each with its replay command; credentials in errors are redacted', async () => {
    const p = json['1h'] as Json;
    const failed = await t.query(`select id, failed_at from public.background_jobs where status = 'failed' order by failed_at desc`, []);
    const from = new Date(p.from).getTime();
    expect(p.dead_letters.total).toBe(failed.length);
    expect(p.dead_letters.in_window).toBe(failed.filter((f) => new Date(f.failed_at as string).getTime() >= from).length);
    expect(p.dead_letters.latest.map((d: Json) => d.id)).toEqual(failed.slice(0, 50).map((f) => f.id));
    for (const d of p.dead_letters.latest) {
      expect(d.replay_command).toBe(`npx webhook-router replay --job ${d.id}`);
      expect(Object.keys(d).sort()).toEqual(['error', 'failed_at', 'id', 'replay_command', 'repository', 'retry_count', 'type']);
    }
    const errors = p.dead_letters.latest.map((d: Json) => d.error);
    expect(errors).toContain('POST https://inn.gs/e/[redacted] answered 400');
    expect(errors).toContain('upstream said: Authorization: Bearer [redacted] rejected');
    expect(errors).toContain('connect postgres://app:[redacted]@db.example/app refused');
  });

  it('the Inngest circuit: state, failures, redacted last error, when it probes', async () => {
    const p = json['24h'] as Json;
    const [row] = await t.query(`select retry_at from public.webhook_circuit_breakers where name = 'inngest'`, []);
    expect(p.circuit).toMatchObject({
      state: 'open',
      consecutive_failures: 7,
      last_error: 'POST https://inn.gs/e/[redacted] failed: 500 (Authorization: Bearer [redacted]',
      probing: false,
    });
    expect(new Date(p.circuit.probe_at).getTime()).toBe(new Date(row?.retry_at as string).getTime());
  });

  it('carries no payloads, secrets or tokens', () => {
    const text = JSON.stringify(json);
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(text).not.toContain('payload');
  });

  it('keeps each level only as long as a window shows it', async () => {
    const rows = await t.query(
      `select bucket_seconds, min(bucket_start) > now() - make_interval(secs => case bucket_seconds
                when 60 then 7200 when 900 then 93600 else 619200 end) as kept
       from public.webhook_status_bucket_latency group by 1 order by 1`,
      [],
    );
    expect(rows).toEqual([
      { bucket_seconds: 60, kept: true },
      { bucket_seconds: 900, kept: true },
      { bucket_seconds: 7200, kept: true },
    ]);
  });

  it('a delivery received after the page was read shows on the next read, once', async () => {
    const before = await page(t, '1h');
    await t.query(
      `insert into public.webhook_deliveries (delivery_id, event, route, status_code, response_ms, received_at)
       values ('late-1', 'ping', 'inline', 200, 3, now())`,
      [],
    );
    const after = await page(t, '1h');
    expect(Number(after.deliveries.total)).toBe(Number(before.deliveries.total) + 1);
    const again = await page(t, '1h');
    expect(again.deliveries).toEqual(after.deliveries);
  });
});

describe.each([
  { steps: [30, 30, 45, 15], windows: ['1h', '24h'] },
  { steps: [120, 240, 1440, 10200], windows: ['1h', '24h', '7d'] },
])('webhook_status_page as time passes in steps of $steps minutes', ({ steps, windows }) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await seedStatusData(t.query);
    // Everything folded in (as pg_cron keeps it), so the running totals carry the whole week.
    await t.query('select public.webhook_status_rollup()', []);
    for (const window of windows) await page(t, window);
  });
  afterAll(async () => t?.close());

  it.each(steps)('%i minutes later, the windows still match the raw rows', async (minutes) => {
    await travel(t, minutes);
    for (const window of windows) await expectMatchesRaw(t, await page(t, window));
    // What left a window left its running totals too: nothing is zero or negative.
    const [bad] = await t.query(
      `select (select count(*) from public.webhook_status_window_latency where deliveries <= 0 or response_ms_sum < 0)
            + (select count(*) from public.webhook_status_window_repositories where deliveries <= 0 or queued < 0 or inline < 0)
            + (select count(*) from public.webhook_status_window_jobs where jobs <= 0 or duration_ms_sum < 0) as n`,
      [],
    );
    expect(Number(bad?.n)).toBe(0);
  });
});

describe('webhook_status_page after a week with no reads and no pg_cron', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await seedStatusData(t.query);
  });
  afterAll(async () => t?.close());

  it('each read folds in one more day, reads the rest raw, and always matches the raw rows', async () => {
    const [first] = await t.query(`select public.webhook_status_bucket(7200, now() - interval '7 days') as at`, []);
    for (let read = 1; read <= 9; read += 1) {
      await expectMatchesRaw(t, await page(t, '7d'));
      const [state] = await t.query(
        `select rolled_up_to = least(date_trunc('minute', now()) - interval '2 minutes', $1::timestamptz + make_interval(days => $2)) as ok
         from public.webhook_status_rollup_state`,
        [first?.at, read],
      );
      expect(state?.ok, `after read ${read}`).toBe(true);
    }
    for (const { window } of WINDOWS) await expectMatchesRaw(t, await page(t, window));
  });
});

describe('webhook_status_page: readers at the same time', () => {
  reportSkip('concurrent status readers');
  let t: TestDatabase;
  beforeAll(async () => {
    if (!onPostgres) return;
    t = await createTestDatabase();
    await seedStatusData(t.query);
  });
  afterAll(async () => t?.close());

  it.skipIf(!onPostgres)('the first reads roll up while the others wait, and all count each delivery once', async () => {
    const pages = await Promise.all([page(t, '7d'), page(t, '7d'), page(t, '24h'), page(t, '7d')]);
    const [first, ...rest] = pages.filter((p) => p.window === '7d') as Json[];
    for (const p of rest) expect(p.deliveries.total).toBe(first?.deliveries.total);
    const [raw] = await t.query(
      `select (select count(*) from public.webhook_deliveries where received_at >= $1)
            + (select count(*) from public.webhook_delivery_duplicates where received_at >= $1) as n`,
      [first?.from],
    );
    expect(Number(first?.deliveries.total)).toBe(Number(raw?.n));
  });
});

describe('webhook_status_histogram_percentile', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t?.close());

  it('is within the 10 % bucket of the exact nearest-rank percentile, and exact for a single value', async () => {
    // Values in 0..20000 ms, bucketed and summed as the rollup does.
    const values = Array.from({ length: 2000 }, (_, i) => Math.floor(((i * 7919) % 2000) ** 2 / 200));
    const rows = await t.query(
      `select array_agg(n order by b) as counts, array_agg(s order by b) as sums from (
         select public.webhook_status_histogram_bucket(v) as b, count(*) as n, sum(v) as s
         from unnest($1::int[]) v group by 1) h`,
      [values],
    );
    for (const fraction of [0.01, 0.5, 0.9, 0.95, 0.99, 1]) {
      const [r] = await t.query('select public.webhook_status_histogram_percentile($1::bigint[], $2::numeric[], $3) as p', [
        rows[0]?.counts, rows[0]?.sums, fraction,
      ]);
      expectPercentile(r?.p, values, fraction);
    }
    const [single] = await t.query(
      `select public.webhook_status_histogram_percentile(array[1]::bigint[], array[34]::numeric[], 0.5) as p`,
      [],
    );
    expect(Number(single?.p)).toBe(34);
  });

  it('gives every millisecond up to 10 its own bucket and larger ones 10 % wide', async () => {
    const rows = await t.query(
      `select v, public.webhook_status_histogram_bucket(v) as b from generate_series(0, 12) v
       union all select null, public.webhook_status_histogram_bucket(null)`,
      [],
    );
    const buckets = rows.map((r) => r.b);
    expect(new Set(buckets.slice(0, 11)).size).toBe(11);
    expect(buckets.at(-1)).toBe(-1);
  });
});
