// The real process-webhook Edge Function, started under Deno as a child process, against a
// per-file Postgres database and a local Inngest stand-in.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRepository } from '../../src/node/seed.ts';
import { eventId, METRICS_AGGREGATE_EVENT, REPOSITORY_CHANGED_EVENT } from '../../src/shared/inngest/events.ts';
import { newDeliveryId, payloadFor, signedRequest } from '../helpers/deliveries.ts';
import { harness } from '../helpers/receive-harness.ts';
import { cliEnv } from '../helpers/cli.ts';
import { DENO, serveFunction, type ServedFunction } from '../helpers/edge-function.ts';
import { startInngestStandIn, type InngestStandIn } from '../helpers/inngest-standin.ts';
import { freePort } from '../helpers/net.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../helpers/test-db.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DENO_ARGS = [
  'run',
  '--allow-net',
  '--allow-env',
  '--allow-read',
  '--config',
  // The installed node_modules, not the registry; tests/deploy/upload.test.ts runs the uploaded config.
  'tests/deno/deno.json',
  'supabase/functions/process-webhook/index.ts',
];
const SECRET = 'edge-test-drain-secret';
const EVENT_KEY = 'test-key';
const START_TIMEOUT_MS = 20_000;

type Exit = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** Runs the function to completion (it is expected to stop by itself); killed after `timeoutMs`. */
function runToExit(env: Record<string, string>, timeoutMs = 25_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, DENO_ARGS, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('process-webhook refuses to start with a bad configuration', () => {
  // No database connection is made here, so these run on PGlite too.
  it('without DATABASE_URL or SUPABASE_DB_URL: non-zero exit naming SUPABASE_DB_URL', async () => {
    const exit = await runToExit({ ...cliEnv(), PROCESS_WEBHOOK_SECRET: SECRET, PROCESS_WEBHOOK_PORT: String(await freePort()) });
    expect(exit.signal, exit.stderr).toBeNull();
    expect(exit.code, exit.stderr).not.toBe(0);
    expect(exit.stderr).toMatch(/SUPABASE_DB_URL/);
  });

  it('with WORKSPACE_THRESHOLD=abc: non-zero exit naming WORKSPACE_THRESHOLD', async () => {
    const exit = await runToExit({
      ...cliEnv(),
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unused',
      PROCESS_WEBHOOK_SECRET: SECRET,
      PROCESS_WEBHOOK_PORT: String(await freePort()),
      WORKSPACE_THRESHOLD: 'abc',
    });
    expect(exit.signal, exit.stderr).toBeNull();
    expect(exit.code, exit.stderr).not.toBe(0);
    expect(exit.stderr).toMatch(/WORKSPACE_THRESHOLD/);
    expect(exit.stderr).toMatch(/abc/);
  });
});

describe('process-webhook under Deno (real Postgres)', () => {
  reportSkip('Edge Function under Deno', 'the Deno process connects over TCP; PGlite is in-process (set DATABASE_URL to run it)');

  let t: TestDatabase;
  let inngest: InngestStandIn;
  let served: ServedFunction | undefined;
  let base = '';
  let repoSeq = 0;

  async function repoIn(n: number) {
    repoSeq += 1;
    const repo = { fullName: `edge/repo-${repoSeq}`, githubId: 700_000 + repoSeq };
    return { ...repo, ...(await seedRepository(t.query, { ...repo, workspaces: n })) };
  }

  async function jobStatus(id: string): Promise<string | undefined> {
    const [row] = await t.query('select status from background_jobs where id = $1', [id]);
    return row?.status as string | undefined;
  }

  function drainRequest(init: { method?: string; authorization?: string; body?: unknown } = {}): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (init.authorization) headers.authorization = init.authorization;
    const method = init.method ?? 'POST';
    return fetch(base, {
      method,
      headers,
      ...(method === 'POST' ? { body: JSON.stringify(init.body ?? {}) } : {}),
      signal: AbortSignal.timeout(20_000),
    });
  }

  beforeAll(async () => {
    if (!onPostgres) return;
    t = await createTestDatabase();
    inngest = await startInngestStandIn();
    served = await serveFunction({
      args: DENO_ARGS,
      cwd: ROOT,
      env: {
        ...cliEnv(),
        DATABASE_URL: t.url as string,
        PROCESS_WEBHOOK_SECRET: SECRET,
        INNGEST_EVENT_KEY: EVENT_KEY,
        INNGEST_BASE_URL: inngest.url,
      },
      port: await freePort(),
      startTimeoutMs: START_TIMEOUT_MS,
    });
    base = served.base;
  });

  afterAll(async () => {
    await served?.stop();
    await inngest?.close();
    await t?.close();
  });

  it.skipIf(!onPostgres)('401 without Authorization, and a queued job stays queued', async () => {
    const repo = await repoIn(1);
    const h = harness(t.db);
    const payload = payloadFor('issues', repo, (p) => p.action === 'opened');
    const queued = await h.receive(await signedRequest({ event: 'issues', payload }));
    expect(queued.status).toBe(202);
    const jobId = queued.body.jobId as string;

    const response = await drainRequest({ body: { jobId } });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ ok: false });
    expect(await jobStatus(jobId)).toBe('queued');
  });

  it.skipIf(!onPostgres)('401 with a wrong bearer token', async () => {
    const response = await drainRequest({ authorization: `Bearer ${SECRET}-wrong` });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ ok: false });
    const [row] = await t.query(`select count(*)::int as n from background_jobs where status <> 'queued'`, []);
    expect(row?.n).toBe(0);
  });

  it.skipIf(!onPostgres)('405 with Allow: POST for GET', async () => {
    const response = await drainRequest({ method: 'GET', authorization: `Bearer ${SECRET}` });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    await response.body?.cancel();
  });

  it.skipIf(!onPostgres)('200 with a JSON summary for {} and the right bearer token', async () => {
    const response = await drainRequest({ authorization: `Bearer ${SECRET}`, body: {} });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    const summary = await response.json();
    expect(summary).toMatchObject({ ok: true, failed: 0, lost: 0, remaining: 0, stoppedForDeadline: false });
    expect(summary.worker).toMatch(/^drain-/);
    expect(summary.completed).toBe(summary.claimed);
    const [row] = await t.query(`select count(*)::int as n from background_jobs where status in ('queued', 'processing')`, []);
    expect(row?.n).toBe(0);
  });

  it.skipIf(!onPostgres)('drains queued jobs by id and then all: events reach Inngest, caches go stale', async () => {
    inngest.reset();
    const repo = await repoIn(12);
    const h = harness(t.db);

    const repoDelivery = newDeliveryId();
    const repoAnswer = await h.receive(
      await signedRequest({ event: 'repository', payload: payloadFor('repository', repo), delivery: repoDelivery }),
    );
    // A quick event, queued because 12 workspaces exceed the threshold of 10.
    expect(repoAnswer.status).toBe(202);
    expect(repoAnswer.body).toMatchObject({ route: 'queued', workspaces: 12 });
    const prDelivery = newDeliveryId();
    const prPayload = payloadFor('pull_request', repo, (p) => p.action === 'opened');
    const prAnswer = await h.receive(await signedRequest({ event: 'pull_request', payload: prPayload, delivery: prDelivery }));
    expect(prAnswer.status).toBe(202);
    const repoJob = repoAnswer.body.jobId as string;
    const prJob = prAnswer.body.jobId as string;
    expect(h.sender.sent).toHaveLength(0);

    const byId = await drainRequest({ authorization: `Bearer ${SECRET}`, body: { jobId: repoJob } });
    expect(byId.status).toBe(200);
    expect(await byId.json()).toMatchObject({ ok: true, claimed: 1, completed: 1, failed: 0, remaining: 1 });
    expect(await jobStatus(repoJob)).toBe('completed');
    expect(await jobStatus(prJob)).toBe('queued');

    const all = await drainRequest({ authorization: `Bearer ${SECRET}`, body: {} });
    expect(all.status).toBe(200);
    expect(await all.json()).toMatchObject({ ok: true, claimed: 1, completed: 1, failed: 0, remaining: 0 });
    expect(await jobStatus(prJob)).toBe('completed');

    const [repoRow] = await t.query('select result from background_jobs where id = $1', [repoJob]);
    expect(repoRow?.result).toMatchObject({ workspaces: 12, eventsSent: 12, deliveryIds: [repoDelivery] });

    // What the function sent: POST /e/test-key with JSON arrays of events.
    expect(inngest.requests.length).toBeGreaterThan(0);
    for (const request of inngest.requests) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe(`/e/${EVENT_KEY}`);
      expect(request.contentType).toMatch(/application\/json/);
      expect(Array.isArray(request.body)).toBe(true);
    }
    const events = inngest.requests.flatMap((r) => r.body as { name: string; id: string; data: Record<string, unknown> }[]);
    const changed = events.filter((e) => e.name === REPOSITORY_CHANGED_EVENT);
    const aggregate = events.filter((e) => e.name === METRICS_AGGREGATE_EVENT);
    expect(changed).toHaveLength(12);
    expect(aggregate).toHaveLength(12);
    expect(events).toHaveLength(24);

    const idsFor = (source: string, name: string) =>
      Promise.all(repo.workspaceIds.map((workspaceId) => eventId({ source, workspaceId, name })));
    expect(changed.map((e) => e.id).sort()).toEqual((await idsFor(repoDelivery, REPOSITORY_CHANGED_EVENT)).sort());
    expect(aggregate.map((e) => e.id).sort()).toEqual((await idsFor(prDelivery, METRICS_AGGREGATE_EVENT)).sort());
    expect(changed.map((e) => e.data.workspaceId).sort()).toEqual([...repo.workspaceIds].sort());
    expect(aggregate.map((e) => e.data.workspaceId).sort()).toEqual([...repo.workspaceIds].sort());
    for (const event of changed) {
      expect(event.data).toMatchObject({ repository: repo.fullName, repositoryId: repo.githubId, deliveryIds: [repoDelivery] });
    }
    for (const event of aggregate) {
      expect(event.data).toMatchObject({ reason: 'pull_request', action: 'opened', repository: repo.fullName });
    }

    const stale = await t.query(
      'select workspace_id::text as id from workspace_metrics_cache where is_stale and workspace_id = any($1::uuid[])',
      [repo.workspaceIds],
    );
    expect(stale.map((r) => r.id).sort()).toEqual([...repo.workspaceIds].sort());
  });

  it.skipIf(!onPostgres)('with EdgeRuntime.waitUntil, {} answers 202 after its first claim and finishes the job after the answer', async () => {
    const early = await serveFunction({
      args: [...DENO_ARGS.slice(0, -1), 'tests/deno/edge-runtime-entry.ts'],
      cwd: ROOT,
      env: { ...cliEnv(), DATABASE_URL: t.url as string, PROCESS_WEBHOOK_SECRET: SECRET, INNGEST_EVENT_KEY: EVENT_KEY, INNGEST_BASE_URL: inngest.url },
      port: await freePort(),
      startTimeoutMs: START_TIMEOUT_MS,
    });
    try {
      const repo = await repoIn(12);
      const queued = await harness(t.db).receive(
        await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened') }),
      );
      const jobId = queued.body.jobId as string;
      const response = await fetch(early.base, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
        body: '{}',
      });
      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ ok: true, claimed: 1, background: true });
      const deadline = Date.now() + 10_000;
      while ((await jobStatus(jobId)) !== 'completed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await jobStatus(jobId)).toBe('completed');
      // The background drain then idles, hands the marker back and logs its summary.
      while (!early.output().includes('"msg":"drain finished"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(early.output()).toMatch(/"msg":"drain finished".*"completed":1/);
      // {jobId} keeps its summary answer.
      const second = await harness(t.db).receive(
        await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened') }),
      );
      const byId = await fetch(early.base, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
        body: JSON.stringify({ jobId: second.body.jobId }),
      });
      expect(byId.status).toBe(200);
      expect(await byId.json()).toMatchObject({ ok: true, claimed: 1, completed: 1 });
    } finally {
      await early.stop();
    }
  });
});
