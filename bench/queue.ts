/**
 * Queue core: enqueue → claim → complete on the same PostgreSQL: ours with jobs made from real
 * 21 KB pull_request deliveries through the real receive path (lean jobs, as production queues
 * them), and with trivial jobs vs pg-boss vs graphile-worker and a bare one-statement SKIP LOCKED
 * queue (the ceiling), with 1 and 4
 * concurrent workers, under fresh planner statistics (ANALYZE after loading) and under statistics
 * taken on the empty tables just before the jobs arrive (ANALYZE, then insert).
 *
 * pg-boss 12 and graphile-worker 0.18 need Node ≥ 22.12 / 22.18: run this file with the pinned
 * Node 22 (node_modules/node/bin/node --import tsx bench/queue.ts); on older Node only the systems
 * that need nothing but our code run (ours, ours-per-job, bare).
 *
 * Every scenario gets its own database cloned from one template that has all schemas installed and
 * was never analysed, so statistics never leak from one scenario into the next.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { sha256HexNode } from '../src/node/hash.ts';
import { createPostgresDatabase, preparesStatements, type PostgresDatabase } from '../src/shared/db/postgres.ts';
import { forEachBounded } from '../src/shared/handlers/execute.ts';
import { claimJobs, settleAndClaim, settleJobs, type ClaimedJob, type JobReport, type RoundReports } from '../src/shared/drain/jobs.ts';
import { loadConfig } from '../src/shared/config.ts';
import type { Database } from '../src/shared/db/port.ts';
import type { EventSender } from '../src/shared/inngest/sender.ts';
import { receiveWebhook } from '../src/shared/receive/receive.ts';
import { recordDelivery } from '../src/shared/receive/store.ts';
import { seedRepository } from '../src/node/seed.ts';
import { BENCH_SECRET, HYBRID_PATH, prepareDelivery, pullRequestOpened } from './lib/deliveries.ts';
import { createBenchDatabase, type BenchDatabase } from './lib/db.ts';
import { pool, ratio, sleep, summarize, type Summary } from './lib/stats.ts';

// Listed so that ours and bare always run back to back (see `run`): their ratio is taken per pair.
export const SYSTEMS = ['ours-real', 'ours', 'bare', 'ours-per-job', 'pg-boss', 'graphile-worker'] as const;
export type QueueSystem = (typeof SYSTEMS)[number];
export type Statistics = 'fresh' | 'stale';

/** Systems that need Node ≥ 22.12 (their own engines field). */
export const NEEDS_NODE_22: readonly QueueSystem[] = ['pg-boss', 'graphile-worker'];

export interface QueueOptions {
  jobs: number;
  workers: number[];
  systems: QueueSystem[];
  statistics: Statistics[];
  /** Jobs per claim / fetch / local queue. */
  batchSize: number;
  /** Per worker: completions in flight (ours-per-job, like DRAIN_CONCURRENCY) and graphile-worker's concurrentJobs. */
  completeConcurrency: number;
  /** Concurrent per-job enqueue calls. */
  enqueueConcurrency: number;
  /** Give up on one scenario after this long. */
  timeoutMs: number;
  /**
   * Each scenario runs this many times, systems in a rotated order each round; figures are
   * medians. One run of a scenario takes a second or two, and another session's checkpoint or
   * test run on this shared machine can halve it.
   */
  repeats: number;
  /**
   * Diagnostic only (never in `npm run bench`): false sets synchronous_commit = off on every
   * scenario database, to show how much of a rate is the disk's commit (fsync) latency.
   */
  synchronousCommit: boolean;
  /** Diagnostic only (never in `npm run bench`): indexes dropped from the template, to weigh what each costs. */
  dropIndexes: string[];
  log?: (line: string) => void;
}

export const FULL_QUEUE: QueueOptions = {
  jobs: 10_000,
  workers: [1, 4],
  systems: [...SYSTEMS],
  statistics: ['fresh', 'stale'],
  batchSize: 50,
  completeConcurrency: 4,
  enqueueConcurrency: 8,
  timeoutMs: 180_000,
  repeats: 3,
  synchronousCommit: true,
  dropIndexes: [],
};

