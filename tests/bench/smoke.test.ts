/**
 * The benchmarks at tiny sizes, so they cannot rot: each benchmark's run() must finish and return
 * a result of the expected shape with sane values. No timing is asserted (benchmarks are not
 * tests); the full runs are `npm run bench`. Real PostgreSQL only.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as runAck } from '../../bench/ack.ts';
import { run as runFanout } from '../../bench/fanout.ts';
import { run as runFreshness } from '../../bench/freshness.ts';
import { run as runGrowth } from '../../bench/growth.ts';
import { run as runKicks } from '../../bench/kicks.ts';
import { run as runPlans } from '../../bench/plans.ts';
import { run as runQueue, type QueueResult, type QueueRun } from '../../bench/queue.ts';
import { NODE22 } from '../../bench/lib/child.ts';
import { run as runStatus } from '../../bench/status.ts';
import { run as runVerify } from '../../bench/verify.ts';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';
import { onPostgres, reportSkip } from '../helpers/test-db.ts';

reportSkip('benchmark smoke runs', 'the benchmarks run on real PostgreSQL only (set DATABASE_URL)');

const finite = (x: number) => Number.isFinite(x) && x >= 0;

function expectSummary(s: { n: number; p50: number; p95: number; p99: number; max: number }, n: number) {
  expect(s.n).toBe(n);
  expect(finite(s.p50)).toBe(true);
  expect(s.p50).toBeLessThanOrEqual(s.p95);
  expect(s.p95).toBeLessThanOrEqual(s.p99);
  expect(s.p99).toBeLessThanOrEqual(s.max);
}

function expectQueueRun(r: QueueRun | undefined, jobs: number) {
  expect(r).toBeDefined();
  const run = r as QueueRun;
  expect(run.error).toBeNull();
  expect(run.completed).toBe(jobs);
  expect(run.process.jobsPerSecond).toBeGreaterThan(0);
  expect(run.enqueue.jobsPerSecond).toBeGreaterThan(0);
  // At least one claim that found jobs and the final one that found none.
  expect(run.claims.count).toBeGreaterThanOrEqual(2);
  expectSummary(run.claims.latency, run.claims.count);
}

describe.skipIf(!onPostgres)('benchmarks at tiny sizes', () => {
  // pg-boss and graphile-worker need Node 22: their tiny comparison runs in the pinned Node 22
  // binary, started first so it overlaps the in-process runs below.
  let outDir = '';
  let node22Queue: Promise<QueueResult>;
  beforeAll(() => {
    outDir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    const out = join(outDir, 'queue.json');
    node22Queue = existsSync(NODE22)
      ? promisify(execFile)(
          NODE22,
          ['--import', 'tsx', 'bench/queue.ts', '--jobs', '20', '--workers', '2', '--systems', 'pg-boss,graphile-worker', '--repeats', '1', '--out', out],
          { cwd: PROJECT_ROOT, env: process.env, timeout: 60_000 },
        ).then(() => JSON.parse(readFileSync(out, 'utf8')) as QueueResult)
      : Promise.reject(new Error(`${NODE22} is missing (the "node" devDependency)`));
    node22Queue.catch(() => {}); // awaited (and reported) in its own test
  });
  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('ack: hybrid vs sync, then hybrid vs bare under load, a stepped search and cold starts', async () => {
    const r = await runAck({
      sizes: [3],
      samples: 5,
      warmup: 1,
      loadWarmup: { deliveries: 10, rate: 50 },
      standinDelayMs: 20,
      loadWorkspaces: 12,
      steady: { rate: 20, seconds: 1 },
      search: { rates: [20, 40], stepSeconds: 0.5, p99BudgetMs: 10_000, tries: 1 },
      cpu: { rate: 20, seconds: 1, rounds: 2 },
      coldStart: { spawns: 1, deliveries: 12 },
      breakdownSamples: 5,
    });
    expect(r.name).toBe('ack');
    // CPU per delivery, receivers alternating: each round answered all 20 and cost some CPU.
    expect(r.cpu?.rounds.map((c) => [c.receiver, c.round, c.ok])).toEqual([
      ['bare', 1, 20],
      ['hybrid', 1, 20],
      ['hybrid', 2, 20],
      ['bare', 2, 20],
    ]);
    // Readings from /proc only grow; a negative one would mean the per-process bookkeeping broke.
    for (const c of r.cpu!.rounds) expect(Math.min(c.receiverUs, c.postgresUs)).toBeGreaterThanOrEqual(0);
    expect(r.cpu!.median.hybrid.totalUs).toBeGreaterThan(0);
    expect(r.sizes).toHaveLength(1);
    const [size] = r.sizes;
    expect(size?.workspaces).toBe(3);
    expect(size?.hybrid.errors).toBe(0);
    expect(size?.sync.errors).toBe(0);
    expect(size?.hybrid.statuses).toEqual({ '202': 5 });
    expect(size?.sync.statuses).toEqual({ '200': 5 });
    expectSummary(size!.hybrid, 5);
    expectSummary(size!.sync, 5);
    // The synchronous receiver sent one event per workspace before answering.
    expect(size?.syncEventsPerDelivery).toBe(3);
    expect(size!.ratio.p50).toBeGreaterThan(0);
    for (const receiver of ['hybrid', 'bare'] as const) {
      expect(r.steady?.[receiver]).toMatchObject({ receiver, rate: 20, sent: 20, ok: 20, errors: 0, statuses: { '202': 20 } });
      expectSummary(r.steady![receiver].latency, 20);
    }
    // A try holds exactly when nothing missed; with one try a rate's verdict is that try's. The
    // p99 budget is out of reach, but a loaded machine can still make the generator fall behind, so
    // which rates held is not asserted: only that the search reports it consistently.
    const steps = r.search!.steps;
    for (const step of steps) {
      expect(step.held).toBe(step.missed.length === 0);
      expect(step.missed).not.toContain('p99');
      expect(step.missed).not.toContain('errors');
    }
    expect(r.search!.verdicts.slice(0, 2).map((v) => `${v.receiver}@${v.rate}`)).toEqual(['bare@20', 'hybrid@20']);
    for (const v of r.search!.verdicts) {
      expect(v.tries).toBe(1);
      expect(v.held).toBe(steps.find((x) => x.receiver === v.receiver && x.rate === v.rate)?.held);
    }
    for (const receiver of ['bare', 'hybrid'] as const) {
      const mine = r.search!.verdicts.filter((v) => v.receiver === receiver);
      const firstMiss = mine.findIndex((v) => !v.held);
      // The search stops a receiver at its first rate that does not hold.
      expect(mine).toHaveLength(firstMiss < 0 ? 2 : firstMiss + 1);
      expect(r.search!.highest[receiver]).toBe(firstMiss === 0 ? 0 : (mine[firstMiss < 0 ? 1 : firstMiss - 1]?.rate ?? 0));
      expect(r.search!.foundLimit[receiver]).toBe(firstMiss >= 0);
    }
    expect(r.goals.sustainable).toMatchObject({ hybrid: r.search!.highest.hybrid, bare: r.search!.highest.bare, bareFoundLimit: r.search!.foundLimit.bare });
    expect(r.coldStart.map((c) => `${c.receiver}#${c.spawn}`)).toEqual(['bare#1', 'hybrid#1']);
    for (const c of r.coldStart) {
      expect(c.errors).toBe(0);
      expect(c.latencies).toHaveLength(12);
      expect(c.first).toBe(c.latencies[0]);
      expect(c.readyMs).toBeGreaterThan(0);
    }
    // Every delivery either receiver answered is stored once; the hybrid receiver's burst of
    // queued ones kicked the drain stand-in far less often than it queued (the drain marker).
    expect(r.recorded.deliveries).toBe(r.recorded.answered);
    expect(r.recorded.bareRows).toBe(r.recorded.bareAnswered);
    expect(r.recorded.queuedJobs).toBeGreaterThan(1);
    expect(r.kicks).toBeGreaterThanOrEqual(1);
    expect(r.kicks).toBeLessThan(r.recorded.queuedJobs);
    for (const step of Object.values(r.breakdown)) expect(finite(step)).toBe(true);
  }, 120_000);

  it('freshness: every delivery reaches the Inngest stand-in through a kicked real drain', async () => {
    const r = await runFreshness({
      rate: 20,
      seconds: 1,
      workspaces: 2,
      pushRepositories: 2,
      pushBranches: 2,
      waitMs: 20_000,
      variants: [{ label: 'tiny', standinDelayMs: 5, drainEnv: {} }],
    });
    const [variant] = r.variants;
    expect(variant?.phases.map((p) => p.event)).toEqual(['pull_request', 'push']);
    for (const p of variant!.phases) {
      expect(p).toMatchObject({ sent: 20, seen: 20, missing: 0 });
      expect(p.ack.ok).toBe(20);
      expectSummary(p.freshness, 20);
      expect(p.freshness.min).toBeGreaterThan(0);
      expect(p.drain.invocations).toBeGreaterThanOrEqual(1);
      expect(p.drain.errors).toBe(0);
    }
    const [prs, pushes] = variant!.phases;
    expect(prs?.jobs).toBe(20);
    // Pushes of one ref coalesce: 4 refs, so at most a few jobs for 20 pushes.
    expect(pushes!.jobs).toBeLessThan(20);
    // A push waits out its debounce window (the receiver's PUSH_DEBOUNCE_SECONDS: 5 s by default).
    expect(pushes!.freshness.max).toBeGreaterThan(r.settings.pushDebounceSeconds * 1000 - 1_500);
  }, 120_000);

  it('kicks: a burst of queued deliveries reaches the drain endpoint far fewer times, and every job completes', async () => {
    const r = await runKicks({ rate: 40, seconds: 1, workspaces: 2, waitMs: 20_000, variants: [{ label: 'tiny', standinDelayMs: 5, drainEnv: {} }] });
    const [v] = r.variants;
    expect(v).toMatchObject({ sent: 40, queued: 40, settled: true });
    expect(v?.ack.errors).toBe(0);
    expect(v!.drain.invocations).toBeGreaterThanOrEqual(1);
    expect(v!.drain.invocations).toBeLessThan(40);
    expect(v!.drain.completed).toBe(40);
    expect(v!.deliveriesPerInvocation).toBe(Math.round((40 / v!.drain.invocations) * 100) / 100);
    expect(v!.jobs).toMatchObject({ queued: 0, processing: 0, failed: 0 });
  }, 120_000);

  it('growth: rows pile up without retention and stop growing with it', async () => {
    const r = await runGrowth({ days: 17, deliveriesPerDay: 200 });
    expect(r.days).toHaveLength(17);
    // 8 pull requests + 3 push jobs per 20 deliveries.
    expect(r.perDay.jobs).toBe(110);
    const last = r.days[16]!;
    expect(last.kept.webhook_deliveries.rows).toBe(17 * 200);
    expect(last.kept.background_jobs.rows).toBe(17 * 110);
    // RETENTION_DAYS 14: by day 17 the first 3 days are gone, bar dead letters and their deliveries.
    expect(r.days[13]!.removed.deliveries).toBe(0);
    expect(last.pruned.background_jobs.rows).toBeLessThan(15 * 110);
    expect(last.pruned.webhook_deliveries.rows).toBeLessThan(15 * 200);
    expect(last.removed.completed_jobs).toBeGreaterThan(0);
    expect(last.removed.failed_jobs).toBe(0);
    expect(r.batchMs.n).toBeGreaterThanOrEqual(17);
  }, 120_000);

  it('plans: the monitoring functions are timed and explained next to their earlier versions', async () => {
    const r = await runPlans({ sizes: [2_000], calls: 2, queued: 20, processing: 4 });
    const [size] = r.sizes;
    expect(size?.rows).toBe(2_000);
    expect(size?.statuses).toMatchObject({ queued: 20, processing: 4 });
    for (const call of ['countPending', 'countPendingBefore', 'statistics24h', 'statistics24hBefore'] as const) {
      expectSummary(size!.ms[call], 2);
      expect(size!.plans[call]).toMatch(/actual time=.*\n[\s\S]*Buffers: shared hit=/);
    }
    // The current count reads only the partial indexes of live jobs.
    expect(size!.indexesUsed.countPending).toEqual(['background_jobs_lease_idx', 'background_jobs_queued_run_at_idx']);
  }, 120_000);

  it('fan-out: one drained job per run, every workspace reached', async () => {
    const r = await runFanout({ sizes: [5], runs: 2, standinDelayMs: 10 });
    expect(r.sizes).toHaveLength(1);
    const [size] = r.sizes;
    expect(size).toMatchObject({ workspaces: 5, runs: 2, completed: 2, eventsPerJob: 5, cachesInvalidatedPerJob: 5, inngestRequestsPerJob: 1 });
    expectSummary(size!.wallMs, 2);
    expectSummary(size!.cpuMs, 2);
    expect(size!.cpuMs.p50).toBeGreaterThan(0);
  }, 90_000);

  it('verify: verifySignature and the raw HMAC agree and are timed', async () => {
    const r = await runVerify({ sizes: [1024], budgetMs: 50, minIterations: 20 });
    expect(r.sizes).toHaveLength(1);
    const [size] = r.sizes;
    expect(size?.bytes).toBe(1024);
    expect(size!.iterations).toBeGreaterThanOrEqual(20);
    expectSummary(size!.verifySignature, size!.iterations);
    expectSummary(size!.rawHmac, size!.iterations);
    expect(size!.ratio).toBeGreaterThan(0);
  }, 30_000);

  it('queue: ours (real deliveries, tiny jobs, per-job settle) and the bare claim, both statistics modes', async () => {
    const jobs = 20;
    const r = await runQueue({ jobs, workers: [2], systems: ['ours-real', 'ours', 'ours-per-job', 'bare'], statistics: ['fresh', 'stale'], repeats: 1 });
    expect(r.medians).toHaveLength(8);
    for (const m of r.medians) expect(m.all).toEqual([m.jobsPerSecond]);
    expect(r.runs).toHaveLength(8);
    for (const run of r.runs) expectQueueRun(run, jobs);
    expect(Object.keys(r.staleRatio).sort()).toEqual(['bare', 'ours', 'ours-per-job', 'ours-real']);
    expect(r.targets.oursRealJobsPerSecond).toBeGreaterThan(0);
    expect(Object.keys(r.targets.tinyVsBare).sort()).toEqual(['fresh', 'stale']);
    expect(r.targets.tinyVsBarePairs.fresh).toHaveLength(1);
    expect(r.targets.tinyVsBare.fresh).toBe(r.targets.tinyVsBarePairs.fresh?.[0]);
    expect(r.plans.fresh).toMatch(/background_jobs/);
    expect(r.plans.stale).toMatch(/background_jobs/);
    expect(r.targets.oursFreshJobsPerSecond).toBeGreaterThan(0);
  }, 90_000);

  it('status: the page per window over a small history, and the round complete with and without the index', async () => {
    const r = await runStatus({ deliveries: 3000, jobs: 1500, repositories: 50, samples: 3, warmup: 1, completeJobs: 200 });
    expect(r.seed).toMatchObject({ deliveries: 3000, duplicates: 60, jobs: 1500 });
    expect(r.windows.map((w) => [w.window, w.bucketSeconds])).toEqual([['1h', 60], ['24h', 900], ['7d', 7200]]);
    // Every delivery (and duplicate) is in the 7-day window; the shorter ones hold fewer.
    expect(r.windows[2]?.deliveriesInWindow).toBe(3060);
    expect(r.windows[0]!.deliveriesInWindow).toBeLessThan(r.windows[1]!.deliveriesInWindow);
    for (const w of r.windows) {
      expectSummary(w.page, 3);
      expect(w.bytes).toBeGreaterThan(1000);
    }
    expect(r.coldReadMs).toBeGreaterThan(0);
    expect(r.firstReadMs).toBeGreaterThan(0);
    expectSummary(r.rollupPassMs, 7);
    expect(r.completeIndex.withIndexJobsPerSecond).toBeGreaterThan(0);
    expect(r.completeIndex.withoutIndexJobsPerSecond).toBeGreaterThan(0);
  }, 90_000);

  it('queue: pg-boss and graphile-worker under the pinned Node 22', async () => {
    const r = await node22Queue;
    expect(r.node).toMatch(/^v22\./);
    expect(r.runs.map((x) => `${x.system}/${x.statistics}`).sort()).toEqual([
      'graphile-worker/fresh',
      'graphile-worker/stale',
      'pg-boss/fresh',
      'pg-boss/stale',
    ]);
    for (const run of r.runs) expectQueueRun(run, 20);
  }, 90_000);
});
