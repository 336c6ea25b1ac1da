// The drain as Supabase receives it: the pinned Supabase CLI deploys process-webhook with
// `--use-api` to a local stand-in of the Management API, and exactly the uploaded files are
// then served by Deno from an empty directory, with an empty DENO_DIR and no node_modules (npm
// packages come from the registry, as on Supabase), with the environment a Supabase function
// gets. It drains a real queued job on real Postgres and sends to a local Inngest.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';
import { seedRepository } from '../../src/node/seed.ts';
import { eventId, METRICS_AGGREGATE_EVENT } from '../../src/shared/inngest/events.ts';
import { startInngestStandIn, type InngestStandIn } from '../helpers/inngest-standin.ts';
import { cliEnv } from '../helpers/cli.ts';
import { freePort } from '../helpers/net.ts';
import { newDeliveryId, payloadFor, signedRequest } from '../helpers/deliveries.ts';
import { MiB, readNpmCache } from '../helpers/deno-npm-cache.ts';
import { DENO, serveFunction, type ServedFunction } from '../helpers/edge-function.ts';
import { startManagementApi, type ManagementApi, type Upload } from '../helpers/management-api.ts';
import { harness } from '../helpers/receive-harness.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../helpers/test-db.ts';

const SUPABASE = join(PROJECT_ROOT, 'node_modules/.bin/supabase');
const PROJECT_REF = 'wrtestprojectrefabcd';
const FUNCTION = 'process-webhook';
const DRAIN_SECRET = 'upload-test-drain-secret';
const EVENT_KEY = 'upload-test-event-key';
// Supabase caps a function bundled server-side (--use-api) at 5 MB.
const BUNDLE_LIMIT_BYTES = 5 * MiB;
// The first start fetches npm packages from the registry into the empty DENO_DIR.
const START_TIMEOUT_MS = 90_000;

type Exit = { code: number | null; stdout: string; stderr: string };

