/**
 * Table growth over simulated days, with and without retention. Each simulated day inserts a day
 * of deliveries, their jobs (completed, a few dead letters) and duplicates, backdated so the last
 * day ends now; then, in the pruned database, prune_webhook_data runs in the sweep's batches
 * (pruneBatch, PRUNE_BATCH_SIZE rows per table per call, until a batch finds less) with the
 * cut-offs RETENTION_DAYS and FAILED_RETENTION_DAYS before the end of that day. Row counts and
 * table and index sizes are taken each day in both databases. Autovacuum is off on the benchmark
 * server, so both databases get a plain VACUUM after each day, as autovacuum would give them.
 *
 * Rows are written set-based (a day in a few statements) with the shapes the receive path and the
 * drain write: lean job payloads built from real @octokit/webhooks-examples deliveries, the
 * result the drain records, delivery rows with their body hash and route.
 */
import { loadConfig } from '../src/shared/config.ts';
import { createPostgresDatabase } from '../src/shared/db/postgres.ts';
import { parseDelivery } from '../src/shared/github/delivery.ts';
import { jobPayloadOf } from '../src/shared/github/job-payload.ts';
import { pruneBatch, PRUNE_BATCH_SIZE } from '../src/shared/drain/retention.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/db.ts';
import { prepareDelivery, pullRequestOpened, pushTo } from './lib/deliveries.ts';
import { summarize, type Summary } from './lib/stats.ts';

export interface GrowthOptions {
  days: number;
  deliveriesPerDay: number;
  log?: (line: string) => void;
}

export const FULL_GROWTH: GrowthOptions = { days: 21, deliveriesPerDay: 20_000 };

const TABLES = ['background_jobs', 'webhook_deliveries', 'webhook_delivery_duplicates'] as const;
type Table = (typeof TABLES)[number];

export interface TableSize {
  rows: number;
  /** pg_table_size (heap + TOAST) and pg_indexes_size, bytes. */
  tableBytes: number;
  indexBytes: number;
}

export interface GrowthDay {
  day: number;
  kept: Record<Table, TableSize>;
  pruned: Record<Table, TableSize>;
  /** Rows retention removed that day, by kind, and its batches' times. */
  removed: Record<string, number>;
  batches: number;
  batchMs: Summary;
}

export interface GrowthResult {
  name: 'growth';
  options: Omit<GrowthOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  retention: { completedDays: number; failedDays: number; batchSize: number };
  /** Per simulated day: deliveries, jobs, duplicates and dead letters written. */
  perDay: { deliveries: number; jobs: number; duplicates: number; deadLetters: number };
  days: GrowthDay[];
  /** Every prune batch: its time (ms). */
  batchMs: Summary;
}

const DAY_MS = 86_400_000;

/** Lean job payloads, as the receive path makes them, from real deliveries. */
function payloadTemplates(): { pr: string; push: string } {
  const lean = (event: string, payload: Record<string, unknown>) => {
    const d = prepareDelivery(event, payload);
    const parsed = parseDelivery(new Headers(d.headers), d.body);
    if (!parsed.ok) throw new Error(parsed.reason);
    return JSON.stringify(jobPayloadOf(parsed.delivery, new Date().toISOString()));
  };
  const repo = { fullName: 'bench/growth', githubId: 9_400_000 };
  return { pr: lean('pull_request', pullRequestOpened(repo)), push: lean('push', pushTo(repo, 'refs/heads/main')) };
}

/**
 * One simulated day in one transaction. Of every 20 deliveries: 8 pull requests (a job each),
 * 6 pushes (3 start a job, 3 join the one before), 4 issues handled inline, 1 no_workspace,
 * 1 ignored; 1 % more arrive as duplicates; 1 job in 1,000 is a dead letter.
 */
