import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seedRepository } from '../../../src/node/seed.ts';
import { loadConfig } from '../../../src/shared/config.ts';
import { createSqlDatabase } from '../../../src/shared/db/sql.ts';
import { drain } from '../../../src/shared/drain/drain.ts';
import { InngestSendError } from '../../../src/shared/inngest/sender.ts';
import { newDeliveryId, payloadFor, signedRequest, TEST_SECRET, HOOK_URL } from '../../helpers/deliveries.ts';
import { freeDrainMarker } from '../../helpers/drain.ts';
import { harness } from '../../helpers/receive-harness.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../../helpers/test-db.ts';

let t: TestDatabase;
let repoSeq = 1000;

/** A fresh repository tracked by `n` active workspaces (and `inactive` inactive ones). */
async function repoIn(n: number, inactive = 0) {
  repoSeq += 1;
  const repo = { fullName: `acme/repo-${repoSeq}`, githubId: 900_000 + repoSeq };
  const seeded = await seedRepository(t.query, { ...repo, workspaces: n, inactiveWorkspaces: inactive });
  return { ...repo, ...seeded };
}

async function jobsFor(fullName: string): Promise<any[]> {
  return t.query('select * from background_jobs where repository = $1 order by created_at', [fullName]);
}

async function claimable(fullName: string): Promise<number> {
  const [row] = await t.query(`select count(*)::int as n from background_jobs where repository = $1 and status = 'queued' and run_at <= now()`, [fullName]);
  return Number(row?.n);
}

async function deliveryRow(id: string) {
  const [row] = await t.query('select * from webhook_deliveries where delivery_id = $1', [id]);
  return row;
}

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});
beforeEach(() => freeDrainMarker(t.query));