export interface QueueRun {
  system: QueueSystem;
  /** Which round of `repeats` this run was (1-based). */
  repeat: number;
  statistics: Statistics;
  workers: number;
  jobs: number;
  enqueue: { ms: number; jobsPerSecond: number };
  /** Claim + complete of every job, from the first claim to the last completion. */
  process: { ms: number; jobsPerSecond: number };
  claims: { count: number; latency: Summary };
  /** Jobs found completed in the database afterwards (must equal jobs). */
  completed: number;
  error: string | null;
  /** Wall time of the scenario's other steps (database clone, ANALYZE, CHECKPOINT), ms. */
  overheadMs: { clone: number; analyze: number; checkpoint: number };
}

export interface QueueMedian {
  system: QueueSystem;
  statistics: Statistics;
  workers: number;
  /** Median claim + complete rate, and every run's. */
  jobsPerSecond: number;
  all: number[];
  enqueueJobsPerSecond: number;
  claimP50Ms: number;
  claimP99Ms: number;
  /** Runs that failed (their error). */
  errors: string[];
}

export interface QueueResult {
  name: 'queue';
  options: Omit<QueueOptions, 'log'>;
  node: string;
  startedAt: string;
  finishedAt: string;
  runs: QueueRun[];
  /** Per system, statistics and workers: the median of its runs (the figures compared below). */
  medians: QueueMedian[];
  /** stale ÷ fresh processing rate (medians), per system and worker count. */
  staleRatio: Record<string, Record<string, number>>;
  /** The plan of our claim's ready-jobs statement under each statistics mode (auto_explain). */
  plans: Partial<Record<Statistics, string>>;
  /**
   * With the most workers: real-delivery jobs ≥ 10k jobs/s (fresh statistics); tiny jobs ≥ 0.7 ×
   * the bare queue, under each statistics mode; our stale ÷ fresh ≥ 0.7.
   */
  targets: {
    oursRealJobsPerSecond: number | null;
    meetsReal10k: boolean | null;
    oursFreshJobsPerSecond: number | null;
    bareFreshJobsPerSecond: number | null;
    /** Median over the rounds of ours ÷ bare run back to back (the same moment's machine). */
    tinyVsBare: Partial<Record<Statistics, number>>;
    tinyVsBarePairs: Partial<Record<Statistics, number[]>>;
    meetsTinyVsBare: boolean | null;
    oursStaleRatio: number | null;
    meetsStaleRatio: boolean | null;
  };
}

const QUEUE_NAME = 'bench';
/** The repository the real deliveries are for, tracked by REAL_WORKSPACES workspaces in the template. */
const REAL_REPO = { fullName: 'bench/queue-real', githubId: 9_100_001 };
const REAL_WORKSPACES = 10;

// ---------------------------------------------------------------------------------------------
// Template: every schema installed, autovacuum off on every table (so nothing refreshes the
// statistics behind the benchmark's back), never analysed.
// ---------------------------------------------------------------------------------------------

const BARE_SCHEMA = `
  create table public.bench_bare (
    id bigserial primary key,
    status text not null default 'queued',
    priority integer not null default 100,
    run_at timestamptz not null default now(),
    payload jsonb not null,
    locked_by text,
    completed_at timestamptz
  );
  create index bench_bare_claim_idx on public.bench_bare (priority, run_at) where status = 'queued';
`;

