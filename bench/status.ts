/**
 * The status page's data at scale: public.webhook_status_page for each window, read through the
 * endpoint's shared handler (postgres.js, as the local stack and a DATABASE_URL deployment use it),
 * over `deliveries` webhook deliveries and `jobs` background jobs spread over the last 7 days.
 *
 * Measured: the first read, which folds all 7 days into the rollups (once; pg_cron keeps them
 * current on Supabase); a rollup pass over one minute of traffic (the steady state); the page
 * per window; the same window aggregated raw, without rollups (why they exist); and what the one
 * index the feature adds (background_jobs_completed_idx) costs the drain's round complete.
 */
import { createPostgresDatabase } from '../src/shared/db/postgres.ts';
import { createStatusHandler, STATUS_WINDOWS } from '../src/shared/status/handler.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/db.ts';
import { summarize, type Summary } from './lib/stats.ts';

export interface StatusOptions {
  deliveries: number;
  jobs: number;
  repositories: number;
  /** Timed page reads per window, after `warmup` unmeasured ones. */
  samples: number;
  warmup: number;
  /** Jobs completed per variant in the index-cost comparison (in rounds of 50, as the drain does). */
  completeJobs: number;
  log?: (line: string) => void;
}

export const FULL_STATUS: StatusOptions = {
  deliveries: 1_000_000,
  jobs: 500_000,
  repositories: 2_000,
  samples: 30,
  warmup: 3,
  completeJobs: 20_000,
};

export const GOAL_MS = 100;

export interface StatusResult {
  name: 'status';
  options: Omit<StatusOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  seed: { seconds: number; deliveries: number; duplicates: number; jobs: number; deadLetters: number; queued: number };
  /** The first page read (7d) with nothing rolled up: one day folded in, six read raw. */
  coldReadMs: number;
  /** The pass that folds in the rest of the week (what pg_cron does after a quiet spell). */
  firstReadMs: number;
  rollupPassMs: Summary;
  rollupRows: Record<string, number>;
  windows: { window: string; bucketSeconds: number; deliveriesInWindow: number; page: Summary; rawMs: Summary; bytes: number }[];
  completeIndex: { withIndexJobsPerSecond: number; withoutIndexJobsPerSecond: number; ratio: number; samples: { withIndex: number[]; without: number[] } };
  meetsGoal: boolean;
}

/** 7 days of traffic ending now: a few busy repositories and a long tail, realistic ack times. */
export async function seed(bench: BenchDatabase, options: StatusOptions): Promise<void> {
  const q = bench.query;
  // Log-uniform repository popularity; log-normal ack times (inline work is slower than queuing).
  await q(`
    insert into public.webhook_deliveries
      (delivery_id, event, action, repository, repository_github_id, route, status_code, response_ms, workspace_count, received_at)
    select 'bench-' || g, 'push', null, 'org/repo-' || r.n, r.n, x.route,
           case when x.route in ('inline', 'no_workspace') then 200 else 202 end,
           greatest(1, round(exp(ln(case when x.route = 'inline' then 40 else 6 end)
             + 0.8 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))),
           case when x.route = 'no_workspace' then 0 else 1 + r.n % 300 end,
           now() - random() * interval '7 days'
    from generate_series(1, $1::int) g
    cross join lateral (select floor(power($2::float8, random()))::int + g * 0 as n) r
    cross join lateral (select (array['queued','queued','queued','queued','queued','coalesced','coalesced',
                                      'inline','inline','no_workspace','ignored'])[1 + floor(random() * 11)::int + g * 0] as route) x`,
    [options.deliveries, options.repositories]);
  await q(`
    insert into public.webhook_delivery_duplicates (delivery_id, duplicate_of, reason, event, status_code, response_ms, received_at)
    select 'bench-dup-' || g, 'bench-' || g, 'delivery_id', 'push', 200, 2 + floor(random() * 6)::int,
           now() - random() * interval '7 days'
    from generate_series(1, $1::int) g`, [Math.round(options.deliveries / 50)]);
  await q(`
    insert into public.background_jobs
      (type, payload, status, error, retry_count, max_retries, run_at, locked_by, locked_until, repository,
       workspace_count, created_at, started_at, completed_at, failed_at, duration_ms)
    select 'webhook/' || (array['push','push','push','pull_request','pull_request','issues','release','repository'])[1 + floor(random() * 8)::int + g * 0],
           jsonb_build_object('event', 'push', 'delivery_id', 'bench-' || g, 'data', jsonb_build_object('repository', jsonb_build_object('full_name', 'org/repo-' || g % 500))),
           s.status,
           case when s.status = 'failed' then 'inngest send: 400 Bad Request (event too large)' end,
           case when s.status = 'failed' then 5 else 0 end, 5,
           case when s.status = 'queued' then s.at + interval '5 seconds' else s.at end,
           case when s.status = 'processing' then 'bench-drain' end,
           case when s.status = 'processing' then now() + case when g % 5 = 0 then interval '-1 minute' else interval '2 minutes' end end,
           'org/repo-' || g % 500, 1 + g % 300,
           s.at, case when s.status <> 'queued' then s.at + interval '1 second' end,
           case when s.status = 'completed' then s.at + interval '2 seconds' end,
           case when s.status = 'failed' then s.at + interval '30 minutes' end,
           case when s.status in ('completed', 'failed') then greatest(5, round(exp(ln(300) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))) end
    from generate_series(1, $1::int) g
    cross join lateral (
      select case when g % 1000 < 965 then 'completed' when g % 1000 < 975 then 'failed'
                  when g % 1000 < 995 then 'queued' else 'processing' end as status,
             now() - random() * interval '7 days' - interval '1 hour' * (g % 1000 between 965 and 974)::int as at) s`,
    [options.jobs]);
  // Recent work, so the tail and the newest buckets hold something too.
  await q(`update public.background_jobs set completed_at = now() - random() * interval '90 seconds'
           where id in (select id from public.background_jobs where status = 'completed' limit 200)`, []);
  await q(`insert into public.webhook_circuit_breakers (name, state, consecutive_failures, opened_at, retry_at, last_error)
           values ('inngest', 'open', 5, now() - interval '20 seconds', now() + interval '10 seconds', 'inngest send: 503 Service Unavailable')`, []);
  // Autovacuum is off on the benchmark server; a live database has statistics and a visibility map.
  await bench.sql.unsafe('vacuum analyze');
}

