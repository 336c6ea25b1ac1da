import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Circuit, INNGEST_CIRCUIT } from '../../../src/shared/drain/circuit.ts';
import { claimJobs } from '../../../src/shared/drain/jobs.ts';
import { unconfiguredSender } from '../../../src/shared/inngest/sender.ts';
import { payloadFor, signedRequest } from '../../helpers/deliveries.ts';
import {
  dbNow,
  drainSettings,
  failingSender,
  jobRow,
  ms,
  newWorker,
  repoIn,
  resetQueue,
  runDrain,
  spyDatabase,
  statusCounts,
  stubSender,
  type TestRepo,
} from '../../helpers/drain.ts';
import { harness } from '../../helpers/receive-harness.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.ts';

let t: TestDatabase;
let small: TestRepo;
let wide: TestRepo;

const THRESHOLD = 3;
const COOLDOWN = 30;
const settings = (overrides: Parameters<typeof drainSettings>[0] = {}) =>
  drainSettings({
    circuitFailureThreshold: THRESHOLD,
    circuitCooldownSeconds: COOLDOWN,
    concurrency: 1,
    // Retried jobs stay out of the way unless a test makes them due.
    retryBaseDelaySeconds: 60,
    ...overrides,
  });

beforeAll(async () => {
  t = await createTestDatabase();
  small = await repoIn(t.query, 1, 'circuit');
  // Over the threshold of 10, so even `repository` (a quick event) is queued.
  wide = await repoIn(t.query, 11, 'circuit-wide');
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await resetQueue(t.query);
});

async function receive(event: string, repo: TestRepo, predicate?: (p: any) => boolean, env: Record<string, string> = {}) {
  const h = harness(t.db, { env });
  const { status, body } = await h.receive(await signedRequest({ event, payload: payloadFor(event, repo, predicate) }));
  expect(status).toBe(202);
  return String(body.jobId);
}
const prOpened = (repo = small, env: Record<string, string> = {}) => receive('pull_request', repo, (p) => p.action === 'opened', env);

async function circuitRow(): Promise<Record<string, any>> {
  const [row] = await t.query('select * from public.webhook_circuit_breakers where name = $1', [INNGEST_CIRCUIT]);
  return row ?? {};
}

async function seedOpenCircuit(retryInSeconds: number): Promise<void> {
  await t.query(
    `insert into public.webhook_circuit_breakers (name, state, consecutive_failures, opened_at, retry_at)
     values ($1, 'open', $2, now(), now() + make_interval(secs => $3))`,
    [INNGEST_CIRCUIT, THRESHOLD, retryInSeconds],
  );
}

/** What "the cooldown has passed" looks like: the circuit and the jobs deferred to it are due. */
async function passCooldown(): Promise<void> {
  await t.query(`update public.webhook_circuit_breakers set retry_at = now() - interval '1 second' where state = 'open'`, []);
  await t.query(`update public.background_jobs set run_at = now() - interval '1 second' where status = 'queued'`, []);
}

