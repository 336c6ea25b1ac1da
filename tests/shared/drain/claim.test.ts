import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../../../src/shared/db/postgres.ts';
import { drain } from '../../../src/shared/drain/drain.ts';
import { claimJobs, settleJobs, type JobReport } from '../../../src/shared/drain/jobs.ts';
import {
  completeJob,
  completeJobs,
  deferJob,
  drainSettings,
  failJob,
  insertJobs,
  jobRow,
  logSink,
  newWorker,
  repoIn,
  resetQueue,
  runDrain,
  settlesRound,
  spyDatabase,
  statusCounts,
  stubSender,
  type TestRepo,
} from '../../helpers/drain.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../../helpers/test-db.ts';

let t: TestDatabase;
let repo: TestRepo;

beforeAll(async () => {
  t = await createTestDatabase();
  repo = await repoIn(t.query, 1, 'claim');
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await resetQueue(t.query);
});

const lease = { leaseSeconds: 60 };

describe('concurrent drains', () => {
  reportSkip('4 concurrent drains over 1,000 jobs');
  it.skipIf(!onPostgres)('4 drains over 1,000 jobs complete every job exactly once', async () => {
    const ids = await insertJobs(t.query, { repo, count: 1000, event: 'issues' });
    expect(new Set(ids).size).toBe(1000);

    // Four pools, as four Edge Function invocations would have: no connection is shared.
    const pools = Array.from({ length: 4 }, () => createPostgresDatabase(t.url as string, { max: 4 }));
    const sinks = pools.map(() => logSink());
    const settings = drainSettings({ batchSize: 50, concurrency: 4 });
    try {
      const summaries = await Promise.all(
        pools.map((db, i) => drain({ db, sender: stubSender(), settings, worker: `drain-${i}`, log: sinks[i]!.log })),
      );

      const handled = sinks.flatMap((s) => s.jobs());
      const handledIds = handled.map((e) => String(e.jobId));
      expect(handledIds).toHaveLength(1000);
      expect(new Set(handledIds).size).toBe(1000);
      expect(new Set(handledIds)).toEqual(new Set(ids));
      expect(handled.every((e) => e.outcome === 'completed')).toBe(true);
      // Every drain took part: the claims really ran side by side.
      for (const sink of sinks) expect(sink.jobs().length).toBeGreaterThan(0);
      expect(summaries.reduce((n, s) => n + s.claimed, 0)).toBe(1000);
      expect(summaries.reduce((n, s) => n + s.completed, 0)).toBe(1000);
      expect(summaries.every((s) => s.lost === 0 && s.failed === 0 && s.retried === 0)).toBe(true);

      const [row] = await t.query(
        `select count(*) filter (where status = 'completed' and completed_at is not null and locked_by is null)::int as done,
                count(*) filter (where retry_count <> 0)::int as retried,
                count(*)::int as total
         from public.background_jobs`,
        [],
      );
      expect(row).toEqual({ done: 1000, retried: 0, total: 1000 });
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });
});

describe('claim order', () => {
  it('claims by priority, then run_at; a job due in the future is not claimed', async () => {
    const [lowOld] = await insertJobs(t.query, { repo, count: 1, priority: 30, runAtOffsetSeconds: -600 });
    const [highNewer] = await insertJobs(t.query, { repo, count: 1, priority: 10, runAtOffsetSeconds: -60 });
    const [highOlder] = await insertJobs(t.query, { repo, count: 1, priority: 10, runAtOffsetSeconds: -300 });
    const [future] = await insertJobs(t.query, { repo, count: 1, priority: 1, runAtOffsetSeconds: 3600 });

    const worker = newWorker();
    const order: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const claimed = await claimJobs(t.db, { worker, limit: 1, ...lease });
      order.push(...claimed.map((j) => j.id));
    }
    expect(order).toEqual([highOlder, highNewer, lowOld]);
    expect(await jobRow(t.query, future!)).toMatchObject({ status: 'queued', locked_by: null });
    for (const id of order) {
      expect(await jobRow(t.query, id)).toMatchObject({ status: 'processing', locked_by: worker });
    }
  });

  it('a limit takes the first jobs in that order', async () => {
    const low = await insertJobs(t.query, { repo, count: 3, priority: 30 });
    const high = await insertJobs(t.query, { repo, count: 2, priority: 10 });
    const claimed = await claimJobs(t.db, { worker: newWorker(), limit: 2, ...lease });
    expect(new Set(claimed.map((j) => j.id))).toEqual(new Set(high));
    expect((await statusCounts(t.query)).queued).toBe(low.length);
  });

  it('{jobId} claims only that job, and only while it is claimable', async () => {
    const ids = await insertJobs(t.query, { repo, count: 3, priority: 10 });
    const [future] = await insertJobs(t.query, { repo, count: 1, priority: 10, runAtOffsetSeconds: 3600 });
    const target = ids[2]!;
    const worker = newWorker();

    const claimed = await claimJobs(t.db, { worker, limit: 10, jobId: target, ...lease });
    expect(claimed.map((j) => j.id)).toEqual([target]);
    expect(await statusCounts(t.query)).toEqual({ processing: 1, queued: 3 });

    // Already held, or not due yet: nothing.
    expect(await claimJobs(t.db, { worker: newWorker(), limit: 10, jobId: target, ...lease })).toEqual([]);
    expect(await claimJobs(t.db, { worker: newWorker(), limit: 10, jobId: future!, ...lease })).toEqual([]);
  });

  it('drain({jobId}) runs that job and leaves the others queued', async () => {
    const ids = await insertJobs(t.query, { repo, count: 3 });
    const summary = await runDrain({ db: t.db, sender: stubSender() }, { jobId: ids[1]! });
    expect(summary).toMatchObject({ claimed: 1, completed: 1, remaining: 2 });
    expect((await jobRow(t.query, ids[1]!)).status).toBe('completed');
    expect((await jobRow(t.query, ids[0]!)).status).toBe('queued');
    expect((await jobRow(t.query, ids[2]!)).status).toBe('queued');
  });
});