function run(command: string, args: string[], options: { cwd: string; env: Record<string, string> }, timeoutMs = 60_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** How this machine reaches the npm registry (a proxy, its CA), passed on to Deno unchanged. */
function registryAccess(): Record<string, string> {
  const names = [
    ...['NPM_CONFIG_REGISTRY', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'],
    // Deno reads an extra CA from NODE_EXTRA_CA_CERTS too (a proxy that re-signs TLS needs it).
    ...['NODE_EXTRA_CA_CERTS', 'DENO_CERT', 'DENO_TLS_CA_STORE', 'SSL_CERT_FILE', 'SSL_CERT_DIR'],
  ];
  return Object.fromEntries(names.filter((name) => process.env[name]).map((name) => [name, process.env[name] as string]));
}

/** Writes the uploaded files, and nothing else, under `dir`. */
async function writeUpload(upload: Upload, dir: string): Promise<void> {
  for (const [path, bytes] of upload.files) {
    const target = join(dir, path);
    expect(target.startsWith(`${dir}/`), path).toBe(true);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes);
  }
}

describe('process-webhook as `supabase functions deploy --use-api` uploads it', () => {
  reportSkip('the uploaded Edge Function under Deno', 'the Deno process connects over TCP; PGlite is in-process (set DATABASE_URL to run it)');

  let t: TestDatabase;
  let api: ManagementApi;
  let inngest: InngestStandIn;
  let work: string;
  let served: ServedFunction | undefined;

  beforeAll(async () => {
    api = await startManagementApi();
    work = await mkdtemp(join(tmpdir(), 'wr-upload-'));
    if (!onPostgres) return;
    t = await createTestDatabase();
    inngest = await startInngestStandIn();
  });

  afterAll(async () => {
    await served?.stop();
    await inngest?.close();
    await api?.close();
    await t?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  // Needs no database: runs on PGlite runs too.
  it('the pinned CLI uploads the entrypoint, its import map and the sources they import; no Docker, no bundling here', async () => {
    const home = join(work, 'home');
    await mkdir(home);
    // A profile file points the CLI at the stand-in instead of api.supabase.com.
    const profile = join(work, 'profile.yaml');
    await writeFile(
      profile,
      [`name: stand-in`, `api_url: ${api.url}`, `dashboard_url: ${api.url}/dashboard`, `project_host: supabase.invalid`, ''].join('\n'),
    );
    const token = `sbp_${randomBytes(20).toString('hex')}`;
    const deployed = await run(
      SUPABASE,
      ['functions', 'deploy', FUNCTION, '--use-api', '--no-verify-jwt', '--project-ref', PROJECT_REF],
      {
        cwd: PROJECT_ROOT,
        env: cliEnv({
          HOME: home,
          SUPABASE_PROFILE: profile,
          SUPABASE_ACCESS_TOKEN: token,
          SUPABASE_TELEMETRY_DISABLED: '1',
          DO_NOT_TRACK: '1',
        }),
      },
    );
    expect(deployed.code, `${deployed.stdout}\n${deployed.stderr}`).toBe(0);
    expect(api.unknown, 'every call the CLI made is one the stand-in knows').toEqual([]);
    for (const request of api.requests) {
      expect(request.path.startsWith(`/v1/projects/${PROJECT_REF}`), request.path).toBe(true);
      expect(request.headers.authorization).toBe(`Bearer ${token}`);
    }
    const deploys = api.requests.filter((r) => r.method === 'POST');
    expect(deploys.map((r) => ({ path: r.path, query: r.query }))).toEqual([
      { path: `/v1/projects/${PROJECT_REF}/functions/deploy`, query: { slug: FUNCTION } },
    ]);
    expect(deploys[0]?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);

    expect(api.uploads).toHaveLength(1);
    const [upload] = api.uploads as [Upload];
    expect(upload.metadata).toEqual({
      entrypoint_path: `supabase/functions/${FUNCTION}/index.ts`,
      import_map_path: `supabase/functions/${FUNCTION}/deno.json`,
      name: FUNCTION,
      verify_jwt: false,
      static_patterns: [],
    });

    // Exactly the local modules of the entrypoint's graph, byte for byte, plus the import map.
    const info = await run(DENO, ['info', '--json', '--config', 'tests/deno/deno.json', upload.metadata.entrypoint_path], {
      cwd: PROJECT_ROOT,
      env: cliEnv(),
    });
    expect(info.code, info.stderr).toBe(0);
    const graph = JSON.parse(info.stdout) as { modules: { specifier: string }[] };
    const local = graph.modules
      .map((m) => m.specifier)
      .filter((s) => s.startsWith('file://'))
      .map((s) => decodeURIComponent(new URL(s).pathname).slice(PROJECT_ROOT.length + 1))
      // tests/deno/deno.json resolves npm packages from node_modules; the upload carries none.
      .filter((path) => !path.startsWith('node_modules/'));
    expect([...upload.files.keys()].sort()).toEqual([...local, upload.metadata.import_map_path].sort());
    for (const [path, bytes] of upload.files) {
      expect(Buffer.from(bytes).equals(await readFile(join(PROJECT_ROOT, path))), path).toBe(true);
    }
    // The Edge build sends through the Event API: nothing uploaded imports the Inngest SDK.
    expect([...upload.files.keys()].filter((p) => p.includes('sdk-sender'))).toEqual([]);
    for (const [path, bytes] of upload.files) expect(Buffer.from(bytes).toString(), path).not.toMatch(/from ['"]inngest['"]/);

    const uploadedBytes = [...upload.files.values()].reduce((sum, b) => sum + b.byteLength, 0);
    console.log(`[upload] ${upload.files.size} files, ${(uploadedBytes / 1024).toFixed(1)} KiB uploaded by the CLI`);
  });

  it.skipIf(!onPostgres)('the uploaded files alone, with an empty DENO_DIR and no node_modules, drain a queued job and send its events to Inngest', async () => {
    const [upload] = api.uploads as [Upload];
    expect(upload, 'the upload from the test before').toBeDefined();
    const root = join(work, 'function');
    const denoDir = join(work, 'deno-dir');
    await mkdir(denoDir);
    await writeUpload(upload, root);

    // A real queued job: a pull_request delivery for a repository in 12 workspaces (> threshold 10).
    const repo = { fullName: 'upload/repo', githubId: 880_001 };
    const { workspaceIds } = await seedRepository(t.query, { ...repo, workspaces: 12 });
    const delivery = newDeliveryId();
    const payload = payloadFor('pull_request', repo, (p) => p.action === 'opened');
    const queued = await harness(t.db).receive(await signedRequest({ event: 'pull_request', payload, delivery }));
    expect(queued.body).toMatchObject({ route: 'queued', workspaces: 12 });
    const jobId = queued.body.jobId as string;

    served = await serveFunction({
      args: [
        'run',
        '--allow-net',
        '--allow-env',
        '--allow-read',
        // The directory holds exactly what was uploaded; no lock file is written into it.
        '--no-lock',
        '--config',
        join(root, upload.metadata.import_map_path as string),
        join(root, upload.metadata.entrypoint_path),
      ],
      cwd: root,
      env: cliEnv({
        DENO_DIR: denoDir,
        // What Supabase gives every function, plus the secrets the README says to set.
        SUPABASE_URL: 'http://127.0.0.1:1',
        SUPABASE_ANON_KEY: 'anon-key-unused-here',
        SUPABASE_SERVICE_ROLE_KEY: 'service-role-key-unused-here',
        SUPABASE_DB_URL: t.url as string,
        PROCESS_WEBHOOK_SECRET: DRAIN_SECRET,
        INNGEST_EVENT_KEY: EVENT_KEY,
        INNGEST_BASE_URL: inngest.url,
        ...registryAccess(),
      }),
      port: await freePort(),
      startTimeoutMs: START_TIMEOUT_MS,
    });
    const { base } = served;
    console.log(`[upload] the uploaded function answered after ${served.startMs} ms (npm packages fetched into an empty DENO_DIR)`);
    const probe = await fetch(base, { method: 'GET' });
    expect(probe.status).toBe(405);
    expect(probe.headers.get('allow')).toBe('POST');
    await probe.body?.cancel();

    const answer = await fetch(base, {
      method: 'POST',
      headers: { authorization: `Bearer ${DRAIN_SECRET}`, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(30_000),
    });
    // 200 with the summary, or 202 while it keeps draining in the background: the row decides.
    expect([200, 202], await answer.clone().text()).toContain(answer.status);
    await answer.body?.cancel();
    const deadline = Date.now() + 30_000;
    let status: unknown;
    while (Date.now() < deadline) {
      const [row] = await t.query('select status from background_jobs where id = $1', [jobId]);
      status = row?.status;
      if (status === 'completed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status, served.output()).toBe('completed');

    // What reached Inngest: POST /e/<key> with JSON arrays, one aggregate event per workspace.
    expect(inngest.requests.length).toBeGreaterThan(0);
    for (const request of inngest.requests) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe(`/e/${EVENT_KEY}`);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toBe('webhook-router (Inngest Event API)');
      expect(Array.isArray(request.body)).toBe(true);
    }
    const sent = inngest.requests.flatMap((r) => r.body as Record<string, unknown>[]);
    const expected = await Promise.all(
      workspaceIds.map(async (workspaceId) => ({
        name: METRICS_AGGREGATE_EVENT,
        id: await eventId({ source: delivery, workspaceId, name: METRICS_AGGREGATE_EVENT }),
        data: {
          workspaceId,
          repository: repo.fullName,
          repositoryId: repo.githubId,
          deliveryIds: [delivery],
          reason: 'pull_request',
          action: 'opened',
          pullRequestNumber: payload.pull_request.number,
          merged: false,
        },
      })),
    );
    const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.id).localeCompare(String(b.id));
    expect(sent.map(({ ts: _ts, ...event }) => event).sort(byId)).toEqual(expected.sort(byId));
    for (const event of sent) expect(typeof event.ts).toBe('number');

    // Deno fetched from the registry into the empty DENO_DIR; nothing was installed beside the files.
    expect(existsSync(join(root, 'node_modules'))).toBe(false);
    const cache = await readNpmCache(denoDir);
    const info = await run(DENO, ['info', '--json', '--no-lock', '--config', upload.metadata.import_map_path as string, upload.metadata.entrypoint_path], {
      cwd: root,
      env: cliEnv({ DENO_DIR: denoDir, ...registryAccess() }),
    });
    expect(info.code, info.stderr).toBe(0);
    // The whole graph, type-only imports included, resolves no package the run did not fetch.
    const resolved = Object.keys((JSON.parse(info.stdout) as { npmPackages: Record<string, unknown> }).npmPackages).sort();
    expect(resolved).toEqual(cache.packages);
    console.log(
      `[upload] npm packages the uploaded function resolves: ${cache.packages.length} (${cache.packages.join(', ')}), ` +
        `${cache.files} files, ${(cache.bytes / MiB).toFixed(2)} MiB (limit ${BUNDLE_LIMIT_BYTES / MiB} MiB)`,
    );
    for (const name of ['inngest', '@octokit/webhooks-methods', '@octokit/openapi-webhooks-types']) {
      expect(cache.packages.filter((p) => p.startsWith(`${name}@`)), name).toEqual([]);
    }
    expect(cache.bytes).toBeLessThan(BUNDLE_LIMIT_BYTES);
  }, START_TIMEOUT_MS + 90_000);
});