describe('the Inngest circuit breaker', () => {
  it(`opens after ${THRESHOLD} consecutive send failures; every job waits for it without spending a retry`, async () => {
    const jobs = [await prOpened(), await prOpened(), await prOpened()];
    const sender = failingSender();
    const before = await dbNow(t.query);
    const summary = await runDrain({ db: t.db, sender, settings: settings() });
    const after = await dbNow(t.query);
    expect(sender.calls).toHaveLength(3);
    expect(summary).toMatchObject({ claimed: 3, deferred: 3, retried: 0, failed: 0 });

    const circuit = await circuitRow();
    expect(circuit).toMatchObject({ state: 'open', consecutive_failures: 3, probe_owner: null });
    expect(circuit.last_error).toMatch(/inngest send/);
    expect(ms(circuit.retry_at)).toBeGreaterThanOrEqual(before + COOLDOWN * 1000 - 1);
    expect(ms(circuit.retry_at)).toBeLessThanOrEqual(after + COOLDOWN * 1000 + 1);

    const rows = await Promise.all(jobs.map((id) => jobRow(t.query, id)));
    expect(rows.map((r) => [r.status, r.retry_count])).toEqual([['queued', 0], ['queued', 0], ['queued', 0]]);
    for (const row of rows) {
      expect(ms(row.run_at)).toBe(ms(circuit.retry_at));
      expect(row.error).toMatch(/^Inngest unavailable: inngest send/);
    }
  });

  it('fewer failures than the threshold keep it closed, and a success resets the count', async () => {
    const jobs = [await prOpened(), await prOpened(), await prOpened()];
    const sender = stubSender((_batch, call) => call <= THRESHOLD - 1);
    const db = spyDatabase(t.db);
    // Two rounds: the two failures, then the success.
    const summary = await runDrain({ db, sender, settings: settings({ batchSize: 2 }) });
    expect(summary).toMatchObject({ claimed: 3, deferred: 2, completed: 1, retried: 0 });
    expect(db.settles()).toHaveLength(2);
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 0 });
    expect((await jobRow(t.query, jobs[2]!)).status).toBe('completed');
    for (const id of jobs.slice(0, 2)) {
      const row = await jobRow(t.query, id);
      expect(row).toMatchObject({ status: 'queued', retry_count: 0 });
      expect(ms(row.run_at)).toBeGreaterThan(await dbNow(t.query));
    }
  });

  it('while open, Inngest jobs are deferred to retry_at without spending a retry; cache-only jobs still complete', async () => {
    await seedOpenCircuit(COOLDOWN);
    const needsInngest = {
      push: await receive('push', small),
      repository: await receive('repository', wide, (p) => p.action === 'edited'),
      pull_request: await prOpened(),
    };
    const issues = await receive('issues', small, (p) => p.action === 'opened');
    const sender = stubSender();
    const summary = await runDrain({ db: t.db, sender, settings: settings({ concurrency: 4 }) });
    expect(sender.calls).toHaveLength(0);
    expect(summary).toMatchObject({ claimed: 4, deferred: 3, completed: 1, retried: 0, failed: 0, scheduled: 3 });

    const retryAt = ms((await circuitRow()).retry_at);
    for (const id of Object.values(needsInngest)) {
      const row = await jobRow(t.query, id);
      expect(row).toMatchObject({ status: 'queued', retry_count: 0, locked_by: null });
      expect(ms(row.run_at)).toBe(retryAt);
      expect(row.error).toMatch(/circuit open/);
    }
    expect((await jobRow(t.query, issues)).status).toBe('completed');
    const [cache] = await t.query('select is_stale from public.workspace_metrics_cache where workspace_id = $1', [
      small.workspaceIds[0],
    ]);
    expect(cache).toEqual({ is_stale: true });

    // After the cooldown one drain half-opens the circuit; its probe succeeds and everything completes.
    await passCooldown();
    const db = spyDatabase(t.db);
    const working = stubSender();
    const recovered = await runDrain({ db, sender: working, settings: settings() });
    const [first] = db.callsTo('acquire_circuit');
    expect(first?.rows).toEqual([expect.objectContaining({ allowed: true, state: 'half_open' })]);
    // One job probes; the round's other two are put back at once and run once the probe closed it.
    expect(recovered).toMatchObject({ claimed: 5, completed: 3, deferred: 2 });
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 0, retry_at: null, probe_owner: null });
    for (const id of Object.values(needsInngest)) expect((await jobRow(t.query, id)).status).toBe('completed');
    // 1 push + 11 repository + 1 pull_request event.
    expect(working.sent).toHaveLength(13);
  });

  it('a failed half-open probe opens the circuit again and defers the job to the new retry_at', async () => {
    await seedOpenCircuit(-1);
    const id = await prOpened();
    const before = await dbNow(t.query);
    const summary = await runDrain({ db: t.db, sender: failingSender(), settings: settings() });
    expect(summary).toMatchObject({ claimed: 1, deferred: 1, retried: 0 });
    const circuit = await circuitRow();
    expect(circuit).toMatchObject({ state: 'open', consecutive_failures: THRESHOLD + 1, probe_owner: null });
    expect(ms(circuit.retry_at)).toBeGreaterThanOrEqual(before + COOLDOWN * 1000 - 1);
    const row = await jobRow(t.query, id);
    expect(row).toMatchObject({ status: 'queued', retry_count: 0 });
    expect(ms(row.run_at)).toBe(ms(circuit.retry_at));
  });

  it('an open circuit without retry_at (set by hand) is probed, not stuck open', async () => {
    await t.query(
      `insert into public.webhook_circuit_breakers (name, state, consecutive_failures) values ($1, 'open', $2)`,
      [INNGEST_CIRCUIT, THRESHOLD],
    );
    const id = await prOpened();
    const summary = await runDrain({ db: t.db, sender: stubSender(), settings: settings() });
    expect(summary).toMatchObject({ claimed: 1, completed: 1 });
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 0 });
    expect((await jobRow(t.query, id)).status).toBe('completed');
  });

  it('while half-open only the probing drain may send; a stuck probe is replaced after the timeout', async () => {
    await seedOpenCircuit(-1);
    const circuitSettings = { probeTimeoutSeconds: COOLDOWN };
    const probe = new Circuit(t.db, INNGEST_CIRCUIT, 'probe', circuitSettings);
    const other = new Circuit(t.db, INNGEST_CIRCUIT, 'other', circuitSettings);
    expect(await probe.acquire()).toMatchObject({ allowed: true, state: 'half_open' });
    expect(await probe.acquire()).toMatchObject({ allowed: true, state: 'half_open' });
    const before = await dbNow(t.query);
    const refused = await other.acquire();
    expect(refused).toMatchObject({ allowed: false, state: 'half_open' });
    expect(refused.retryAt!.getTime()).toBeGreaterThanOrEqual(before + COOLDOWN * 1000 - 1);

    // Another drain's job waits for the probe's verdict.
    const id = await prOpened();
    const sender = stubSender();
    expect(await runDrain({ db: t.db, sender, settings: settings() })).toMatchObject({ deferred: 1 });
    expect(sender.calls).toHaveLength(0);
    expect((await jobRow(t.query, id)).retry_count).toBe(0);

    // The probe never reported (its drain died): after the timeout another drain probes.
    await t.query(`update public.webhook_circuit_breakers set updated_at = now() - interval '1 hour'`, []);
    expect(await other.acquire()).toMatchObject({ allowed: true, state: 'half_open' });
    expect(await circuitRow()).toMatchObject({ probe_owner: 'other' });
  });

  it('an outage never spends a retry: a lone job with max_retries 1 waits out the outage and completes', async () => {
    const id = await prOpened(small, { JOB_MAX_RETRIES: '1' });
    const sender = failingSender();
    for (let attempt = 1; attempt <= THRESHOLD; attempt += 1) {
      await t.query('update public.background_jobs set run_at = now() where id = $1', [id]);
      expect(await runDrain({ db: t.db, sender, settings: settings() })).toMatchObject({ claimed: 1, deferred: 1, failed: 0, retried: 0 });
      const row = await jobRow(t.query, id);
      expect(row).toMatchObject({ status: 'queued', retry_count: 0, failed_at: null });
      expect(row.error).toMatch(/Inngest unavailable/);
    }
    expect(await circuitRow()).toMatchObject({ state: 'open', consecutive_failures: THRESHOLD });
    await passCooldown();
    expect(await runDrain({ db: t.db, sender: stubSender(), settings: settings() })).toMatchObject({ completed: 1 });
    expect(await jobRow(t.query, id)).toMatchObject({ status: 'completed', retry_count: 0 });
  });

  it.each([400, 413, 422])('a poison event (Inngest answers %i) is the job\'s failure: retried, then dead-lettered; the circuit never moves', async (status) => {
    const poison = await prOpened(small, { JOB_MAX_RETRIES: '1' });
    const healthy = await receive('repository', wide, (p) => p.action === 'edited');
    const sender = stubSender((batch) => batch.some((e) => e.name === 'workspace.metrics.aggregate'), status);
    const first = await runDrain({ db: t.db, sender, settings: settings({ concurrency: 2 }) });
    expect(first).toMatchObject({ claimed: 2, retried: 1, completed: 1, deferred: 0 });
    expect((await jobRow(t.query, healthy)).status).toBe('completed');
    await t.query('update public.background_jobs set run_at = now() where id = $1', [poison]);
    expect(await runDrain({ db: t.db, sender, settings: settings() })).toMatchObject({ claimed: 1, failed: 1 });
    const row = await jobRow(t.query, poison);
    expect(row).toMatchObject({ status: 'failed', retry_count: 2 });
    expect(row.error).toContain(`Inngest answered ${status}`);
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 0 });
  });

  it.each([401, 403])('Inngest answering %i is a configuration outage: the circuit opens at once and shows it; no retry spent', async (status) => {
    const id = await prOpened();
    const summary = await runDrain({ db: t.db, sender: failingSender(status), settings: settings() });
    expect(summary).toMatchObject({ claimed: 1, deferred: 1, failed: 0, retried: 0 });
    const circuit = await circuitRow();
    expect(circuit).toMatchObject({ state: 'open', consecutive_failures: 1 });
    expect(circuit.last_error).toContain(`Inngest answered ${status}`);
    const row = await jobRow(t.query, id);
    expect(row).toMatchObject({ status: 'queued', retry_count: 0 });
    expect(row.error).toMatch(/^Inngest configuration: /);
    expect(ms(row.run_at)).toBe(ms(circuit.retry_at));
  });

  it('one probe at a time, held for at least the job timeout even when the cooldown is shorter', async () => {
    await seedOpenCircuit(-1);
    const probe = new Circuit(t.db, INNGEST_CIRCUIT, 'probe', { probeTimeoutSeconds: 5 });
    const other = new Circuit(t.db, INNGEST_CIRCUIT, 'other', { probeTimeoutSeconds: 5 });
    expect(await probe.acquire()).toMatchObject({ allowed: true, state: 'half_open' });
    // 2 s later (past a 1 s cooldown, inside the 5 s job timeout) the probe is still running.
    await t.query(`update public.webhook_circuit_breakers set updated_at = now() - interval '2 seconds'`, []);
    expect(await other.acquire()).toMatchObject({ allowed: false, state: 'half_open' });
    await t.query(`update public.webhook_circuit_breakers set updated_at = now() - interval '6 seconds'`, []);
    expect(await other.acquire()).toMatchObject({ allowed: true, state: 'half_open' });
  });

  it('a drain passes the longer of the cooldown and the job timeout as the probe timeout', async () => {
    await prOpened();
    const db = spyDatabase(t.db);
    await runDrain({ db, sender: stubSender(), settings: settings({ circuitCooldownSeconds: 1, jobTimeoutMs: 45_000 }) });
    expect(db.callsTo('acquire_circuit').map((c) => c.args.p_probe_timeout_seconds)).toEqual([45]);
  });

  it('while half open only the probe\'s own report counts', async () => {
    await seedOpenCircuit(-1);
    await new Circuit(t.db, INNGEST_CIRCUIT, 'probe', { probeTimeoutSeconds: 30 }).acquire();
    // A straggler that started before the circuit opened reports a failure, then a success.
    await t.db.call('report_circuit', { p_name: INNGEST_CIRCUIT, p_worker: 'straggler', p_success: false, p_failure_threshold: THRESHOLD, p_cooldown_seconds: COOLDOWN });
    await t.db.call('report_circuit', { p_name: INNGEST_CIRCUIT, p_worker: 'straggler', p_success: true });
    expect(await circuitRow()).toMatchObject({ state: 'half_open', probe_owner: 'probe', consecutive_failures: THRESHOLD });
    await t.db.call('report_circuit', { p_name: INNGEST_CIRCUIT, p_worker: 'probe', p_success: true });
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 0, probe_owner: null });
  });

  it('a round settled twice (a combined call whose answer was lost) reports its outage to the circuit once', async () => {
    const ids = [await prOpened(), await prOpened()];
    const worker = newWorker();
    await claimJobs(t.db, { worker, limit: 2, leaseSeconds: 60 });
    const outcomes = Object.fromEntries(ids.map((id) => [id, { kind: 'unavailable', error: 'stand-in 503', cause: 'outage' }]));
    const settle = async () =>
      (await t.query('select outcome from public.settle_webhook_round($1, $2::jsonb, p_failure_threshold => 5)', [worker, outcomes])).map(
        (r) => r.outcome,
      );
    expect(await settle()).toEqual(['deferred', 'deferred']);
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 2 });
    // The same report again: the jobs are no longer this worker's, and the outage is not news.
    expect(await settle()).toEqual(['lost', 'lost']);
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 2 });
  });

  it('a sender error that is not an outage (a bug, an oversized event) is the job\'s failure, not the circuit\'s', async () => {
    const id = await prOpened(small, { JOB_MAX_RETRIES: '0' });
    const buggy = { send: async () => Promise.reject(new RangeError('event is 300000 bytes; the limit is 262144')) };
    const summary = await runDrain({ db: t.db, sender: buggy, settings: settings() });
    expect(summary).toMatchObject({ claimed: 1, failed: 1, deferred: 0 });
    const row = await jobRow(t.query, id);
    expect(row).toMatchObject({ status: 'failed', retry_count: 1 });
    expect(row.error).toMatch(/300000 bytes/);
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 0 });
  });

  it('no job reaches the dead letter because of an outage, even with max_retries 1 and many drains', async () => {
    const env = { JOB_MAX_RETRIES: '1' };
    const ids = [
      await prOpened(small, env),
      await prOpened(small, env),
      await prOpened(small, env),
      await prOpened(small, env),
      await receive('push', small, undefined, env),
      await receive('repository', wide, (p) => p.action === 'edited', env),
    ];
    const outage = failingSender();
    const outageSettings = settings({ concurrency: 4, retryBaseDelaySeconds: 0 });
    for (let round = 0; round < 8; round += 1) {
      // Time passes: everything is due, and every other round the cooldown is over too (a probe).
      if (round % 2 === 1) await passCooldown();
      else await t.query('update public.background_jobs set run_at = now() where status = $1', ['queued']);
      const summaries = await Promise.all(
        [0, 1, 2].map(() => runDrain({ db: t.db, sender: outage, settings: outageSettings, worker: newWorker('outage') })),
      );
      expect(summaries.reduce((n, s) => n + s.failed, 0)).toBe(0);
    }
    expect(outage.calls.length).toBeGreaterThanOrEqual(THRESHOLD);
    expect(await statusCounts(t.query)).toEqual({ queued: ids.length });
    const [{ max }] = (await t.query('select max(retry_count)::int as max from public.background_jobs', [])) as [{ max: number }];
    expect(max).toBeLessThanOrEqual(1);
    expect((await circuitRow()).state).toBe('open');

    // Inngest is back: every job completes.
    await passCooldown();
    const summary = await runDrain({ db: t.db, sender: stubSender(), settings: settings({ concurrency: 4 }) });
    // One job probes; the rest of its round waits for the verdict and runs in the next round.
    expect(summary).toMatchObject({ claimed: 2 * ids.length - 1, completed: ids.length, failed: 0 });
    expect(await statusCounts(t.query)).toEqual({ completed: ids.length });
  });

  it('a job that times out while sending to a hanging Inngest is an outage: deferred, counted, never dead-lettered', async () => {
    const id = await prOpened(small, { JOB_MAX_RETRIES: '0' });
    const hanging = { send: () => new Promise<void>(() => {}) };
    const summary = await runDrain({ db: t.db, sender: hanging, settings: settings({ jobTimeoutMs: 300 }) });
    expect(summary).toMatchObject({ claimed: 1, deferred: 1, failed: 0, retried: 0 });
    const row = await jobRow(t.query, id);
    expect(row).toMatchObject({ status: 'queued', retry_count: 0 });
    expect(row.error).toMatch(/exceeded the 300 ms job timeout while sending to Inngest/);
    expect(await circuitRow()).toMatchObject({ state: 'closed', consecutive_failures: 1 });
  });

  it.each([
    [404, 'config'],
    [405, 'config'],
    [408, 'outage'],
  ])('Inngest answering %i is classified as %s', async (status, cause) => {
    const id = await prOpened();
    const summary = await runDrain({ db: t.db, sender: failingSender(status), settings: settings() });
    expect(summary).toMatchObject({ claimed: 1, deferred: 1, failed: 0, retried: 0 });
    expect(await circuitRow()).toMatchObject({ state: cause === 'config' ? 'open' : 'closed', consecutive_failures: 1 });
    expect((await jobRow(t.query, id)).error).toMatch(cause === 'config' ? /^Inngest configuration: / : /^Inngest unavailable: /);
  });

  it('no INNGEST_EVENT_KEY is a configuration outage: the circuit opens at once and says so', async () => {
    const id = await prOpened();
    const summary = await runDrain({ db: t.db, sender: unconfiguredSender(), settings: settings() });
    expect(summary).toMatchObject({ claimed: 1, deferred: 1, failed: 0 });
    expect(await circuitRow()).toMatchObject({ state: 'open', last_error: expect.stringMatching(/INNGEST_EVENT_KEY is not set/) });
    expect((await jobRow(t.query, id)).retry_count).toBe(0);
  });

  it('a job refused while another drain probes waits the cooldown, not the probe\'s (longer) timeout', async () => {
    await seedOpenCircuit(-1);
    await new Circuit(t.db, INNGEST_CIRCUIT, 'probe', { probeTimeoutSeconds: 120 }).acquire();
    const id = await prOpened();
    const before = await dbNow(t.query);
    const summary = await runDrain({ db: t.db, sender: stubSender(), settings: settings({ jobTimeoutMs: 120_000 }) });
    expect(summary).toMatchObject({ claimed: 1, deferred: 1 });
    const runAt = ms((await jobRow(t.query, id)).run_at);
    expect(runAt).toBeGreaterThanOrEqual(before + COOLDOWN * 1000 - 1_000);
    expect(runAt).toBeLessThan(before + 60_000);
  });
});
