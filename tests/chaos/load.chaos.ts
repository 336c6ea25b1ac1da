// 10,000 real signed deliveries (× CHAOS_SCALE) against the running local stack on PostgreSQL, with
// 10% redeliveries of earlier GUIDs, drained by the stack's own kicks and timer plus three drain
// worker processes at once. Nothing may be lost and nothing done twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRepository } from '../../src/node/seed.ts';
import { auditSummary, deliveryRows, installJobAudit, pendingJobs } from '../helpers/chaos-db.ts';
import {
  buildDelivery,
  expectedAnswer,
  post,
  runBounded,
  UNSUPPORTED_EVENTS,
  type Answer,
  type ChaosRepo,
  type DeliverySpec,
  type ExpectedRoute,
} from '../helpers/chaos-deliveries.ts';
import { histogram, pick, recordFigures, requireDatabaseUrl, rng, scaled, sleep } from '../helpers/chaos-env.ts';
import { checkEvents, expectedEvents } from '../helpers/chaos-expect.ts';
import { startInngestStandIn, type InngestStandIn } from '../helpers/inngest-standin.ts';
import { stackEnv, startDrainWorker, tempDataDir, type DrainWorker } from '../helpers/chaos-stack.ts';
import { eventually, startStack, type RunningStack } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

requireDatabaseUrl();

const TOTAL = scaled(10_000, 200);
const DUPLICATES = Math.round(TOTAL * 0.1);
const CONCURRENCY = 16;
const RATE_PER_SECOND = Number(process.env.CHAOS_RATE ?? 120);
const WORKSPACE_COUNTS = [0, 1, 5, 12, 40];
const REPOS_PER_COUNT = 4;
const DRAIN_WORKERS = 3;
// Event mix: weights sum to 100.
const MIX: [string, number][] = [
  ['pull_request', 30],
  ['issues', 20],
  ['push', 22],
  ['repository', 12],
  ['ping', 6],
  ['unsupported', 10],
];

