// A `webhook-router drain` process killed with SIGKILL in the middle of a batch: its jobs stay
// `processing` under its lease until the lease expires, then another drain takes them back and
// completes them. Nothing stays processing, nothing is completed twice, and events re-sent by the
// second drain carry the same ids with the same content.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRepository } from '../../src/node/seed.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { createRecordingSender } from '../../src/shared/inngest/sender.ts';
import { receiveWebhook } from '../../src/shared/receive/receive.ts';
import { auditSummary, installJobAudit, pendingJobs } from '../helpers/chaos-db.ts';
import { buildDelivery, type ChaosRepo } from '../helpers/chaos-deliveries.ts';
import { recordFigures, requireDatabaseUrl } from '../helpers/chaos-env.ts';
import { checkEvents, expectedEvents } from '../helpers/chaos-expect.ts';
import { startInngestStandIn, type InngestStandIn } from '../helpers/inngest-standin.ts';
import { CHAOS_SECRET, stackEnv, tempDataDir } from '../helpers/chaos-stack.ts';
import { eventually, runCli, spawnCli } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

requireDatabaseUrl();

const JOBS = 24;
const LEASE_SECONDS = 5;
const JOB_TIMEOUT_MS = 4_000;
const SLOW_INNGEST_MS = 1_500;