async function buildTemplate(systems: readonly QueueSystem[], dropIndexes: readonly string[]): Promise<BenchDatabase> {
  const template = await createBenchDatabase('queue_tpl');
  try {
    await template.sql.unsafe(BARE_SCHEMA);
    for (const index of dropIndexes) {
      if (!/^[a-z0-9_]+$/.test(index)) throw new Error(`bad index name ${index}`);
      await template.sql.unsafe(`drop index public.${index}`);
    }
    await seedRepository(template.query, { ...REAL_REPO, workspaces: REAL_WORKSPACES });
    if (systems.includes('pg-boss')) {
      const { PgBoss } = await import('pg-boss');
      const boss = new PgBoss({ connectionString: template.url, supervise: false, schedule: false, migrate: true, max: 2 });
      boss.on('error', () => {});
      await boss.start();
      await boss.createQueue(QUEUE_NAME);
      await boss.stop({ graceful: false, close: true });
    }
    if (systems.includes('graphile-worker')) {
      const { runMigrations } = await import('graphile-worker');
      await runMigrations({ connectionString: template.url, logger: await silentGraphileLogger() });
    }
    await template.sql.unsafe(`
      do $$
      declare t record;
      begin
        for t in select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                 where c.relkind = 'r' and n.nspname in ('public', 'pgboss', 'graphile_worker')
        loop
          execute format('alter table %I.%I set (autovacuum_enabled = false, toast.autovacuum_enabled = false)', t.nspname, t.relname);
        end loop;
      end $$;
    `);
  } catch (error) {
    await template.drop();
    throw error;
  }
  // CREATE DATABASE … TEMPLATE needs the template to have no connections.
  await template.sql.end({ timeout: 5 });
  return template;
}

async function silentGraphileLogger() {
  const { Logger } = await import('graphile-worker');
  return new Logger(() => () => {});
}

// ---------------------------------------------------------------------------------------------
// Per-system enqueue and processing.
// ---------------------------------------------------------------------------------------------

interface Harness {
  enqueue(count: number): Promise<void>;
  /** Runs `workers` consumers until every job is completed; returns claim latencies and the time span. */
  process(workers: number): Promise<{ ms: number; claimLatencies: number[] }>;
  completedCount(): Promise<number>;
  close(): Promise<void>;
}

const SETTLE = loadConfig({}).drain;
const succeeded: JobReport = { kind: 'succeeded', result: { ok: true }, sent: 0 };

const RECEIVE_CONFIG = loadConfig({ GITHUB_WEBHOOK_SECRET: BENCH_SECRET });
const noSender: EventSender = {
  send: async () => {
    throw new Error('queued deliveries send nothing');
  },
};

/** Jobs as production makes them: real deliveries, signed, through receiveWebhook (hybrid). */
async function enqueueReal(db: Database, count: number, concurrency: number): Promise<void> {
  const deliveries = Array.from({ length: count }, () => prepareDelivery('pull_request', pullRequestOpened(REAL_REPO)));
  await pool(deliveries, concurrency, async (d) => {
    const request = new Request(`http://127.0.0.1${HYBRID_PATH}`, { method: 'POST', headers: d.headers, body: d.body });
    const response = await receiveWebhook(request, { config: RECEIVE_CONFIG, mode: 'hybrid', db, sender: noSender, hashBody: sha256HexNode });
    if (response.status !== 202) throw new Error(`receiveWebhook answered ${response.status}: ${await response.text()}`);
  });
}