describe('HTTP answers', () => {
  it('405 with Allow: POST for other methods', async () => {
    const h = harness(t.db);
    const { status, body, response } = await h.receive(new Request(HOOK_URL, { method: 'GET' }));
    expect(status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(body.ok).toBe(false);
  });

  it('500 and nothing recorded when the secret is not configured', async () => {
    const h = harness(t.db, { env: { GITHUB_WEBHOOK_SECRET: '' } });
    const delivery = newDeliveryId();
    const req = await signedRequest({ event: 'ping', payload: payloadFor('ping', null), delivery });
    const { status, body } = await h.receive(req);
    expect(status).toBe(500);
    expect(body.delivery).toBe(delivery);
    expect(body.error).toMatch(/GITHUB_WEBHOOK_SECRET/);
    expect(await deliveryRow(delivery)).toBeUndefined();
  });

  it.each([
    ['missing', (r: Request) => r.headers.delete('x-hub-signature-256')],
    ['malformed', (r: Request) => r.headers.set('x-hub-signature-256', 'sha256=xyz')],
    ['wrong algorithm', (r: Request) => r.headers.set('x-hub-signature-256', `sha1=${'a'.repeat(40)}`)],
    ['wrong', (r: Request) => r.headers.set('x-hub-signature-256', `sha256=${'0'.repeat(64)}`)],
  ])('401 when the signature is %s, and nothing recorded', async (_name, spoil) => {
    const h = harness(t.db);
    const delivery = newDeliveryId();
    const req = await signedRequest({ event: 'ping', payload: payloadFor('ping', null), delivery });
    spoil(req);
    const { status, body } = await h.receive(req);
    expect(status).toBe(401);
    expect(body.delivery).toBe(delivery);
    expect(await deliveryRow(delivery)).toBeUndefined();
  });

  it('401 when signed with another secret; a rotated second secret is accepted', async () => {
    const repo = await repoIn(1);
    const payload = payloadFor('issues', repo, (p) => p.action === 'opened');
    const wrong = await signedRequest({ event: 'issues', payload, secret: 'other' });
    expect((await harness(t.db).receive(wrong)).status).toBe(401);
    const rotated = harness(t.db, { env: { GITHUB_WEBHOOK_SECRET: 'new-secret-0123456789', GITHUB_WEBHOOK_SECRET_PREVIOUS: TEST_SECRET } });
    const ok = await signedRequest({ event: 'issues', payload });
    expect((await rotated.receive(ok)).status).toBe(202);
  });

  it('413 for a body over the configured limit', async () => {
    const h = harness(t.db, { env: { WEBHOOK_MAX_BODY_BYTES: '1000' } });
    const payload = { ...payloadFor('ping', null), padding: 'x'.repeat(2000) };
    const { status, body } = await h.receive(await signedRequest({ event: 'ping', payload }));
    expect(status).toBe(413);
    expect(body.error).toMatch(/1000-byte limit/);
  });

  it('400 for a body that is not JSON, a form without payload, or missing fields', async () => {
    const h = harness(t.db);
    const notJson = await signedRequest({ event: 'issues', payload: null, body: '{not json' });
    expect((await h.receive(notJson)).body.error).toMatch(/not valid JSON/);
    const form = await signedRequest({ event: 'issues', payload: null, form: true, body: 'other=1' });
    const formAnswer = await h.receive(form);
    expect(formAnswer.status).toBe(400);
    expect(formAnswer.body.error).toMatch(/payload/);
    const payload = payloadFor('push', { fullName: 'a/b', githubId: 1 });
    delete payload.commits;
    const missing = await h.receive(await signedRequest({ event: 'push', payload }));
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/commits/);
  });

  it('400 when the delivery or event header is missing', async () => {
    const h = harness(t.db);
    const req = await signedRequest({ event: 'ping', payload: payloadFor('ping', null) });
    req.headers.delete('x-github-delivery');
    expect((await h.receive(req)).status).toBe(400);
  });

  it('400 for a delivery id longer than any GitHub GUID, recording nothing', async () => {
    const h = harness(t.db);
    const delivery = 'x'.repeat(3_000);
    const { status } = await h.receive(await signedRequest({ event: 'star', payload: payloadFor('star', null), delivery }));
    expect(status).toBe(400);
    expect(await deliveryRow(delivery)).toBeUndefined();
  });

  it('200 inline for ping, recorded', async () => {
    const h = harness(t.db);
    const delivery = newDeliveryId();
    const { status, body } = await h.receive(
      await signedRequest({ event: 'ping', payload: payloadFor('ping', null), delivery }),
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({ ok: true, delivery, route: 'inline' });
    expect(await deliveryRow(delivery)).toMatchObject({ event: 'ping', route: 'inline', status_code: 200 });
  });

  it('200 duplicate for a repeated delivery GUID, with no new work', async () => {
    const repo = await repoIn(2);
    const h = harness(t.db);
    const delivery = newDeliveryId();
    const payload = payloadFor('issues', repo, (p) => p.action === 'opened');
    const first = await h.receive(await signedRequest({ event: 'issues', payload, delivery }));
    expect(first.status).toBe(202);
    const again = await h.receive(await signedRequest({ event: 'issues', payload, delivery }));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true, delivery });
    expect(await jobsFor(repo.fullName)).toHaveLength(1);
    expect(h.kicks).toHaveLength(1);
  });

  it('200 and nothing queued for a repository in no workspace', async () => {
    const h = harness(t.db);
    const delivery = newDeliveryId();
    const payload = payloadFor('pull_request', { fullName: 'nobody/tracks-this', githubId: 42 }, (p) => p.action === 'opened');
    const { status, body } = await h.receive(await signedRequest({ event: 'pull_request', payload, delivery }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ route: 'no_workspace', queued: false });
    expect(await jobsFor('nobody/tracks-this')).toHaveLength(0);
    expect(await deliveryRow(delivery)).toMatchObject({ route: 'no_workspace', job_id: null });
  });

  it('202 queued with the job id when workspaces exceed the threshold, even for quick events', async () => {
    const repo = await repoIn(11);
    const h = harness(t.db);
    const payload = payloadFor('repository', repo);
    const { status, body } = await h.receive(await signedRequest({ event: 'repository', payload }));
    expect(status).toBe(202);
    expect(body).toMatchObject({ route: 'queued', workspaces: 11 });
    const [job] = await jobsFor(repo.fullName);
    expect(body.jobId).toBe(job?.id);
    expect(job).toMatchObject({ type: 'webhook/repository', status: 'queued', workspace_count: 11 });
    expect(h.sender.sent).toHaveLength(0);
    expect(h.kicks).toHaveLength(1);
  });

  it('200 inline for a quick event at the threshold: one changed event per workspace', async () => {
    const repo = await repoIn(10);
    const h = harness(t.db);
    const delivery = newDeliveryId();
    const payload = payloadFor('repository', repo);
    const { status, body } = await h.receive(await signedRequest({ event: 'repository', payload, delivery }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ route: 'inline', workspaces: 10, eventsSent: 10 });
    expect(await jobsFor(repo.fullName)).toHaveLength(0);
    expect(h.sender.sent.map((e) => e.data.workspaceId).sort()).toEqual([...repo.workspaceIds].sort());
    expect(new Set(h.sender.sent.map((e) => e.id)).size).toBe(10);
    for (const event of h.sender.sent) {
      expect(event.name).toBe('workspace.repository.changed');
      expect(event.id).toContain(encodeURIComponent(delivery));
      expect(event.data).toMatchObject({ repository: repo.fullName, repositoryId: repo.githubId, action: payload.action });
    }
  });

  it("a quick event is routed by the repository's kept count above the threshold, and by the links at or under it", async () => {
    const setKept = (repositoryId: string, n: number) =>
      t.query('update webhook_repository_workspace_counts set active_workspaces = $2 where repository_id = $1', [repositoryId, n]);
    // Kept above the threshold: queued on it (the job looks the workspaces up when it runs).
    const big = await repoIn(4);
    await setKept(big.repositoryId, 42);
    const h = harness(t.db);
    const queued = await h.receive(await signedRequest({ event: 'repository', payload: payloadFor('repository', big) }));
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ route: 'queued', workspaces: 42 });
    // Kept at or under it: the links decide, so inline work reaches every workspace.
    const small = await repoIn(10);
    await setKept(small.repositoryId, 3);
    const inline = await h.receive(await signedRequest({ event: 'repository', payload: payloadFor('repository', small) }));
    expect(inline.status).toBe(200);
    expect(inline.body).toMatchObject({ route: 'inline', workspaces: 10, eventsSent: 10 });
    expect(h.sender.sent.map((e) => e.data.workspaceId).sort()).toEqual([...small.workspaceIds].sort());
  });

  it('a quick event whose inline work fails is queued instead of lost, and a drain is started', async () => {
    const repo = await repoIn(3);
    const failing = { send: async () => Promise.reject(new InngestSendError('stand-in down', 500)) };
    const h = harness(t.db, { sender: failing });
    const { status, body } = await h.receive(await signedRequest({ event: 'repository', payload: payloadFor('repository', repo) }));
    expect(status).toBe(202);
    expect(body.route).toBe('queued');
    const jobs = await jobsFor(repo.fullName);
    expect(jobs).toHaveLength(1);
    expect(body.jobId).toBe(jobs[0]?.id);
    expect(new Date(jobs[0]?.run_at).getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(await deliveryRow(body.delivery)).toMatchObject({ route: 'queued', status_code: 202, job_id: jobs[0]?.id });
    expect(h.kicks).toHaveLength(1);
  });

  it('while a quick event\'s inline work runs, its safety-net job waits; once done, no job is left', async () => {
    const repo = await repoIn(3);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const h = harness(t.db, { sender: { send: () => held } });
    const delivery = newDeliveryId();
    const answer = h.receive(await signedRequest({ event: 'repository', payload: payloadFor('repository', repo), delivery }));
    // The delivery is recorded, with a job no drain may run for a minute (it runs only if this
    // receiver dies before finishing the work), and no drain was kicked.
    let jobs: any[] = [];
    for (let i = 0; i < 50 && jobs.length === 0; i += 1) {
      jobs = await jobsFor(repo.fullName);
      if (jobs.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ status: 'queued', coalesce_key: null });
    expect(new Date(jobs[0]?.run_at).getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(await deliveryRow(delivery)).toMatchObject({ route: 'inline', job_id: jobs[0]?.id });
    expect(await claimable(repo.fullName)).toBe(0);
    release();
    expect((await answer).body).toMatchObject({ route: 'inline', workspaces: 3 });
    expect(await jobsFor(repo.fullName)).toEqual([]);
    expect(await deliveryRow(delivery)).toMatchObject({ route: 'inline', status_code: 200, job_id: null });
    expect(h.kicks).toHaveLength(0);
  });

  it('a quick event whose inline work hangs is queued within the inline budget', async () => {
    const repo = await repoIn(2);
    const hanging = { send: () => new Promise<void>(() => {}) };
    const h = harness(t.db, { sender: hanging });
    const started = Date.now();
    const { status, body } = await h.receive(await signedRequest({ event: 'repository', payload: payloadFor('repository', repo) }));
    expect(status).toBe(202);
    expect(body.route).toBe('queued');
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(await jobsFor(repo.fullName)).toHaveLength(1);
  });

  it('202 queued for other supported events at or under the threshold, with priorities', async () => {
    const repo = await repoIn(1);
    const h = harness(t.db);
    const pr = await h.receive(await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened') }));
    const push = await h.receive(await signedRequest({ event: 'push', payload: payloadFor('push', repo) }));
    expect([pr.status, push.status]).toEqual([202, 202]);
    const jobs = await jobsFor(repo.fullName);
    const byType = Object.fromEntries(jobs.map((j) => [j.type, j]));
    expect(Number(byType['webhook/pull_request']?.priority)).toBeLessThan(Number(byType['webhook/push']?.priority));
    expect(byType['webhook/pull_request']?.payload).toMatchObject({ event: 'pull_request', action: 'opened', delivery_id: pr.body.delivery });
    expect(byType['webhook/pull_request']?.payload.data.repository.full_name).toBe(repo.fullName);
    expect(typeof byType['webhook/pull_request']?.payload.received_at).toBe('string');
  });

  it('202 accepted and recorded as ignored for an unsupported event', async () => {
    const h = harness(t.db);
    const delivery = newDeliveryId();
    const { status, body } = await h.receive(
      await signedRequest({ event: 'star', payload: payloadFor('star', null), delivery }),
    );
    expect(status).toBe(202);
    expect(body).toMatchObject({ route: 'ignored', ignored: true });
    expect(await deliveryRow(delivery)).toMatchObject({ event: 'star', route: 'ignored', status_code: 202 });
  });

  it('accepts form-encoded deliveries', async () => {
    const repo = await repoIn(1);
    const h = harness(t.db);
    const { status } = await h.receive(
      await signedRequest({ event: 'issues', payload: payloadFor('issues', repo, (p) => p.action === 'opened'), form: true }),
    );
    expect(status).toBe(202);
  });

  it('503 and nothing written when the database is unreachable', async () => {
    const broken = createSqlDatabase(async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    });
    const h = harness(broken);
    const delivery = newDeliveryId();
    const { status, body } = await h.receive(
      await signedRequest({ event: 'issues', payload: payloadFor('issues', { fullName: 'a/b', githubId: 5 }), delivery }),
    );
    expect(status).toBe(503);
    expect(body.delivery).toBe(delivery);
    expect(await deliveryRow(delivery)).toBeUndefined();
  });

  it('503 within the receive budget when the database accepts but never answers', async () => {
    const stalled = { call: () => new Promise<never>(() => {}) };
    const h = harness(stalled);
    h.deps.receiveBudgetMs = 300;
    const started = Date.now();
    const { status, body } = await h.receive(
      await signedRequest({ event: 'issues', payload: payloadFor('issues', { fullName: 'a/b', githubId: 5 }) }),
    );
    expect(status).toBe(503);
    expect(body.error).toMatch(/redeliver/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('500 (not 503) with the delivery id when a query fails for a reason other than an outage', async () => {
    const buggy = createSqlDatabase(async () => {
      throw Object.assign(new Error('function public.inspect_webhook_delivery does not exist'), { code: '42883' });
    });
    const h = harness(buggy);
    const delivery = newDeliveryId();
    const { status, body } = await h.receive(
      await signedRequest({ event: 'issues', payload: payloadFor('issues', { fullName: 'a/b', githubId: 5 }), delivery }),
    );
    expect(status).toBe(500);
    expect(body).toMatchObject({ ok: false, delivery });
    expect(h.logs.find((l) => l.msg === 'receive failed')?.error).toMatch(/inspect_webhook_delivery does not exist/);
  });
});

describe('routing by workspace count', () => {
  it('counts only active workspaces (10 active + 5 inactive stays inline)', async () => {
    const repo = await repoIn(10, 5);
    const h = harness(t.db);
    const { status, body } = await h.receive(await signedRequest({ event: 'repository', payload: payloadFor('repository', repo) }));
    expect(status).toBe(200);
    expect(body.workspaces).toBe(10);
  });

  it('honours WORKSPACE_THRESHOLD and QUICK_EVENTS from the environment', async () => {
    const repo = await repoIn(3);
    const h = harness(t.db, { env: { WORKSPACE_THRESHOLD: '2', QUICK_EVENTS: 'ping,repository,issues' } });
    const repoAnswer = await h.receive(await signedRequest({ event: 'repository', payload: payloadFor('repository', repo) }));
    expect(repoAnswer.status).toBe(202);
    const small = await repoIn(2);
    const issues = await h.receive(await signedRequest({ event: 'issues', payload: payloadFor('issues', small, (p) => p.action === 'opened') }));
    expect(issues.status).toBe(200);
    expect(issues.body.route).toBe('inline');
    const [stale] = await t.query(
      'select count(*)::int as n from workspace_metrics_cache where is_stale and workspace_id = any($1::uuid[])',
      [small.workspaceIds],
    );
    expect(stale?.n).toBe(2);
  });
});

describe('coalescing pushes', () => {
  it('10 pushes to one repository become one queued job listing all 10 deliveries', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    const deliveries: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const payload = payloadFor('push', repo);
      payload.after = `${i}`.padStart(40, 'a');
      const { status, body } = await h.receive(await signedRequest({ event: 'push', payload }));
      expect(status).toBe(202);
      expect(body.coalesced).toBe(i > 0);
      deliveries.push(body.delivery);
    }
    const jobs = await jobsFor(repo.fullName);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.payload.delivery_ids).toEqual(deliveries);
    expect(jobs[0]?.payload.data.after).toBe('9'.padStart(40, 'a'));
    const linked = await t.query('select route, job_id from webhook_deliveries where delivery_id = any($1::text[])', [deliveries]);
    expect(linked.every((r) => r.job_id === jobs[0]?.id)).toBe(true);
    expect(linked.filter((r) => r.route === 'coalesced')).toHaveLength(9);
  });

  it('a burst of pushes becomes one job, kicks one drain, and runs within its debounce window + 2 s', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db, { env: { PUSH_DEBOUNCE_SECONDS: '1' } });
    const settings = loadConfig({ DRAIN_IDLE_MS: '200' }).drain;
    let drains = 0;
    h.deps.kickDrain = async () => {
      drains += 1;
      await drain({ db: t.db, sender: h.sender, settings, worker: `kick-${drains}` });
    };
    const kicked: Promise<unknown>[] = [];
    h.deps.waitUntil = (p) => kicked.push(p);
    const first = Date.now();
    for (let i = 0; i < 5; i += 1) {
      const { status, body } = await h.receive(await signedRequest({ event: 'push', payload: payloadFor('push', repo) }));
      expect(status).toBe(202);
      expect(body.debounceSeconds).toBe(1);
    }
    // The running drain waits out the window instead of claiming the job at once.
    const [waiting] = (await jobsFor(repo.fullName)).filter((j) => j.type === 'webhook/push');
    expect(waiting?.status).toBe('queued');
    await Promise.all(kicked);
    expect(drains).toBe(1);
    const pushJobs = (await jobsFor(repo.fullName)).filter((j) => j.type === 'webhook/push');
    expect(pushJobs).toHaveLength(1);
    expect(pushJobs[0]?.status).toBe('completed');
    expect(pushJobs[0]?.payload.delivery_ids).toHaveLength(5);
    expect(new Date(pushJobs[0]?.completed_at).getTime() - first).toBeLessThan(3_000);
    const aggregates = h.sender.sent.filter(
      (e) => e.name === 'workspace.metrics.aggregate' && e.data.reason === 'push' && e.data.repository === repo.fullName,
    );
    expect(aggregates).toHaveLength(12);
    expect(new Set(aggregates.map((e) => e.data.workspaceId)).size).toBe(12);
    expect(aggregates[0]?.data).toMatchObject({ pushes: 5 });
  });

  it('a push after the job was claimed starts a new job', async () => {
    const repo = await repoIn(1);
    const h = harness(t.db, { env: { PUSH_DEBOUNCE_SECONDS: '0' } });
    await h.receive(await signedRequest({ event: 'push', payload: payloadFor('push', repo) }));
    const [job] = await jobsFor(repo.fullName);
    await t.query(`select * from claim_webhook_jobs('test-worker', 1000, 60, $1::uuid)`, [job?.id]);
    const second = await h.receive(await signedRequest({ event: 'push', payload: payloadFor('push', repo) }));
    expect(second.body.coalesced).toBe(false);
    expect(await jobsFor(repo.fullName)).toHaveLength(2);
  });
});

describe('concurrency (real Postgres)', () => {
  reportSkip('20 concurrent copies of one delivery');
  it.skipIf(!onPostgres)('20 concurrent copies of one delivery create exactly one job', async () => {
    const repo = await repoIn(15);
    const h = harness(t.db);
    const delivery = newDeliveryId();
    const payload = payloadFor('pull_request', repo, (p) => p.action === 'opened');
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => h.receive(await signedRequest({ event: 'pull_request', payload, delivery }))),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200 && a.body.duplicate)).toHaveLength(19);
    expect(await jobsFor(repo.fullName)).toHaveLength(1);
  });

  reportSkip('concurrent pushes coalesce');
  it.skipIf(!onPostgres)('10 concurrent pushes to one repository still make one job', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    await Promise.all(
      Array.from({ length: 10 }, async () => h.receive(await signedRequest({ event: 'push', payload: payloadFor('push', repo) }))),
    );
    const jobs = await jobsFor(repo.fullName);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.payload.delivery_ids).toHaveLength(10);
  });
});
