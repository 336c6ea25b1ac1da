import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executePlan } from '../../../src/shared/handlers/execute.ts';
import { planWork } from '../../../src/shared/handlers/plan.ts';
import { eventId, METRICS_AGGREGATE_EVENT, REPOSITORY_CHANGED_EVENT } from '../../../src/shared/inngest/events.ts';
import { createInngestSender } from '../../../src/shared/inngest/sdk-sender.ts';
import { newDeliveryId, payloadFor, signedRequest } from '../../helpers/deliveries.ts';
import { drainSettings, jobRow, repoIn, resetQueue, runDrain, type TestRepo } from '../../helpers/drain.ts';
import { harness } from '../../helpers/receive-harness.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.ts';

const BASE = 'http://inngest.test';
const KEY = 'test-key';

type Sent = { name: string; id: string; data: Record<string, unknown>; ts?: number };
type Captured = { method: string; url: string; body: Sent[] };

let captured: Captured[] = [];
let delayMs = 0;
let inFlight = 0;
let maxInFlight = 0;

// Every request is recorded whatever its URL, so a wrong path or method shows up in assertions.
const server = setupServer(
  http.all('*', async ({ request }) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const body = (await request.json()) as Sent[];
      captured.push({ method: request.method, url: request.url, body });
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      // Inngest's event API answer; the SDK rejects a 2xx without `status: 200`.
      return HttpResponse.json({ ids: body.map((_, i) => `internal-${i}`), status: 200 });
    } finally {
      inFlight -= 1;
    }
  }),
);

let t: TestDatabase;
const sender = createInngestSender({ eventKey: KEY, baseUrl: BASE });

beforeAll(async () => {
  server.listen({ onUnhandledRequest: 'error' });
  t = await createTestDatabase();
});
afterAll(async () => {
  server.close();
  await t?.close();
});
beforeEach(async () => {
  captured = [];
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  await resetQueue(t.query);
});

/** Queues a real example delivery through the receive path; returns its job and delivery ids. */
async function receive(event: string, repo: TestRepo, payload: any = payloadFor(event, repo)) {
  const delivery = newDeliveryId();
  const { status, body } = await harness(t.db).receive(await signedRequest({ event, payload, delivery }));
  expect(status).toBe(202);
  return {
    jobId: String(body.jobId),
    delivery,
    coalesced: body.coalesced as boolean,
    before: payload.before as string | undefined,
    commits: Array.isArray(payload.commits) ? payload.commits.length : 0,
  };
}

async function drainJob(jobId: string, overrides: Parameters<typeof drainSettings>[0] = {}) {
  const summary = await runDrain({ db: t.db, sender, settings: drainSettings(overrides) }, { jobId });
  expect(summary).toMatchObject({ claimed: 1, completed: 1 });
  return summary;
}

/** Every event sent, in request order, without the send time the SDK adds. */
function sentEvents(): Sent[] {
  return captured.flatMap((r) => r.body.map(({ name, id, data }) => ({ name, id, data })));
}

function expectOnlyEventApiRequests(): void {
  for (const request of captured) {
    expect(request.method).toBe('POST');
    expect(request.url).toBe(`${BASE}/e/${KEY}`);
    expect(Array.isArray(request.body)).toBe(true);
    for (const event of request.body) expect(Object.keys(event).sort()).toEqual(['data', 'id', 'name', 'ts']);
  }
}

async function expected(name: string, source: string, workspaceIds: string[], data: Record<string, unknown>) {
  return Promise.all(
    workspaceIds.map(async (workspaceId) => ({
      name,
      id: await eventId({ source, workspaceId, name }),
      data: { workspaceId, ...data },
    })),
  );
}

async function staleWorkspaces(repo: TestRepo): Promise<string[]> {
  const rows = await t.query(
    `select c.workspace_id from public.workspace_metrics_cache c
     join public.workspace_repositories wr on wr.workspace_id = c.workspace_id and wr.repository_id = $1
     where c.is_stale and c.stale_since is not null order by c.workspace_id`,
    [repo.repositoryId],
  );
  return rows.map((r) => String(r.workspace_id)).sort();
}