function ourHarness(url: string, options: QueueOptions, perJob: boolean, real = false): Harness {
  const shared = createPostgresDatabase(url, { max: options.enqueueConcurrency });
  const raw = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
  return {
    async enqueue(count) {
      if (real) return enqueueReal(shared, count, options.enqueueConcurrency);
      await pool(Array.from({ length: count }, (_, i) => i), options.enqueueConcurrency, async (i) => {
        const deliveryId = randomUUID();
        // The receive path's enqueue: delivery row + job in one transaction.
        await recordDelivery(shared, {
          deliveryId,
          bodySha256: randomBytes(32).toString('hex'),
          event: 'issues',
          action: 'opened',
          repository: 'bench/queue',
          repositoryId: 1,
          route: 'queued',
          statusCode: 202,
          responseMs: 1,
          workspaceCount: 11,
          job: {
            type: 'webhook/issues',
            payload: { event: 'issues', action: 'opened', delivery_id: deliveryId, data: { n: i } },
            priority: 10,
            max_retries: 5,
            coalesce_key: null,
          },
        });
      });
    },
    async process(workers) {
      const latencies: number[] = [];
      const dbs: PostgresDatabase[] = Array.from({ length: workers }, () =>
        createPostgresDatabase(url, { max: perJob ? options.completeConcurrency : 1 }),
      );
      // Open the connections before the clock starts, as a warm drain would have them.
      await Promise.all(dbs.map((db) => claimJobs(db, { worker: 'warm', limit: 0, leaseSeconds: 180 })));
      const started = performance.now();
      try {
        await Promise.all(
          dbs.map(async (db, w) => {
            const drainId = `bench-${w}-${randomUUID()}`;
            // What the drain does: a lease owner per round, and each round settled in the call that
            // claims the next (one statement settles every job in it).
            let previous: RoundReports | null = null;
            for (let round = 1; ; round += 1) {
              const worker = `${drainId}#${round}`;
              const t = performance.now();
              let jobs: ClaimedJob[];
              if (perJob) jobs = await claimJobs(db, { worker, limit: options.batchSize, leaseSeconds: 180 });
              else {
                const answer = await settleAndClaim(db, SETTLE, { worker, limit: options.batchSize, leaseSeconds: 180 }, previous);
                const completed = [...answer.settled.values()].filter((o) => o === 'completed').length;
                if (completed !== (previous?.reports.size ?? 0)) throw new Error(`round settle completed ${completed} of ${previous?.reports.size} leases`);
                jobs = answer.jobs;
              }
              latencies.push(performance.now() - t);
              if (jobs.length === 0) return;
              if (perJob) {
                const outcomes = await forEachBounded(jobs, options.completeConcurrency, async (job) => {
                  const settled = await settleJobs(db, worker, new Map([[job.id, succeeded]]), SETTLE);
                  if (settled.get(job.id)?.outcome !== 'completed') throw new Error(`lost lease on ${job.id}`);
                });
                const failed = outcomes.find((o) => o.status === 'rejected');
                if (failed && failed.status === 'rejected') throw failed.reason;
              } else {
                previous = { owner: worker, reports: new Map(jobs.map((j) => [j.id, succeeded])) };
              }
            }
          }),
        );
        return { ms: performance.now() - started, claimLatencies: latencies };
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
      }
    },
    async completedCount() {
      const [row] = await raw`select count(*)::int as n from public.background_jobs where status = 'completed'`;
      return Number(row?.n);
    },
    async close() {
      await shared.close();
      await raw.end({ timeout: 5 });
    },
  };
}

function bareHarness(url: string, options: QueueOptions): Harness {
  // The driver as ours uses it: prepared statements where production prepares them.
  const prepare = preparesStatements(url);
  const shared = postgres(url, { max: options.enqueueConcurrency, prepare, onnotice: () => {} });
  return {
    async enqueue(count) {
      await pool(Array.from({ length: count }, (_, i) => i), options.enqueueConcurrency, async (i) => {
        await shared.unsafe('insert into public.bench_bare (payload) values ($1::jsonb)', [JSON.stringify({ n: i })], { prepare });
      });
    },
    async process(workers) {
      const latencies: number[] = [];
      const sqls = Array.from({ length: workers }, () => postgres(url, { max: 1, prepare, onnotice: () => {} }));
      await Promise.all(sqls.map((sql) => sql`select 1`));
      const started = performance.now();
      try {
        await Promise.all(
          sqls.map(async (sql, w) => {
            for (;;) {
              const t = performance.now();
              const rows = await sql.unsafe(
                `update public.bench_bare b set status = 'processing', locked_by = $1
                  where b.id in (select c.id from public.bench_bare c where c.status = 'queued' and c.run_at <= now()
                                 order by c.priority, c.run_at limit $2 for update skip locked)
                  returning b.id, b.payload`,
                [`bare-${w}`, options.batchSize],
                { prepare },
              );
              latencies.push(performance.now() - t);
              if (rows.length === 0) return;
              await sql.unsafe(
                `update public.bench_bare set status = 'completed', completed_at = now(), locked_by = null where id = any($1::bigint[])`,
                [rows.map((r) => r.id as string)],
                { prepare },
              );
            }
          }),
        );
        return { ms: performance.now() - started, claimLatencies: latencies };
      } finally {
        await Promise.all(sqls.map((sql) => sql.end({ timeout: 5 })));
      }
    },
    async completedCount() {
      const [row] = await shared`select count(*)::int as n from public.bench_bare where status = 'completed'`;
      return Number(row?.n);
    },
    close: () => shared.end({ timeout: 5 }),
  };
}