describe('a drain killed with SIGKILL mid-batch', () => {
  let t: TestDatabase;
  let inngest: InngestStandIn;
  const data = tempDataDir('sigkill');
  const repos: ChaosRepo[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    await installJobAudit(t.query);
    // 40 workspaces: above the threshold, so every delivery is queued (40 events per PR job).
    const repo = { fullName: 'chaos-kill/big', githubId: 920_001 };
    const seeded = await seedRepository(t.query, { ...repo, workspaces: 40 });
    repos.push({ ...repo, workspaces: 40, workspaceIds: seeded.workspaceIds });
    inngest = await startInngestStandIn({ delayMs: SLOW_INNGEST_MS });
  });

  afterAll(async () => {
    await inngest?.close();
    await t?.close();
    data.remove();
  });

  it('the killed drain\'s leases expire and another drain re-claims and completes every job', async () => {
    // A backlog built through the real receive path (no kick: nothing drains it yet).
    const config = loadConfig({ GITHUB_WEBHOOK_SECRET: CHAOS_SECRET });
    for (let i = 0; i < JOBS; i += 1) {
      const event = i % 3 === 2 ? 'repository' : 'pull_request';
      // Template 0 of pull_request is "opened": one metrics event per workspace.
      const delivery = buildDelivery({ guid: crypto.randomUUID(), event, repo: 0, template: 0 }, repos);
      const response = await receiveWebhook(
        new Request('http://localhost/hook', { method: 'POST', headers: delivery.headers, body: delivery.body }),
        { config, mode: 'hybrid', db: t.db, sender: createRecordingSender() },
      );
      expect(response.status).toBe(202);
    }
    expect(await pendingJobs(t.query)).toEqual({ queued: JOBS, processing: 0, failed: 0 });

    const env = stackEnv({
      databaseUrl: t.url as string,
      inngestUrl: inngest.url,
      dataDir: data.dir,
      extra: {
        JOB_LEASE_SECONDS: String(LEASE_SECONDS),
        DRAIN_JOB_TIMEOUT_MS: String(JOB_TIMEOUT_MS),
        JOB_MAX_RETRIES: '2',
        DRAIN_CONCURRENCY: '4',
        RETRY_BASE_DELAY_SECONDS: '1',
        RETRY_MAX_DELAY_SECONDS: '2',
      },
    });

    // Drain A works through the backlog against a slow Inngest; kill it once it holds leases and
    // has a send in flight (mid-batch), after it finished at least one job.
    const a = spawnCli(['drain', '--json'], env);
    const victim = await eventually(
      async () => {
        const rows = await t.query(
          `select id::text, locked_by, locked_until from public.background_jobs where status = 'processing' and locked_by like 'cli-%'`,
          [],
        );
        const [done] = await t.query(`select count(*)::int as n from public.background_jobs where status = 'completed'`, []);
        if (rows.length > 0 && Number(done?.n) >= 1 && inngest.stats.inFlight > 0) return rows;
        return undefined;
      },
      60_000,
      'drain A holds leases mid-batch',
      50,
    );
    a.child.kill('SIGKILL');
    const exit = await a.exit;
    expect(exit.signal).toBe('SIGKILL');
    const killedAt = Date.now();
    const killedWorker = String(victim[0]?.locked_by);
    const [completedByA] = await t.query(`select count(*)::int as n from public.background_jobs where status = 'completed'`, []);

    // Right after the kill the jobs are still processing under the dead drain's lease.
    const stillHeld = await t.query(
      `select id::text, locked_by, locked_until from public.background_jobs where status = 'processing'`,
      [],
    );
    expect(stillHeld.length).toBeGreaterThan(0);
    expect(new Set(stillHeld.map((r) => r.locked_by))).toEqual(new Set([killedWorker]));
    const heldIds = stillHeld.map((r) => String(r.id));

    // While the lease runs, a claim must not take these jobs (a drain that asks for one by id gets nothing).
    const [probe] = await t.db.call<Record<string, unknown>>('claim_webhook_jobs', {
      p_worker: 'chaos-probe',
      p_limit: 1,
      p_lease_seconds: LEASE_SECONDS,
      p_job_id: heldIds[0],
    });
    expect(probe, 'a job under a live lease is not claimable').toBeUndefined();
    inngest.delayMs = 0;

    // After the lease: another drain re-claims and completes them.
    await eventually(
      async () => {
        const [row] = await t.query(
          `select count(*)::int as n from public.background_jobs where id = any($1::uuid[]) and locked_until > now()`,
          [heldIds],
        );
        return Number(row?.n) === 0 ? true : undefined;
      },
      (LEASE_SECONDS + 5) * 1000,
      'the killed drain\'s leases expired',
      200,
    );
    const leaseExpiredAfterMs = Date.now() - killedAt;
    const b = await runCli(['drain', '--json'], env, 120_000);
    expect(b.code, b.stderr).toBe(0);
    const summaryB = JSON.parse(b.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;

    // Everything completed, exactly once, nothing processing; the killed jobs by another drain.
    expect(await pendingJobs(t.query)).toEqual({ queued: 0, processing: 0, failed: 0 });
    const audit = await auditSummary(t.query);
    expect(audit.statusCounts).toEqual({ completed: JOBS });
    expect(audit.jobsCompletedTwice).toEqual([]);
    expect(audit.completions).toBe(JOBS);
    const killed = await t.query(
      `select j.id::text, j.retry_count, a.old_locked_by as completed_by
       from public.background_jobs j join public.chaos_job_audit a on a.job_id = j.id and a.new_status = 'completed'
       where j.id = any($1::uuid[])`,
      [heldIds],
    );
    expect(killed).toHaveLength(heldIds.length);
    for (const row of killed) {
      expect(row.completed_by).not.toBe(killedWorker);
      expect(row.retry_count, 'the lease expiry counts as one attempt').toBe(1);
    }
    expect(audit.leaseReclaims).toBe(heldIds.length);
    // Taken back only once the lease had run out.
    const early = await t.query(
      `select count(*)::int as n from public.chaos_job_audit a join unnest($1::uuid[], $2::timestamptz[]) h(id, until) on h.id = a.job_id
       where a.old_status = 'processing' and a.old_locked_by = $3 and a.at < h.until`,
      [heldIds, stillHeld.map((r) => new Date(r.locked_until as string).toISOString()), killedWorker],
    );
    const takenOverBeforeLeaseExpiry = Number(early[0]?.n ?? 0);

    // Inngest: every event arrived; ids re-sent after the kill carry identical content.
    const events = checkEvents(await expectedEvents(t.query, repos), inngest);
    expect(events.conflicts).toBe(0);
    expect(events.missing).toEqual([]);
    expect(events.unexpected).toEqual([]);

    const figures = {
      jobs: JOBS,
      eventsPerJob: 40,
      leaseSeconds: LEASE_SECONDS,
      jobTimeoutMs: JOB_TIMEOUT_MS,
      slowInngestMs: SLOW_INNGEST_MS,
      completedByKilledDrainBeforeKill: Number(completedByA?.n ?? 0),
      processingUnderDeadLeaseAtKill: heldIds.length,
      takenOverBeforeLeaseExpiry,
      leaseExpiredAfterKillMs: leaseExpiredAfterMs,
      reclaimedAndCompletedByAnotherDrain: killed.length,
      secondDrain: summaryB,
      completions: audit.completions,
      completedTwice: audit.jobsCompletedTwice.length,
      leftProcessing: 0,
      inngest: {
        expectedEvents: events.expected,
        acceptedDistinctIds: events.accepted,
        idsResentWithIdenticalContent: events.resentIdentical,
        idsResentWithDifferentContent: events.conflicts,
      },
    };
    expect(takenOverBeforeLeaseExpiry, 'no drain takes a job whose lease is still valid').toBe(0);
    recordFigures('sigkill', figures);
    console.log('[chaos sigkill]', JSON.stringify(figures));
  });
});
