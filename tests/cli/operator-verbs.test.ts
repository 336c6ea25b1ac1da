// The operator verbs (stats, replay, drain, redeliver) and every verb's bad input, run in-process
// through main(argv, env) against this file's test database: DATABASE_URL on real Postgres, the
// PGlite test database handed to main() otherwise.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VERBS, type MainOptions } from '../../src/cli/main.ts';
import { METRICS_AGGREGATE_EVENT } from '../../src/shared/inngest/events.ts';
import { runMain } from '../helpers/cli.ts';
import { insertJobs, jobRow, repoIn, resetQueue } from '../helpers/drain.ts';
import { hookDelivery, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

let t: TestDatabase;
let dataDir: string;
let env: Record<string, string>;
let options: MainOptions;

const cli = (argv: string[], extraEnv: Record<string, string> = {}) => runMain(argv, { ...env, ...extraEnv }, options);

const JOB = {
  recentFailure: '0a000000-0000-4000-8000-000000000001',
  oldFailure: '0a000000-0000-4000-8000-000000000002',
  pushDone: '0a000000-0000-4000-8000-000000000003',
  pushDone2: '0a000000-0000-4000-8000-000000000004',
  prDone: '0a000000-0000-4000-8000-000000000005',
};

/** Failed jobs (10 min and 2 h ago), completed jobs and deliveries on every route, at known times. */
async function seedOperatorData(): Promise<void> {
  await resetQueue(t.query);
  await t.query(
    `insert into public.background_jobs
       (id, type, payload, status, error, retry_count, repository, created_at, failed_at, completed_at, duration_ms)
     values
       ($1, 'webhook/push', '{}', 'failed', 'Inngest answered 500', 5, 'acme/widgets',
        now() - interval '20 minutes', now() - interval '10 minutes', null, null),
       ($2, 'webhook/issues', '{}', 'failed', 'Inngest answered 503', 5, 'acme/gadgets',
        now() - interval '3 hours', now() - interval '2 hours', null, null),
       ($3, 'webhook/push', '{}', 'completed', null, 0, 'acme/widgets', now() - interval '1 hour', null, now(), 100),
       ($4, 'webhook/push', '{}', 'completed', null, 0, 'acme/widgets', now() - interval '1 hour', null, now(), 300),
       ($5, 'webhook/pull_request', '{}', 'completed', null, 0, 'acme/gadgets', now() - interval '1 hour', null, now(), 50)`,
    [JOB.recentFailure, JOB.oldFailure, JOB.pushDone, JOB.pushDone2, JOB.prDone],
  );
  await t.query(
    `insert into public.webhook_deliveries
       (delivery_id, event, action, repository, route, status_code, response_ms, workspace_count, job_id, received_at)
     values
       ('d-inline-push', 'push', null, 'acme/widgets', 'inline', 200, 40, 3, null, now() - interval '50 minutes'),
       ('d-inline-issue', 'issues', 'opened', 'acme/widgets', 'inline', 200, 60, 3, null, now() - interval '40 minutes'),
       ('d-queued-push', 'push', null, 'acme/widgets', 'queued', 202, 10, 12, $1, now() - interval '30 minutes'),
       ('d-coalesced-push', 'push', null, 'acme/widgets', 'coalesced', 202, 30, 12, $1, now() - interval '29 minutes'),
       ('d-failed-push', 'push', null, 'acme/widgets', 'queued', 202, 30, 12, $2, now() - interval '20 minutes'),
       ('d-queued-pr', 'pull_request', 'opened', 'acme/gadgets', 'queued', 202, 20, 15, $3, now() - interval '1 hour'),
       ('d-old', 'push', null, 'acme/old', 'queued', 202, 999, 1, null, now() - interval '2 days')`,
    [JOB.pushDone, JOB.recentFailure, JOB.prDone],
  );
}

async function failedAt(id: string): Promise<string> {
  return new Date((await jobRow(t.query, id)).failed_at as string | Date).toISOString();
}

beforeAll(async () => {
  t = await createTestDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'wr-cli-operator-'));
  // No stack runs from this data dir, so nothing is forwarded; no GITHUB_* or INNGEST_* from the parent.
  env = { WEBHOOK_ROUTER_DATA_DIR: dataDir, ...(t.url ? { DATABASE_URL: t.url } : {}) };
  options = t.url
    ? {}
    : {
        database: {
          kind: 'pglite',
          description: 'PGlite (test database)',
          db: t.db,
          query: t.query,
          migrate: async () => 'database is up to date',
          close: async () => {},
        },
      };
});

