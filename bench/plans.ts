/**
 * The monitoring functions at scale: count_pending_webhook_jobs() (every drain calls it when it
 * idles and when it ends) and get_job_statistics_summary(p_since) over the last 24 h, on a
 * background_jobs of 200k and 1M rows — mostly completed, 1 % dead letters, a few hundred queued
 * (half of them scheduled) and processing — spread over RETENTION_DAYS, vacuumed and analysed as
 * autovacuum would leave it. Each is timed (median of several calls, client side) next to the
 * versions before issue 11 (their SQL copied verbatim from the earlier migrations into bench-only
 * functions, read from those files), and its statements' plans are taken with auto_explain (ANALYZE, BUFFERS).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { PROJECT_ROOT } from '../src/node/migrations.ts';
import { loadConfig } from '../src/shared/config.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/db.ts';
import { prepareDelivery, pullRequestOpened } from './lib/deliveries.ts';
import { parseDelivery } from '../src/shared/github/delivery.ts';
import { jobPayloadOf } from '../src/shared/github/job-payload.ts';
import { summarize, type Summary } from './lib/stats.ts';

export interface PlansOptions {
  sizes: number[];
  /** Timed calls of each function per size (after one unmeasured call). */
  calls: number;
  queued: number;
  processing: number;
  log?: (line: string) => void;
}

export const FULL_PLANS: PlansOptions = { sizes: [200_000, 1_000_000], calls: 15, queued: 400, processing: 40 };

/**
 * The versions before issue 11, taken verbatim from the earlier migrations and created under
 * bench-only names, so both run on the same table in the same run.
 */
const BEFORE = [
  { file: '20250121000100_queue_drain.sql', fn: 'count_pending_webhook_jobs' },
  { file: '20250121000000_background_jobs.sql', fn: 'get_job_statistics_summary' },
];

function beforeSql(): string {
  return BEFORE.map(({ file, fn }) => {
    const text = readFileSync(join(PROJECT_ROOT, 'supabase/migrations', file), 'utf8');
    const start = text.indexOf(`create or replace function public.${fn}(`);
    const end = text.indexOf('\n$$;', start);
    if (start < 0 || end < 0) throw new Error(`${file} no longer defines ${fn}`);
    return text.slice(start, end + 4).replace(`public.${fn}(`, `public.bench_before_${fn}(`);
  }).join('\n');
}

const CALLS = {
  countPending: 'select * from public.count_pending_webhook_jobs()',
  countPendingBefore: 'select * from public.bench_before_count_pending_webhook_jobs()',
  statistics24h: `select * from public.get_job_statistics_summary(now() - interval '24 hours')`,
  statistics24hBefore: `select * from public.bench_before_get_job_statistics_summary(now() - interval '24 hours')`,
} as const;
type Call = keyof typeof CALLS;

export interface PlansSize {
  rows: number;
  /** Rows by status, and rows created in the last 24 h. */
  statuses: Record<string, number>;
  last24h: number;
  tableMiB: number;
  ms: Record<Call, Summary>;
  /** auto_explain's text for each statement the call ran (ANALYZE, BUFFERS). */
  plans: Record<Call, string>;
  /** Which indexes the current functions' plans read. */
  indexesUsed: { countPending: string[]; statistics24h: string[] };
}

export interface PlansResult {
  name: 'plans';
  options: Omit<PlansOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  sizes: PlansSize[];
}

/** Appends `count` jobs: created over the retention window, all completed but the listed few. */
async function load(db: BenchDatabase, from: number, count: number, options: PlansOptions, payload: string, windowDays: number): Promise<void> {
  const chunk = 100_000;
  for (let offset = 0; offset < count; offset += chunk) {
    const n = Math.min(chunk, count - offset);
    await db.sql.unsafe(
      `insert into public.background_jobs (id, type, payload, status, result, error, retry_count, priority, run_at, workspace_count,
              repository, repository_github_id, created_at, updated_at, started_at, completed_at, failed_at, duration_ms)
       select public.webhook_uuid_v7_at(t.at), case when g % 3 = 0 then 'webhook/push' else 'webhook/pull_request' end, $1::jsonb,
              case when g % 100 = 0 then 'failed' else 'completed' end,
              '{"workspaces":10,"cachesInvalidated":10,"eventsSent":10}'::jsonb,
              case when g % 100 = 0 then 'Inngest refused the events: 400' end,
              case when g % 100 = 0 then 5 else 0 end, 10, t.at, 10, 'bench/plans', 9500000,
              t.at, t.at + interval '1 s', t.at + interval '0.5 s',
              case when g % 100 = 0 then null else t.at + interval '1 s' end,
              case when g % 100 = 0 then t.at + interval '1 s' end,
              case when g % 100 = 0 then null else (g % 400) + 50 end
         from generate_series($2::bigint, $3::bigint) g,
              lateral (select now() - make_interval(secs => ((g * 7919) % ($4::bigint * 86400))::double precision) as at) t`,
      [payload, from + offset, from + offset + n - 1, windowDays],
    );
  }
}