describe('pull_request', () => {
  it.each([
    ['opened', (p: any) => p.action === 'opened', (p: any) => p, false],
    ['reopened', (p: any) => p.action === 'reopened', (p: any) => p, false],
    ['closed without merge', (p: any) => p.action === 'closed', (p: any) => p, false],
    [
      'closed and merged',
      (p: any) => p.action === 'closed',
      (p: any) => {
        p.pull_request.merged = true;
        return p;
      },
      true,
    ],
  ])('%s: caches stale for every workspace and one metrics aggregate per workspace', async (_name, pick, edit, merged) => {
    const repo = await repoIn(t.query, 3, 'ops-pr');
    const payload = edit(payloadFor('pull_request', repo, pick));
    const { jobId, delivery } = await receive('pull_request', repo, payload);
    await drainJob(jobId);

    expect(captured).toHaveLength(1);
    expectOnlyEventApiRequests();
    expect(sentEvents()).toEqual(
      await expected(METRICS_AGGREGATE_EVENT, delivery, repo.workspaceIds, {
        repository: repo.fullName,
        repositoryId: repo.githubId,
        deliveryIds: [delivery],
        reason: 'pull_request',
        action: payload.action,
        pullRequestNumber: payload.pull_request.number,
        merged,
      }),
    );
    expect(await staleWorkspaces(repo)).toEqual(repo.workspaceIds);
    expect((await jobRow(t.query, jobId)).result).toMatchObject({ workspaces: 3, eventsSent: 3, cachesInvalidated: 3 });
  });

  it.each([
    ['synchronize', (p: any) => p],
    ['edited', (p: any) => ({ ...p, action: 'edited' })],
    ['labeled', (p: any) => p],
  ])('%s: caches stale, no events', async (action, edit) => {
    const repo = await repoIn(t.query, 2, 'ops-pr-quiet');
    const payload = edit(payloadFor('pull_request', repo, (p) => p.action === (action === 'edited' ? 'opened' : action)));
    expect(payload.action).toBe(action);
    const { jobId } = await receive('pull_request', repo, payload);
    await drainJob(jobId);
    expect(captured).toEqual([]);
    expect(await staleWorkspaces(repo)).toEqual(repo.workspaceIds);
    expect((await jobRow(t.query, jobId)).result).toMatchObject({ eventsSent: 0, cachesInvalidated: 2 });
  });
});

describe('issues', () => {
  it('marks caches stale and sends nothing', async () => {
    const repo = await repoIn(t.query, 2, 'ops-issues');
    const { jobId } = await receive('issues', repo, payloadFor('issues', repo, (p) => p.action === 'opened'));
    await drainJob(jobId);
    expect(captured).toEqual([]);
    expect(await staleWorkspaces(repo)).toEqual(repo.workspaceIds);
  });
});

describe('push', () => {
  it('a job that absorbed 3 pushes sends one aggregate per workspace, with ids from the job', async () => {
    const repo = await repoIn(t.query, 2, 'ops-push');
    const pushes = [];
    for (let i = 0; i < 3; i += 1) {
      const payload = payloadFor('push', repo, (p) => p.ref === 'refs/heads/master');
      payload.after = `${i}`.repeat(40);
      pushes.push(await receive('push', repo, payload));
    }
    expect(new Set(pushes.map((p) => p.jobId)).size).toBe(1);
    expect(pushes.map((p) => p.coalesced)).toEqual([false, true, true]);
    const jobId = pushes[0]!.jobId;
    await drainJob(jobId);

    expect(captured).toHaveLength(1);
    expectOnlyEventApiRequests();
    expect(sentEvents()).toEqual(
      await expected(METRICS_AGGREGATE_EVENT, jobId, repo.workspaceIds, {
        repository: repo.fullName,
        repositoryId: repo.githubId,
        deliveryIds: pushes.map((p) => p.delivery),
        reason: 'push',
        ref: 'refs/heads/master',
        // The first push's before, the newest push's head, and every push's commits.
        before: pushes[0]!.before,
        after: '2'.repeat(40),
        commitCount: pushes.reduce((n, p) => n + p.commits, 0),
        pushes: 3,
      }),
    );
  });
});

describe('repository', () => {
  it('sends one workspace.repository.changed per workspace', async () => {
    const repo = await repoIn(t.query, 11, 'ops-repo');
    const payload = payloadFor('repository', repo, (p) => p.action === 'edited');
    const { jobId, delivery } = await receive('repository', repo, payload);
    await drainJob(jobId);
    expect(captured).toHaveLength(1);
    expectOnlyEventApiRequests();
    expect(sentEvents()).toEqual(
      await expected(REPOSITORY_CHANGED_EVENT, delivery, repo.workspaceIds, {
        repository: repo.fullName,
        repositoryId: repo.githubId,
        deliveryIds: [delivery],
        action: 'edited',
      }),
    );
  });
});

