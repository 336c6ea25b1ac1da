// Fuzzing what a captured delivery and a bad event can do, against the running local stack on
// PostgreSQL (fast-check, fixed seed): a stream of real signed deliveries mixed with
//   replay     a body already accepted, sent again under a new GUID (GitHub signs only the body),
//   relabel    the same, with another X-GitHub-Event,
//   redeliver  the same GUID and body again (what GitHub's "Redeliver" sends),
//   poison     deliveries whose events Inngest refuses (400/413/422 for that content).
// Every answer must be 200/202 (no 5xx); every replay, relabel and redelivery a recorded
// duplicate that creates nothing; poison jobs dead-lettered without ever opening the Inngest
// circuit; every other event accepted exactly once, none with different content (0 lost, 0
// doubled).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRepository } from '../../src/node/seed.ts';
import { SUPPORTED_EVENTS } from '../../src/shared/github/events.ts';
import { auditSummary, installJobAudit } from '../helpers/chaos-db.ts';
import { buildDelivery, post, type Answer, type BuiltDelivery, type ChaosRepo } from '../helpers/chaos-deliveries.ts';
import { histogram, recordFigures, requireDatabaseUrl, scaled } from '../helpers/chaos-env.ts';
import { checkEvents, expectedEvents } from '../helpers/chaos-expect.ts';
import { stackEnv, tempDataDir } from '../helpers/chaos-stack.ts';
import { eventually, startStack, type RunningStack } from '../helpers/cli.ts';
import { startInngestStandIn, type InngestStandIn } from '../helpers/inngest-standin.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

requireDatabaseUrl();

const ACTIONS = scaled(1_500, 150);
const SEED = 20_261_130;
const CONCURRENCY = 8;
const POISON_GITHUB_ID = 960_099;

type Mode = 'new' | 'replay' | 'relabel' | 'redeliver' | 'poison';
interface Action {
  mode: Mode;
  event: string;
  repo: number;
  template: number;
  /** Which accepted delivery a replay, relabel or redelivery repeats. */
  pick: number;
  /** The other event a relabelled copy claims to be. */
  relabelTo: number;
  refusal: number;
}

const action: fc.Arbitrary<Action> = fc.record({
  mode: fc.oneof(
    { arbitrary: fc.constant('new' as const), weight: 10 },
    { arbitrary: fc.constantFrom('replay' as const, 'relabel' as const, 'redeliver' as const), weight: 6 },
    { arbitrary: fc.constant('poison' as const), weight: 1 },
  ),
  event: fc.constantFrom('pull_request', 'issues', 'push', 'repository', 'ping'),
  repo: fc.nat({ max: 3 }),
  template: fc.nat({ max: 1_000 }),
  pick: fc.nat(),
  relabelTo: fc.nat({ max: SUPPORTED_EVENTS.length - 2 }),
  refusal: fc.constantFrom(400, 413, 422),
});

