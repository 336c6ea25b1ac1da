// Inngest answering HTTP 500 to everything for a window: the circuit breaker opens (seen in
// webhook_circuit_breakers), jobs wait instead of spending their small retry budget (none is
// dead-lettered), and once Inngest recovers every job completes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRepository } from '../../src/node/seed.ts';
import { auditSummary, deliveryRows, installJobAudit, pendingJobs } from '../helpers/chaos-db.ts';
import { buildDelivery, post, runBounded, type Answer, type ChaosRepo, type DeliverySpec } from '../helpers/chaos-deliveries.ts';
import { histogram, recordFigures, requireDatabaseUrl, rng, scaled, sleep } from '../helpers/chaos-env.ts';
import { checkEvents, expectedEvents } from '../helpers/chaos-expect.ts';
import { startInngestStandIn, type InngestStandIn } from '../helpers/inngest-standin.ts';
import { stackEnv, tempDataDir } from '../helpers/chaos-stack.ts';
import { eventually, startStack, type RunningStack } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

requireDatabaseUrl();

const DELIVERIES = scaled(300, 60);
const FAILURE_THRESHOLD = 3;
const COOLDOWN_SECONDS = 2;
const MAX_RETRIES = 2;
/** How long Inngest stays down after the circuit was first seen open. */
const OPEN_WINDOW_MS = 10_000;