describe(`reliability under load: ${TOTAL} deliveries, ${DUPLICATES} duplicates, ${DRAIN_WORKERS + 1} drains`, () => {
  let t: TestDatabase;
  let inngest: InngestStandIn;
  let stack: RunningStack | undefined;
  const workers: DrainWorker[] = [];
  const data = tempDataDir('load');
  const repos: ChaosRepo[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    await installJobAudit(t.query);
    let seq = 0;
    for (const count of WORKSPACE_COUNTS) {
      for (let i = 0; i < REPOS_PER_COUNT; i += 1) {
        seq += 1;
        const repo = { fullName: `chaos-load/r${count}-${i}`, githubId: 910_000 + seq };
        const seeded = await seedRepository(t.query, { ...repo, workspaces: count, inactiveWorkspaces: count > 0 ? 1 : 0 });
        repos.push({ ...repo, workspaces: count, workspaceIds: seeded.workspaceIds });
      }
    }
    // A repository no workspace has ever heard of.
    repos.push({ fullName: 'chaos-load/untracked', githubId: 919_999, workspaces: 0, workspaceIds: [] });
    inngest = await startInngestStandIn();
    const env = stackEnv({ databaseUrl: t.url as string, inngestUrl: inngest.url, dataDir: data.dir });
    stack = await startStack(env, { drainIntervalSeconds: 1, keepOutput: false });
    for (let i = 0; i < DRAIN_WORKERS; i += 1) workers.push(startDrainWorker(env, `worker-${i + 1}`));
  });

  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await stack?.stop();
    await inngest?.close();
    await t?.close();
    data.remove();
  });

  it('every delivery ends exactly once: one completed job or one inline/no_workspace/ignored record', async () => {
    const running = stack as RunningStack;
    const random = rng(0xc4a05);
    // Which slots are redeliveries of an earlier GUID (never among the first ones).
    const firstDuplicateSlot = Math.min(100, Math.floor(TOTAL / 10));
    const duplicateSlots = new Set<number>();
    while (duplicateSlots.size < DUPLICATES) duplicateSlots.add(firstDuplicateSlot + Math.floor(random() * (TOTAL - firstDuplicateSlot)));

    const chooseEvent = (): string => {
      let roll = random() * 100;
      for (const [event, weight] of MIX) {
        roll -= weight;
        if (roll < 0) return event === 'unsupported' ? pick(random, UNSUPPORTED_EVENTS) : event;
      }
      return 'push';
    };

    interface Unique {
      spec: DeliverySpec;
      expected: { status: number; route: ExpectedRoute };
      answer?: Answer;
    }
    const uniques: Unique[] = [];
    const answered: number[] = []; // indexes into uniques whose answer is in (2xx)
    const duplicates: { of: number; answer: Answer }[] = [];
    let uniqueSeq = 0;

    // Sample the queue while the load runs: backlog, and how many drains hold leases at once.
    const samples = { maxQueued: 0, maxProcessing: 0, maxLeaseOwners: 0, maxOwnerKinds: 0, stackDied: false };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await t.query(
          `select count(*) filter (where status = 'queued')::int as queued,
                  count(*) filter (where status = 'processing')::int as processing,
                  count(distinct locked_by) filter (where status = 'processing')::int as owners,
                  count(distinct split_part(locked_by, '-', 1)) filter (where status = 'processing')::int as kinds
           from public.background_jobs`,
          [],
        );
        samples.maxQueued = Math.max(samples.maxQueued, Number(row?.queued ?? 0));
        samples.maxProcessing = Math.max(samples.maxProcessing, Number(row?.processing ?? 0));
        samples.maxLeaseOwners = Math.max(samples.maxLeaseOwners, Number(row?.owners ?? 0));
        samples.maxOwnerKinds = Math.max(samples.maxOwnerKinds, Number(row?.kinds ?? 0));
        if (!running.alive()) samples.stackDied = true;
        await sleep(250);
      }
    })();

    const started = Date.now();
    const load = await runBounded(TOTAL, { concurrency: CONCURRENCY, ratePerSecond: RATE_PER_SECOND }, async (slot) => {
      if (duplicateSlots.has(slot) && answered.length > 0) {
        const of = pick(random, answered);
        const original = uniques[of] as Unique;
        const answer = await post(running.hybridUrl, buildDelivery(original.spec, repos));
        duplicates.push({ of, answer });
        return answer.ms;
      }
      uniqueSeq += 1;
      const event = chooseEvent();
      const repo = event === 'ping' && random() < 0.25 ? -1 : Math.floor(random() * repos.length);
      const spec: DeliverySpec = {
        guid: `${crypto.randomUUID()}`,
        event,
        repo,
        template: Math.floor(random() * 1_000),
      };
      const workspaces = repo >= 0 ? (repos[repo] as ChaosRepo).workspaces : 0;
      const unique: Unique = { spec, expected: expectedAnswer(event, workspaces) };
      const index = uniques.push(unique) - 1;
      unique.answer = await post(running.hybridUrl, buildDelivery(spec, repos));
      if (unique.answer.status >= 200 && unique.answer.status < 300) answered.push(index);
      return unique.answer.ms;
    });
    const sendSeconds = (Date.now() - started) / 1000;

    // Drained: nothing queued or processing (no retries are scheduled with a healthy Inngest).
    const drainStarted = Date.now();
    await eventually(
      async () => {
        const pending = await pendingJobs(t.query);
        return pending.queued + pending.processing === 0 ? pending : undefined;
      },
      240_000,
      'queue drained',
      500,
    );
    const drainTailSeconds = (Date.now() - drainStarted) / 1000;
    sampling = false;
    await sampler;
    expect(running.alive(), 'the stack process stays up').toBe(true);
    expect(samples.stackDied).toBe(false);

    // 1. Every answer as the routing table says; every duplicate answered 200 duplicate.
    const noAnswer = uniques.filter((u) => !u.answer || u.answer.status === 0);
    expect(noAnswer.map((u) => u.answer?.error), 'every delivery got an answer').toEqual([]);
    const wrongAnswers = uniques.filter((u) => u.answer?.status !== u.expected.status || u.answer?.body?.route !== u.expected.route);
    expect(
      wrongAnswers.slice(0, 5).map((u) => ({ event: u.spec.event, expected: u.expected, got: u.answer?.status, body: u.answer?.body })),
      'answers match the routing table',
    ).toEqual([]);
    expect(Math.max(...uniques.map((u) => u.answer?.ms ?? 0)), 'answered within GitHub\'s 10 s').toBeLessThan(10_000);
    const badDuplicates = duplicates.filter((d) => d.answer.status !== 200 || d.answer.body?.duplicate !== true);
    expect(badDuplicates.slice(0, 5), 'every redelivered GUID is answered 200 duplicate').toEqual([]);

    // 2. One delivery row per unique GUID; queued ones linked to a completed job that lists them.
    const rows = await deliveryRows(t.query);
    expect(rows.length, 'one webhook_deliveries row per unique GUID').toBe(uniques.length);
    const byGuid = new Map(rows.map((r) => [r.delivery_id, r]));
    const problems: string[] = [];
    for (const u of uniques) {
      const row = byGuid.get(u.spec.guid);
      if (!row) {
        problems.push(`${u.spec.guid}: not recorded`);
        continue;
      }
      if (u.expected.route === 'queued') {
        if (!['queued', 'coalesced'].includes(row.route)) problems.push(`${u.spec.guid}: route ${row.route}`);
        if (!row.job_id || row.job_status !== 'completed') problems.push(`${u.spec.guid}: job ${row.job_id} ${row.job_status}`);
        if (!row.job_delivery_ids?.includes(u.spec.guid)) problems.push(`${u.spec.guid}: not in its job's delivery_ids`);
      } else {
        if (row.route !== u.expected.route) problems.push(`${u.spec.guid}: route ${row.route}, expected ${u.expected.route}`);
        if (row.job_id !== null) problems.push(`${u.spec.guid}: ${row.route} delivery has job ${row.job_id}`);
      }
    }
    expect(problems.slice(0, 10), 'every delivery ends in exactly one completed job or record').toEqual([]);

    // 3. Every job completed, exactly once (audit trigger), by which drains.
    const audit = await auditSummary(t.query);
    expect(audit.statusCounts, 'every job completed').toEqual({ completed: audit.jobs });
    expect(audit.jobsCompletedTwice, 'no job completed twice').toEqual([]);
    expect(audit.completions).toBe(audit.jobs);
    const stackCompletedLines = [...running.log.completedJobLines.values()];
    expect(stackCompletedLines.filter((n) => n > 1).length, "no 'job … completed' log line twice for a job").toBe(0);

    // 4. Inngest: everything expected arrived, nothing else, no id with two contents.
    const events = checkEvents(await expectedEvents(t.query, repos), inngest);
    expect(events.conflicts, 'no event id sent twice with different content').toBe(0);
    expect(events.missing, 'every expected event reached Inngest').toEqual([]);
    expect(events.unexpected, 'no unexpected event').toEqual([]);
    expect(events.wrongDeliveryIds, 'every (coalesced) event lists exactly its job\'s deliveries').toEqual([]);

    // 5. Nothing left queued or processing (checked above), and no unhandled error in the stack.
    expect(running.log.notable.filter((e) => e.msg === 'unhandled error')).toEqual([]);

    const routeCounts = histogram(rows.map((r) => r.route));
    const [coalesce] = await t.query(
      `select count(*)::int as jobs, coalesce(sum(jsonb_array_length(payload -> 'delivery_ids')), 0)::int as deliveries
       from public.background_jobs where type = 'webhook/push'`,
      [],
    );
    const workerTotals = workers.map((w) => ({ runs: w.runs, ...w.totals }));
    const figures = {
      deliveriesSent: TOTAL,
      uniqueDeliveries: uniques.length,
      duplicatesSent: duplicates.length,
      duplicatesAnswered200Duplicate: duplicates.length - badDuplicates.length,
      eventMix: histogram(uniques.map((u) => (UNSUPPORTED_EVENTS.includes(u.spec.event) ? 'unsupported' : u.spec.event))),
      repositories: { workspaceCounts: WORKSPACE_COUNTS, perCount: REPOS_PER_COUNT, untracked: 1 },
      load: {
        concurrency: CONCURRENCY,
        rateLimitPerSecond: RATE_PER_SECOND,
        achievedPerSecond: load.achievedPerSecond,
        maxInFlight: load.maxInFlight,
        sendSeconds: Math.round(sendSeconds),
        latencyMs: load.latencyMs,
      },
      statusCodes: histogram([...uniques.map((u) => u.answer?.status ?? 0), ...duplicates.map((d) => d.answer.status)]),
      routes: routeCounts,
      drains: {
        workers: DRAIN_WORKERS + 1,
        description: "the stack's kicks and 1 s timer, plus 3 processes running the `drain` verb in a loop",
        maxDistinctLeaseOwnersAtOnce: samples.maxLeaseOwners,
        maxDrainKindsAtOnce: samples.maxOwnerKinds,
        completionsByDrain: audit.completionsByWorker,
        cliWorkerTotals: workerTotals,
        stackJobOutcomes: running.log.jobOutcomes,
        drainTailSeconds: Math.round(drainTailSeconds),
      },
      queue: { maxQueued: samples.maxQueued, maxProcessing: samples.maxProcessing },
      jobs: {
        total: audit.jobs,
        completed: audit.statusCounts.completed ?? 0,
        completions: audit.completions,
        completedTwice: audit.jobsCompletedTwice.length,
        claims: audit.claims,
        pushJobs: Number(coalesce?.jobs ?? 0),
        pushDeliveries: Number(coalesce?.deliveries ?? 0),
      },
      inngest: {
        expectedEvents: events.expected,
        acceptedDistinctIds: events.accepted,
        missing: events.missingCount,
        unexpected: events.unexpectedCount,
        idsResentWithIdenticalContent: events.resentIdentical,
        idsResentWithDifferentContent: events.conflicts,
        requests: inngest.stats.requests,
      },
      leftQueuedOrProcessing: 0,
    };
    recordFigures('load', figures);
    console.log('[chaos load]', JSON.stringify(figures));
    // The drains really ran side by side.
    expect(Object.keys(audit.completionsByWorker).sort()).toEqual(['cli', 'drain']);
  });
});
