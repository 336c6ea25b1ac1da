import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimJobs } from '../../../src/shared/drain/jobs.ts';
import {
  completeJob,
  drainSettings,
  failJob,
  insertJobs,
  jobRow,
  repoIn,
  runDrain,
  spyDatabase,
  type TestRepo,
} from '../../helpers/drain.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.ts';

let t: TestDatabase;
let repo: TestRepo;

beforeAll(async () => {
  t = await createTestDatabase();
  repo = await repoIn(t.query, 2, 'timeout');
});
afterAll(async () => {
  await t?.close();
});

describe('a job that outlives its timeout', () => {
  it('is put back (it was waiting on Inngest: an outage, no retry spent), claimed again by a later round under a new lease owner, and completed', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1, event: 'repository', action: 'edited' });
    const db = spyDatabase(t.db);
    let sends = 0;
    const sender = {
      send: async () => {
        sends += 1;
        if (sends === 1) await new Promise((r) => setTimeout(r, 1_000)); // past the job timeout
      },
    };
    const summary = await runDrain({
      db,
      sender,
      settings: drainSettings({ jobTimeoutMs: 300, retryBaseDelaySeconds: 0, retryMaxDelaySeconds: 0, batchSize: 1, concurrency: 1 }),
    });
    expect(summary).toMatchObject({ claimed: 2, deferred: 1, completed: 1 });
    expect(await jobRow(t.query, id as string)).toMatchObject({ status: 'completed', retry_count: 0 });
    // Each claim leased under its own owner, so an outcome of the first run that arrived late could
    // not land (the drain no longer tries one: a timed-out run's result is dropped; the SQL side is
    // the next test).
    const owners = db.claims().map((c) => c.owner);
    expect(new Set(owners).size).toBe(owners.length);
    // The two claims that took the job (alone or with the settle of the round before).
    expect(db.claims().filter((c) => c.jobs.some((j) => j.id === id))).toHaveLength(2);
  });

  it('a completion by a previous lease owner of the same drain is refused', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1, event: 'issues', action: 'opened' });
    await claimJobs(t.db, { worker: 'drain-x#1', limit: 1, leaseSeconds: 60, jobId: id as string });
    await failJob(t.db, { jobId: id as string, worker: 'drain-x#1', error: 'timed out', retryable: true, baseDelaySeconds: 0, maxDelaySeconds: 0 });
    await claimJobs(t.db, { worker: 'drain-x#2', limit: 1, leaseSeconds: 60, jobId: id as string });
    expect(await completeJob(t.db, id as string, 'drain-x#1', { late: true })).toBe(false);
    expect(await completeJob(t.db, id as string, 'drain-x#2', { ok: true })).toBe(true);
    expect(await jobRow(t.query, id as string)).toMatchObject({ status: 'completed', result: { ok: true } });
  });
});
