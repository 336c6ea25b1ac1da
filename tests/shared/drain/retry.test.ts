import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimJobs } from '../../../src/shared/drain/jobs.ts';
import { payloadFor, signedRequest } from '../../helpers/deliveries.ts';
import {
  dbNow,
  drainSettings,
  failJob,
  failingSender,
  jobRow,
  logSink,
  ms,
  newWorker,
  repoIn,
  resetQueue,
  runDrain,
  stubSender,
  type TestRepo,
} from '../../helpers/drain.ts';
import { harness } from '../../helpers/receive-harness.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.ts';

let t: TestDatabase;
let repo: TestRepo;

beforeAll(async () => {
  t = await createTestDatabase();
  repo = await repoIn(t.query, 1, 'retry');
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await resetQueue(t.query);
});

/** A real queued job, made by the receive path from a real example payload. */
async function receivedJob(event: string, target: { fullName: string; githubId: number }, predicate?: (p: any) => boolean) {
  const h = harness(t.db);
  const payload = payloadFor(event, target, predicate);
  const { status, body } = await h.receive(await signedRequest({ event, payload }));
  expect(status).toBe(202);
  return { jobId: String(body.jobId), delivery: String(body.delivery) };
}

async function makeDue(id: string): Promise<void> {
  await t.query('update public.background_jobs set run_at = now() where id = $1', [id]);
}

describe('fail_webhook_job: backoff and the dead letter', () => {
  it('backs off exponentially with equal jitter: attempt n waits within [d/2, d], d = 10·2^(n-1) s', async () => {
    const { jobId } = await receivedJob('issues', repo, (p) => p.action === 'opened');
    const worker = newWorker();
    for (const [attempt, d] of [[1, 10], [2, 20], [3, 40], [4, 80]] as const) {
      await makeDue(jobId);
      expect((await claimJobs(t.db, { worker, limit: 1, leaseSeconds: 60 })).map((j) => j.id)).toEqual([jobId]);
      const before = await dbNow(t.query);
      const row = await failJob(t.db, {
        jobId,
        worker,
        error: `attempt ${attempt} failed`,
        retryable: true,
        baseDelaySeconds: 10,
        maxDelaySeconds: 3600,
      });
      const after = await dbNow(t.query);
      expect(row).toMatchObject({ status: 'queued', retry_count: attempt });
      const runAt = ms(row!.run_at);
      // run_at = (a clock reading inside the call) + delay, delay in [d/2, d].
      expect(runAt).toBeGreaterThanOrEqual(before + (d / 2) * 1000 - 1);
      expect(runAt).toBeLessThanOrEqual(after + d * 1000 + 1);
      expect(await jobRow(t.query, jobId)).toMatchObject({
        status: 'queued',
        retry_count: attempt,
        error: `attempt ${attempt} failed`,
        locked_by: null,
        locked_until: null,
        failed_at: null,
      });
    }
  });

  it('caps the delay at the maximum', async () => {
    const { jobId } = await receivedJob('issues', repo, (p) => p.action === 'opened');
    await t.query('update public.background_jobs set retry_count = 10, max_retries = 20 where id = $1', [jobId]);
    const worker = newWorker();
    await claimJobs(t.db, { worker, limit: 1, leaseSeconds: 60 });
    const before = await dbNow(t.query);
    const row = await failJob(t.db, { jobId, worker, error: 'x', retryable: true, baseDelaySeconds: 10, maxDelaySeconds: 30 });
    const after = await dbNow(t.query);
    // Uncapped this would be 10·2^10 s; capped it is within [15, 30] s.
    expect(ms(row!.run_at)).toBeGreaterThanOrEqual(before + 15_000 - 1);
    expect(ms(row!.run_at)).toBeLessThanOrEqual(after + 30_000 + 1);
  });

  it('after max_retries the job is dead-lettered; replay by id re-queues it, replay without arguments does nothing', async () => {
    const h = harness(t.db, { env: { JOB_MAX_RETRIES: '2' } });
    const payload = payloadFor('issues', repo, (p) => p.action === 'opened');
    const { body } = await h.receive(await signedRequest({ event: 'issues', payload }));
    const jobId = String(body.jobId);
    expect((await jobRow(t.query, jobId)).max_retries).toBe(2);

    const worker = newWorker();
    const statuses: unknown[] = [];
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      await makeDue(jobId);
      expect(await claimJobs(t.db, { worker, limit: 1, leaseSeconds: 60 })).toHaveLength(1);
      const row = await failJob(t.db, {
        jobId,
        worker,
        error: `boom ${attempt}`,
        retryable: true,
        baseDelaySeconds: 10,
        maxDelaySeconds: 3600,
      });
      statuses.push([row?.status, row?.retry_count]);
    }
    expect(statuses).toEqual([['queued', 1], ['queued', 2], ['failed', 3]]);
    const dead = await jobRow(t.query, jobId);
    expect(dead).toMatchObject({ status: 'failed', retry_count: 3, error: 'boom 3', locked_by: null });
    expect(dead.failed_at).not.toBeNull();
    // A dead letter is never claimed again on its own.
    await makeDue(jobId);
    expect(await claimJobs(t.db, { worker: newWorker(), limit: 10, leaseSeconds: 60 })).toEqual([]);

    expect(await t.db.call('replay_webhook_jobs', {})).toEqual([]);
    expect((await jobRow(t.query, jobId)).status).toBe('failed');

    const replayed = await t.db.call<{ id: string; type: string; previous_error: string; failed_at: unknown }>(
      'replay_webhook_jobs',
      { p_job_id: jobId },
    );
    expect(replayed).toEqual([
      { id: jobId, type: 'webhook/issues', previous_error: 'boom 3', failed_at: expect.anything() },
    ]);
    const back = await jobRow(t.query, jobId);
    expect(back).toMatchObject({ status: 'queued', retry_count: 0, failed_at: null, error: null });
    expect(ms(back.run_at)).toBeLessThanOrEqual(await dbNow(t.query));

    // And the drain now runs it to completion.
    const summary = await runDrain({ db: t.db, sender: stubSender() }, { jobId });
    expect(summary).toMatchObject({ claimed: 1, completed: 1 });
    expect((await jobRow(t.query, jobId)).status).toBe('completed');
  });

  it('a non-retryable failure is dead-lettered at once, whatever the retry budget', async () => {
    const { jobId } = await receivedJob('issues', repo, (p) => p.action === 'opened');
    const worker = newWorker();
    await claimJobs(t.db, { worker, limit: 1, leaseSeconds: 60 });
    const row = await failJob(t.db, { jobId, worker, error: 'never', retryable: false, baseDelaySeconds: 10, maxDelaySeconds: 60 });
    expect(row).toMatchObject({ status: 'failed', retry_count: 1 });
  });
});

