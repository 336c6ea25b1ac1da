import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';
import { seedRepository } from '../../src/node/seed.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

const MONITORING_SQL = join(PROJECT_ROOT, 'supabase/queries/monitoring.sql');
const EXPECTED_NAMES = [
  'job-status-24h',
  'job-performance-by-type',
  'high-volume-repositories',
  'failed-jobs-last-hour',
  'inline-vs-queued-24h',
  'stuck-jobs',
  'circuit-breakers',
  'deliveries-by-event-24h',
  'duplicates-24h',
  'poison-events',
];

type Row = Record<string, unknown>;

/** The file split on `-- name:` lines: name → { comment, sql }. */
async function loadQueries(): Promise<Map<string, { comment: string; sql: string }>> {
  const text = await readFile(MONITORING_SQL, 'utf8');
  const parts = text.split(/^-- name:[ \t]*/m).slice(1);
  const queries = new Map<string, { comment: string; sql: string }>();
  for (const part of parts) {
    const [nameLine = '', commentLine = '', ...rest] = part.split('\n');
    const name = nameLine.trim();
    if (queries.has(name)) throw new Error(`duplicate query name ${name}`);
    queries.set(name, { comment: commentLine, sql: rest.join('\n').trim() });
  }
  return queries;
}

/** percentile_cont(p): linear interpolation between the closest ranks, as Postgres computes it. */
function percentileCont(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

let t: TestDatabase;
let queries: Map<string, { comment: string; sql: string }>;
const ids: Record<string, string> = {};

async function run(name: string): Promise<Row[]> {
  const q = queries.get(name);
  if (!q) throw new Error(`monitoring.sql has no query named ${name}`);
  return t.query(q.sql, []);
}

interface JobSeed {
  type: string;
  status: string;
  repo: string;
  action?: string | null;
  durationMs?: number | null;
  createdAgo?: string;
  failedAgo?: string | null;
  lockedUntilAgo?: string | null;
  runAtAgo?: string;
  error?: string | null;
  retryCount?: number;
}

async function insertJob(j: JobSeed): Promise<string> {
  const event = j.type.replace(/^webhook\//, '');
  const payload = {
    event,
    action: j.action ?? null,
    delivery_id: `d-${Math.random().toString(36).slice(2)}`,
    data: { ...(j.action ? { action: j.action } : {}), repository: { full_name: j.repo } },
  };
  const [row] = await t.query(
    `insert into background_jobs
       (type, status, payload, repository, duration_ms, created_at, failed_at, locked_by, locked_until,
        run_at, error, retry_count, started_at, completed_at)
     values ($1, $2, ($3::text)::jsonb, $4, $5,
       now() - $6::interval,
       now() - $7::interval,
       case when $2 = 'processing' then 'drain-dead' end,
       now() - $8::interval,
       now() - $9::interval,
       $10, $11,
       case when $2 in ('processing', 'completed', 'failed') then now() - $6::interval end,
       case when $2 = 'completed' then now() - $6::interval + make_interval(secs => coalesce($5, 0) / 1000.0) end)
     returning id`,
    [
      j.type,
      j.status,
      JSON.stringify(payload),
      j.repo,
      j.durationMs ?? null,
      j.createdAgo ?? '10 minutes',
      j.failedAgo ?? null,
      j.lockedUntilAgo ?? null,
      j.runAtAgo ?? j.createdAgo ?? '10 minutes',
      j.error ?? null,
      j.retryCount ?? 0,
    ],
  );
  return String(row?.id);
}

async function insertDelivery(d: {
  event: string;
  route: string;
  statusCode: number;
  responseMs: number;
  receivedAgo?: string;
}): Promise<void> {
  await t.query(
    `insert into webhook_deliveries (delivery_id, event, route, status_code, response_ms, received_at)
     values (gen_random_uuid()::text, $1, $2, $3, $4, now() - $5::interval)`,
    [d.event, d.route, d.statusCode, d.responseMs, d.receivedAgo ?? '5 minutes'],
  );
}

const PUSH_DURATIONS = Array.from({ length: 20 }, (_, i) => (i + 1) * 100); // 100..2000
const PR_DURATIONS = [300, 600, 900];
const INLINE_MS = [10, 20, 30, 40];
const QUEUED_MS = [50, 60, 70];
const COALESCED_MS = [80, 90];

beforeAll(async () => {
  t = await createTestDatabase();
  queries = await loadQueries();

  // Host tables as the receive path sees them (not needed by the queries, but realistic).
  await seedRepository(t.query, { fullName: 'acme/hot', githubId: 4242, workspaces: 2 });
  await seedRepository(t.query, { fullName: 'acme/warm', githubId: 4343, workspaces: 1 });

  // acme/hot: 20 completed pushes (no action) and 3 completed pull requests with 3 actions.
  for (const [i, d] of PUSH_DURATIONS.entries()) {
    await insertJob({ type: 'webhook/push', status: 'completed', repo: 'acme/hot', durationMs: d, createdAgo: `${i + 1} minutes` });
  }
  for (const [i, action] of ['opened', 'synchronize', 'closed'].entries()) {
    await insertJob({
      type: 'webhook/pull_request',
      status: 'completed',
      repo: 'acme/hot',
      action,
      durationMs: PR_DURATIONS[i],
      createdAgo: '30 minutes',
    });
  }
  // acme/warm: a dead letter from just now, one from 2 hours ago (not "last hour"), a processing job
  // whose lease expired, a queued job overdue by 10 minutes, one due 1 minute ago, one in the future.
  ids.failedRecent = await insertJob({
    type: 'webhook/pull_request',
    status: 'failed',
    repo: 'acme/warm',
    action: 'opened',
    durationMs: 50,
    createdAgo: '20 minutes',
    failedAgo: '0 seconds',
    error: 'Inngest answered 500',
    retryCount: 5,
  });
  ids.failedOld = await insertJob({
    type: 'webhook/pull_request',
    status: 'failed',
    repo: 'acme/warm',
    action: 'reopened',
    durationMs: 70,
    createdAgo: '3 hours',
    failedAgo: '2 hours',
    error: 'old failure',
    retryCount: 5,
  });
  ids.expiredLease = await insertJob({
    type: 'webhook/issues',
    status: 'processing',
    repo: 'acme/warm',
    action: 'opened',
    createdAgo: '4 minutes',
    lockedUntilAgo: '2 minutes',
  });
  ids.overdue = await insertJob({
    type: 'webhook/issues',
    status: 'queued',
    repo: 'acme/warm',
    action: 'edited',
    createdAgo: '10 minutes',
    runAtAgo: '10 minutes',
  });
  ids.dueNow = await insertJob({ type: 'webhook/issues', status: 'queued', repo: 'acme/warm', action: 'labeled', runAtAgo: '1 minute' });
  ids.future = await insertJob({ type: 'webhook/issues', status: 'queued', repo: 'acme/warm', action: 'closed', runAtAgo: '-1 hour' });
  // A processing job still within its lease: not stuck.
  await insertJob({ type: 'webhook/issues', status: 'processing', repo: 'acme/warm', action: 'opened', createdAgo: '1 minute', lockedUntilAgo: '-1 minute' });
  // Outside the 24-hour window, and not a webhook job at all.
  await insertJob({ type: 'webhook/push', status: 'cancelled', repo: 'acme/old', createdAgo: '2 days' });
  await insertJob({ type: 'maintenance/vacuum', status: 'completed', repo: 'acme/hot', durationMs: 99_999 });

  for (const ms of INLINE_MS.slice(0, 1)) await insertDelivery({ event: 'ping', route: 'inline', statusCode: 200, responseMs: ms });
  for (const ms of INLINE_MS.slice(1)) await insertDelivery({ event: 'repository', route: 'inline', statusCode: 200, responseMs: ms });
  await insertDelivery({ event: 'push', route: 'queued', statusCode: 202, responseMs: QUEUED_MS[0]! });
  for (const ms of QUEUED_MS.slice(1)) await insertDelivery({ event: 'pull_request', route: 'queued', statusCode: 202, responseMs: ms });
  for (const ms of COALESCED_MS) await insertDelivery({ event: 'push', route: 'coalesced', statusCode: 202, responseMs: ms });
  await insertDelivery({ event: 'issues', route: 'no_workspace', statusCode: 200, responseMs: 5 });
  await insertDelivery({ event: 'ping', route: 'inline', statusCode: 200, responseMs: 9999, receivedAgo: '2 days' });

  // Duplicates: a redelivery and two copies of one body, and an old one.
  await t.query(
    `insert into webhook_delivery_duplicates (delivery_id, duplicate_of, reason, event, response_ms, received_at) values
       ('g1', 'g1', 'delivery_id', 'push', 3, now() - interval '1 minute'),
       ('copy-1', 'orig-1', 'body', 'pull_request', 4, now() - interval '2 minutes'),
       ('copy-2', 'orig-1', 'body', 'pull_request', 4, now() - interval '3 minutes'),
       ('old', 'orig-0', 'body', 'pull_request', 4, now() - interval '2 days')`,
    [],
  );

  // Circuit breakers through the real function: inngest opens after 2 failures, other stays closed.
  await t.query(`select * from report_circuit('inngest', 'drain-a', false, 2, 30, 'HTTP 503')`, []);
  await t.query(`select * from report_circuit('inngest', 'drain-a', false, 2, 30, 'HTTP 503')`, []);
  await t.query(`select * from report_circuit('other', 'drain-a', true)`, []);
});
afterAll(async () => {
  await t?.close();
});

describe('monitoring.sql', () => {
  it('has exactly the 10 named queries, each with a one-line comment and one statement', () => {
    expect([...queries.keys()]).toEqual(EXPECTED_NAMES);
    for (const [name, q] of queries) {
      expect(q.comment, name).toMatch(/^-- \S.{10,}$/);
      expect(q.sql, name).toMatch(/^select/i);
      expect(q.sql.replace(/;\s*$/, ''), `${name} is one statement`).not.toContain(';');
    }
  });

  it('every query runs on the seeded database', async () => {
    for (const name of EXPECTED_NAMES) {
      await expect(run(name), name).resolves.toBeInstanceOf(Array);
    }
  });

  it("the design doc's original high-volume query is invalid SQL (->> yields text), as design.md says", async () => {
    await expect(
      t.query(
        `select (payload->>'data'->>'repository'->>'full_name') as repository, count(*)
         from background_jobs group by 1`,
        [],
      ),
    ).rejects.toThrow(/operator does not exist: text ->> unknown/);
  });

  it('job-status-24h: count and average duration per webhook type and status, last 24 h only', async () => {
    const rows = (await run('job-status-24h')).map((r) => ({
      type: r.type,
      status: r.status,
      count: num(r.count),
      avg: num(r.avg_duration),
    }));
    expect(rows).toEqual([
      { type: 'webhook/issues', status: 'processing', count: 2, avg: null },
      { type: 'webhook/issues', status: 'queued', count: 3, avg: null },
      { type: 'webhook/pull_request', status: 'completed', count: 3, avg: 600 },
      // The 2-hours-old failure was created 3 hours ago: still inside 24 h.
      { type: 'webhook/pull_request', status: 'failed', count: 2, avg: 60 },
      { type: 'webhook/push', status: 'completed', count: 20, avg: 1050 },
    ]);
  });

  it('job-performance-by-type: one row per webhook type with counts, success rate, avg and p95', async () => {
    const rows = await run('job-performance-by-type');
    expect(rows.map((r) => r.type)).toEqual(['webhook/issues', 'webhook/pull_request', 'webhook/push']);
    const byType = Object.fromEntries(rows.map((r) => [String(r.type), r]));

    // All time: includes the 2-day-old cancelled push.
    const push = byType['webhook/push']!;
    expect(num(push.total)).toBe(21);
    expect(num(push.completed)).toBe(20);
    expect(num(push.failed)).toBe(0);
    expect(num(push.cancelled)).toBe(1);
    expect(num(push.success_rate)).toBe(100);
    expect(num(push.avg_duration_ms)).toBe(1050);
    expect(percentileCont(PUSH_DURATIONS, 0.95)).toBeCloseTo(1905, 9);
    expect(num(push.p95_duration_ms)).toBe(1905);

    const pr = byType['webhook/pull_request']!;
    expect(num(pr.total)).toBe(5);
    expect(num(pr.completed)).toBe(3);
    expect(num(pr.failed)).toBe(2);
    expect(num(pr.success_rate)).toBe(60);
    // Durations of failed attempts are not counted in avg/p95: only completed jobs.
    expect(num(pr.avg_duration_ms)).toBe(600);
    expect(percentileCont(PR_DURATIONS, 0.95)).toBeCloseTo(870, 9);
    expect(num(pr.p95_duration_ms)).toBe(870);

    const issues = byType['webhook/issues']!;
    expect(num(issues.total)).toBe(5);
    expect(num(issues.queued)).toBe(3);
    expect(num(issues.processing)).toBe(2);
    expect(num(issues.completed)).toBe(0);
    // Nothing finished: no rate and no durations rather than 0 or a division by zero.
    expect(issues.success_rate).toBeNull();
    expect(issues.avg_duration_ms).toBeNull();
    expect(issues.p95_duration_ms).toBeNull();
  });

  it('high-volume-repositories: repository name and distinct actions read from the nested payload', async () => {
    const rows = (await run('high-volume-repositories')).map((r) => ({
      repository: r.repository,
      webhook_count: num(r.webhook_count),
      unique_actions: num(r.unique_actions),
    }));
    expect(rows).toEqual([
      // 20 pushes (no action) + 3 pull requests (opened, synchronize, closed).
      { repository: 'acme/hot', webhook_count: 23, unique_actions: 3 },
      // PR opened/reopened, issues opened ×2, edited, labeled, closed.
      { repository: 'acme/warm', webhook_count: 7, unique_actions: 5 },
    ]);
    // acme/old is 2 days old; maintenance/vacuum is not a webhook job.
  });

  it('high-volume-repositories keeps only the top 10', async () => {
    const extra: string[] = [];
    try {
      for (let i = 0; i < 12; i++) extra.push(await insertJob({ type: 'webhook/issues', status: 'cancelled', repo: `acme/extra-${i}` }));
      const rows = await run('high-volume-repositories');
      expect(rows).toHaveLength(10);
      expect(rows.slice(0, 2).map((r) => r.repository)).toEqual(['acme/hot', 'acme/warm']);
    } finally {
      await t.query('delete from background_jobs where id = any($1::uuid[])', [extra]);
    }
  });

  it('failed-jobs-last-hour: the recent dead letter with its event, action, error and retries', async () => {
    const rows = await run('failed-jobs-last-hour');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: ids.failedRecent,
      type: 'webhook/pull_request',
      github_event: 'pull_request',
      action: 'opened',
      error: 'Inngest answered 500',
      retry_count: 5,
    });
    expect(rows[0]?.failed_at).toBeTruthy();
  });

  it('inline-vs-queued-24h: count, avg and p95 response time per route, last 24 h only', async () => {
    const rows = (await run('inline-vs-queued-24h')).map((r) => ({
      route: r.route,
      deliveries: num(r.deliveries),
      avg: num(r.avg_response_ms),
      p95: num(r.p95_response_ms),
    }));
    const p95 = (v: number[]) => Math.round(percentileCont(v, 0.95) * 10) / 10;
    expect(p95(INLINE_MS)).toBe(38.5);
    expect(rows).toEqual([
      { route: 'inline', deliveries: 4, avg: 25, p95: p95(INLINE_MS) },
      { route: 'queued', deliveries: 3, avg: 60, p95: p95(QUEUED_MS) },
      { route: 'coalesced', deliveries: 2, avg: 85, p95: p95(COALESCED_MS) },
      { route: 'no_workspace', deliveries: 1, avg: 5, p95: 5 },
    ]);
  });

  it('stuck-jobs: the expired lease and the queued job overdue by more than 5 minutes, nothing else', async () => {
    const rows = await run('stuck-jobs');
    expect(rows.map((r) => ({ id: r.id, status: r.status, reason: r.reason }))).toEqual([
      // Overdue 10 minutes first, then the lease that expired 2 minutes ago.
      { id: ids.overdue, status: 'queued', reason: 'due but not claimed' },
      { id: ids.expiredLease, status: 'processing', reason: 'lease expired' },
    ]);
    expect(rows[1]?.locked_by).toBe('drain-dead');
  });

  it('circuit-breakers: the open inngest breaker with its failures and error, the closed one', async () => {
    const rows = await run('circuit-breakers');
    expect(rows.map((r) => [r.name, r.state, num(r.consecutive_failures), r.last_error])).toEqual([
      ['inngest', 'open', 2, 'HTTP 503'],
      ['other', 'closed', 0, null],
    ]);
    expect(rows[0]?.retry_at).toBeTruthy();
    expect(rows[0]?.opened_at).toBeTruthy();
  });

  it('deliveries-by-event-24h: event × route × status code counts, last 24 h only', async () => {
    const rows = (await run('deliveries-by-event-24h')).map((r) => [r.event, r.route, r.status_code, num(r.deliveries)]);
    expect(rows).toEqual([
      ['issues', 'no_workspace', 200, 1],
      ['ping', 'inline', 200, 1],
      ['pull_request', 'queued', 202, 2],
      ['push', 'coalesced', 202, 2],
      ['push', 'queued', 202, 1],
      ['repository', 'inline', 200, 3],
    ]);
  });

  it('duplicates-24h: copies by reason and event, last 24 h only', async () => {
    const rows = (await run('duplicates-24h')).map((r) => [r.reason, r.event, num(r.copies), num(r.originals)]);
    expect(rows).toEqual([
      ['body', 'pull_request', 2, 1],
      ['delivery_id', 'push', 1, 1],
    ]);
  });

  it('poison-events: dead letters whose events Inngest refused (either sender), not outages', async () => {
    // Seeded here and removed after, so the other queries' expectations stay as they are.
    ids.poisonApi = await insertJob({
      type: 'webhook/push', status: 'failed', repo: 'acme/poison', createdAgo: '5 minutes', failedAgo: '4 minutes', retryCount: 6,
      error: 'inngest send: Inngest did not accept 12 event(s) after 1 attempt(s): HTTP 422: event too large',
    });
    ids.poisonSdk = await insertJob({
      type: 'webhook/repository', status: 'failed', repo: 'acme/poison', createdAgo: '5 minutes', failedAgo: '3 minutes', retryCount: 6,
      error: 'inngest send: Inngest did not accept 1 event(s) after 5 attempt(s): Inngest API Error: 400 bad event',
    });
    await insertJob({
      type: 'webhook/push', status: 'failed', repo: 'acme/poison', createdAgo: '5 minutes', failedAgo: '2 minutes', retryCount: 6,
      error: 'inngest send: Inngest did not accept 12 event(s) after 5 attempt(s): HTTP 503: down',
    });
    const rows = await run('poison-events');
    await t.query(`delete from background_jobs where repository = 'acme/poison'`, []);
    expect(rows.map((r) => [r.id, r.repository])).toEqual([
      [ids.poisonSdk, 'acme/poison'],
      [ids.poisonApi, 'acme/poison'],
    ]);
  });
});
