import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type EnvRecord } from '../../../src/shared/config.ts';
import type { Database } from '../../../src/shared/db/port.ts';
import { handleDrainRequest } from '../../../src/shared/drain/http.ts';
import { createDrainHandler } from '../../../src/shared/drain/service.ts';
import { DatabaseUnavailableError } from '../../../src/shared/errors.ts';
import { drainSettings, insertJobs, jobRow, repoIn, resetQueue, settlesRound, spyDatabase, stubSender, type TestRepo } from '../../helpers/drain.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.ts';

const URL_ = 'http://localhost/functions/v1/process-webhook';
const SECRET = 's';
const SERVICE_KEY = 'k';

let t: TestDatabase;
let repo: TestRepo;

beforeAll(async () => {
  t = await createTestDatabase();
  repo = await repoIn(t.query, 1, 'http');
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await resetQueue(t.query);
});

function handlerFor(env: EnvRecord = { PROCESS_WEBHOOK_SECRET: SECRET, SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY }, db: Database = t.db) {
  return createDrainHandler(loadConfig(env), { db, sender: stubSender() });
}

function post(body: string | undefined, token: string | null = SECRET, headers: Record<string, string> = {}): Request {
  return new Request(URL_, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    ...(body === undefined ? {} : { body }),
  });
}

async function call(handler: (r: Request) => Promise<Response>, request: Request) {
  const response = await handler(request);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: response.status, body: (await response.json()) as Record<string, any>, response };
}

const SUMMARY_FIELDS = ['claimed', 'completed', 'retried', 'failed', 'deferred', 'remaining'] as const;

