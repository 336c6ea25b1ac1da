import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { releaseDrainMarker } from '../../../src/shared/drain/jobs.ts';
import { payloadFor, signedRequest } from '../../helpers/deliveries.ts';
import { freeDrainMarker, repoIn as repoInQuery } from '../../helpers/drain.ts';
import { harness } from '../../helpers/receive-harness.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../../helpers/test-db.ts';

let t: TestDatabase;
const repoIn = (n: number) => repoInQuery(t.query, n, 'enqueue');

async function jobsFor(fullName: string): Promise<any[]> {
  return t.query('select * from background_jobs where repository = $1 order by created_at', [fullName]);
}


beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});
beforeEach(() => freeDrainMarker(t.query));

describe('lean jobs', () => {
  it('a queued pull request keeps its facts at the GitHub paths, not its 20 KB body', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    const payload = payloadFor('pull_request', repo, (p) => p.action === 'closed');
    payload.pull_request.merged = true;
    const { body } = await h.receive(await signedRequest({ event: 'pull_request', payload }));
    const [job] = await jobsFor(repo.fullName);
    expect(job?.payload).toEqual({
      event: 'pull_request',
      action: 'closed',
      delivery_id: body.delivery,
      delivery_ids: [body.delivery],
      received_at: expect.any(String),
      data: {
        action: 'closed',
        number: payload.number,
        repository: { id: repo.githubId, full_name: repo.fullName },
        sender: { login: payload.sender.login },
        pull_request: { number: payload.number, state: payload.pull_request.state, merged: true, draft: payload.pull_request.draft },
      },
    });
    expect(JSON.stringify(payload).length).toBeGreaterThan(10_000);
    expect(JSON.stringify(job?.payload).length).toBeLessThan(600);
    // The design document's monitoring paths read it.
    const [row] = await t.query(
      `select payload #>> '{data,repository,full_name}' as repository, payload #>> '{data,action}' as action
       from background_jobs where id = $1`,
      [job?.id],
    );
    expect(row).toEqual({ repository: repo.fullName, action: 'closed' });
  });

  it('a queued push keeps ref, before, after, head, pushed_at and its commit count', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    const payload = payloadFor('push', repo, (p) => p.commits.length > 0);
    await h.receive(await signedRequest({ event: 'push', payload }));
    const [job] = await jobsFor(repo.fullName);
    expect(job?.payload.commit_count).toBe(payload.commits.length);
    expect(job?.payload.data).toMatchObject({
      ref: payload.ref,
      before: payload.before,
      after: payload.after,
      head_commit: { id: payload.head_commit.id, timestamp: payload.head_commit.timestamp },
      repository: { id: repo.githubId, full_name: repo.fullName, pushed_at: payload.repository.pushed_at },
    });
    expect(job?.payload.data.commits).toBeUndefined();
  });
});

describe('a queued delivery is written once', () => {
  // Counts the versions each delivery row gets after its insert.
  // One statement per query: PGlite's extended protocol takes no more.
  beforeAll(async () => {
    await t.query('create table delivery_updates (delivery_id text, changed text[])', []);
    await t.query(
      `create function count_delivery_update() returns trigger language plpgsql as $f$
       begin
         insert into delivery_updates values (new.delivery_id,
           array(select n.key from jsonb_each(to_jsonb(new)) n join jsonb_each(to_jsonb(old)) o using (key)
                 where n.value is distinct from o.value order by n.key));
         return new;
       end $f$`,
      [],
    );
    await t.query(
      `create trigger count_delivery_update before update on webhook_deliveries
         for each row execute function count_delivery_update()`,
      [],
    );
  });
  afterAll(async () => {
    await t.query('drop trigger count_delivery_update on webhook_deliveries', []);
    await t.query('drop function count_delivery_update()', []);
    await t.query('drop table delivery_updates', []);
  });
  const updatesOf = async (deliveryId: string) =>
    (await t.query('select changed from delivery_updates where delivery_id = $1', [deliveryId])).map((r) => r.changed);

  it('a pull request and an issue are inserted already linked to their job: no second version of the row', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    for (const event of ['pull_request', 'issues'] as const) {
      const { status, body } = await h.receive(await signedRequest({ event, payload: payloadFor(event, repo) }));
      expect(status).toBe(202);
      const [row] = await t.query('select job_id from webhook_deliveries where delivery_id = $1', [body.delivery]);
      expect(row?.job_id).toBe(body.jobId);
      expect(await updatesOf(body.delivery)).toEqual([]);
    }
  });

  it('a push, which may join a waiting job, is linked once it knows which', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db, { env: { PUSH_DEBOUNCE_SECONDS: '5' } });
    const first = await h.receive(await signedRequest({ event: 'push', payload: payloadFor('push', repo) }));
    const second = await h.receive(await signedRequest({ event: 'push', payload: payloadFor('push', repo) }));
    expect([first.body.coalesced, second.body.coalesced]).toEqual([false, true]);
    expect(await updatesOf(first.body.delivery)).toEqual([['job_id']]);
    expect(await updatesOf(second.body.delivery)).toEqual([['job_id', 'route']]);
  });
});

