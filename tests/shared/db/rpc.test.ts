import { createServer, type Server } from 'node:http';
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRepository } from '../../../src/node/seed.ts';
import { createRpcDatabase } from '../../../src/shared/db/rpc.ts';
import { functionCall } from '../../../src/shared/db/sql.ts';
import type { SqlFunction } from '../../../src/shared/db/port.ts';
import { DatabaseUnavailableError } from '../../../src/shared/errors.ts';
import { payloadFor, signedRequest } from '../../helpers/deliveries.ts';
import { listenLocal } from '../../helpers/net.ts';
import { harness } from '../../helpers/receive-harness.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.ts';

const SERVICE_KEY = 'test-service-role-key';

interface SeenRequest {
  method: string;
  path: string;
  apikey: string | undefined;
  authorization: string | undefined;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

let t: TestDatabase;
let server: Server;
let baseUrl: string;
const seen: SeenRequest[] = [];

/**
 * A stand-in for PostgREST's `POST /rest/v1/rpc/<fn>`: it checks the request like the real
 * gateway would and runs the function on the test database, answering in PostgREST's shapes
 * (an array for set-returning functions, the bare value for scalar ones).
 */
async function startPostgrestStandIn(): Promise<void> {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    const path = req.url ?? '';
    seen.push({
      method: req.method ?? '',
      path,
      apikey: req.headers.apikey as string | undefined,
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      body,
    });
    const fn = /^\/rest\/v1\/rpc\/([a-z_]+)$/.exec(path)?.[1];
    if (req.method !== 'POST' || !fn || req.headers.apikey !== SERVICE_KEY) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"no"}');
      return;
    }
    try {
      const [meta] = await t.query('select proretset from pg_proc where proname = $1', [fn]);
      const { text, params } = functionCall(fn as SqlFunction, body);
      const rows = await t.query(text, params);
      const payload = meta?.proretset ? rows : rows[0]?.[fn];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    } catch (error) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: (error as Error).message }));
    }
  });
  baseUrl = await listenLocal(server);
}

beforeAll(async () => {
  t = await createTestDatabase();
  await startPostgrestStandIn();
});
afterAll(async () => {
  server?.close();
  await t?.close();
});

describe('supabase-js rpc() adapter', () => {
  it('runs the receive path through PostgREST rpc calls with the service role key', async () => {
    const repo = { fullName: 'acme/rpc-repo', githubId: 777_001 };
    await seedRepository(t.query, { ...repo, workspaces: 12 });
    const client = createClient(baseUrl, SERVICE_KEY, { auth: { persistSession: false, autoRefreshToken: false } });
    const h = harness(createRpcDatabase(client));
    seen.length = 0;

    const { status, body } = await h.receive(
      await signedRequest({ event: 'pull_request', payload: payloadFor('pull_request', repo, (p) => p.action === 'opened') }),
    );
    expect(status).toBe(202);
    const [job] = await t.query('select id, type from background_jobs where repository = $1', [repo.fullName]);
    expect(body.jobId).toBe(job?.id);

    // A queued delivery is one round trip.
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /rest/v1/rpc/receive_webhook_delivery']);
    for (const request of seen) {
      expect(request.apikey).toBe(SERVICE_KEY);
      expect(request.authorization).toBe(`Bearer ${SERVICE_KEY}`);
      expect(request.contentType).toMatch(/application\/json/);
    }
    expect(seen[0]?.body).toMatchObject({
      p_delivery_id: body.delivery,
      p_body_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      p_event: 'pull_request',
      p_action: 'opened',
      p_repository_github_id: repo.githubId,
      p_repository: repo.fullName,
      p_kick_hold_seconds: 10,
      p_job: { type: 'webhook/pull_request', priority: 10, coalesce_key: null },
    });
  });

  it('runs a quick event inline through rpc: inspect, the work, then record', async () => {
    const repo = { fullName: 'acme/rpc-quick', githubId: 777_002 };
    await seedRepository(t.query, { ...repo, workspaces: 3 });
    const client = createClient(baseUrl, SERVICE_KEY, { auth: { persistSession: false, autoRefreshToken: false } });
    const h = harness(createRpcDatabase(client));
    seen.length = 0;
    const { status, body } = await h.receive(await signedRequest({ event: 'repository', payload: payloadFor('repository', repo) }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ route: 'inline', workspaces: 3, eventsSent: 3 });
    expect(seen.map((r) => r.path)).toEqual(['/rest/v1/rpc/inspect_webhook_delivery', '/rest/v1/rpc/record_webhook_delivery']);
    expect(seen[0]?.body).toEqual({
      p_delivery_id: body.delivery,
      p_body_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      p_repository_github_id: repo.githubId,
      p_repository: repo.fullName,
      p_id_limit: 10,
    });
    expect(seen[1]?.body).toMatchObject({ p_delivery_id: body.delivery, p_route: 'inline', p_status_code: 200 });
  });

  it('returns scalar results as one row named after the function', async () => {
    const client = createClient(baseUrl, SERVICE_KEY, { auth: { persistSession: false } });
    const rows = await createRpcDatabase(client).call('mark_workspaces_cache_stale', { p_workspace_ids: [] });
    expect(rows).toEqual([{ mark_workspaces_cache_stale: 0 }]);
  });

  it('turns PostgREST errors and unreachable servers into DatabaseUnavailableError', async () => {
    const wrongKey = createRpcDatabase(createClient(baseUrl, 'wrong', { auth: { persistSession: false } }));
    await expect(wrongKey.call('count_pending_webhook_jobs', {})).rejects.toBeInstanceOf(DatabaseUnavailableError);
    const nowhere = createRpcDatabase(createClient('http://127.0.0.1:1', SERVICE_KEY, { auth: { persistSession: false } }));
    await expect(nowhere.call('count_pending_webhook_jobs', {})).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });
});