async function pgBossHarness(url: string, options: QueueOptions): Promise<Harness> {
  const { PgBoss } = await import('pg-boss');
  const boss = new PgBoss({
    connectionString: url,
    supervise: false,
    schedule: false,
    migrate: false,
    max: Math.max(options.enqueueConcurrency, 4) + 4,
  });
  boss.on('error', () => {});
  await boss.start();
  const raw = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
  return {
    async enqueue(count) {
      await pool(Array.from({ length: count }, (_, i) => i), options.enqueueConcurrency, async (i) => {
        await boss.send(QUEUE_NAME, { n: i });
      });
    },
    async process(workers) {
      const latencies: number[] = [];
      const started = performance.now();
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (;;) {
            const t = performance.now();
            const jobs = await boss.fetch<{ n: number }>(QUEUE_NAME, { batchSize: options.batchSize });
            latencies.push(performance.now() - t);
            if (jobs.length === 0) return;
            await boss.complete(QUEUE_NAME, jobs.map((j) => j.id));
          }
        }),
      );
      return { ms: performance.now() - started, claimLatencies: latencies };
    },
    async completedCount() {
      const [row] = await raw`select count(*)::int as n from pgboss.job where name = ${QUEUE_NAME} and state = 'completed'`;
      return Number(row?.n);
    },
    async close() {
      await boss.stop({ graceful: false, close: true });
      await raw.end({ timeout: 5 });
    },
  };
}

async function graphileHarness(url: string, options: QueueOptions): Promise<Harness> {
  const { makeWorkerUtils, run: runGraphile } = await import('graphile-worker');
  const pg = (await import('pg')).default;
  const logger = await silentGraphileLogger();
  const utils = await makeWorkerUtils({ connectionString: url, logger, maxPoolSize: options.enqueueConcurrency });
  const raw = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
  return {
    async enqueue(count) {
      await pool(Array.from({ length: count }, (_, i) => i), options.enqueueConcurrency, async (i) => {
        await utils.addJob(QUEUE_NAME, { n: i });
      });
    },
    async process(workers) {
      const latencies: number[] = [];
      let done = 0;
      let firstFetch: number | null = null;
      // graphile-worker fetches its local queue internally: time its SKIP LOCKED fetch query at the driver.
      const original = pg.Client.prototype.query;
      pg.Client.prototype.query = function patched(this: unknown, ...args: unknown[]) {
        const config = args[0] as string | { text?: string } | undefined;
        const text = typeof config === 'string' ? config : config?.text;
        const t = performance.now();
        const result = (original as (...a: unknown[]) => unknown).apply(this, args);
        if (text && /skip locked/i.test(text) && result && typeof (result as Promise<unknown>).then === 'function') {
          firstFetch ??= t;
          (result as Promise<unknown>).then(
            () => latencies.push(performance.now() - t),
            () => {},
          );
        }
        return result;
      } as typeof pg.Client.prototype.query;
      const runners: Awaited<ReturnType<typeof runGraphile>>[] = [];
      try {
        const started = performance.now();
        for (let w = 0; w < workers; w++) {
          runners.push(
            await runGraphile({
              connectionString: url,
              logger,
              concurrency: options.completeConcurrency,
              noHandleSignals: true,
              taskList: {
                [QUEUE_NAME]: async () => {
                  done += 1;
                },
              },
              preset: { worker: { localQueue: { size: options.batchSize } } },
            }),
          );
        }
        const deadline = performance.now() + options.timeoutMs;
        while (done < options.jobs && performance.now() < deadline) await sleep(2);
        // Completions are written after the task resolves: wait until the table is empty.
        for (;;) {
          const [row] = await raw`select count(*)::int as n from graphile_worker._private_jobs`;
          if (Number(row?.n) === 0 || performance.now() > deadline) break;
          await sleep(2);
        }
        const ended = performance.now();
        return { ms: ended - (firstFetch ?? started), claimLatencies: latencies };
      } finally {
        pg.Client.prototype.query = original;
        await Promise.all(runners.map((r) => r.stop()));
      }
    },
    async completedCount() {
      // Completed jobs are deleted; nothing left and nothing failed means all completed.
      const [row] = await raw`select count(*)::int as n from graphile_worker._private_jobs`;
      return options.jobs - Number(row?.n);
    },
    async close() {
      await utils.release();
      await raw.end({ timeout: 5 });
    },
  };
}