describe('push coalescing per repository and ref', () => {
  const push = (repo: { fullName: string; githubId: number }, ref: string, before: string, after: string, pushedAt: number, commits = 1) => {
    const payload = payloadFor('push', repo, (p) => p.commits.length > 0);
    Object.assign(payload, { ref, before, after, commits: payload.commits.slice(0, 1).concat(Array(commits - 1).fill(payload.commits[0])) });
    payload.repository.pushed_at = pushedAt;
    return payload;
  };
  const sha = (c: string) => c.repeat(40);

  it('pushes to main and to feature stay two jobs, each with its own head', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db, { env: { PUSH_DEBOUNCE_SECONDS: '30' } });
    await h.receive(await signedRequest({ event: 'push', payload: push(repo, 'refs/heads/main', sha('1'), sha('2'), 100) }));
    await h.receive(await signedRequest({ event: 'push', payload: push(repo, 'refs/heads/feature', sha('3'), sha('4'), 101) }));
    const jobs = await jobsFor(repo.fullName);
    expect(jobs.map((j) => [j.payload.data.ref, j.payload.data.after]).sort()).toEqual([
      ['refs/heads/feature', sha('4')],
      ['refs/heads/main', sha('2')],
    ]);
  });

  it('keeps the first before, the newest after (an old redelivered push cannot win), every GUID and all commits', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db, { env: { PUSH_DEBOUNCE_SECONDS: '30' } });
    const answers = [];
    for (const [before, after, at, commits] of [
      [sha('b'), sha('c'), 200, 2],
      [sha('c'), sha('d'), 300, 3],
      [sha('a'), sha('b'), 100, 1], // older, arriving late (a redelivery)
    ] as const) {
      answers.push((await h.receive(await signedRequest({ event: 'push', payload: push(repo, 'refs/heads/main', before, after, at, commits) }))).body);
    }
    const jobs = await jobsFor(repo.fullName);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.payload).toMatchObject({
      delivery_ids: answers.map((a) => a.delivery),
      commit_count: 6,
      data: { before: sha('a'), after: sha('d'), repository: { pushed_at: 300 } },
    });
  });

  it('a pushed_at given as an ISO time (GitHub\'s types allow it) still orders the pushes', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db, { env: { PUSH_DEBOUNCE_SECONDS: '30' } });
    const first = push(repo, 'refs/heads/main', sha('1'), sha('2'), 0);
    first.repository.pushed_at = '2026-01-01T10:00:00Z';
    const second = push(repo, 'refs/heads/main', sha('2'), sha('3'), 0);
    second.repository.pushed_at = '2026-01-01T11:00:00Z';
    const older = push(repo, 'refs/heads/main', sha('0'), sha('1'), 0);
    older.repository.pushed_at = 'not a time';
    for (const payload of [first, second, older]) {
      expect((await h.receive(await signedRequest({ event: 'push', payload }))).status).toBe(202);
    }
    const [job] = await jobsFor(repo.fullName);
    // A value that is no time counts as the newest arrival; the ISO ones are ordered by time.
    expect(job?.payload.data).toMatchObject({ before: sha('1'), after: sha('1') });
    expect(job?.payload.delivery_ids).toHaveLength(3);
  });

  it('a job stops absorbing at 100 deliveries; the next push of the ref starts a new job', async () => {
    const repo = await repoIn(1);
    await t.query(
      `select enqueue_webhook_job('d-' || g, jsonb_build_object('type', 'webhook/push', 'coalesce_key', 'push:' || $1::text || ':refs/heads/main',
         'delay_seconds', 60, 'payload', jsonb_build_object('event', 'push', 'commit_count', 1,
         'data', jsonb_build_object('ref', 'refs/heads/main', 'repository', jsonb_build_object('pushed_at', g)))), 1, $2::text, $1::bigint)
       from generate_series(1, 101) g`,
      [repo.githubId, repo.fullName],
    );
    const jobs = await jobsFor(repo.fullName);
    expect(jobs.map((j) => j.payload.delivery_ids.length).sort((a, b) => a - b)).toEqual([1, 100]);
  });
});