describe('leases', () => {
  it('an expired lease is claimed by another worker as a new attempt; the late worker is refused', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1 });
    const late = newWorker('late');
    const next = newWorker('next');
    expect((await claimJobs(t.db, { worker: late, limit: 1, ...lease })).map((j) => j.id)).toEqual([id]);
    // While the lease holds nobody else gets it.
    expect(await claimJobs(t.db, { worker: next, limit: 1, ...lease })).toEqual([]);

    await t.query(`update public.background_jobs set locked_until = now() - interval '1 second' where id = $1`, [id]);
    const reclaimed = await claimJobs(t.db, { worker: next, limit: 1, ...lease });
    expect(reclaimed.map((j) => j.id)).toEqual([id]);
    const row = await jobRow(t.query, id!);
    expect(row).toMatchObject({ status: 'processing', locked_by: next, retry_count: 1 });
    expect(row.error).toMatch(/lease expired/);
    expect(row.error).toContain(late);
    expect(reclaimed[0]!.retry_count).toBe(1);

    // The late worker's outcomes are refused: the job is not its to finish.
    expect(await completeJob(t.db, id!, late, { late: true })).toBe(false);
    const refused = await failJob(t.db, {
      jobId: id!,
      worker: late,
      error: 'late failure',
      retryable: true,
      baseDelaySeconds: 10,
      maxDelaySeconds: 3600,
    });
    expect(refused).toBeNull();
    expect(await deferJob(t.db, id!, late, new Date(Date.now() + 60_000), 'late defer')).toBe(false);
    expect(await jobRow(t.query, id!)).toMatchObject({ status: 'processing', locked_by: next, retry_count: 1, result: null });

    expect(await completeJob(t.db, id!, next, { ok: true })).toBe(true);
    expect(await jobRow(t.query, id!)).toMatchObject({ status: 'completed', result: { ok: true }, locked_by: null });
  });

  it('an expired lease with no retries left goes to the dead letter instead of running again', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1, maxRetries: 0 });
    await claimJobs(t.db, { worker: newWorker(), limit: 1, ...lease });
    await t.query(`update public.background_jobs set locked_until = now() - interval '1 second' where id = $1`, [id]);
    expect(await claimJobs(t.db, { worker: newWorker(), limit: 1, ...lease })).toEqual([]);
    const row = await jobRow(t.query, id!);
    expect(row).toMatchObject({ status: 'failed', retry_count: 1, locked_by: null });
    expect(row.failed_at).not.toBeNull();
    expect(row.error).toMatch(/lease expired/);
  });

  it('a drain counts a job whose outcome another worker took over as lost', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1 });
    const worker = newWorker();
    const sink = logSink();
    // The sender is not called for issues; take the lease away while the job is running instead.
    const db = {
      async call<Row>(fn: Parameters<typeof t.db.call>[0], args: Parameters<typeof t.db.call>[1]): Promise<Row[]> {
        if (settlesRound(fn, args)) {
          await t.query(`update public.background_jobs set locked_by = 'thief' where id = $1`, [id]);
        }
        return t.db.call<Row>(fn, args);
      },
    };
    const summary = await drain({ db, sender: stubSender(), settings: drainSettings(), worker, log: sink.log });
    expect(summary).toMatchObject({ claimed: 1, completed: 0, lost: 1 });
    expect(sink.jobs()).toEqual([expect.objectContaining({ jobId: id, outcome: 'lost' })]);
    expect(await jobRow(t.query, id!)).toMatchObject({ status: 'processing', locked_by: 'thief' });
  });
});

