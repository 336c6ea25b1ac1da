import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { zipFunctions } from '@netlify/zip-it-and-ship-it';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';
import { cliEnv } from '../helpers/cli.ts';
import { newDeliveryId, payloadFor, signedRequest } from '../helpers/deliveries.ts';

const FUNCTIONS = ['api-workspaces-webhook-hybrid', 'api-workspaces-webhook'];
const CALLER = join(PROJECT_ROOT, 'tests/helpers/call-netlify-function.mjs');
const SECRET = 'bundle-test-webhook-secret';

type Answer = { status: number; headers: Record<string, string>; body: string };

let out: string | null = null;
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

/** Writes every file of the zip under `dir`, as Netlify unpacks it. */
async function unzipTo(zipPath: string, dir: string): Promise<void> {
  for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(await readFile(zipPath))))) {
    if (name.endsWith('/')) continue;
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
}

/** Calls the module's default export in a plain Node process whose only secrets are `secrets`. */
function callFunction(modulePath: string, requests: RequestInit[], secrets: Record<string, string> = { GITHUB_WEBHOOK_SECRET: SECRET }): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CALLER, modulePath, JSON.stringify(requests)], {
      cwd: dirname(modulePath),
      env: cliEnv(secrets),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`the function exited with ${code}:\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trimEnd().split('\n').pop() ?? '') as Answer[]);
      } catch (error) {
        reject(new Error(`no answers in the output:\n${stdout}\n${stderr}`, { cause: error }));
      }
    });
  });
}

describe('Netlify bundle', () => {
  it('bundles each function offline as a v2 function that includes the shared core, and each zip answers as deployed', async () => {
    out = await mkdtemp(join(tmpdir(), 'wr-zip-'));
    const results = await zipFunctions(join(PROJECT_ROOT, 'netlify/functions'), out, {
      basePath: PROJECT_ROOT,
      config: { '*': { nodeBundler: 'esbuild' } },
    });
    const byName = Object.fromEntries(results.map((r) => [r.name, r]));

    const delivery = newDeliveryId();
    const signed = await signedRequest({ event: 'ping', payload: payloadFor('ping', null), delivery, secret: SECRET });
    const body = await signed.clone().text();
    const headers = Object.fromEntries(signed.headers);
    const { 'x-hub-signature-256': signature, ...unsigned } = headers;
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);

    for (const name of FUNCTIONS) {
      const fn = byName[name];
      expect(fn, name).toBeDefined();
      expect(fn?.runtimeAPIVersion).toBe(2);
      // v2 functions are always packed by nft (esbuild compiles the function and its local
      // imports; npm packages ship as traced files), whatever node_bundler says.
      expect(fn?.bundler).toBe('nft');
      const inputs = (fn?.inputs ?? []).map((p) => p.slice(PROJECT_ROOT.length + 1));
      for (const file of ['src/shared/receive/receive.ts', 'src/shared/github/verify.ts', 'src/shared/routing/policy.ts', 'src/node/netlify.ts']) {
        expect(inputs, `${name} includes ${file}`).toContain(file);
      }
      // Node-only CLI code and tests must not ride along.
      expect(inputs.some((p) => p.startsWith('src/cli/') || p.startsWith('tests/'))).toBe(false);

      // The zip as Netlify receives it: its entry point names the module it serves.
      const unpacked = join(out, 'unpacked', name);
      await unzipTo(fn?.path as string, unpacked);
      const entry = await readFile(join(unpacked, fn?.entryFilename as string), 'utf8');
      const served = /getLambdaHandler\('\.\/([^']+)'\)/.exec(entry)?.[1];
      expect(served, entry).toBe(`netlify/functions/${name}.mjs`);

      const [get, unsignedPost, signedPing] = await callFunction(join(unpacked, served as string), [
        { method: 'GET' },
        { method: 'POST', headers: unsigned, body },
        { method: 'POST', headers, body },
      ]);
      expect(get?.status, name).toBe(405);
      expect(get?.headers.allow).toBe('POST');
      expect(unsignedPost?.status, `${name}: ${unsignedPost?.body}`).toBe(401);
      expect(JSON.parse(unsignedPost?.body ?? '{}')).toMatchObject({ ok: false, delivery });
      // The same body signed with the secret gets past verification (the 401 was the signature)
      // and stops at the next step: no database is configured in this process.
      expect(signedPing?.status, `${name}: ${signedPing?.body}`).toBe(503);
      expect(JSON.parse(signedPing?.body ?? '{}').error).toMatch(/No database is configured/);
    }

    // The status page's data endpoint: refuses everything without STATUS_PAGE_TOKEN, then checks it.
    const status = byName['api-webhook-status'];
    expect(status?.runtimeAPIVersion).toBe(2);
    const statusInputs = (status?.inputs ?? []).map((p) => p.slice(PROJECT_ROOT.length + 1));
    expect(statusInputs).toContain('src/shared/status/handler.ts');
    expect(statusInputs.some((p) => p.startsWith('src/cli/') || p.startsWith('tests/'))).toBe(false);
    const unpacked = join(out, 'unpacked', 'api-webhook-status');
    await unzipTo(status?.path as string, unpacked);
    const module = join(unpacked, 'netlify/functions/api-webhook-status.mjs');
    const get = (authorization?: string): RequestInit => ({ method: 'GET', headers: authorization ? { authorization } : {} });
    const [closed] = await callFunction(module, [get('Bearer status-token')], {});
    expect(closed?.status).toBe(500);
    expect(JSON.parse(closed?.body ?? '{}').error).toMatch(/^STATUS_PAGE_TOKEN is not set/);
    const [missing, wrong, right, post] = await callFunction(
      module,
      [get(), get('Bearer not-it'), get('Bearer status-token'), { method: 'POST' }],
      { STATUS_PAGE_TOKEN: 'status-token' },
    );
    expect([missing?.status, wrong?.status, post?.status]).toEqual([401, 401, 405]);
    // Past the token it needs a database, and none is configured in this process.
    expect(right?.status).toBe(500);
    expect(JSON.parse(right?.body ?? '{}').error).toMatch(/^No database configured/);
  }, 120_000);
});