async function time<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

/** What the page would cost without rollups: the deliveries panel aggregated from the raw rows. */
async function rawWindow(bench: BenchDatabase, window: string): Promise<void> {
  const spec = { '1h': ['1 hour', '1 minute'], '24h': ['24 hours', '15 minutes'], '7d': ['7 days', '2 hours'] }[window] as [string, string];
  await bench.query(`
    with d as (
      select received_at, route, status_code, response_ms from public.webhook_deliveries where received_at >= now() - $1::interval
      union all
      select received_at, 'duplicate', status_code, response_ms from public.webhook_delivery_duplicates where received_at >= now() - $1::interval)
    select (select count(*) from (select date_bin($2::interval, received_at, '2000-01-01'), route, status_code, count(*) from d group by 1, 2, 3) x),
           (select jsonb_agg(p) from (select route, percentile_cont(array[0.5, 0.95]) within group (order by response_ms) p from d group by 1) y)`,
    [spec[0], spec[1]]);
}

/** Completes `n` claimed jobs in rounds of 50 with the drain's SQL; jobs/s. */
async function completeRate(bench: BenchDatabase, n: number): Promise<number> {
  await bench.query(`
    insert into public.background_jobs (type, payload, status, locked_by, locked_until, started_at)
    select 'webhook/push', '{}'::jsonb, 'processing', 'bench-complete', now() + interval '5 minutes', now()
    from generate_series(1, $1::int)`, [n]);
  const ids = (await bench.query(`select id from public.background_jobs where locked_by = 'bench-complete' and status = 'processing'`, []))
    .map((r) => String(r.id));
  const started = performance.now();
  for (let i = 0; i < ids.length; i += 50) {
    const results = Object.fromEntries(ids.slice(i, i + 50).map((id) => [id, { ok: true }]));
    await bench.query('select count(*) from public.complete_webhook_jobs($1, $2::jsonb)', ['bench-complete', results]);
  }
  const seconds = (performance.now() - started) / 1000;
  await bench.query(`delete from public.background_jobs where locked_by is null and result = '{"ok": true}'::jsonb`, []);
  return Math.round(ids.length / seconds);
}