describe('fuzzing replays, relabels and poison events', () => {
  let t: TestDatabase;
  let inngest: InngestStandIn;
  let stack: RunningStack | undefined;
  const data = tempDataDir('replay');
  const repos: ChaosRepo[] = [];
  let poison: ChaosRepo;

  beforeAll(async () => {
    t = await createTestDatabase();
    await installJobAudit(t.query);
    for (const [i, count] of [0, 1, 5, 12].entries()) {
      const repo = { fullName: `chaos-replay/r${i}`, githubId: 960_000 + i };
      const seeded = await seedRepository(t.query, { ...repo, workspaces: count });
      repos.push({ ...repo, workspaces: count, workspaceIds: seeded.workspaceIds });
    }
    const seeded = await seedRepository(t.query, { fullName: 'chaos-replay/poison', githubId: POISON_GITHUB_ID, workspaces: 12 });
    poison = { fullName: 'chaos-replay/poison', githubId: POISON_GITHUB_ID, workspaces: 12, workspaceIds: seeded.workspaceIds };
    inngest = await startInngestStandIn();
    const env = stackEnv({
      databaseUrl: t.url as string,
      inngestUrl: inngest.url,
      dataDir: data.dir,
      extra: {
        JOB_MAX_RETRIES: '1',
        RETRY_BASE_DELAY_SECONDS: '1',
        RETRY_MAX_DELAY_SECONDS: '2',
        CIRCUIT_FAILURE_THRESHOLD: '3',
        PUSH_DEBOUNCE_SECONDS: '1',
      },
    });
    stack = await startStack(env, { drainIntervalSeconds: 1, keepOutput: false });
  });

  afterAll(async () => {
    await stack?.stop();
    await inngest?.close();
    await t?.close();
    data.remove();
  });

  it(`${ACTIONS} actions: no 5xx, every copy a duplicate that does nothing, poison dead-lettered without the circuit, nothing lost or doubled`, async () => {
    const running = stack as RunningStack;
    const refusals = new Map<number, number>();
    // Inngest refuses any batch carrying an event of the poison repository, with the status its delivery drew.
    inngest.refuse = (events) => {
      const poisoned = events.find((e) => (e.data as Record<string, unknown> | undefined)?.repositoryId === POISON_GITHUB_ID);
      return poisoned ? (refusals.get(POISON_GITHUB_ID) ?? 422) : null;
    };
    const circuitStates = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const rows = await t.query(`select state from public.webhook_circuit_breakers where name = 'inngest'`, []);
        for (const row of rows) circuitStates.add(String(row.state));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const actions = fc.sample(action, { seed: SEED, numRuns: ACTIONS });
    const accepted: BuiltDelivery[] = [];
    const answers: { mode: Mode; answer: Answer }[] = [];
    const copies = new Set<string>();
    const problems: string[] = [];
    let guid = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (;;) {
          const index = next++;
          const a = actions[index];
          if (!a) return;
          let mode = a.mode;
          const original = accepted.length > 0 ? accepted[a.pick % accepted.length] : undefined;
          if ((mode === 'replay' || mode === 'relabel' || mode === 'redeliver') && !original) mode = 'new';
          let delivery: BuiltDelivery;
          if (mode === 'new' || mode === 'poison') {
            const event = mode === 'poison' ? (a.event === 'push' ? 'push' : 'repository') : a.event;
            const list = mode === 'poison' ? [...repos, poison] : repos;
            if (mode === 'poison') refusals.set(POISON_GITHUB_ID, a.refusal);
            delivery = buildDelivery(
              { guid: `replay-fuzz-${index}-${++guid}`, event, repo: mode === 'poison' ? list.length - 1 : a.repo, template: a.template },
              list,
            );
          } else {
            const copy = original as BuiltDelivery;
            const headers = { ...copy.headers };
            if (mode !== 'redeliver') headers['x-github-delivery'] = `copy-${index}-${++guid}`;
            if (mode === 'relabel') {
              const others = SUPPORTED_EVENTS.filter((e) => e !== copy.spec.event);
              headers['x-github-event'] = others[a.relabelTo % others.length] as string;
            }
            delivery = { ...copy, headers };
            if (mode !== 'redeliver') copies.add(headers['x-github-delivery'] as string);
          }
          const answer = await post(running.hybridUrl, delivery);
          answers.push({ mode, answer });
          if (answer.status !== 200 && answer.status !== 202) {
            problems.push(`${mode} ${delivery.spec.event} → ${answer.status} ${JSON.stringify(answer.body)}`);
            continue;
          }
          const duplicate = answer.body?.duplicate === true;
          if (mode === 'new' || mode === 'poison') {
            if (duplicate) problems.push(`a new ${delivery.spec.event} delivery was answered duplicate`);
            else accepted.push(delivery);
          } else if (!duplicate) {
            problems.push(`a ${mode} of ${delivery.spec.event} as ${delivery.headers['x-github-event']} was not answered duplicate: ${answer.status} ${JSON.stringify(answer.body)}`);
          }
        }
      }),
    );
    expect(problems.slice(0, 10), 'answers').toEqual([]);

    // Everything runs out: jobs complete, poison jobs spend their retry and reach the dead letter.
    await eventually(
      async () => {
        const [row] = await t.query(`select count(*)::int as n from public.background_jobs where status in ('queued', 'processing')`, []);
        return Number(row?.n) === 0 ? true : undefined;
      },
      90_000,
      'every job settled',
      500,
    );
    watching = false;
    await watcher;

    const copyGuids = [...copies];
    const recordedCopies = await t.query('select delivery_id from public.webhook_deliveries where delivery_id = any($1::text[])', [copyGuids]);
    expect(recordedCopies, 'a copy under a new GUID records no delivery of its own').toEqual([]);
    const duplicateRows = await t.query('select reason, count(*)::int as n from public.webhook_delivery_duplicates group by reason order by reason', []);
    const copiesSent = answers.filter((a) => a.mode === 'replay' || a.mode === 'relabel' || a.mode === 'redeliver').length;
    expect(duplicateRows.reduce((n, r) => n + Number(r.n), 0), 'every copy is recorded as a duplicate').toBe(copiesSent);

    const jobs = await t.query(
      `select repository_github_id::bigint as github_id, status, retry_count, error from public.background_jobs`,
      [],
    );
    const poisonJobs = jobs.filter((j) => Number(j.github_id) === POISON_GITHUB_ID);
    const otherJobs = jobs.filter((j) => Number(j.github_id) !== POISON_GITHUB_ID);
    expect(poisonJobs.length, 'the sample drew poison deliveries').toBeGreaterThan(0);
    for (const job of poisonJobs) {
      expect(job, 'a poison job is dead-lettered after its retry').toMatchObject({ status: 'failed', retry_count: 2 });
      expect(String(job.error)).toMatch(/Inngest answered 4\d\d|stand-in refuses/);
    }
    expect(histogram(otherJobs.map((j) => String(j.status))), 'every other job completed').toEqual({ completed: otherJobs.length });
    expect([...circuitStates].filter((s) => s !== 'closed'), 'a poison event never opens the circuit').toEqual([]);

    const audit = await auditSummary(t.query);
    expect(audit.jobsCompletedTwice, 'no job completed twice').toEqual([]);
    const events = checkEvents(await expectedEvents(t.query, repos), inngest);
    expect({ missing: events.missingCount, unexpected: events.unexpectedCount, conflicts: events.conflicts }, '0 lost, 0 doubled').toEqual({
      missing: 0,
      unexpected: 0,
      conflicts: 0,
    });

    const figures = {
      actions: ACTIONS,
      seed: SEED,
      concurrency: CONCURRENCY,
      modes: histogram(answers.map((a) => a.mode)),
      statusCodes: histogram(answers.map((a) => a.answer.status)),
      unintended5xx: answers.filter((a) => a.answer.status >= 500).length,
      duplicatesRecorded: Object.fromEntries(duplicateRows.map((r) => [r.reason, Number(r.n)])),
      poisonJobs: poisonJobs.length,
      poisonDeadLettered: poisonJobs.filter((j) => j.status === 'failed').length,
      circuitStatesSeen: [...circuitStates],
      jobs: jobs.length,
      completedTwice: audit.jobsCompletedTwice.length,
      inngest: { expected: events.expected, accepted: events.accepted, missing: events.missingCount, conflicts: events.conflicts },
    };
    console.log('[chaos fuzz replay]', JSON.stringify(figures));
    recordFigures('fuzzReplay', figures);
  });
});