async function harnessFor(system: QueueSystem, url: string, options: QueueOptions): Promise<Harness> {
  switch (system) {
    case 'ours-real':
      return ourHarness(url, options, false, true);
    case 'ours':
      return ourHarness(url, options, false);
    case 'ours-per-job':
      return ourHarness(url, options, true);
    case 'bare':
      return bareHarness(url, options);
    case 'pg-boss':
      return pgBossHarness(url, options);
    case 'graphile-worker':
      return graphileHarness(url, options);
  }
}

/**
 * The plan claim_webhook_jobs really runs (with the function's own settings): auto_explain on one
 * connection, a claim of 0 jobs, and the nested statement's plan from the notices.
 */
async function claimPlan(url: string): Promise<string> {
  const notices: string[] = [];
  const sql = postgres(url, { max: 1, prepare: false, onnotice: (n) => notices.push(String(n.message)) });
  try {
    await sql.unsafe(`load 'auto_explain'`);
    await sql.unsafe(
      `set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on;
       set auto_explain.log_level = notice; set auto_explain.log_format = text`,
    );
    await sql.unsafe(`select id from public.claim_webhook_jobs('bench-plan', 0, 180)`);
    const plan = notices.find((n) => /order by c\.priority/i.test(n)) ?? '';
    return plan.slice(plan.search(/\n(Update|Insert|Delete|Limit|Nested|CTE)/) + 1).trim() || plan;
  } catch (error) {
    return `(auto_explain unavailable: ${error instanceof Error ? error.message : String(error)})`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function runScenario(
  template: BenchDatabase,
  system: QueueSystem,
  statistics: Statistics,
  workers: number,
  options: QueueOptions,
  plans: QueueResult['plans'],
  repeat: number,
): Promise<QueueRun> {
  let t = performance.now();
  const db = await createBenchDatabase('queue', { template: template.name, migrate: false });
  if (!options.synchronousCommit) await db.sql.unsafe(`alter database ${db.name} set synchronous_commit = off`);
  const clone = Math.round(performance.now() - t);
  const run: QueueRun = {
    system,
    repeat,
    statistics,
    workers,
    jobs: options.jobs,
    enqueue: { ms: 0, jobsPerSecond: 0 },
    process: { ms: 0, jobsPerSecond: 0 },
    claims: { count: 0, latency: summarize([]) },
    completed: 0,
    error: null,
    overheadMs: { clone, analyze: 0, checkpoint: 0 },
  };
  let harness: Harness | null = null;
  try {
    harness = await harnessFor(system, db.url, options);
    const analyze = async () => {
      const a = performance.now();
      await db.sql.unsafe('analyze');
      run.overheadMs.analyze = Math.round(performance.now() - a);
    };
    if (statistics === 'stale') await analyze();
    t = performance.now();
    await harness.enqueue(options.jobs);
    run.enqueue.ms = Math.round(performance.now() - t);
    run.enqueue.jobsPerSecond = Math.round(options.jobs / ((performance.now() - t) / 1000));
    if (statistics === 'fresh') await analyze();
    if (system.startsWith('ours') && !plans[statistics]) {
      plans[statistics] = await claimPlan(db.url);
    }
    t = performance.now();
    await db.sql.unsafe('checkpoint');
    run.overheadMs.checkpoint = Math.round(performance.now() - t);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not finish within ${options.timeoutMs} ms`)), options.timeoutMs);
    });
    const processed = await Promise.race([harness.process(workers), timeout]).finally(() => clearTimeout(timer));
    run.process.ms = Math.round(processed.ms);
    run.process.jobsPerSecond = Math.round(options.jobs / (processed.ms / 1000));
    run.claims = { count: processed.claimLatencies.length, latency: summarize(processed.claimLatencies) };
    run.completed = await harness.completedCount();
    if (run.completed !== options.jobs) run.error = `completed ${run.completed} of ${options.jobs}`;
  } catch (error) {
    run.error = error instanceof Error ? error.message : String(error);
  } finally {
    await harness?.close().catch(() => {});
    await db.drop();
  }
  return run;
}

export async function run(partial: Partial<QueueOptions> = {}): Promise<QueueResult> {
  const options: QueueOptions = { ...FULL_QUEUE, ...partial };
  const log = options.log ?? (() => {});
  const major = Number(process.versions.node.split('.')[0]);
  const unavailable = options.systems.filter((s) => NEEDS_NODE_22.includes(s) && major < 22);
  if (unavailable.length > 0) {
    throw new Error(`${unavailable.join(', ')} need Node ≥ 22.12; run with node_modules/node/bin/node (this is ${process.version})`);
  }
  const startedAt = new Date().toISOString();
  const template = await buildTemplate(options.systems, options.dropIndexes);
  const runs: QueueRun[] = [];
  const plans: QueueResult['plans'] = {};
  try {
    for (let repeat = 1; repeat <= options.repeats; repeat++) {
      // Forwards, then backwards: no system always runs right after the same one, and neighbours
      // in the list (ours, bare) always run back to back.
      const order = repeat % 2 === 1 ? [...options.systems] : [...options.systems].reverse();
      for (const statistics of options.statistics) {
        for (const workers of options.workers) {
          for (const system of order) {
            const r = await runScenario(template, system, statistics, workers, options, plans, repeat);
            runs.push(r);
            log(
              `queue #${repeat} ${system.padEnd(16)} ${statistics} ${workers}w: ${String(r.process.jobsPerSecond).padStart(6)} jobs/s ` +
                `(enqueue ${r.enqueue.jobsPerSecond}/s), claim p50 ${r.claims.latency.p50} ms p99 ${r.claims.latency.p99} ms` +
                (r.error ? ` ERROR ${r.error}` : ''),
            );
          }
        }
      }
    }
  } finally {
    await template.drop();
  }

  const median = (xs: number[]) => summarize(xs).p50;
  const medians: QueueMedian[] = [];
  for (const statistics of options.statistics) {
    for (const workers of options.workers) {
      for (const system of options.systems) {
        const mine = runs.filter((r) => r.system === system && r.statistics === statistics && r.workers === workers);
        const ok = mine.filter((r) => !r.error);
        medians.push({
          system,
          statistics,
          workers,
          jobsPerSecond: ok.length ? median(ok.map((r) => r.process.jobsPerSecond)) : 0,
          all: mine.map((r) => r.process.jobsPerSecond),
          enqueueJobsPerSecond: ok.length ? median(ok.map((r) => r.enqueue.jobsPerSecond)) : 0,
          claimP50Ms: ok.length ? median(ok.map((r) => r.claims.latency.p50)) : Number.NaN,
          claimP99Ms: ok.length ? median(ok.map((r) => r.claims.latency.p99)) : Number.NaN,
          errors: mine.flatMap((r) => (r.error ? [r.error] : [])),
        });
      }
    }
  }
  const staleRatio: QueueResult['staleRatio'] = {};
  for (const m of medians.filter((x) => x.statistics === 'stale' && x.jobsPerSecond > 0)) {
    const fresh = medians.find((x) => x.statistics === 'fresh' && x.system === m.system && x.workers === m.workers && x.jobsPerSecond > 0);
    if (!fresh) continue;
    (staleRatio[m.system] ??= {})[`${m.workers}`] = ratio(m.jobsPerSecond, fresh.jobsPerSecond);
  }
  const maxWorkers = Math.max(...options.workers);
  const at = (system: QueueSystem, statistics: Statistics) =>
    medians.find((m) => m.system === system && m.statistics === statistics && m.workers === maxWorkers && m.jobsPerSecond > 0);
  const oursFresh = at('ours', 'fresh');
  const oursReal = at('ours-real', 'fresh');
  const oursStale = staleRatio.ours?.[`${maxWorkers}`] ?? null;
  const tinyVsBare: Partial<Record<Statistics, number>> = {};
  const tinyVsBarePairs: Partial<Record<Statistics, number[]>> = {};
  for (const statistics of options.statistics) {
    const pairs: number[] = [];
    for (let repeat = 1; repeat <= options.repeats; repeat++) {
      const find = (system: QueueSystem) =>
        runs.find((r) => r.system === system && r.statistics === statistics && r.workers === maxWorkers && r.repeat === repeat && !r.error);
      const ours = find('ours');
      const bare = find('bare');
      if (ours && bare) pairs.push(ratio(ours.process.jobsPerSecond, bare.process.jobsPerSecond));
    }
    if (pairs.length) {
      tinyVsBarePairs[statistics] = pairs;
      tinyVsBare[statistics] = median(pairs);
    }
  }
  return {
    name: 'queue',
    options: { ...options, log: undefined } as Omit<QueueOptions, 'log'>,
    node: process.version,
    startedAt,
    finishedAt: new Date().toISOString(),
    runs,
    medians,
    staleRatio,
    plans,
    targets: {
      oursRealJobsPerSecond: oursReal?.jobsPerSecond ?? null,
      meetsReal10k: oursReal ? oursReal.jobsPerSecond >= 10_000 : null,
      oursFreshJobsPerSecond: oursFresh?.jobsPerSecond ?? null,
      bareFreshJobsPerSecond: at('bare', 'fresh')?.jobsPerSecond ?? null,
      tinyVsBare,
      tinyVsBarePairs,
      meetsTinyVsBare: Object.keys(tinyVsBare).length ? Object.values(tinyVsBare).every((r) => r >= 0.7) : null,
      oursStaleRatio: oursStale,
      meetsStaleRatio: oursStale === null ? null : Math.min(...Object.values(staleRatio.ours ?? {})) >= 0.7,
    },
  };
}

