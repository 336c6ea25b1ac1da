// One drain per burst: a burst of queued deliveries against the running local stack (real
// PostgreSQL) whose only drains are the receiver's kicks (the minute timer is set to an hour).
// The drain marker must turn the burst into a handful of drain runs, not one per delivery, and no
// job may be left behind by a kick that was skipped: everything completes without the timer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRepository } from '../../src/node/seed.ts';
import { buildDelivery, post, runBounded, type ChaosRepo } from '../helpers/chaos-deliveries.ts';
import { histogram, recordFigures, requireDatabaseUrl, scaled } from '../helpers/chaos-env.ts';
import { checkEvents, expectedEvents } from '../helpers/chaos-expect.ts';
import { stackEnv, tempDataDir } from '../helpers/chaos-stack.ts';
import { eventually, startStack, type RunningStack } from '../helpers/cli.ts';
import { startInngestStandIn, type InngestStandIn } from '../helpers/inngest-standin.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

requireDatabaseUrl();

const BURST = scaled(4_000, 400);
const RATE_PER_SECOND = 200;
/** The goal (issue 11): at most one drain invocation per 20 queued deliveries. */
const DELIVERIES_PER_INVOCATION = 20;

describe(`a burst of ${BURST} queued deliveries at ${RATE_PER_SECOND}/s`, () => {
  let t: TestDatabase;
  let inngest: InngestStandIn;
  let stack: RunningStack | undefined;
  const data = tempDataDir('burst');
  const repos: ChaosRepo[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    for (const [i, count] of [12, 40].entries()) {
      const repo = { fullName: `chaos-burst/r${i}`, githubId: 970_000 + i };
      const seeded = await seedRepository(t.query, { ...repo, workspaces: count });
      repos.push({ ...repo, workspaces: count, workspaceIds: seeded.workspaceIds });
    }
    inngest = await startInngestStandIn();
    const env = stackEnv({ databaseUrl: t.url as string, inngestUrl: inngest.url, dataDir: data.dir, extra: { PUSH_DEBOUNCE_SECONDS: '1' } });
    stack = await startStack(env, { drainIntervalSeconds: 3_600, keepOutput: false });
  });

  afterAll(async () => {
    await stack?.stop();
    await inngest?.close();
    await t?.close();
    data.remove();
  });

  const settled = () =>
    eventually(
      async () => {
        const [row] = await t.query(`select count(*)::int as n from public.background_jobs where status <> 'completed'`, []);
        return Number(row?.n) === 0 ? true : undefined;
      },
      120_000,
      'every job completed by kicked drains alone',
      250,
    );

  it('starts a few drains, not one per delivery, and completes every job without the timer', async () => {
    const running = stack as RunningStack;
    const events = ['pull_request', 'pull_request', 'issues', 'push'];
    const statuses: number[] = [];
    const load = await runBounded(BURST, { concurrency: 16, ratePerSecond: RATE_PER_SECOND }, async (i) => {
      const delivery = buildDelivery({ guid: `burst-${i}-${crypto.randomUUID()}`, event: events[i % events.length] as string, repo: i % repos.length, template: i }, repos);
      const answer = await post(running.hybridUrl, delivery);
      statuses.push(answer.status);
      return answer.ms;
    });
    expect(histogram(statuses), 'every delivery queued').toEqual({ 202: BURST });
    await settled();

    // The last drain hands the marker back after its idle time; then a small second burst kicks again.
    await eventually(async () => ((await t.query('select held_by from public.webhook_drain_marker', []))[0]?.held_by === null ? true : undefined), 20_000, 'marker freed');
    const firstBurstDrains = running.log.counts['drain finished'] ?? 0;
    for (let i = 0; i < 5; i += 1) {
      const answer = await post(running.hybridUrl, buildDelivery({ guid: `after-${i}-${crypto.randomUUID()}`, event: 'pull_request', repo: 0, template: i }, repos));
      expect(answer.status).toBe(202);
    }
    await settled();
    await eventually(async () => ((running.log.counts['drain finished'] ?? 0) > firstBurstDrains ? true : undefined), 20_000, 'second burst drained');

    const [jobs] = await t.query(`select count(*)::int as n, coalesce(sum(jsonb_array_length(payload -> 'delivery_ids')), 0)::int as deliveries from public.background_jobs`, []);
    const queuedDeliveries = Number(jobs?.deliveries);
    const drains = running.log.counts['drain finished'] ?? 0;
    expect(queuedDeliveries).toBe(BURST + 5);
    expect(drains, 'drain runs').toBeLessThanOrEqual(Math.ceil(queuedDeliveries / DELIVERIES_PER_INVOCATION));
    const check = checkEvents(await expectedEvents(t.query, repos), inngest);
    expect({ missing: check.missingCount, unexpected: check.unexpectedCount, conflicts: check.conflicts }).toEqual({ missing: 0, unexpected: 0, conflicts: 0 });

    const figures = {
      deliveries: BURST + 5,
      jobs: Number(jobs?.n),
      ratePerSecond: RATE_PER_SECOND,
      achievedPerSecond: load.achievedPerSecond,
      ackLatencyMs: load.latencyMs,
      drainRuns: drains,
      firstBurstDrainRuns: firstBurstDrains,
      queuedDeliveriesPerDrainRun: Math.round((queuedDeliveries / Math.max(1, drains)) * 10) / 10,
      inngest: { expected: check.expected, accepted: check.accepted, missing: check.missingCount, conflicts: check.conflicts },
    };
    console.log('[chaos kick burst]', JSON.stringify(figures));
    recordFigures('kickBurst', figures);
  });
});