describe('findings of the hardening review', () => {
  it('a claim without a lease is refused: its job would never expire', async () => {
    await insertJobs(t.query, { repo, count: 1 });
    for (const lease of ['null', '0', '-5']) {
      const error = await t.query(`select * from claim_webhook_jobs('w', 1, ${lease})`, []).then(() => null, (e: { code?: string; message: string }) => e);
      expect(error?.code, lease).toBe('22023');
      expect(error?.message).toMatch(/p_lease_seconds/);
    }
    expect(await statusCounts(t.query)).toEqual({ queued: 1 });
  });

  it('a malformed job whose lease another drain took is lost to this drain, not counted as failed', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1 });
    await t.query(`update public.background_jobs set payload = payload - 'data' where id = $1`, [id]);
    const db = {
      async call<Row>(fn: Parameters<typeof t.db.call>[0], args: Parameters<typeof t.db.call>[1]): Promise<Row[]> {
        if (settlesRound(fn, args)) await t.query(`update public.background_jobs set locked_by = 'thief' where id = $1`, [id]);
        return t.db.call<Row>(fn, args);
      },
    };
    const summary = await runDrain({ db, sender: stubSender() });
    expect(summary).toMatchObject({ claimed: 1, failed: 0, lost: 1 });
    expect(await jobRow(t.query, id!)).toMatchObject({ status: 'processing', locked_by: 'thief', retry_count: 0 });
  });

  it('a replay starts a clean run: no old result, completion time or duration, and a failed replay shows no old success', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1 });
    await t.query(`update public.background_jobs set payload = payload || '{"delivery_id": "replay-clean-1"}' where id = $1`, [id]);
    await t.query(
      `insert into public.webhook_deliveries (delivery_id, event, route, status_code, job_id) values ('replay-clean-1', 'issues', 'queued', 202, $1)`,
      [id],
    );
    const worker = newWorker();
    await claimJobs(t.db, { worker, limit: 1, ...lease });
    expect(await completeJob(t.db, id!, worker, { first: 'success' })).toBe(true);
    const [replayed] = await t.db.call<{ replayed: boolean }>('replay_webhook_delivery', { p_delivery_id: 'replay-clean-1' });
    expect(replayed?.replayed).toBe(true);
    expect(await jobRow(t.query, id!)).toMatchObject({ status: 'queued', result: null, completed_at: null, duration_ms: null, started_at: null });
    const again = newWorker();
    await claimJobs(t.db, { worker: again, limit: 1, ...lease });
    await failJob(t.db, { jobId: id!, worker: again, error: 'second run failed', retryable: false });
    expect(await jobRow(t.query, id!)).toMatchObject({ status: 'failed', result: null, error: 'second run failed', completed_at: null });
    // And a dead letter replayed by id starts clean too.
    await t.db.call('replay_webhook_jobs', { p_job_id: id });
    expect(await jobRow(t.query, id!)).toMatchObject({ status: 'queued', failed_at: null, error: null, result: null, duration_ms: null });
  });
});