async function writeDay(db: BenchDatabase, start: Date, n: number, templates: { pr: string; push: string }): Promise<void> {
  await db.sql.begin(async (tx) => {
    await tx.unsafe(
      `create temp table sim_day on commit drop as
       select i, $1::timestamptz + make_interval(secs => i * 86400.0 / $2) as at,
              case when i % 20 < 8 then 'pr' when i % 20 < 14 then (case when i % 2 = 0 then 'push' else 'push+' end)
                   when i % 20 < 18 then 'inline' when i % 20 = 18 then 'none' else 'ignored' end as kind,
              gen_random_uuid()::text as delivery_id, null::uuid as job_id
         from generate_series(0, $2 - 1) i`,
      [start.toISOString(), n],
    );
    // Time-ordered ids of the simulated time, as webhook_uuid_v7() gives jobs as they are created.
    await tx.unsafe(`update sim_day set job_id = public.webhook_uuid_v7_at(at) where kind in ('pr', 'push')`);
    await tx.unsafe(`update sim_day s set job_id = p.job_id from sim_day p where s.kind = 'push+' and p.i = s.i - 1`);
    await tx.unsafe(
      `insert into public.background_jobs (id, type, payload, status, result, error, retry_count, max_retries, priority, run_at,
              workspace_count, repository, repository_github_id, created_at, updated_at, started_at, completed_at, failed_at, duration_ms)
       select s.job_id,
              case when s.kind = 'pr' then 'webhook/pull_request' else 'webhook/push' end,
              (case when s.kind = 'pr' then $1::jsonb else $2::jsonb end) || jsonb_build_object('delivery_ids', ids.list),
              case when s.i % 1000 = 0 then 'failed' else 'completed' end,
              jsonb_build_object('workspaces', 10, 'deliveryIds', jsonb_build_array(s.delivery_id), 'cachesInvalidated', 10, 'eventsSent', 10),
              case when s.i % 1000 = 0 then 'Inngest refused the events: 400' end,
              case when s.i % 1000 = 0 then 5 else 0 end, 5,
              case when s.kind = 'pr' then 10 else 50 end,
              s.at + case when s.kind = 'pr' then interval '0' else interval '5 s' end,
              10, 'bench/growth', 9400000, s.at, s.at + interval '6 s', s.at + interval '5.5 s',
              case when s.i % 1000 = 0 then null else s.at + interval '6 s' end,
              case when s.i % 1000 = 0 then s.at + interval '6 s' end,
              case when s.i % 1000 = 0 then null else 180 end
         from sim_day s
         join (select x.job_id, jsonb_agg(x.delivery_id order by x.i) as list from sim_day x where x.job_id is not null group by x.job_id) ids
           on ids.job_id = s.job_id
        where s.kind in ('pr', 'push')`,
      [templates.pr, templates.push],
    );
    await tx.unsafe(
      `insert into public.webhook_deliveries (delivery_id, body_sha256, event, action, repository, repository_github_id, route,
              status_code, response_ms, workspace_count, job_id, received_at)
       select s.delivery_id, sha256(convert_to(s.delivery_id, 'utf8')),
              case s.kind when 'pr' then 'pull_request' when 'inline' then 'issues' when 'ignored' then 'star'
                          when 'none' then 'pull_request' else 'push' end,
              case s.kind when 'pr' then 'opened' when 'inline' then 'opened' end,
              case when s.kind <> 'ignored' then 'bench/growth' end, case when s.kind <> 'ignored' then 9400000 end,
              case s.kind when 'pr' then 'queued' when 'push' then 'queued' when 'push+' then 'coalesced'
                          when 'inline' then 'inline' when 'none' then 'no_workspace' else 'ignored' end,
              case when s.kind in ('inline', 'none') then 200 else 202 end, 4,
              case when s.kind = 'none' then 0 when s.kind = 'ignored' then null else 10 end,
              s.job_id, s.at
         from sim_day s`,
    );
    await tx.unsafe(
      `insert into public.webhook_delivery_duplicates (delivery_id, duplicate_of, reason, event, status_code, response_ms, received_at)
       select case when s.i % 200 = 0 then s.delivery_id else gen_random_uuid()::text end, s.delivery_id,
              case when s.i % 200 = 0 then 'delivery_id' else 'body' end, 'pull_request', 200, 3, s.at + interval '1 minute'
         from sim_day s where s.i % 100 = 0`,
    );
  });
}