// CLI: node_modules/node/bin/node --import tsx bench/queue.ts [--out FILE] [--jobs N] [--systems a,b]
//        [--workers 1,4] [--statistics fresh,stale] [--complete-concurrency N] [--repeats N] [--async-commit]
//        [--drop-index a,b]
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const partial: Partial<QueueOptions> = { log: (line) => console.log(line) };
  if (flag('jobs')) partial.jobs = Number(flag('jobs'));
  if (flag('workers')) partial.workers = String(flag('workers')).split(',').map(Number);
  if (flag('systems')) partial.systems = String(flag('systems')).split(',') as QueueSystem[];
  if (flag('statistics')) partial.statistics = String(flag('statistics')).split(',') as Statistics[];
  if (args.includes('--async-commit')) partial.synchronousCommit = false;
  if (flag('complete-concurrency')) partial.completeConcurrency = Number(flag('complete-concurrency'));
  if (flag('repeats')) partial.repeats = Number(flag('repeats'));
  if (flag('drop-index')) partial.dropIndexes = String(flag('drop-index')).split(',');
  run(partial)
    .then((result) => {
      const out = flag('out');
      const json = `${JSON.stringify(result, null, 2)}\n`;
      if (out) {
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, json);
      } else process.stdout.write(json);
      const failed = result.runs.filter((r) => r.error);
      process.exitCode = failed.length ? 1 : 0;
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