/** The live part of the queue: queued (half ready, half scheduled a minute ahead) and processing. */
async function setLive(db: BenchDatabase, options: PlansOptions): Promise<void> {
  await db.sql.unsafe(`delete from public.background_jobs where status in ('queued', 'processing')`);
  await db.sql.unsafe(
    `insert into public.background_jobs (type, payload, status, priority, run_at, locked_by, locked_until, started_at, created_at)
     select 'webhook/pull_request', '{}'::jsonb, case when g <= $2 then 'processing' else 'queued' end, 10,
            case when g > $2 and g % 2 = 0 then now() + interval '1 minute' else now() - interval '1 s' end,
            case when g <= $2 then 'bench' end, case when g <= $2 then now() + interval '3 minutes' end,
            case when g <= $2 then now() end, now() - interval '2 s'
       from generate_series(1, $1::int + $2::int) g`,
    [options.queued, options.processing],
  );
}

async function explain(url: string, text: string): Promise<string> {
  const notices: string[] = [];
  const sql = postgres(url, { max: 1, prepare: false, onnotice: (n) => notices.push(String(n.message)) });
  try {
    await sql.unsafe(`load 'auto_explain'`);
    await sql.unsafe(
      `set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on; set auto_explain.log_analyze = on;
       set auto_explain.log_buffers = on; set auto_explain.log_timing = on; set auto_explain.log_level = notice; set auto_explain.log_format = text`,
    );
    await sql.unsafe(text);
    // The nested statements' plans, without the outer call's Function Scan.
    return notices
      .filter((n) => !/Function Scan on (count_pending|get_job_statistics|bench_before)/.test(n.split('\n').slice(2, 3).join('')))
      .join('\n\n');
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const indexesIn = (plan: string) => [...new Set([...plan.matchAll(/(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)/g)].map((m) => m[1] as string))].sort();

export async function run(partial: Partial<PlansOptions> = {}): Promise<PlansResult> {
  const options: PlansOptions = { ...FULL_PLANS, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const windowDays = loadConfig({}).drain.retention.completedDays;
  const d = prepareDelivery('pull_request', pullRequestOpened({ fullName: 'bench/plans', githubId: 9_500_000 }));
  const parsed = parseDelivery(new Headers(d.headers), d.body);
  if (!parsed.ok) throw new Error(parsed.reason);
  const payload = JSON.stringify({ ...jobPayloadOf(parsed.delivery, new Date().toISOString()), delivery_ids: [d.id] });
  const db = await createBenchDatabase('plans');
  const sizes: PlansSize[] = [];
  try {
    await db.sql.unsafe(beforeSql());
    let loaded = 0;
    for (const target of [...options.sizes].sort((a, b) => a - b)) {
      const t = performance.now();
      await load(db, loaded, target - loaded - options.queued - options.processing, options, payload, windowDays);
      loaded = target - options.queued - options.processing;
      await setLive(db, options);
      await db.sql.unsafe('vacuum analyze public.background_jobs');
      log(`plans: ${target} rows loaded and vacuumed in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      const statuses = Object.fromEntries(
        (await db.query(`select status, count(*)::int as n from public.background_jobs group by status order by status`, [])).map((r) => [String(r.status), Number(r.n)]),
      );
      const [recent] = await db.query(`select count(*)::int as n from public.background_jobs where created_at >= now() - interval '24 hours'`, []);
      const [size] = await db.query(`select pg_total_relation_size('public.background_jobs') as bytes`, []);
      const ms = {} as Record<Call, Summary>;
      const plans = {} as Record<Call, string>;
      for (const call of Object.keys(CALLS) as Call[]) {
        await db.sql.unsafe(CALLS[call]);
        const times: number[] = [];
        for (let i = 0; i < options.calls; i++) {
          const s = performance.now();
          await db.sql.unsafe(CALLS[call]);
          times.push(performance.now() - s);
        }
        ms[call] = summarize(times);
        plans[call] = await explain(db.url, CALLS[call]);
      }
      const result: PlansSize = {
        rows: target,
        statuses,
        last24h: Number(recent?.n),
        tableMiB: Math.round((Number(size?.bytes) / 2 ** 20) * 10) / 10,
        ms,
        plans,
        indexesUsed: { countPending: indexesIn(plans.countPending), statistics24h: indexesIn(plans.statistics24h) },
      };
      sizes.push(result);
      log(
        `plans ${target}: count_pending p50 ${ms.countPending.p50} ms (before ${ms.countPendingBefore.p50} ms) via ${result.indexesUsed.countPending.join(', ') || 'no index'}; ` +
          `statistics 24h p50 ${ms.statistics24h.p50} ms (before ${ms.statistics24hBefore.p50} ms) via ${result.indexesUsed.statistics24h.join(', ') || 'no index'}`,
      );
    }
    return { name: 'plans', options: { ...options, log: undefined } as Omit<PlansOptions, 'log'>, startedAt, finishedAt: new Date().toISOString(), sizes };
  } finally {
    await db.drop();
  }
}