describe('handleDrainRequest', () => {
  it('405 with Allow: POST for GET', async () => {
    const { status, body, response } = await call(handlerFor(), new Request(URL_, { method: 'GET' }));
    expect(status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(body.ok).toBe(false);
  });

  it('500 when no token is configured, even for a caller with a bearer token', async () => {
    const [id] = await insertJobs(t.query, { repo, count: 1 });
    const db = spyDatabase(t.db);
    const { status, body } = await call(handlerFor({}, db), post('{}', 'anything'));
    expect(status).toBe(500);
    expect(body.error).toMatch(/PROCESS_WEBHOOK_SECRET/);
    expect(db.calls).toEqual([]);
    expect((await jobRow(t.query, id!)).status).toBe('queued');
  });

  it.each([
    ['no Authorization header', post('{}', null)],
    ['a wrong bearer token', post('{}', 'wrong')],
    ['the secret as Basic credentials', post('{}', null, { authorization: `Basic ${SECRET}` })],
    ['an empty bearer', post('{}', null, { authorization: 'Bearer ' })],
    ['the secret with extra characters', post('{}', `${SECRET}x`)],
    ['the secret of another header', post('{}', null, { 'x-authorization': `Bearer ${SECRET}` })],
  ])('401 for %s, and nothing claimed', async (_name, request) => {
    const [id] = await insertJobs(t.query, { repo, count: 1 });
    const db = spyDatabase(t.db);
    const { status, body } = await call(handlerFor(undefined, db), request);
    expect(status).toBe(401);
    expect(body.ok).toBe(false);
    expect(db.calls).toEqual([]);
    expect(await jobRow(t.query, id!)).toMatchObject({ status: 'queued', locked_by: null, retry_count: 0 });
  });

  it.each([
    ['a body that is not JSON', '{not json'],
    ['a JSON array', '[]'],
    ['a JSON string', '"x"'],
    ['jobId that is not a uuid', '{"jobId":"123"}'],
    ['jobId that is a number', '{"jobId":123}'],
  ])('400 for %s, and nothing claimed', async (_name, text) => {
    const [id] = await insertJobs(t.query, { repo, count: 1 });
    const { status, body } = await call(handlerFor(), post(text));
    expect(status).toBe(400);
    expect(body.ok).toBe(false);
    expect((await jobRow(t.query, id!)).status).toBe('queued');
  });

  it.each([
    ['{}', '{}'],
    ['an empty body', undefined],
  ])('200 with the summary for %s: drains the queue', async (_name, text) => {
    const ids = await insertJobs(t.query, { repo, count: 3 });
    const { status, body } = await call(handlerFor(), post(text));
    expect(status).toBe(200);
    for (const field of SUMMARY_FIELDS) expect(typeof body[field]).toBe('number');
    expect(body).toMatchObject({ ok: true, claimed: 3, completed: 3, retried: 0, failed: 0, deferred: 0, remaining: 0 });
    expect(body.worker).toMatch(/^drain-/);
    for (const id of ids) expect((await jobRow(t.query, id)).status).toBe('completed');
  });

  it('200 with the summary for {jobId}: runs only that job', async () => {
    const ids = await insertJobs(t.query, { repo, count: 3 });
    const { status, body } = await call(handlerFor(), post(JSON.stringify({ jobId: ids[1] })));
    expect(status).toBe(200);
    expect(body).toMatchObject({ ok: true, claimed: 1, completed: 1, retried: 0, failed: 0, deferred: 0, remaining: 2 });
    expect((await jobRow(t.query, ids[1]!)).status).toBe('completed');
    expect((await jobRow(t.query, ids[0]!)).status).toBe('queued');
  });

  it('200 and nothing claimed for an unknown jobId', async () => {
    await insertJobs(t.query, { repo, count: 1 });
    const { status, body } = await call(handlerFor(), post(JSON.stringify({ jobId: crypto.randomUUID() })));
    expect(status).toBe(200);
    expect(body).toMatchObject({ claimed: 0, remaining: 1 });
  });

  it('accepts the service role key as well as the secret, and either alone when only one is set', async () => {
    await insertJobs(t.query, { repo, count: 1 });
    const both = handlerFor();
    expect((await call(both, post('{}', SERVICE_KEY))).body).toMatchObject({ ok: true, claimed: 1 });
    expect((await call(both, post('{}', SECRET))).status).toBe(200);
    expect((await call(handlerFor({ SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY }), post('{}', SERVICE_KEY))).status).toBe(200);
    expect((await call(handlerFor({ SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY }), post('{}', SECRET))).status).toBe(401);
    expect((await call(handlerFor({ PROCESS_WEBHOOK_SECRET: SECRET }), post('{}', SERVICE_KEY))).status).toBe(401);
  });

  it('503 when the database is unavailable', async () => {
    const down: Database = {
      async call() {
        throw new DatabaseUnavailableError('connection refused');
      },
    };
    const logs: Record<string, unknown>[] = [];
    const response = await handleDrainRequest(post('{}'), {
      db: down,
      sender: stubSender(),
      settings: drainSettings(),
      tokens: [SECRET],
      newWorkerId: () => 'w-503',
      log: (e) => logs.push(e),
    });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ ok: false, worker: 'w-503' });
    expect(logs).toEqual([expect.objectContaining({ msg: 'drain: database unavailable', worker: 'w-503' })]);
  });

  describe('where the runtime can keep working after the answer (EdgeRuntime.waitUntil)', () => {
    function earlyHandler(kept: Promise<unknown>[], db: Database = t.db) {
      return createDrainHandler(loadConfig({ PROCESS_WEBHOOK_SECRET: SECRET }), {
        db,
        sender: stubSender(),
        waitUntil: (work) => kept.push(work),
      });
    }

    it('{} answers 202 with what the first claim took and drains on in the background', async () => {
      const ids = await insertJobs(t.query, { repo, count: 3 });
      // Hold the round's settle until the answer is out, to show the answer does not wait for it.
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      const db: Database = {
        async call(fn, args) {
          if (settlesRound(fn, args)) await gate;
          return t.db.call(fn, args);
        },
      };
      const kept: Promise<unknown>[] = [];
      const { status, body } = await call(earlyHandler(kept, db), post('{}'));
      expect(status).toBe(202);
      expect(body).toMatchObject({ ok: true, claimed: 3, background: true });
      expect(body.worker).toMatch(/^drain-/);
      expect(kept).toHaveLength(1);
      for (const id of ids) expect((await jobRow(t.query, id)).status).toBe('processing');
      release();
      await Promise.all(kept);
      for (const id of ids) expect((await jobRow(t.query, id)).status).toBe('completed');
    });

    it('{jobId} still answers 200 with the summary after running that job', async () => {
      const [id] = await insertJobs(t.query, { repo, count: 1 });
      const kept: Promise<unknown>[] = [];
      const { status, body } = await call(earlyHandler(kept), post(JSON.stringify({ jobId: id })));
      expect(status).toBe(200);
      expect(body).toMatchObject({ ok: true, claimed: 1, completed: 1 });
      expect(kept).toHaveLength(0);
    });

    it('503 when the first claim cannot reach the database', async () => {
      const down: Database = {
        async call() {
          throw new DatabaseUnavailableError('connection refused');
        },
      };
      const kept: Promise<unknown>[] = [];
      const { status, body } = await call(earlyHandler(kept, down), post('{}'));
      expect(status).toBe(503);
      expect(body).toMatchObject({ ok: false, error: 'The database is unavailable.' });
    });
  });
});