describe('what events carry', () => {
  it('never the raw GitHub payload: small events with ids and facts only', async () => {
    const repo = await repoIn(t.query, 11, 'ops-small');
    const jobs = [
      await receive('pull_request', repo, payloadFor('pull_request', repo, (p) => p.action === 'closed')),
      await receive('push', repo, payloadFor('push', repo, (p) => p.commits.length > 0)),
      await receive('repository', repo, payloadFor('repository', repo, (p) => p.action === 'renamed')),
    ];
    for (const { jobId } of jobs) await drainJob(jobId);
    const events = captured.flatMap((r) => r.body);
    expect(events).toHaveLength(33);
    const forbidden = new Set(['sender', 'commits', 'head_commit', 'pull_request', 'installation', 'organization', 'changes']);
    const keysOf = (value: unknown): string[] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value).flatMap(([k, v]) => [k, ...keysOf(v)])
        : [];
    for (const event of events) {
      expect(JSON.stringify(event).length).toBeLessThan(2048);
      expect(keysOf(event).filter((k) => forbidden.has(k))).toEqual([]);
      expect(typeof event.data.repository).toBe('string');
    }
  });
});

describe('re-running a job', () => {
  it('sends the same ids when a completed job is forced back to the queue', async () => {
    const repo = await repoIn(t.query, 3, 'ops-rerun');
    const { jobId } = await receive('push', repo);
    await drainJob(jobId);
    const first = sentEvents();
    expect(first).toHaveLength(3);

    captured = [];
    await t.query(`update public.background_jobs set status = 'queued', run_at = now(), completed_at = null where id = $1`, [jobId]);
    await drainJob(jobId);
    expect(sentEvents()).toEqual(first);
  });

  it('sends the same ids when a dead-lettered job is replayed', async () => {
    const repo = await repoIn(t.query, 3, 'ops-replay');
    const { jobId } = await receive('pull_request', repo, payloadFor('pull_request', repo, (p) => p.action === 'opened'));
    await drainJob(jobId);
    const first = sentEvents();
    expect(first).toHaveLength(3);

    captured = [];
    await t.query(`update public.background_jobs set status = 'failed', failed_at = now() where id = $1`, [jobId]);
    expect(await t.db.call('replay_webhook_jobs', { p_job_id: jobId })).toHaveLength(1);
    await drainJob(jobId);
    expect(sentEvents()).toEqual(first);
  });
});

describe('fan-out', () => {
  it('120 workspaces: batched requests sent in parallel, bounded by FANOUT_CONCURRENCY', async () => {
    const repo = await repoIn(t.query, 120, 'ops-fanout');
    const { jobId, delivery } = await receive('pull_request', repo, payloadFor('pull_request', repo, (p) => p.action === 'opened'));
    delayMs = 100;
    await drainJob(jobId, { fanoutConcurrency: 2 });
    expectOnlyEventApiRequests();
    expect(captured.map((r) => r.body.length)).toEqual([100, 20]);
    expect(maxInFlight).toBe(2);
    const events = sentEvents();
    expect(new Set(events.map((e) => e.id)).size).toBe(120);
    expect(events.map((e) => e.data.workspaceId)).toEqual(repo.workspaceIds);
    expect(events.map((e) => e.id)).toEqual(
      await Promise.all(repo.workspaceIds.map((w) => eventId({ source: delivery, workspaceId: w, name: METRICS_AGGREGATE_EVENT }))),
    );

    // FANOUT_CONCURRENCY 1: the same work, one request at a time.
    captured = [];
    maxInFlight = 0;
    await t.query(`update public.background_jobs set status = 'queued', run_at = now() where id = $1`, [jobId]);
    await drainJob(jobId, { fanoutConcurrency: 1 });
    expect(captured).toHaveLength(2);
    expect(maxInFlight).toBe(1);
  });

  it('many batches never exceed the concurrency bound', async () => {
    const repo = await repoIn(t.query, 120, 'ops-bound');
    const plan = await planWork({
      event: 'repository',
      action: 'edited',
      source: newDeliveryId(),
      deliveryIds: [],
      repository: { id: repo.githubId, fullName: repo.fullName },
      data: {},
      commitCount: null,
      workspaceIds: repo.workspaceIds,
    });
    delayMs = 50;
    const result = await executePlan(plan, { db: t.db, sender, batchSize: 10, concurrency: 3 });
    expect(result).toMatchObject({ eventsSent: 120, failedWorkspaceIds: [], failures: [] });
    expect(captured).toHaveLength(12);
    expect(maxInFlight).toBe(3);
  });
});