describe('Inngest down (HTTP 500) for a window', () => {
  let t: TestDatabase;
  let inngest: InngestStandIn;
  let stack: RunningStack | undefined;
  const data = tempDataDir('outage');
  const repos: ChaosRepo[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    await installJobAudit(t.query);
    for (const [i, count] of [12, 12, 5].entries()) {
      const repo = { fullName: `chaos-outage/r${i}`, githubId: 930_000 + i };
      const seeded = await seedRepository(t.query, { ...repo, workspaces: count });
      repos.push({ ...repo, workspaces: count, workspaceIds: seeded.workspaceIds });
    }
    inngest = await startInngestStandIn({ failWith: 500 });
    stack = await startStack(
      stackEnv({
        databaseUrl: t.url as string,
        inngestUrl: inngest.url,
        dataDir: data.dir,
        extra: {
          CIRCUIT_FAILURE_THRESHOLD: String(FAILURE_THRESHOLD),
          CIRCUIT_COOLDOWN_SECONDS: String(COOLDOWN_SECONDS),
          JOB_MAX_RETRIES: String(MAX_RETRIES),
          RETRY_BASE_DELAY_SECONDS: '1',
          RETRY_MAX_DELAY_SECONDS: '2',
        },
      }),
      { drainIntervalSeconds: 1, keepOutput: false },
    );
  });

  afterAll(async () => {
    await stack?.stop();
    await inngest?.close();
    await t?.close();
    data.remove();
  });

  it('opens the circuit, dead-letters nothing, and completes everything after recovery', async () => {
    const running = stack as RunningStack;
    const random = rng(0x1e6e57);
    const events = ['pull_request', 'push', 'repository'];
    const specs: DeliverySpec[] = Array.from({ length: DELIVERIES }, (_, i) => ({
      guid: crypto.randomUUID(),
      event: events[i % events.length] as string,
      repo: Math.floor(random() * repos.length),
      // pull_request template 0 is "opened" (a metrics event per workspace).
      template: 0,
    }));
    const answers = new Map<string, Answer>();

    // Watch the breaker and the dead letter the whole time.
    const watch = { states: [] as { state: string; atMs: number }[], maxFailed: 0, opens: 0 };
    const t0 = Date.now();
    let watching = true;
    const watcher = (async () => {
      let last = '';
      while (watching) {
        const [row] = await t.query(`select state from public.webhook_circuit_breakers where name = 'inngest'`, []);
        const state = String(row?.state ?? 'none');
        if (state !== last) {
          watch.states.push({ state, atMs: Date.now() - t0 });
          if (state === 'open') watch.opens += 1;
          last = state;
        }
        const pending = await pendingJobs(t.query);
        watch.maxFailed = Math.max(watch.maxFailed, pending.failed);
        await sleep(100);
      }
    })();

    const send = (from: number, to: number) =>
      runBounded(to - from, { concurrency: 8, ratePerSecond: 50 }, async (i) => {
        const spec = specs[from + i] as DeliverySpec;
        const answer = await post(running.hybridUrl, buildDelivery(spec, repos));
        answers.set(spec.guid, answer);
        return answer.ms;
      });

    // Half before the circuit opens, half while it is open.
    const half = Math.floor(DELIVERIES / 2);
    await send(0, half);
    await eventually(async () => (watch.states.some((s) => s.state === 'open') ? true : undefined), 60_000, 'circuit open', 100);
    const openedAt = Date.now();
    const [openRow] = await t.query(`select state, consecutive_failures, retry_at, last_error from public.webhook_circuit_breakers where name = 'inngest'`, []);
    await send(half, DELIVERIES);
    const remaining = OPEN_WINDOW_MS - (Date.now() - openedAt);
    if (remaining > 0) await sleep(remaining);
    const outageMs = Date.now() - t0;
    const refusedDuringOutage = inngest.stats.refused;
    const [duringOutage] = await t.query(
      `select count(*) filter (where status = 'completed')::int as completed, count(*)::int as jobs, max(retry_count)::int as max_retry
       from public.background_jobs`,
      [],
    );

    // Inngest recovers.
    inngest.failWith = null;
    const recoveredAt = Date.now();
    await eventually(
      async () => {
        const pending = await pendingJobs(t.query);
        const [row] = await t.query(`select state from public.webhook_circuit_breakers where name = 'inngest'`, []);
        return pending.queued + pending.processing === 0 && row?.state === 'closed' ? true : undefined;
      },
      120_000,
      'all jobs completed and the circuit closed after recovery',
      250,
    );
    const recoveryMs = Date.now() - recoveredAt;
    watching = false;
    await watcher;

    // Every delivery answered (202 queued: inline repository work falls back to the queue), in time.
    const statuses = histogram([...answers.values()].map((a) => a.status));
    expect([...answers.values()].filter((a) => a.status !== 202 && a.status !== 200)).toEqual([]);
    expect(Math.max(...[...answers.values()].map((a) => a.ms))).toBeLessThan(10_000);

    // The breaker opened; nothing was dead-lettered at any time; everything completed once.
    expect(watch.states.map((s) => s.state)).toContain('open');
    expect(watch.maxFailed, 'no job dead-lettered during the outage').toBe(0);
    const audit = await auditSummary(t.query);
    expect(audit.statusCounts).toEqual({ completed: audit.jobs });
    expect(audit.jobsCompletedTwice).toEqual([]);
    const rows = await deliveryRows(t.query);
    expect(rows).toHaveLength(DELIVERIES);
    expect(rows.filter((r) => r.route !== 'inline' && r.job_status !== 'completed')).toEqual([]);

    const check = checkEvents(await expectedEvents(t.query, repos), inngest);
    expect(check.conflicts).toBe(0);
    expect(check.missing).toEqual([]);
    expect(check.unexpected).toEqual([]);

    const [retries] = await t.query(`select max(retry_count)::int as max_retry, count(*) filter (where retry_count > 0)::int as retried from public.background_jobs`, []);
    const figures = {
      deliveries: DELIVERIES,
      statusCodes: statuses,
      routes: histogram(rows.map((r) => r.route)),
      jobs: audit.jobs,
      settings: { CIRCUIT_FAILURE_THRESHOLD: FAILURE_THRESHOLD, CIRCUIT_COOLDOWN_SECONDS: COOLDOWN_SECONDS, JOB_MAX_RETRIES: MAX_RETRIES },
      outageWindowSeconds: Math.round(outageMs / 100) / 10,
      circuitOpenedAfterMs: watch.states.find((s) => s.state === 'open')?.atMs ?? null,
      circuitAtOpen: openRow ?? null,
      circuitStatesObserved: watch.states,
      timesOpened: watch.opens,
      inngestRequestsRefused500: refusedDuringOutage,
      completedDuringOutage: Number(duringOutage?.completed ?? 0),
      maxFailedDuringRun: watch.maxFailed,
      deadLettered: audit.statusCounts.failed ?? 0,
      maxRetryCount: Number(retries?.max_retry ?? 0),
      jobsThatSpentARetry: Number(retries?.retried ?? 0),
      stackJobOutcomes: running.log.jobOutcomes,
      recoverySeconds: Math.round(recoveryMs / 100) / 10,
      completedAfterRecovery: audit.statusCounts.completed ?? 0,
      completedTwice: audit.jobsCompletedTwice.length,
      inngest: {
        expectedEvents: check.expected,
        acceptedDistinctIds: check.accepted,
        idsResentWithIdenticalContent: check.resentIdentical,
        idsResentWithDifferentContent: check.conflicts,
      },
    };
    recordFigures('inngestOutage', figures);
    console.log('[chaos inngest outage]', JSON.stringify(figures));
  });
});