describe('completing a round', () => {
  it('completes only the jobs this worker still holds, each with its own result', async () => {
    const [mine1, mine2, theirs, queued, done] = await insertJobs(t.query, { repo, count: 5 });
    const worker = newWorker();
    const other = newWorker('other');
    await claimJobs(t.db, { worker, limit: 1, jobId: mine1!, ...lease });
    await claimJobs(t.db, { worker, limit: 1, jobId: mine2!, ...lease });
    await claimJobs(t.db, { worker: other, limit: 1, jobId: theirs!, ...lease });
    await claimJobs(t.db, { worker, limit: 1, jobId: done!, ...lease });
    expect(await completeJob(t.db, done!, worker, { first: true })).toBe(true);
    const unknown = crypto.randomUUID();

    const completed = await completeJobs(
      t.db,
      worker,
      new Map<string, unknown>([
        [mine1!, { n: 1 }],
        [mine2!, { n: 2 }],
        [theirs!, { n: 3 }],
        [queued!, { n: 4 }],
        [done!, { second: true }],
        [unknown, { n: 6 }],
      ]),
    );

    expect(completed).toEqual(new Set([mine1, mine2]));
    expect(await jobRow(t.query, mine1!)).toMatchObject({ status: 'completed', result: { n: 1 }, locked_by: null, locked_until: null });
    expect(await jobRow(t.query, mine2!)).toMatchObject({ status: 'completed', result: { n: 2 } });
    expect((await jobRow(t.query, mine1!)).completed_at).not.toBeNull();
    expect(await jobRow(t.query, theirs!)).toMatchObject({ status: 'processing', locked_by: other, result: null });
    expect(await jobRow(t.query, queued!)).toMatchObject({ status: 'queued', result: null });
    // Completed once: a second completion neither succeeds nor overwrites the first result.
    expect(await jobRow(t.query, done!)).toMatchObject({ status: 'completed', result: { first: true } });
  });

  it('the one-job complete is the batch of one: a null result is stored as SQL NULL', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1 });
    const worker = newWorker();
    await claimJobs(t.db, { worker, limit: 1, ...lease });
    expect(await completeJob(t.db, id!, worker, null)).toBe(true);
    const [row] = await t.query('select status, result is null as null_result from public.background_jobs where id = $1', [id]);
    expect(row).toEqual({ status: 'completed', null_result: true });
    const [nullId] = await t.query(`select public.complete_webhook_job(null, $1) as held`, [worker]);
    expect(nullId).toEqual({ held: false });
  });

  it('nothing to complete makes no database call', async () => {
    const spy = spyDatabase(t.db);
    expect(await completeJobs(spy, newWorker(), new Map())).toEqual(new Set());
    expect(spy.calls).toEqual([]);
  });

  it('a drain completes each claimed round with one statement, not one per job', async () => {
    await insertJobs(t.query, { repo, count: 7, event: 'issues' });
    const spy = spyDatabase(t.db);
    const summary = await runDrain({ db: spy, sender: stubSender(), settings: drainSettings({ batchSize: 3, concurrency: 2 }) });
    expect(summary).toMatchObject({ claimed: 7, completed: 7, lost: 0 });
    expect(spy.callsTo('complete_webhook_job')).toEqual([]);
    const rounds = spy.settles();
    expect(rounds.map((c) => Object.keys(c.outcomes).length)).toEqual([3, 3, 1]);
    // Each round is completed under the lease owner that claimed it, in the call that claims the
    // next round (the last one, after which nothing is left, too).
    const claims = spy.claims();
    expect(claims.map((c) => c.jobs.length)).toEqual([3, 3, 1, 0]);
    expect(rounds.map((c) => c.owner)).toEqual(claims.slice(0, 3).map((c) => c.owner));
    const queueCalls = spy.calls.map((c) => c.fn).filter((fn) => /^(claim|settle)_webhook_|^webhook_drain_round$/.test(fn));
    expect(queueCalls).toEqual(['claim_webhook_jobs', 'webhook_drain_round', 'webhook_drain_round', 'webhook_drain_round']);
    expect(await statusCounts(t.query)).toEqual({ completed: 7 });
  });

  it('a round whose completion fails once is completed by the next attempt', async () => {
    await insertJobs(t.query, { repo, count: 3, event: 'issues' });
    let refused = 0;
    const db = {
      async call<Row>(fn: Parameters<typeof t.db.call>[0], args: Parameters<typeof t.db.call>[1]): Promise<Row[]> {
        if (settlesRound(fn, args) && refused === 0) {
          refused += 1;
          throw new Error('connection reset');
        }
        return t.db.call<Row>(fn, args);
      },
    };
    expect(await runDrain({ db, sender: stubSender() })).toMatchObject({ claimed: 3, completed: 3, lost: 0 });
    expect(refused).toBe(1);
    expect(await statusCounts(t.query)).toEqual({ completed: 3 });
  });

  it('a round with a success and a malformed job: one outcome each, settled together in one call', async () => {
    const [good] = await insertJobs(t.query, { repo, count: 1, event: 'issues' });
    const [bad] = await insertJobs(t.query, { repo, count: 1, event: 'issues' });
    await t.query(`update public.background_jobs set payload = payload - 'data' where id = $1`, [bad]);
    const spy = spyDatabase(t.db);
    const sink = logSink();
    const summary = await runDrain({ db: spy, sender: stubSender(), log: sink.log });
    expect(summary).toMatchObject({ claimed: 2, completed: 1, failed: 1, lost: 0 });
    expect(new Map(sink.jobs().map((e) => [e.jobId, e.outcome]))).toEqual(
      new Map([
        [good, 'completed'],
        [bad, 'failed'],
      ]),
    );
    expect(sink.jobs()).toHaveLength(2);
    const settles = spy.settles().map((c) => c.outcomes);
    expect(settles).toHaveLength(1);
    expect(Object.fromEntries(Object.entries(settles[0]!).map(([id, o]) => [id, o.kind]))).toEqual({ [good!]: 'succeeded', [bad!]: 'failed' });
    expect(await jobRow(t.query, bad!)).toMatchObject({ status: 'failed' });
  });

  reportSkip('a round complete waiting on a row lock');
  it.skipIf(!onPostgres)('waits for a row another transaction holds and re-checks the owner after it commits', async () => {
    const [kept, taken] = await insertJobs(t.query, { repo, count: 2 });
    const worker = newWorker();
    await claimJobs(t.db, { worker, limit: 2, ...lease });
    const other = createPostgresDatabase(t.url as string, { max: 1 });
    const sql = (await import('postgres')).default(t.url as string, { max: 1, onnotice: () => {} });
    try {
      let completing: Promise<Set<string>> | null = null;
      await sql.begin(async (tx) => {
        // Another drain takes `taken` over (its lease expired) and has not committed yet.
        await tx`update public.background_jobs set locked_by = 'thief', retry_count = retry_count + 1 where id = ${taken!}`;
        completing = completeJobs(other, worker, new Map([[kept!, { n: 1 }], [taken!, { n: 2 }]]));
        // The round complete is blocked on the row lock, not finished.
        const state = await Promise.race([completing.then(() => 'done'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
        expect(state).toBe('waiting');
      });
      expect(await completing).toEqual(new Set([kept]));
      expect(await jobRow(t.query, taken!)).toMatchObject({ status: 'processing', locked_by: 'thief', result: null });
      expect(await jobRow(t.query, kept!)).toMatchObject({ status: 'completed', result: { n: 1 } });
    } finally {
      await other.close();
      await sql.end({ timeout: 5 });
    }
  });

  it('when the round cannot be completed its jobs are lost to this drain, keep their leases and run again later', async () => {
    const ids = await insertJobs(t.query, { repo, count: 2, event: 'issues' });
    const sink = logSink();
    const db = {
      async call<Row>(fn: Parameters<typeof t.db.call>[0], args: Parameters<typeof t.db.call>[1]): Promise<Row[]> {
        if (settlesRound(fn, args)) throw new Error('connection reset');
        return t.db.call<Row>(fn, args);
      },
    };
    const summary = await runDrain({ db, sender: stubSender(), log: sink.log });
    expect(summary).toMatchObject({ claimed: 2, completed: 0, lost: 2 });
    expect(sink.jobs().map((e) => [e.outcome, e.error])).toEqual([
      ['lost', 'connection reset'],
      ['lost', 'connection reset'],
    ]);
    expect(await statusCounts(t.query)).toEqual({ processing: 2 });

    await t.query(`update public.background_jobs set locked_until = now() - interval '1 second'`, []);
    expect(await runDrain({ db: t.db, sender: stubSender() })).toMatchObject({ claimed: 2, completed: 2 });
    for (const id of ids) expect(await jobRow(t.query, id)).toMatchObject({ status: 'completed', retry_count: 1 });
  });
});

describe("a round's cost", () => {
  const succeeded = (n: number): JobReport => ({ kind: 'succeeded', result: { n }, sent: 0 });

  it('the drain reads back only the jobs that did not complete; settle_webhook_jobs still answers for each', async () => {
    const [done, retried, taken] = await insertJobs(t.query, { repo, count: 3 });
    const worker = newWorker();
    for (const id of [done, retried, taken]) await claimJobs(t.db, { worker, limit: 1, jobId: id!, ...lease });
    await t.query(`update public.background_jobs set locked_by = 'thief' where id = $1`, [taken]);
    const outcomes = {
      [done!]: succeeded(1),
      [retried!]: { kind: 'failed', error: 'boom', retryable: true },
      [taken!]: succeeded(3),
    };
    const rows = await t.query('select id, outcome from public.settle_webhook_round($1, $2::jsonb)', [worker, outcomes]);
    expect(new Map(rows.map((r) => [r.id, r.outcome]))).toEqual(new Map([[retried, 'retried'], [taken, 'lost']]));
    expect(await jobRow(t.query, done!)).toMatchObject({ status: 'completed', result: { n: 1 } });

    // What drain.ts sees through settleJobs: every job, the completed ones filled in.
    const [a, b] = await insertJobs(t.query, { repo, count: 2 });
    await claimJobs(t.db, { worker, limit: 2, ...lease });
    const reports = new Map<string, JobReport>([
      [a!, succeeded(1)],
      [b!, { kind: 'failed', error: 'no', retryable: false }],
    ]);
    const settled = await settleJobs(t.db, worker, reports, drainSettings());
    expect([...settled.values()].map((s) => [s.id, s.outcome, s.status])).toEqual([
      [a, 'completed', 'completed'],
      [b, 'failed', 'failed'],
    ]);

    // Operators' function: a row for every listed job, completed ones included.
    const [c] = await insertJobs(t.query, { repo, count: 1 });
    await claimJobs(t.db, { worker, limit: 1, ...lease });
    const all = await t.query('select id, outcome, status from public.settle_webhook_jobs($1, $2::jsonb)', [
      worker,
      { [c!]: succeeded(4), [a!]: succeeded(5) },
    ]);
    expect(new Map(all.map((r) => [r.id, [r.outcome, r.status]]))).toEqual(
      new Map([[c, ['completed', 'completed']], [a, ['lost', null]]]),
    );
  });

  it('a round in which every job succeeded writes what the general settle writes; jobs taken back or unknown are lost', async () => {
    // Settled by the one-update path (every outcome succeeded) and by the general statement
    // (settle_webhook_jobs answers for completed jobs too), side by side.
    const [fast1, fast2, taken, general] = await insertJobs(t.query, { repo, count: 4 });
    const worker = newWorker();
    for (const id of [fast1, fast2, taken, general]) await claimJobs(t.db, { worker, limit: 1, jobId: id!, ...lease });
    await t.query(`update public.background_jobs set started_at = now() - interval '2 seconds' where id = any($1::uuid[])`, [
      [fast1, fast2, general],
    ]);
    await t.query(`update public.background_jobs set locked_by = 'thief' where id = $1`, [taken]);
    const unknown = crypto.randomUUID();
    const before = await jobRow(t.query, fast1!);

    const rows = await t.query('select id, outcome, status, run_at, retry_count from public.settle_webhook_round($1, $2::jsonb)', [
      worker,
      { [fast1!]: succeeded(1), [fast2!]: { kind: 'succeeded', result: null, sent: 0 }, [taken!]: succeeded(3), [unknown]: succeeded(4) },
    ]);
    expect(new Map(rows.map((r) => [r.id, r]))).toEqual(
      new Map([
        [taken, { id: taken, outcome: 'lost', status: null, run_at: null, retry_count: null }],
        [unknown, { id: unknown, outcome: 'lost', status: null, run_at: null, retry_count: null }],
      ]),
    );
    await t.query('select * from public.settle_webhook_jobs($1, $2::jsonb)', [worker, { [general!]: succeeded(1) }]);

    const settledColumns = (row: Record<string, any>) => ({
      status: row.status,
      error: row.error,
      retry_count: row.retry_count,
      failed_at: row.failed_at,
      locked_by: row.locked_by,
      locked_until: row.locked_until,
      finished: row.completed_at !== null && row.completed_at >= row.started_at,
      // started 2 s before: the duration is measured from the start, in milliseconds.
      duration: row.duration_ms >= 2000 && row.duration_ms < 60_000,
    });
    const viaFast = await jobRow(t.query, fast1!);
    const viaGeneral = await jobRow(t.query, general!);
    expect(settledColumns(viaFast)).toEqual(settledColumns(viaGeneral));
    expect(settledColumns(viaFast)).toMatchObject({ status: 'completed', error: null, locked_by: null, finished: true, duration: true });
    expect(viaFast.result).toEqual({ n: 1 });
    expect(viaFast.run_at).toEqual(before.run_at);
    expect(await jobRow(t.query, fast2!)).toMatchObject({ status: 'completed', result: null });
    expect(await jobRow(t.query, taken!)).toMatchObject({ status: 'processing', locked_by: 'thief', result: null });

    // Ids written otherwise than the claim returns them go through the general statement: the
    // result is still stored under the job it belongs to.
    const [upper] = await insertJobs(t.query, { repo, count: 1 });
    await claimJobs(t.db, { worker, limit: 1, jobId: upper!, ...lease });
    const none = await t.query('select id from public.settle_webhook_round($1, $2::jsonb)', [worker, { [upper!.toUpperCase()]: succeeded(7) }]);
    expect(none).toEqual([]);
    expect(await jobRow(t.query, upper!)).toMatchObject({ status: 'completed', result: { n: 7 } });

    // An outcome without a kind beside a success is not a success: retried, as the general
    // statement does with an outcome it does not know.
    const [ok, odd] = await insertJobs(t.query, { repo, count: 2 });
    for (const id of [ok, odd]) await claimJobs(t.db, { worker, limit: 1, jobId: id!, ...lease });
    const oddRows = await t.query('select id, outcome from public.settle_webhook_round($1, $2::jsonb)', [
      worker,
      { [ok!]: succeeded(8), [odd!]: {} },
    ]);
    expect(oddRows).toEqual([{ id: odd, outcome: 'retried' }]);
    expect(await jobRow(t.query, ok!)).toMatchObject({ status: 'completed', result: { n: 8 } });
    expect(await jobRow(t.query, odd!)).toMatchObject({ status: 'queued', retry_count: 1, result: null });
  });

  reportSkip("the all-succeeded settle's plan", 'needs auto_explain, a PostgreSQL module');
  it.skipIf(!onPostgres)('a round in which every job succeeded is settled by primary key, whatever the statistics say', async () => {
    // A table the planner knows nothing about (never analysed), as after a bulk load: a join of the
    // outcomes to background_jobs could become a scan of every row on every round.
    await insertJobs(t.query, { repo, count: 10_000 });
    const worker = newWorker();
    const claimed = await claimJobs(t.db, { worker, limit: 50, ...lease });
    const plans: string[] = [];
    const session = postgres(t.url as string, { max: 1, onnotice: (n) => plans.push(String(n.message)) });
    try {
      await session.unsafe(`load 'auto_explain'`);
      await session.unsafe(
        `set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on;
         set auto_explain.log_level = notice; set client_min_messages = notice`,
      );
      const outcomes = Object.fromEntries(claimed.map((j) => [j.id, succeeded(1)]));
      const lost = await session.unsafe('select id from public.settle_webhook_round($1, $2::jsonb)', [worker, outcomes as never]);
      expect(lost).toHaveLength(0);
    } finally {
      await session.end({ timeout: 5 });
    }
    const [update] = plans.filter((p) => p.includes("set status = 'completed'"));
    // An index scan, which visits the ids in order (the lock order the general statement keeps),
    // not a bitmap scan, which visits them in heap order.
    expect(update).toContain('Index Scan using background_jobs_pkey on background_jobs j');
    expect(update).not.toMatch(/Seq Scan on background_jobs|Hash Join/);
    expect(await statusCounts(t.query)).toMatchObject({ completed: 50 });
  });

  it('webhook_drain_round settles a round and claims the next in one transaction', async () => {
    const [done, failed, next] = await insertJobs(t.query, { repo, count: 3 });
    const worker = newWorker();
    await claimJobs(t.db, { worker, limit: 1, jobId: done!, ...lease });
    await claimJobs(t.db, { worker, limit: 1, jobId: failed!, ...lease });
    const outcomes = { [done!]: succeeded(1), [failed!]: { kind: 'failed', error: 'bad payload', retryable: false } };
    const call = (owner: string, leaseSeconds: number, reported: object) =>
      t.query(
        `select id, unfinished from public.webhook_drain_round(p_worker => $1, p_limit => 10, p_lease_seconds => $2,
           p_settle_worker => $3, p_outcomes => $4::jsonb)`,
        [owner, leaseSeconds, worker, reported],
      );

    // A claim the database refuses takes the settle with it: nothing of the call happened.
    await expect(call(newWorker(), 0, outcomes)).rejects.toMatchObject({ code: '22023' });
    expect(await jobRow(t.query, done!)).toMatchObject({ status: 'processing', locked_by: worker });

    const rows = await call('round-2', 60, outcomes);
    // First the outcomes that are not `completed`, then the claimed jobs.
    expect(rows).toEqual([
      { id: null, unfinished: { [failed!]: 'failed' } },
      { id: next, unfinished: null },
    ]);
    expect(await jobRow(t.query, done!)).toMatchObject({ status: 'completed', result: { n: 1 } });
    expect(await jobRow(t.query, failed!)).toMatchObject({ status: 'failed', error: 'bad payload' });
    expect(await jobRow(t.query, next!)).toMatchObject({ status: 'processing', locked_by: 'round-2' });

    // A round that completed entirely adds no row.
    const [last] = await insertJobs(t.query, { repo, count: 1 });
    const settled = await t.query(
      `select id, unfinished from public.webhook_drain_round(p_worker => 'round-3', p_limit => 10, p_lease_seconds => 60,
         p_settle_worker => 'round-2', p_outcomes => $1::jsonb)`,
      [{ [next!]: succeeded(2) }],
    );
    expect(settled).toEqual([{ id: last, unfinished: null }]);
    await expect(
      t.query(`select * from public.webhook_drain_round('w', 1, 60, p_outcomes => $1::jsonb)`, [{ [last!]: succeeded(3) }]),
    ).rejects.toMatchObject({ code: '22023' });
  });

  it('a combined call whose answer is lost: the round is settled anyway, and the jobs it claimed run once their lease expires', async () => {
    const ids = await insertJobs(t.query, { repo, count: 4, event: 'issues' });
    const sink = logSink();
    let dropped = 0;
    const db = {
      async call<Row>(fn: Parameters<typeof t.db.call>[0], args: Parameters<typeof t.db.call>[1]): Promise<Row[]> {
        const rows = await t.db.call<Row>(fn, args);
        // The database did it all; the connection dropped before the answer arrived.
        if (fn === 'webhook_drain_round' && dropped === 0) {
          dropped += 1;
          throw new Error('connection reset');
        }
        return rows;
      },
    };
    const summary = await runDrain({ db, sender: stubSender(), settings: drainSettings({ batchSize: 2 }), log: sink.log });
    // The first round's outcome was written by the lost call: settled again, it finds no lease.
    expect(summary).toMatchObject({ claimed: 2, completed: 0, lost: 2 });
    expect(sink.entries).toContainEqual(
      expect.objectContaining({ msg: 'settle with the next claim failed; settling on its own', error: 'connection reset' }),
    );
    expect(await statusCounts(t.query)).toEqual({ completed: 2, processing: 2 });

    await t.query(`update public.background_jobs set locked_until = now() - interval '1 second' where status = 'processing'`, []);
    expect(await runDrain({ db: t.db, sender: stubSender() })).toMatchObject({ claimed: 2, completed: 2 });
    expect(await statusCounts(t.query)).toEqual({ completed: 4 });
    // Each job ran once to completion; the two the lost call claimed paid an attempt for the wait.
    const rows = await t.query('select id, retry_count from public.background_jobs order by id', []);
    expect(rows.map((r) => r.id)).toEqual([...ids].sort());
    expect(rows.map((r) => Number(r.retry_count)).sort()).toEqual([0, 0, 1, 1]);
  });

  reportSkip("the claim's cached plan", 'needs auto_explain, a PostgreSQL module');
  it.skipIf(!onPostgres)("the claim's plan is cached, not made per call, and finds the claimed rows by primary key", async () => {
    const [config] = await t.query(
      `select proconfig from pg_proc where oid = 'public.claim_webhook_jobs(text, integer, integer, uuid, text, integer)'::regprocedure`,
      [],
    );
    expect(config?.proconfig).toEqual(expect.arrayContaining(['plan_cache_mode=force_generic_plan', 'jit=off']));

    // The generic plan costs `limit p_limit` at a tenth of the table: joined by a hash to a scan
    // of every row, as the claim once was, 10,000 rows make that plan read all of them.
    await insertJobs(t.query, { repo, count: 10_000 });
    await t.query('analyze public.background_jobs', []);
    const plans: string[] = [];
    const session = postgres(t.url as string, { max: 1, onnotice: (n) => plans.push(String(n.message)) });
    try {
      await session.unsafe(`load 'auto_explain'`);
      await session.unsafe(
        `set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on;
         set auto_explain.log_level = notice; set client_min_messages = notice`,
      );
      for (let i = 0; i < 3; i += 1) {
        const claimed = await session.unsafe('select id from public.claim_webhook_jobs($1, 50, 60)', [newWorker()]);
        expect(claimed).toHaveLength(50);
      }
    } finally {
      await session.end({ timeout: 5 });
    }
    const claims = plans.filter((p) => p.includes('set status = \'processing\'') && !p.includes('expired as'));
    expect(claims).toHaveLength(3);
    for (const plan of claims) {
      expect(plan).toContain('Index Scan using background_jobs_pkey on background_jobs j');
      expect(plan).not.toMatch(/Seq Scan on background_jobs|Hash Join/);
      // The generic plan, cached: it does not know the limit (a plan made for this call would
      // estimate the 50 rows asked for).
      const limitRows = /Limit {2}\(cost=[\d.]+ rows=(\d+)/.exec(plan)?.[1];
      expect(limitRows).toBeDefined();
      expect(Number(limitRows)).not.toBe(50);
    }
  });

  it('job ids are time-ordered uuids (version 7): a round of jobs created together sits together in the primary key', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push(...(await insertJobs(t.query, { repo, count: 1 })));
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    expect([...ids].sort()).toEqual(ids);
    const [row] = await t.query(
      `select (extract(epoch from now()) * 1000)::bigint - ('x' || substr(replace($1::text, '-', ''), 1, 12))::bit(48)::bigint as age_ms`,
      [ids[0]],
    );
    expect(Math.abs(Number(row?.age_ms))).toBeLessThan(60_000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Inlined into each insert: a SET clause would make PostgreSQL 15 plan its body on every call
    // (60-80 µs per queued delivery, measured).
    const [fn] = await t.query(
      `select p.proconfig, l.lanname from pg_proc p join pg_language l on l.oid = p.prolang where p.proname = 'webhook_uuid_v7'`,
      [],
    );
    expect(fn).toEqual({ proconfig: null, lanname: 'sql' });
  });
});
