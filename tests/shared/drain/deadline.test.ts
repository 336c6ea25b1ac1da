import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  drainSettings,
  insertJobs,
  jobRow,
  logSink,
  repoIn,
  resetQueue,
  runDrain,
  spyDatabase,
  statusCounts,
  stubSender,
  type TestRepo,
} from '../../helpers/drain.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.ts';

let t: TestDatabase;
let repo: TestRepo;

beforeAll(async () => {
  t = await createTestDatabase();
  repo = await repoIn(t.query, 1, 'deadline');
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await resetQueue(t.query);
});

/** 20 jobs that each send one event, so the sender sees every job once. */
async function twentyJobs(): Promise<string[]> {
  return insertJobs(t.query, { repo, count: 20, event: 'repository', action: 'edited' });
}

function claimLimits(db: ReturnType<typeof spyDatabase>): number[] {
  return db.claims().map((c) => c.limit);
}

describe('the drain budget', () => {
  it('stops claiming when the time left could not finish another job', async () => {
    await twentyJobs();
    let clock = 1_000_000;
    // Each job takes 20 s of (fake) time.
    const sender = stubSender();
    const advancing = {
      async send(events: Parameters<typeof sender.send>[0]) {
        await sender.send(events);
        clock += 20_000;
      },
    };
    const db = spyDatabase(t.db);
    const sink = logSink();
    const summary = await runDrain({
      db,
      sender: advancing,
      now: () => clock,
      log: sink.log,
      settings: drainSettings({ budgetMs: 100_000, jobTimeoutMs: 30_000, concurrency: 1, batchSize: 10 }),
    });

    // 100 s left → 3 rounds of 30 s → 3 jobs (60 s used); 40 s left → 1 job; 20 s left → none.
    expect(claimLimits(db)).toEqual([3, 1]);
    expect(summary).toMatchObject({
      claimed: 4,
      completed: 4,
      retried: 0,
      failed: 0,
      lost: 0,
      stoppedForDeadline: true,
      remaining: 16,
      scheduled: 0,
      elapsedMs: 80_000,
    });
    expect(sender.calls).toHaveLength(4);
    expect(sink.jobs().map((e) => e.outcome)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(await statusCounts(t.query)).toEqual({ completed: 4, queued: 16 });
  });

  it('claims nothing when the budget is smaller than one job timeout', async () => {
    await twentyJobs();
    const db = spyDatabase(t.db);
    const summary = await runDrain({
      db,
      sender: stubSender(),
      now: () => 0,
      settings: drainSettings({ budgetMs: 29_999, jobTimeoutMs: 30_000 }),
    });
    expect(claimLimits(db)).toEqual([]);
    expect(summary).toMatchObject({ claimed: 0, stoppedForDeadline: true, remaining: 20 });
  });

  it('with time to spare drains the queue and says it was not the deadline', async () => {
    await twentyJobs();
    const db = spyDatabase(t.db);
    const summary = await runDrain({
      db,
      sender: stubSender(),
      now: () => 0,
      settings: drainSettings({ budgetMs: 100_000, jobTimeoutMs: 30_000, concurrency: 3, batchSize: 10 }),
    });
    // 3 rounds × 3 in parallel = 9 per claim, then an empty claim ends the drain.
    expect(claimLimits(db)).toEqual([9, 9, 9, 9]);
    expect(db.claims().map((c) => c.jobs.length)).toEqual([9, 9, 2, 0]);
    expect(summary).toMatchObject({ claimed: 20, completed: 20, stoppedForDeadline: false, remaining: 0 });
    expect(await statusCounts(t.query)).toEqual({ completed: 20 });
  });

  // An hour of budget, jobs of up to 30 s, 2 at a time: the lease decides. A tenth of it (at most
  // 10 s) is kept for completing the round, so 70 s (63 usable) covers 2 rounds of 30 s: claims of
  // 2 × 2; 60 s (54 usable) covers only 1: claims of 2. The last claim of each run finds nothing.
  it.each([
    { leaseSeconds: 70, limits: [4, 4, 4, 4, 4, 4] },
    { leaseSeconds: 60, limits: Array(11).fill(2) },
  ])('never claims more than a $leaseSeconds s lease can cover, however long the budget', async ({ leaseSeconds, limits }) => {
    await twentyJobs();
    const db = spyDatabase(t.db);
    const summary = await runDrain({
      db,
      sender: stubSender(),
      now: () => 0,
      settings: drainSettings({ budgetMs: 3_600_000, jobTimeoutMs: 30_000, leaseSeconds, concurrency: 2, batchSize: 100 }),
    });
    expect(claimLimits(db)).toEqual(limits);
    expect(summary).toMatchObject({ claimed: 20, completed: 20 });
  });

  it('a job that exceeds the job timeout (not while sending to Inngest) still gets an outcome: a retryable failure', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1, event: 'repository', action: 'edited' });
    // The job's own workspace lookup hangs; a hang while sending is Inngest's (circuit.test.ts).
    const hanging: typeof t.db = {
      call: (fn, args) => (fn === 'webhook_affected_workspaces' ? new Promise(() => {}) : t.db.call(fn, args)),
    };
    const sink = logSink();
    const summary = await runDrain({
      db: hanging,
      sender: stubSender(),
      log: sink.log,
      settings: drainSettings({ budgetMs: 5_000, jobTimeoutMs: 200, leaseSeconds: 60 }),
    });
    expect(summary).toMatchObject({ claimed: 1, retried: 1, completed: 0 });
    const row = await jobRow(t.query, id!);
    expect(row).toMatchObject({ status: 'queued', retry_count: 1, locked_by: null });
    expect(row.error).toMatch(/exceeded the 200 ms job timeout/);
    expect(sink.jobs()).toEqual([expect.objectContaining({ jobId: id, outcome: 'retried' })]);
  });

  it('stops at DRAIN_MAX_JOBS (Supabase\'s CPU budget per request) and hands the rest to a new drain', async () => {
    await insertJobs(t.query, { repo, count: 7, event: 'issues' });
    const db = spyDatabase(t.db);
    let handOvers = 0;
    const summary = await runDrain({
      db,
      sender: stubSender(),
      settings: drainSettings({ maxJobs: 3, batchSize: 2 }),
      handOver: async () => void (handOvers += 1),
    });
    expect(summary).toMatchObject({ claimed: 3, completed: 3, handedOver: true, remaining: 4, stoppedForDeadline: false });
    expect(claimLimits(db)).toEqual([2, 1]);
    expect(handOvers).toBe(1);
    // The next drain takes the rest; nothing left, nothing handed over.
    const next = await runDrain({ db: t.db, sender: stubSender(), settings: drainSettings({ maxJobs: 10 }), handOver: async () => void (handOvers += 1) });
    expect(next).toMatchObject({ claimed: 4, handedOver: false, remaining: 0 });
    expect(handOvers).toBe(1);
  });

  it('hands nothing over when the jobs ran out exactly at the limit', async () => {
    await insertJobs(t.query, { repo, count: 3, event: 'issues' });
    let handOvers = 0;
    const summary = await runDrain({ db: t.db, sender: stubSender(), settings: drainSettings({ maxJobs: 3 }), handOver: async () => void (handOvers += 1) });
    expect(summary).toMatchObject({ claimed: 3, remaining: 0, handedOver: false });
    expect(handOvers).toBe(0);
  });
});