describe('drain: malformed jobs', () => {
  it.each([
    ['payload.event missing', (p: any) => ({ ...p, event: undefined }), 'webhook/issues'],
    ['type and event disagree', (p: any) => p, 'webhook/push'],
    ['unsupported event', (p: any) => ({ ...p, event: 'deployment' }), 'webhook/deployment'],
    ['data is not an object', (p: any) => ({ ...p, data: 'x' }), 'webhook/issues'],
    ['no delivery id', (p: any) => ({ ...p, delivery_id: undefined, delivery_ids: [] }), 'webhook/issues'],
  ])('%s: failed at once, retry_count 1, never retried', async (_name, spoil, type) => {
    const { jobId } = await receivedJob('issues', repo, (p) => p.action === 'opened');
    const payload = (await jobRow(t.query, jobId)).payload;
    await t.query('update public.background_jobs set type = $2, payload = $3 where id = $1', [
      jobId,
      type,
      JSON.parse(JSON.stringify(spoil(payload))),
    ]);
    const sink = logSink();
    // No backoff: a retryable failure would be claimed again within this same drain.
    const settings = drainSettings({ retryBaseDelaySeconds: 0 });
    const summary = await runDrain({ db: t.db, sender: stubSender(), settings, log: sink.log });
    expect(summary).toMatchObject({ claimed: 1, failed: 1, retried: 0, completed: 0 });
    const row = await jobRow(t.query, jobId);
    expect(row).toMatchObject({ status: 'failed', retry_count: 1, locked_by: null });
    expect(row.failed_at).not.toBeNull();
    expect(row.error).toMatch(/malformed/);
    expect(sink.jobs()).toEqual([expect.objectContaining({ jobId, outcome: 'failed' })]);
  });
});

