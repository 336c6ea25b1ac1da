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
import { run as runQueue, type QueueResult, type QueueRun } from '../../bench/queue.ts';
import { NODE22 } from '../../bench/run.ts';
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
          ['--import', 'tsx', 'bench/queue.ts', '--jobs', '20', '--workers', '2', '--systems', 'pg-boss,graphile-worker', '--out', out],
          { cwd: PROJECT_ROOT, env: process.env, timeout: 60_000 },
        ).then(() => JSON.parse(readFileSync(out, 'utf8')) as QueueResult)
      : Promise.reject(new Error(`${NODE22} is missing (the "node" devDependency)`));
    node22Queue.catch(() => {}); // awaited (and reported) in its own test
  });
  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('ack: both receivers over HTTP, then a short steady load', async () => {
    const r = await runAck({ sizes: [3], samples: 5, warmup: 1, standinDelayMs: 20, steady: { rate: 20, seconds: 1, workspaces: 12 }, breakdownSamples: 5 });
    expect(r.name).toBe('ack');
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
    expect(r.steady).toMatchObject({ rate: 20, sent: 20, ok: 20, errors: 0 });
    expectSummary(r.steady!.latency, 20);
    // Every delivery answered is recorded once; the burst of queued ones kicked the drain once
    // (the stand-in drain never frees the marker, so later kicks wait for it to expire).
    expect(r.recorded.deliveries).toBe(r.recorded.answered);
    expect(r.recorded.queuedJobs).toBeGreaterThan(1);
    expect(r.kicks).toBeGreaterThanOrEqual(1);
    expect(r.kicks).toBeLessThan(r.recorded.queuedJobs);
    for (const step of Object.values(r.breakdown)) expect(finite(step)).toBe(true);
  }, 90_000);

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

  it('queue: ours (per-job and batch complete) and the bare claim, both statistics modes', async () => {
    const jobs = 20;
    const r = await runQueue({ jobs, workers: [2], systems: ['ours', 'ours-per-job', 'bare'], statistics: ['fresh', 'stale'] });
    expect(r.runs).toHaveLength(6);
    for (const run of r.runs) expectQueueRun(run, jobs);
    expect(Object.keys(r.staleRatio).sort()).toEqual(['bare', 'ours', 'ours-per-job']);
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