afterAll(async () => {
  await t?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('stats', () => {
  beforeEach(seedOperatorData);

  it('--since 24h prints each section with the exact rows', async () => {
    const result = await cli(['stats', '--since', '24h']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const since = /^since (\S+)\n/.exec(result.stdout)?.[1] as string;
    expect(Math.abs(Date.parse(since) - (Date.now() - 86_400_000))).toBeLessThan(60_000);
    const [recent, old] = [await failedAt(JOB.recentFailure), await failedAt(JOB.oldFailure)];
    expect(result.stdout).toBe(
      [
        `since ${since}`,
        '',
        'Jobs by type',
        'type                  total  queued  processing  completed  failed  cancelled  success_rate  avg_duration_ms  p95_duration_ms',
        '--------------------  -----  ------  ----------  ---------  ------  ---------  ------------  ---------------  ---------------',
        'webhook/issues        1      0       0           0          1       0          0.00',
        'webhook/pull_request  1      0       0           1          0       0          100.00        50.0             50.0',
        'webhook/push          3      0       0           2          1       0          66.67         200.0            290.0',
        '',
        'Deliveries by route (inline vs queued)',
        'route      deliveries  avg_response_ms  p95_response_ms',
        '---------  ----------  ---------------  ---------------',
        'coalesced  1           30.0             30.0',
        'inline     2           50.0             59.0',
        'queued     3           20.0             29.0',
        '',
        'Most active repositories',
        'repository    deliveries  queued  inline  unique_actions  max_workspaces',
        '------------  ----------  ------  ------  --------------  --------------',
        'acme/widgets  5           3       2       1               12',
        'acme/gadgets  1           1       0       1               15',
        '',
        'Recent failures',
        'id                                    type            repository    error                 retry_count  failed_at',
        '------------------------------------  --------------  ------------  --------------------  -----------  ------------------------',
        `${JOB.recentFailure}  webhook/push    acme/widgets  Inngest answered 500  5            ${recent}`,
        `${JOB.oldFailure}  webhook/issues  acme/gadgets  Inngest answered 503  5            ${old}`,
        '',
      ].join('\n'),
    );
  });

  it('--json has jobs, routes, repositories and failures with numbers, the same on Postgres and PGlite', async () => {
    const result = await cli(['stats', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const stats = JSON.parse(result.stdout);
    expect(Object.keys(stats)).toEqual(['since', 'jobs', 'routes', 'repositories', 'failures', 'events']);
    // No local stack runs from this data dir, so no recorded events.
    expect(stats.events).toBeNull();
    expect(stats.jobs).toEqual([
      { type: 'webhook/issues', total: 1, queued: 0, processing: 0, completed: 0, failed: 1, cancelled: 0, success_rate: 0, avg_duration_ms: null, p95_duration_ms: null },
      { type: 'webhook/pull_request', total: 1, queued: 0, processing: 0, completed: 1, failed: 0, cancelled: 0, success_rate: 100, avg_duration_ms: 50, p95_duration_ms: 50 },
      { type: 'webhook/push', total: 3, queued: 0, processing: 0, completed: 2, failed: 1, cancelled: 0, success_rate: 66.67, avg_duration_ms: 200, p95_duration_ms: 290 },
    ]);
    expect(stats.routes).toEqual([
      { route: 'coalesced', deliveries: 1, avg_response_ms: 30, p95_response_ms: 30 },
      { route: 'inline', deliveries: 2, avg_response_ms: 50, p95_response_ms: 59 },
      { route: 'queued', deliveries: 3, avg_response_ms: 20, p95_response_ms: 29 },
    ]);
    expect(stats.repositories).toEqual([
      { repository: 'acme/widgets', deliveries: 5, queued: 3, inline: 2, unique_actions: 1, max_workspaces: 12 },
      { repository: 'acme/gadgets', deliveries: 1, queued: 1, inline: 0, unique_actions: 1, max_workspaces: 15 },
    ]);
    expect(stats.failures).toEqual([
      { id: JOB.recentFailure, type: 'webhook/push', repository: 'acme/widgets', error: 'Inngest answered 500', retry_count: 5, failed_at: await failedAt(JOB.recentFailure) },
      { id: JOB.oldFailure, type: 'webhook/issues', repository: 'acme/gadgets', error: 'Inngest answered 503', retry_count: 5, failed_at: await failedAt(JOB.oldFailure) },
    ]);
  });

  it('--since 1h keeps only what happened in the last hour', async () => {
    const result = await cli(['stats', '--since', '1h', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const stats = JSON.parse(result.stdout);
    expect(stats.jobs).toEqual([expect.objectContaining({ type: 'webhook/push', total: 1, failed: 1 })]);
    expect(stats.failures.map((f: { id: string }) => f.id)).toEqual([JOB.recentFailure]);
    expect(stats.routes.map((r: { route: string; deliveries: number }) => [r.route, r.deliveries])).toEqual([
      ['coalesced', 1],
      ['inline', 2],
      ['queued', 2],
    ]);
  });
});

describe('replay', () => {
  beforeEach(seedOperatorData);

  it('--job ID puts that failed job back in the queue with retry_count 0', async () => {
    const result = await cli(['replay', '--job', JOB.oldFailure]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^replayed 1 failed job\(s\)\n/);
    expect(result.stdout).toContain(JOB.oldFailure);
    expect(result.stdout).toContain('Inngest answered 503');
    expect(await jobRow(t.query, JOB.oldFailure)).toMatchObject({ status: 'queued', retry_count: 0, error: null, failed_at: null });
    expect(await jobRow(t.query, JOB.recentFailure)).toMatchObject({ status: 'failed', retry_count: 5 });
  });

  it('--job of a job that is not failed: exit 1, nothing changes', async () => {
    const result = await cli(['replay', '--job', JOB.pushDone]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: job ${JOB.pushDone} is not a failed job\n`);
    expect(await jobRow(t.query, JOB.pushDone)).toMatchObject({ status: 'completed' });
  });

  it('--failed --since 1h --dry-run lists only the recent failure and changes nothing', async () => {
    const result = await cli(['replay', '--failed', '--since', '1h', '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^would replay 1 failed job\(s\)\n/);
    expect(result.stdout).toContain(JOB.recentFailure);
    expect(result.stdout).not.toContain(JOB.oldFailure);
    expect(await jobRow(t.query, JOB.recentFailure)).toMatchObject({ status: 'failed', retry_count: 5 });
    expect(await jobRow(t.query, JOB.oldFailure)).toMatchObject({ status: 'failed', retry_count: 5 });
  });

  it('--failed --since 1h replays only the recent failure', async () => {
    const result = await cli(['replay', '--failed', '--since', '1h']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^replayed 1 failed job\(s\)\n/);
    expect(await jobRow(t.query, JOB.recentFailure)).toMatchObject({ status: 'queued', retry_count: 0, error: null });
    expect(await jobRow(t.query, JOB.oldFailure)).toMatchObject({ status: 'failed', retry_count: 5 });
  });

  it('--delivery GUID re-queues the delivery\'s completed job', async () => {
    const dry = await cli(['replay', '--delivery', 'd-queued-pr', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toBe(`would replay delivery d-queued-pr: job ${JOB.prDone} (was completed)\n`);
    expect(await jobRow(t.query, JOB.prDone)).toMatchObject({ status: 'completed' });

    const result = await cli(['replay', '--delivery', 'd-queued-pr']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`replayed delivery d-queued-pr: job ${JOB.prDone} (was completed)\n`);
    expect(await jobRow(t.query, JOB.prDone)).toMatchObject({ status: 'queued', retry_count: 0 });
  });

  it('--delivery of an inline delivery: exit 1 pointing to redeliver', async () => {
    const result = await cli(['replay', '--delivery', 'd-inline-push']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('error: delivery d-inline-push was handled inline and has no job to re-run; use webhook-router redeliver\n');
  });

  it('--delivery of an unknown delivery: exit 1', async () => {
    const result = await cli(['replay', '--delivery', 'never-seen']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: delivery never-seen was never recorded; .*redeliver/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('drain', () => {
  beforeEach(seedOperatorData);

  it('--once --json drains the queued jobs and records their events without INNGEST_EVENT_KEY', async () => {
    const repo = await repoIn(t.query, 3, 'cli-drain');
    const ids = await insertJobs(t.query, { repo, count: 2, event: 'push' });
    const result = await cli(['drain', '--once', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      claimed: 2,
      completed: 2,
      retried: 0,
      failed: 0,
      deferred: 0,
      lost: 0,
      remaining: 0,
      eventsRecorded: 6,
    });
    for (const id of ids) expect(await jobRow(t.query, id)).toMatchObject({ status: 'completed' });
    // The failed jobs stay failed: only replay puts them back.
    expect(await jobRow(t.query, JOB.recentFailure)).toMatchObject({ status: 'failed' });
  });

  it('without --json prints the totals and one line per recorded event', async () => {
    const repo = await repoIn(t.query, 2, 'cli-drain');
    await insertJobs(t.query, { repo, count: 1, event: 'push' });
    const result = await cli(['drain']);
    expect(result.code, result.stderr).toBe(0);
    const [totals, ...events] = result.stdout.trim().split('\n');
    expect(totals).toBe('claimed: 1  completed: 1  retried: 0  failed: 0  deferred: 0  lost: 0  remaining: 0');
    expect(events).toHaveLength(2);
    for (const line of events) expect(line).toMatch(new RegExp(`^event ${METRICS_AGGREGATE_EVENT.replace(/\./g, '\\.')} \\S+$`));
  });
});

describe('prune', () => {
  /** A completed job and its delivery, a dead letter, a duplicate, all received `days` ago. */
  async function aged(tag: string, days: number): Promise<void> {
    const [done] = await t.query(
      `insert into public.background_jobs (type, payload, status, created_at, completed_at)
       values ('webhook/issues', '{}', 'completed', now() - make_interval(days => $1), now() - make_interval(days => $1)) returning id`,
      [days],
    );
    const [dead] = await t.query(
      `insert into public.background_jobs (type, payload, status, created_at, failed_at)
       values ('webhook/issues', '{}', 'failed', now() - make_interval(days => $1), now() - make_interval(days => $1)) returning id`,
      [days],
    );
    await t.query(
      `insert into public.webhook_deliveries (delivery_id, event, route, status_code, job_id, received_at) values
         ($1 || '-done', 'issues', 'queued', 202, $2, now() - make_interval(days => $3)),
         ($1 || '-dead', 'issues', 'queued', 202, $4, now() - make_interval(days => $3)),
         ($1 || '-inline', 'repository', 'inline', 200, null, now() - make_interval(days => $3))`,
      [tag, done?.id, days, dead?.id],
    );
    await t.query(
      `insert into public.webhook_delivery_duplicates (delivery_id, duplicate_of, reason, received_at)
       values ($1 || '-copy', $1 || '-done', 'body', now() - make_interval(days => $2))`,
      [tag, days],
    );
  }
  const remaining = async () =>
    (await t.query(`select delivery_id from public.webhook_deliveries where delivery_id like 'prune-%' order by 1`, [])).map((r) => r.delivery_id);

  beforeEach(async () => {
    await resetQueue(t.query);
    await t.query(`delete from public.webhook_delivery_duplicates`, []);
    await aged('prune-2d', 2);
    await aged('prune-20d', 20);
    await aged('prune-40d', 40);
  });

  it('--dry-run --json counts what retention no longer keeps and deletes nothing', async () => {
    const result = await cli(['prune', '--dry-run', '--json']);
    expect(result.code, result.stderr).toBe(0);
    // Completed (14 d): the 20 d and 40 d ones; dead letters (30 d): the 40 d one, and its delivery with it.
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, completed_jobs: 2, failed_jobs: 1, deliveries: 5, duplicates: 2 });
    expect(await remaining()).toHaveLength(9);
  });

  it('deletes them, keeps a younger dead letter\'s delivery, and leaves GitHub\'s redelivery window alone', async () => {
    const result = await cli(['prune']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^deleted: 2 completed jobs, 1 failed jobs, 5 deliveries, 2 duplicates\n/);
    expect(await remaining()).toEqual(['prune-20d-dead', 'prune-2d-dead', 'prune-2d-done', 'prune-2d-inline']);
    const [copies] = await t.query(`select count(*)::int as n from public.webhook_delivery_duplicates`, []);
    expect(copies?.n).toBe(1);
    // Nothing left to do.
    expect(JSON.parse((await cli(['prune', '--json'])).stdout)).toMatchObject({ completed_jobs: 0, failed_jobs: 0, deliveries: 0, duplicates: 0 });
  });

  it('honours RETENTION_DAYS and refuses one shorter than the redelivery window', async () => {
    expect(JSON.parse((await cli(['prune', '--dry-run', '--json'], { RETENTION_DAYS: '30', FAILED_RETENTION_DAYS: '60' })).stdout)).toMatchObject({
      completed_jobs: 1,
      failed_jobs: 0,
    });
    const refused = await cli(['prune'], { RETENTION_DAYS: '2' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: RETENTION_DAYS: must be between 3 and/);
  });
});

describe('redeliver against a local GitHub API', () => {
  let github: FakeGitHub;
  const TOKEN = 'ghp_testtoken123';
  const HOOK = '/repos/acme/widgets/hooks/42';

  beforeAll(async () => {
    github = await startFakeGitHub();
  });
  afterAll(async () => {
    await github?.close();
  });

  beforeEach(async () => {
    github.requests.length = 0;
    await resetQueue(t.query);
    await t.query(
      `insert into public.webhook_deliveries (delivery_id, event, action, repository, route, status_code, response_ms, workspace_count)
       values ('g-ok-recorded', 'push', null, 'acme/widgets', 'queued', 202, 10, 12),
              ('g-retried', 'issues', 'opened', 'acme/widgets', 'queued', 202, 10, 12)`,
      [],
    );
    // Newest first, as GitHub lists them; page 2 reaches past --since 24h, so page 3 is never asked for.
    github.pages.set(HOOK, [
      [
        hookDelivery({ id: 1006, guid: 'g-ok-recorded', status_code: 200, hoursAgo: 1 }),
        hookDelivery({ id: 1005, guid: 'g-retried', status_code: 202, hoursAgo: 2, redelivery: true, event: 'issues', action: 'opened' }),
        hookDelivery({ id: 1004, guid: 'g-ok-missing', status_code: 200, hoursAgo: 3 }),
      ],
      [
        hookDelivery({ id: 1003, guid: 'g-failed', status_code: 503, hoursAgo: 4, redelivery: true, event: 'pull_request', action: 'opened' }),
        hookDelivery({ id: 1002, guid: 'g-retried', status_code: 503, hoursAgo: 5, event: 'issues', action: 'opened' }),
        hookDelivery({ id: 1001, guid: 'g-failed', status_code: 503, hoursAgo: 6, event: 'pull_request', action: 'opened' }),
        hookDelivery({ id: 1000, guid: 'g-too-old', status_code: 500, hoursAgo: 30 }),
      ],
      [hookDelivery({ id: 900, guid: 'g-older-page', status_code: 500, hoursAgo: 40 })],
    ]);
  });

  const githubEnv = () => ({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: github.url });

  function expectListRequests() {
    const gets = github.requests.filter((r) => r.method === 'GET');
    expect(gets.map((r) => ({ method: r.method, path: r.path, query: r.query }))).toEqual([
      { method: 'GET', path: `${HOOK}/deliveries`, query: { per_page: '100' } },
      { method: 'GET', path: `${HOOK}/deliveries`, query: { per_page: '100', cursor: 'page-1' } },
    ]);
    for (const request of github.requests) {
      expect(request.headers.authorization).toBe(`token ${TOKEN}`);
      expect(request.headers.accept).toBe('application/vnd.github.v3+json');
      expect(request.headers['user-agent']).toMatch(/octokit-core\.js/);
    }
  }

  it('redelivers the never-recorded and the failed GUIDs, once each, with their latest attempt', async () => {
    const result = await cli(['redeliver', '--repo', 'acme/widgets', '--hook-id', '42', '--since', '24h'], githubEnv());
    expect(result.code, result.stderr).toBe(0);
    expectListRequests();
    expect(github.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST ${HOOK}/deliveries/1004/attempts`,
      `POST ${HOOK}/deliveries/1003/attempts`,
    ]);
    expect(github.requests).toHaveLength(4);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^4 deliveries since \S+; 2 to redeliver$/);
    expect(result.stdout).toMatch(/g-ok-missing\s+push\s+never recorded here/);
    expect(result.stdout).toMatch(/g-failed\s+pull_request\s+GitHub marks it failed \(503\)/);
    expect(result.stdout).not.toMatch(/g-ok-recorded|g-retried|g-too-old|g-older-page/);
    expect(lines.slice(-2)).toEqual(['redelivery requested: g-ok-missing', 'redelivery requested: g-failed']);
  });

  it('--dry-run lists the same choice and asks for no redelivery', async () => {
    const result = await cli(['redeliver', '--repo', 'acme/widgets', '--hook-id', '42', '--dry-run'], githubEnv());
    expect(result.code, result.stderr).toBe(0);
    expectListRequests();
    expect(github.requests).toHaveLength(2);
    expect(result.stdout).toMatch(/^4 deliveries since \S+; 2 to redeliver\n/);
    expect(result.stdout).not.toContain('redelivery requested');
  });

  it('--org ORG --hook-id N reads /orgs/ORG/hooks/N', async () => {
    github.pages.set('/orgs/acme/hooks/7', [[hookDelivery({ id: 77, guid: 'g-org-failed', status_code: 502, hoursAgo: 1 })]]);
    const result = await cli(['redeliver', '--org', 'acme', '--hook-id', '7'], githubEnv());
    expect(result.code, result.stderr).toBe(0);
    expect(github.requests.map((r) => ({ method: r.method, path: r.path, query: r.query }))).toEqual([
      { method: 'GET', path: '/orgs/acme/hooks/7/deliveries', query: { per_page: '100' } },
      { method: 'POST', path: '/orgs/acme/hooks/7/deliveries/77/attempts', query: {} },
    ]);
  });

  it('--app uses /app/hook with the JWT as a bearer token', async () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2lnbmF0dXJl';
    github.pages.set('/app/hook', [[hookDelivery({ id: 5, guid: 'g-ok-recorded', status_code: 200, hoursAgo: 1 })]]);
    const result = await cli(['redeliver', '--app', '--dry-run'], { ...githubEnv(), GITHUB_TOKEN: jwt });
    expect(result.code, result.stderr).toBe(0);
    expect(github.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /app/hook/deliveries']);
    expect(github.requests[0]?.headers.authorization).toBe(`bearer ${jwt}`);
    expect(result.stdout).toMatch(/^1 deliveries since \S+; 0 to redeliver\n$/);
  });

  it('a GitHub error is reported in one line with exit 1', async () => {
    const result = await cli(['redeliver', '--repo', 'acme/nothing', '--hook-id', '1'], githubEnv());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*Not Found/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('bad input', () => {
  type Case = { argv: string[]; env?: Record<string, string>; names: string; usage: boolean; code?: number };
  const cases: Case[] = [
    { argv: ['frobnicate'], names: 'unknown verb "frobnicate"', usage: false },
    { argv: ['seed', '--workspaces', '3'], names: '--repo', usage: true },
    { argv: ['seed', '--repo', 'bad', '--workspaces', '3'], names: '--repo', usage: true },
    { argv: ['seed', '--repo', 'acme/widgets', '--workspaces', '0'], names: '--workspaces', usage: true },
    { argv: ['seed', '--repo', 'acme/widgets', '--workspaces', '2', '--inactive', 'x'], names: '--inactive', usage: true },
    { argv: ['seed', '--repo', 'acme/widgets', '--workspaces', '2', '--bogus'], names: '--bogus', usage: true },
    { argv: ['send'], names: '<event>', usage: true },
    { argv: ['send', 'nope'], names: '--payload', usage: true },
    { argv: ['send', 'issues', '--action', 'nope'], names: '--action', usage: true },
    { argv: ['send', 'push', '--action', 'nope'], names: '--action', usage: true },
    { argv: ['send', 'push', '--payload', 'missing.json'], names: '--payload', usage: true },
    { argv: ['send', 'push', '--url', 'notaurl'], names: '--url', usage: true },
    { argv: ['send', 'push', '--repo', 'nope'], names: '--repo', usage: true },
    { argv: ['send', 'push'], names: 'GITHUB_WEBHOOK_SECRET', usage: false },
    { argv: ['stats', '--since', 'forever'], names: '--since', usage: true },
    { argv: ['replay'], names: '--job, --delivery or --failed', usage: true },
    { argv: ['replay', '--job', JOB.oldFailure, '--failed'], names: '--job, --delivery or --failed', usage: true },
    { argv: ['replay', '--job', 'not-a-uuid'], names: '--job', usage: true },
    { argv: ['replay', '--failed', '--since', 'soon'], names: '--since', usage: true },
    { argv: ['drain', '--forever'], names: '--forever', usage: true },
    { argv: ['redeliver', '--repo', 'acme/widgets', '--hook-id', '42'], names: 'GITHUB_TOKEN', usage: false },
    { argv: ['redeliver'], env: { GITHUB_TOKEN: 'x' }, names: '--repo', usage: true },
    { argv: ['redeliver', '--repo', 'acme/widgets'], env: { GITHUB_TOKEN: 'x' }, names: '--hook-id', usage: true },
    { argv: ['redeliver', '--repo', 'acme/widgets', '--hook-id', '42', '--since', 'x'], env: { GITHUB_TOKEN: 'x' }, names: '--since', usage: true },
    { argv: ['redeliver', '--repo', 'acme/widgets', '--hook-id', '42'], env: { GITHUB_TOKEN: 'x', GITHUB_API_URL: 'nope' }, names: 'GITHUB_API_URL', usage: false },
    { argv: ['start', '--port', '0'], names: '--port', usage: true },
    { argv: ['start', '--port', 'abc'], names: '--port', usage: true },
    { argv: ['start', '--port', '65536'], names: '--port', usage: true },
    { argv: ['start', '--drain-interval', '0'], names: '--drain-interval', usage: true },
    { argv: ['start'], env: { PORT: 'abc' }, names: 'PORT', usage: false },
    { argv: ['migrate', 'now'], names: 'now', usage: true },
  ];

  afterEach(async () => {
    // Nothing above may have reached the database.
    const [row] = await t.query('select count(*)::int as n from public.background_jobs where status = $1', ['queued']);
    expect(row?.n).toBe(0);
  });

  it.each(cases)('$argv → one-line error naming $names', async ({ argv, env: extra, names, usage, code }) => {
    await resetQueue(t.query);
    const result = await cli(argv, extra);
    expect(result.code).toBe(code ?? 2);
    expect(result.stdout).toBe('');
    const [first, ...rest] = result.stderr.split('\n');
    expect(first).toMatch(/^error: /);
    expect(first).toContain(names);
    // Bad flags and bad variables alike: the error line, then the verb's usage (issue 4).
    if (argv[0] !== 'frobnicate' && (usage || (code ?? 2) === 2)) {
      const verb = argv[0] as string;
      expect(rest[0]).toBe(`usage: ${VERBS[verb]?.usage.split('\n')[0]}`);
      expect(result.stderr).toContain(VERBS[verb]?.usage as string);
    } else if (argv[0] === 'frobnicate') {
      expect(result.stderr).toContain('webhook-router <verb> [flags]');
    } else {
      expect(rest.join('')).toBe('');
    }
  });

  it('an invalid environment variable: one line naming it, then the usage, exit 2', async () => {
    const result = await cli(['stats'], { WORKSPACE_THRESHOLD: 'abc' });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const [first, second] = result.stderr.split('\n');
    expect(first).toBe('error: WORKSPACE_THRESHOLD: must be a whole number, got "abc"');
    expect(second).toBe(`usage: ${VERBS.stats?.usage.split('\n')[0]}`);
  });

  it('no verb: the verb list on stderr, exit 2', async () => {
    const result = await cli([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: no verb given\nwebhook-router <verb> \[flags\]/);
  });

  it.each(Object.keys(VERBS))('%s --help prints its usage, exit 0', async (verb) => {
    const result = await cli([verb, '--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${VERBS[verb]?.usage}\n`);
    expect(result.stdout).toMatch(new RegExp(`^webhook-router ${verb}`));
  });

  it('--help lists every verb, exit 0', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    for (const verb of Object.keys(VERBS)) expect(result.stdout).toMatch(new RegExp(`^  ${verb} `, 'm'));
  });
});