describe('drain: Inngest send failures', () => {
  it('an Inngest outage defers the job without spending a retry, and never dead-letters it', async () => {
    const { jobId } = await receivedJob('pull_request', repo, (p) => p.action === 'opened');
    const sender = failingSender();
    const summary = await runDrain({ db: t.db, sender });
    expect(summary).toMatchObject({ claimed: 1, deferred: 1, retried: 0, failed: 0, completed: 0, scheduled: 1, remaining: 0 });
    expect(sender.calls).toHaveLength(1);
    const row = await jobRow(t.query, jobId);
    expect(row).toMatchObject({ status: 'queued', retry_count: 0, locked_by: null, failed_at: null });
    expect(row.error).toMatch(/^Inngest unavailable: inngest send/);
    expect(ms(row.run_at)).toBeGreaterThan(await dbNow(t.query));
    expect(row.result).toMatchObject({ succeededWorkspaceIds: [], failedWorkspaceIds: repo.workspaceIds });
  });

  it('a partial fan-out failure records which workspaces are done; the next run sends everything again', async () => {
    const big = await repoIn(t.query, 150, 'retry-partial');
    const { jobId, delivery } = await receivedJob('pull_request', big, (p) => p.action === 'opened');
    // Two batches (100 + 50 events); only the second one fails.
    const sender = stubSender((_batch, call) => call === 2);
    const summary = await runDrain({ db: t.db, sender, settings: drainSettings({ fanoutConcurrency: 1 }) });
    expect(summary).toMatchObject({ claimed: 1, deferred: 1 });
    expect(sender.calls.map((c) => c.length)).toEqual([100, 50]);

    const row = await jobRow(t.query, jobId);
    expect(row).toMatchObject({ status: 'queued', retry_count: 0 });
    const first = big.workspaceIds.slice(0, 100);
    const second = big.workspaceIds.slice(100);
    expect([...row.result.succeededWorkspaceIds].sort()).toEqual(first);
    expect([...row.result.failedWorkspaceIds].sort()).toEqual(second);
    expect(row.result).toMatchObject({ workspaces: 150, deliveryIds: [delivery], cachesInvalidated: 150, eventsSent: 100 });
    // The first batch's events really were those workspaces'.
    expect(sender.sent.map((e) => e.data.workspaceId).sort()).toEqual(first);

    // The retry re-sends all 150 with the same ids; Inngest drops the 100 it has.
    await makeDue(jobId);
    const retry = stubSender();
    expect(await runDrain({ db: t.db, sender: retry })).toMatchObject({ claimed: 1, completed: 1 });
    expect(retry.sent).toHaveLength(150);
    const firstIds = new Set(sender.sent.map((e) => e.id));
    expect(retry.sent.filter((e) => firstIds.has(e.id))).toHaveLength(100);
    const done = await jobRow(t.query, jobId);
    expect(done).toMatchObject({ status: 'completed', retry_count: 0, error: null });
    expect(done.result).toMatchObject({ workspaces: 150, eventsSent: 150 });
  });

  it('a crash (unexpected error) is a retryable failure, not a stuck job', async () => {
    const { jobId } = await receivedJob('pull_request', repo, (p) => p.action === 'opened');
    const sender = stubSender();
    const db = {
      call: async <Row,>(fn: Parameters<typeof t.db.call>[0], args: Parameters<typeof t.db.call>[1]): Promise<Row[]> => {
        if (fn === 'webhook_affected_workspaces') throw new Error('unexpected');
        return t.db.call<Row>(fn, args);
      },
    };
    const summary = await runDrain({ db, sender });
    expect(summary).toMatchObject({ claimed: 1, retried: 1 });
    const row = await jobRow(t.query, jobId);
    expect(row).toMatchObject({ status: 'queued', retry_count: 1, error: 'unexpected' });
  });
});