async function sizes(db: BenchDatabase): Promise<Record<Table, TableSize>> {
  const out = {} as Record<Table, TableSize>;
  for (const table of TABLES) {
    const [row] = await db.query(
      `select (select count(*) from public.${table})::bigint as rows,
              pg_table_size('public.${table}') as table_bytes, pg_indexes_size('public.${table}') as index_bytes`,
      [],
    );
    out[table] = { rows: Number(row?.rows), tableBytes: Number(row?.table_bytes), indexBytes: Number(row?.index_bytes) };
  }
  return out;
}

export async function run(partial: Partial<GrowthOptions> = {}): Promise<GrowthResult> {
  const options: GrowthOptions = { ...FULL_GROWTH, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const retention = loadConfig({}).drain.retention;
  const templates = payloadTemplates();
  const kept = await createBenchDatabase('growth_kept');
  const pruned = await createBenchDatabase('growth_pruned');
  const port = createPostgresDatabase(pruned.url, { max: 1 });
  const allBatches: number[] = [];
  const days: GrowthDay[] = [];
  try {
    const end = Date.now();
    for (let day = 0; day < options.days; day++) {
      const start = new Date(end - (options.days - day) * DAY_MS);
      const dayEnd = start.getTime() + DAY_MS;
      for (const db of [kept, pruned]) await writeDay(db, start, options.deliveriesPerDay, templates);
      // The sweep's retention at the end of the day: batches until one finds less than a batch.
      // The database takes ages from its own clock; this day ended `ago` days before it.
      const ago = (Date.now() - dayEnd) / DAY_MS;
      const asOfDayEnd = { completedDays: retention.completedDays + ago, failedDays: retention.failedDays + ago };
      const removed: Record<string, number> = {};
      const batchMs: number[] = [];
      for (;;) {
        const t = performance.now();
        const batch = await pruneBatch(port, asOfDayEnd);
        batchMs.push(performance.now() - t);
        for (const [what, rows] of Object.entries(batch)) removed[what] = (removed[what] ?? 0) + rows;
        if (Object.values(batch).every((rows) => rows < PRUNE_BATCH_SIZE)) break;
      }
      allBatches.push(...batchMs);
      for (const db of [kept, pruned]) await db.sql.unsafe('vacuum public.background_jobs, public.webhook_deliveries, public.webhook_delivery_duplicates');
      const d: GrowthDay = { day: day + 1, kept: await sizes(kept), pruned: await sizes(pruned), removed, batches: batchMs.length, batchMs: summarize(batchMs) };
      days.push(d);
      const mb = (s: Record<Table, TableSize>) =>
        (Object.values(s).reduce((a, t) => a + t.tableBytes + t.indexBytes, 0) / 2 ** 20).toFixed(1);
      log(
        `growth day ${d.day}: kept ${mb(d.kept)} MiB (${d.kept.background_jobs.rows} jobs), pruned ${mb(d.pruned)} MiB (${d.pruned.background_jobs.rows} jobs); ` +
          `removed ${JSON.stringify(removed)} in ${d.batches} batches, p50 ${d.batchMs.p50} ms max ${d.batchMs.max} ms`,
      );
    }
    const [jobsPerDay] = await kept.query(`select count(*)::int as n, count(*) filter (where status = 'failed')::int as failed from public.background_jobs`, []);
    const [dupsPerDay] = await kept.query(`select count(*)::int as n from public.webhook_delivery_duplicates`, []);
    return {
      name: 'growth',
      options: { ...options, log: undefined } as Omit<GrowthOptions, 'log'>,
      startedAt,
      finishedAt: new Date().toISOString(),
      retention: { ...retention, batchSize: PRUNE_BATCH_SIZE },
      perDay: {
        deliveries: options.deliveriesPerDay,
        jobs: Number(jobsPerDay?.n) / options.days,
        duplicates: Number(dupsPerDay?.n) / options.days,
        deadLetters: Number(jobsPerDay?.failed) / options.days,
      },
      days,
      batchMs: summarize(allBatches),
    };
  } finally {
    await port.close();
    await kept.drop();
    await pruned.drop();
  }
}