export async function run(partial: Partial<StatusOptions> = {}): Promise<StatusResult> {
  const options: StatusOptions = { ...FULL_STATUS, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const bench = await createBenchDatabase('status');
  const db = createPostgresDatabase(bench.url, { max: 1 });
  const handler = createStatusHandler({ token: 'bench', db });
  const read = async (window: string) => {
    const response = await handler(new Request(`http://127.0.0.1/?window=${window}`, { headers: { authorization: 'Bearer bench' } }));
    if (response.status !== 200) throw new Error(`status page ${window}: ${response.status} ${await response.text()}`);
    return response.text();
  };
  try {
    log(`seeding ${options.deliveries} deliveries and ${options.jobs} jobs over 7 days`);
    const [, seedMs] = await time(() => seed(bench, options));
    const [counts] = await bench.query(`
      select (select count(*) from public.webhook_deliveries)::int as deliveries,
             (select count(*) from public.webhook_delivery_duplicates)::int as duplicates,
             (select count(*) from public.background_jobs)::int as jobs,
             (select count(*) from public.background_jobs where status = 'failed')::int as dead,
             (select count(*) from public.background_jobs where status = 'queued')::int as queued`, []);

    // The first page read with nothing rolled up folds in one day and reads the other six raw;
    // then (as pg_cron would) one pass folds in the rest, up to 10 minutes ago, and each later
    // pass one minute.
    const [, coldReadMs] = await time(() => read('7d'));
    log(`first page read, nothing rolled up yet: ${coldReadMs.toFixed(0)} ms`);
    const [, firstReadMs] = await time(() => bench.query(`select public.webhook_status_rollup(p_until => now() - interval '10 minutes')`, []));
    const passes: number[] = [];
    for (let minutes = 9; minutes >= 3; minutes -= 1) {
      const [, ms] = await time(() => bench.query(`select public.webhook_status_rollup(p_until => now() - make_interval(mins => $1))`, [minutes]));
      passes.push(ms);
    }
    log(`catch-up pass over the other 6 days ${firstReadMs.toFixed(0)} ms; one-minute passes p50 ${summarize(passes).p50} ms`);
    await read('24h'); // the page's own pass, up to two minutes ago
    const tables = ['bucket_deliveries', 'bucket_latency', 'bucket_repositories', 'bucket_jobs', 'window_latency', 'window_repositories', 'window_jobs'];
    await bench.sql.unsafe(`analyze ${tables.map((t) => `public.webhook_status_${t}`).join(', ')}`);
    const rollupRows = Object.fromEntries((await bench.query(
      tables.map((t) => `select '${t}/' || bucket_seconds as level, count(*)::int as n from public.webhook_status_${t} group by 1`).join(' union all ') + ' order by 1',
      [],
    )).map((r) => [String(r.level), Number(r.n)]));

    const windows: StatusResult['windows'] = [];
    for (const window of STATUS_WINDOWS) {
      for (let i = 0; i < options.warmup; i += 1) await read(window);
      const samples: number[] = [];
      let body = '';
      for (let i = 0; i < options.samples; i += 1) {
        const [text, ms] = await time(() => read(window));
        samples.push(ms);
        body = text;
      }
      const raw: number[] = [];
      for (let i = 0; i < Math.min(3, options.samples); i += 1) raw.push((await time(() => rawWindow(bench, window)))[1]);
      const page = JSON.parse(body) as { bucket_seconds: number; deliveries: { total: number } };
      windows.push({
        window,
        bucketSeconds: page.bucket_seconds,
        deliveriesInWindow: Number(page.deliveries.total),
        page: summarize(samples),
        rawMs: summarize(raw),
        bytes: body.length,
      });
      log(`${window}: page p50 ${summarize(samples).p50} ms, p95 ${summarize(samples).p95} ms; raw deliveries panel p50 ${summarize(raw).p50} ms`);
    }

    // The drain's round complete with and without the index this feature adds, alternated so a
    // noisy machine slows both alike; the medians are compared.
    const withIndex: number[] = [];
    const without: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      withIndex.push(await completeRate(bench, options.completeJobs));
      await bench.query('drop index public.background_jobs_completed_idx', []);
      without.push(await completeRate(bench, options.completeJobs));
      await bench.query(`create index background_jobs_completed_idx on public.background_jobs (completed_at) where status = 'completed'`, []);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const completeIndex = {
      withIndexJobsPerSecond: median(withIndex),
      withoutIndexJobsPerSecond: median(without),
      ratio: Math.round((median(withIndex) / median(without)) * 100) / 100,
      samples: { withIndex, without },
    };
    log(`round complete: ${completeIndex.withIndexJobsPerSecond} jobs/s with the index, ${completeIndex.withoutIndexJobsPerSecond} without (medians of ${withIndex.join('/')} and ${without.join('/')})`);

    const { log: _log, ...plain } = options;
    return {
      name: 'status',
      options: plain,
      startedAt,
      finishedAt: new Date().toISOString(),
      seed: {
        seconds: Math.round(seedMs / 100) / 10,
        deliveries: Number(counts?.deliveries),
        duplicates: Number(counts?.duplicates),
        jobs: Number(counts?.jobs),
        deadLetters: Number(counts?.dead),
        queued: Number(counts?.queued),
      },
      coldReadMs: Math.round(coldReadMs),
      firstReadMs: Math.round(firstReadMs),
      rollupPassMs: summarize(passes),
      rollupRows,
      windows,
      completeIndex,
      meetsGoal: windows.every((w) => w.page.p95 <= GOAL_MS),
    };
  } finally {
    await db.close();
    if (!process.env.KEEP) await bench.drop(); else console.log("kept", bench.name);
  }
}

if (process.argv[1] && /bench[\\/]status\.ts$/.test(process.argv[1])) {
  run({ log: console.log })
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