describe('one drain per burst', () => {
  it('a burst of queued deliveries kicks the drain once; a freed marker lets the next one kick', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    for (let i = 0; i < 20; i += 1) {
      const { status } = await h.receive(await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened') }));
      expect(status).toBe(202);
    }
    expect(h.kicks).toHaveLength(1);
    const [marker] = await t.query('select held_by from webhook_drain_marker', []);
    expect(marker?.held_by).toBe('kick');
    // The drain took the marker and hands it back: it sees all 20 jobs, and the next delivery kicks.
    await t.query(`update webhook_drain_marker set held_by = 'drain-1'`, []);
    const pending = await releaseDrainMarker(t.db, 'drain-1');
    expect(pending.ready).toBeGreaterThanOrEqual(20);
    await h.receive(await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened') }));
    expect(h.kicks).toHaveLength(2);
  });

  it('a marker held past its time no longer stops a kick (a kick that never started a drain)', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    await t.query(`update webhook_drain_marker set held_by = 'kick', held_until = now() - interval '1 second'`, []);
    await h.receive(await signedRequest({ event: 'issues', payload: payloadFor('issues', repo, (p) => p.action === 'opened') }));
    expect(h.kicks).toHaveLength(1);
  });

  it('a kick that fails gives the marker back, so the next delivery kicks again', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    const kicked: Promise<unknown>[] = [];
    let attempts = 0;
    h.deps.kickDrain = async () => {
      attempts += 1;
      throw new Error('drain answered 503');
    };
    h.deps.waitUntil = (p) => kicked.push(p);
    await h.receive(await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened') }));
    await Promise.all(kicked);
    const [marker] = await t.query('select held_by from webhook_drain_marker', []);
    expect(marker?.held_by).toBeNull();
    await h.receive(await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened') }));
    await Promise.all(kicked);
    expect(attempts).toBe(2);
    expect(h.logs.filter((l) => l.msg === 'drain kick failed')).toHaveLength(2);
  });

  reportSkip('concurrent enqueues and a drain handing the marker back');
  it.skipIf(!onPostgres)('no job falls between a drain that ends and a kick that was skipped', async () => {
    const repo = await repoIn(12);
    const h = harness(t.db);
    for (let round = 0; round < 15; round += 1) {
      await t.query(`update background_jobs set status = 'completed' where status = 'queued'`, []);
      await t.query(`update webhook_drain_marker set held_by = 'drain-x', held_until = now() + interval '10 seconds'`, []);
      const before = h.kicks.length;
      const enqueues = Array.from({ length: 12 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, Math.random() * 15));
        return h.receive(await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened'), delivery: `race-${round}-${i}-${crypto.randomUUID()}` }));
      });
      const release = (async () => {
        await new Promise((r) => setTimeout(r, Math.random() * 15));
        return releaseDrainMarker(t.db, 'drain-x');
      })();
      const [pending] = await Promise.all([release, Promise.all(enqueues)]);
      const kicked = h.kicks.length - before;
      // Either some enqueue found the marker free and kicked, or the ending drain counted every job.
      if (kicked === 0) expect(pending.ready).toBe(12);
      else expect(kicked).toBe(1);
    }
  });
});
