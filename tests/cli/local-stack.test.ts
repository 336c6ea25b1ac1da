// The local stack end to end, as a developer runs it: `webhook-router start` as a child process,
// then seed/send/stats as further child processes that find it through <data dir>/stack.json.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenLocal } from '../helpers/net.ts';
import { METRICS_AGGREGATE_EVENT, REPOSITORY_CHANGED_EVENT } from '../../src/shared/inngest/events.ts';
import {
  cliEnv,
  DRAIN_PATH,
  eventually,
  HYBRID_PATH,
  readStack,
  runCli,
  startStack,
  SYNC_PATH,
  type CliResult,
  type RunningStack,
} from '../helpers/cli.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../helpers/test-db.ts';

type Event = { name: string; id: string; data: Record<string, unknown> };
type StatsJson = {
  since: string;
  jobs: Record<string, unknown>[];
  routes: Record<string, unknown>[];
  repositories: Record<string, unknown>[];
  failures: Record<string, unknown>[];
  events: { total: number; byName: Record<string, number>; latest: Record<string, unknown>[] } | null;
};

/** "202 push delivery <guid>\n{json}\n" → the status, guid and answer. */
function sent(result: CliResult): { status: number; delivery: string; body: Record<string, any> } {
  const [head, body] = result.stdout.trim().split('\n');
  const match = /^(\d{3}) (\S+) delivery (\S+)$/.exec(head ?? '');
  if (!match) throw new Error(`unexpected send output:\n${result.stdout}\n${result.stderr}`);
  return { status: Number(match[1]), delivery: match[3] as string, body: JSON.parse(body ?? 'null') };
}

async function events(stack: RunningStack): Promise<Event[]> {
  const response = await fetch(`${stack.base}/_local/events`, { headers: { authorization: `Bearer ${stack.stack.adminToken}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: Event[] }).events;
}

function jobsOf(stats: StatsJson): Record<string, Record<string, unknown>> {
  return Object.fromEntries(stats.jobs.map((row) => [String(row.type), row]));
}

/** The whole flow, against PGlite (no DATABASE_URL) or a real Postgres database. */
function localStackFlow(kind: 'pglite' | 'postgres') {
  const enabled = kind === 'pglite' || onPostgres;
  let t: TestDatabase | undefined;
  let dataDir = '';
  let env: Record<string, string> = {};
  let stack: RunningStack | undefined;
  let restarted: RunningStack | undefined;
  const cli = (...args: string[]) => runCli(args, env);
  const pushed: { delivery: string; jobId: string } = { delivery: '', jobId: '' };
  const changed: { delivery: string; jobId: string } = { delivery: '', jobId: '' };

  beforeAll(async () => {
    if (!enabled) return;
    dataDir = mkdtempSync(join(tmpdir(), `wr-cli-${kind}-`));
    if (kind === 'postgres') t = await createTestDatabase();
    env = cliEnv({ WEBHOOK_ROUTER_DATA_DIR: dataDir, ...(t?.url ? { DATABASE_URL: t.url } : {}) });
    stack = await startStack(env, { drainIntervalSeconds: 1 });
  });

  afterAll(async () => {
    await stack?.stop(5_000);
    await restarted?.stop(5_000);
    await t?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it.skipIf(!enabled)('prints a banner with the three URLs, the database and the generated secret', () => {
    const s = stack as RunningStack;
    const banner = s.stdout();
    expect(banner).toContain(`http://127.0.0.1:${s.port}${HYBRID_PATH}`);
    expect(banner).toContain(`http://127.0.0.1:${s.port}${SYNC_PATH}`);
    expect(banner).toContain(`http://127.0.0.1:${s.port}${DRAIN_PATH}`);
    expect(banner).toContain(kind === 'pglite' ? 'PGlite' : 'PostgreSQL');
    // A fresh PGlite gets every migration; the Postgres test database is a clone the Supabase CLI
    // migrated, whose history the stack's migrator adopts instead of running the files again.
    const migrations = readdirSync(join(import.meta.dirname, '../../supabase/migrations')).filter((f) => f.endsWith('.sql')).sort();
    if (kind === 'pglite') expect(banner).toContain(`(applied ${migrations.join(', ')})`);
    expect(banner).toMatch(
      kind === 'pglite'
        ? /PGlite \(embedded\) in \S+ \(applied /
        : /PostgreSQL postgres:\/\/\S+ \(recorded \d+ migrations the Supabase CLI had applied; database is up to date\)/,
    );
    expect(s.stack.database).toBe(kind);
    const secret = /generated for development: ([0-9a-f]+)/.exec(banner)?.[1];
    expect(secret).toMatch(/^[0-9a-f]{32}$/);
    expect(secret).toBe(s.stack.devSecret);
    expect(s.stack.url).toBe(s.base);
  });

  if (kind === 'pglite') {
    it('a second start on the same data dir is refused and leaves the running stack alone', async () => {
      const s = stack as RunningStack;
      const result = await cli('start', '--port', String(s.port + 1));
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`error: a local stack already runs from ${dataDir} (pid ${s.stack.pid}, ${s.base}); stop it first\n`);
      expect(readStack(dataDir)).toEqual(s.stack);
    });
  }

  it.skipIf(!enabled)('seed --repo acme/widgets --workspaces 12', async () => {
    const result = await cli('seed', '--repo', 'acme/widgets', '--workspaces', '12');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/seeded acme\/widgets .* in 12 active workspaces/);
  });

  it.skipIf(!enabled)('send push and repository: 202 with a job each, drained to 12 + 12 events', async () => {
    const s = stack as RunningStack;
    const [push, repository] = await Promise.all([
      cli('send', 'push', '--repo', 'acme/widgets'),
      cli('send', 'repository', '--repo', 'acme/widgets'),
    ]);
    for (const [result, event] of [
      [push, 'push'],
      [repository, 'repository'],
    ] as const) {
      expect(result.code, result.stderr).toBe(0);
      const answer = sent(result);
      expect(answer.status).toBe(202);
      expect(result.stdout).toMatch(new RegExp(`^202 ${event} delivery `));
      expect(answer.body).toMatchObject({ ok: true, route: 'queued', workspaces: 12, jobId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      Object.assign(event === 'push' ? pushed : changed, { delivery: answer.delivery, jobId: answer.body.jobId });
    }

    const recorded = await eventually(async () => {
      const all = await events(s);
      return all.length >= 24 ? all : undefined;
    }, 10_000, '24 recorded events');
    const aggregate = recorded.filter((e) => e.name === METRICS_AGGREGATE_EVENT);
    const repoChanged = recorded.filter((e) => e.name === REPOSITORY_CHANGED_EVENT);
    expect(aggregate).toHaveLength(12);
    expect(repoChanged).toHaveLength(12);
    expect(recorded).toHaveLength(24);
    // A push job's events derive from the job, a repository job's from its delivery.
    for (const e of aggregate) expect(e.id).toContain(pushed.jobId);
    for (const e of repoChanged) expect(e.id).toContain(changed.delivery);
    expect(new Set(aggregate.map((e) => e.data.workspaceId)).size).toBe(12);
    expect(new Set(repoChanged.map((e) => e.data.workspaceId)).size).toBe(12);

    const stats = await eventually(async () => {
      const result = await cli('stats', '--json');
      expect(result.code, result.stderr).toBe(0);
      const parsed = JSON.parse(result.stdout) as StatsJson;
      const jobs = jobsOf(parsed);
      return jobs['webhook/push']?.completed === 1 && jobs['webhook/repository']?.completed === 1 ? parsed : undefined;
    }, 10_000, 'both jobs completed in stats --json');
    expect(jobsOf(stats)['webhook/push']).toMatchObject({ total: 1, completed: 1, failed: 0, queued: 0 });
    expect(jobsOf(stats)['webhook/repository']).toMatchObject({ total: 1, completed: 1, failed: 0, queued: 0 });
    expect(stats.routes).toEqual([expect.objectContaining({ route: 'queued', deliveries: 2 })]);
    expect(stats.repositories).toEqual([expect.objectContaining({ repository: 'acme/widgets', deliveries: 2, queued: 2, max_workspaces: 12 })]);
    // The events the stack recorded (no INNGEST_EVENT_KEY), as the README tells users to look at them.
    expect(stats.events).toEqual({
      total: 24,
      byName: { [METRICS_AGGREGATE_EVENT]: 12, [REPOSITORY_CHANGED_EVENT]: 12 },
      latest: recorded
        .slice(-5)
        .reverse()
        .map((e) => ({ name: e.name, id: e.id, workspaceId: e.data.workspaceId })),
    });
    const text = await cli('stats');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('Inngest events recorded by the local stack (no INNGEST_EVENT_KEY): 24\n');
    expect(text.stdout).toMatch(new RegExp(`${METRICS_AGGREGATE_EVENT.replace('.', '\\.')}\\s+12`));

    // One JSON line per delivery and per job in the stack's log.
    const logs = s.log.entries;
    for (const [ids, event] of [
      [pushed, 'push'],
      [changed, 'repository'],
    ] as const) {
      expect(logs.find((l) => l.msg === 'delivery' && l.delivery === ids.delivery)).toMatchObject({
        event,
        status: 202,
        route: 'queued',
        jobId: ids.jobId,
        ms: expect.any(Number),
      });
      expect(logs.filter((l) => l.msg === 'job' && l.jobId === ids.jobId)).toEqual([
        expect.objectContaining({ type: `webhook/${event}`, outcome: 'completed', eventsSent: 12 }),
      ]);
    }
    expect(logs.filter((l) => l.msg === 'inngest events (recorded locally)').length).toBeGreaterThanOrEqual(2);
  });

  it.skipIf(!enabled)('send ping answers 200 and send issues --action opened 202', async () => {
    const [ping, issues] = await Promise.all([cli('send', 'ping'), cli('send', 'issues', '--action', 'opened', '--repo', 'acme/widgets')]);
    expect(ping.code, ping.stderr).toBe(0);
    expect(sent(ping).status).toBe(200);
    expect(issues.code, issues.stderr).toBe(0);
    expect(sent(issues)).toMatchObject({ status: 202, body: { route: 'queued', workspaces: 12 } });
    const logs = (stack as RunningStack).log.entries;
    expect(logs.find((l) => l.msg === 'delivery' && l.delivery === sent(ping).delivery)).toMatchObject({ event: 'ping', status: 200 });
  });

  it.skipIf(!enabled)('send --url to the original function answers 200 inline with events for 12 workspaces', async () => {
    const s = stack as RunningStack;
    const before = (await events(s)).length;
    const result = await cli('send', 'push', '--repo', 'acme/widgets', '--url', `${s.base}${SYNC_PATH}`);
    expect(result.code, result.stderr).toBe(0);
    const answer = sent(result);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ ok: true, route: 'inline', workspaces: 12, eventsSent: 12 });
    const inline = (await events(s)).slice(before).filter((e) => e.id.includes(answer.delivery));
    expect(inline).toHaveLength(12);
    expect(inline.every((e) => e.name === METRICS_AGGREGATE_EVENT)).toBe(true);
    expect(s.log.entries.find((l) => l.msg === 'delivery' && l.delivery === answer.delivery)).toMatchObject({ status: 200, route: 'inline' });
  });

  it.skipIf(!enabled)('stops on SIGTERM (exit 0, stack.json removed); a restart on the same data dir keeps the jobs', async () => {
    const exit = await (stack as RunningStack).stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(readStack(dataDir)).toBeNull();

    restarted = await startStack(env);
    expect(restarted.stdout()).toContain(kind === 'pglite' ? 'database is up to date' : 'PostgreSQL');
    const result = await cli('stats', '--json');
    expect(result.code, result.stderr).toBe(0);
    const jobs = jobsOf(JSON.parse(result.stdout) as StatsJson);
    expect(jobs['webhook/push']).toMatchObject({ total: 1, completed: 1 });
    expect(jobs['webhook/repository']).toMatchObject({ total: 1, completed: 1 });
    expect(jobs['webhook/issues']).toMatchObject({ total: 1 });
  });

  if (kind === 'postgres') {
    it.skipIf(!enabled)('without DATABASE_URL, verbs go through the running Postgres stack', async () => {
      const { DATABASE_URL: _omitted, ...withoutUrl } = env;
      const result = await runCli(['stats', '--json'], withoutUrl);
      expect(result.code, result.stderr).toBe(0);
      expect(jobsOf(JSON.parse(result.stdout) as StatsJson)['webhook/push']).toMatchObject({ total: 1, completed: 1 });
    });
  }

  if (kind === 'pglite') {
    it('redeliver through the stack uses the caller\'s GITHUB_TOKEN and GITHUB_API_URL', async () => {
      const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
      const github: Server = createServer((req, res) => {
        seen.push({ url: req.url ?? '', headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('[]');
      });
      const api = await listenLocal(github);
      try {
        const result = await runCli(['redeliver', '--repo', 'acme/widgets', '--hook-id', '42', '--dry-run'], {
          ...env,
          GITHUB_TOKEN: 'ghp_caller_token',
          GITHUB_API_URL: api,
        });
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toMatch(/^0 deliveries since .*; 0 to redeliver/);
        expect(seen.map((r) => r.url)).toEqual(['/repos/acme/widgets/hooks/42/deliveries?per_page=100']);
        expect(seen[0]?.headers.authorization).toBe('token ghp_caller_token');
      } finally {
        await new Promise<void>((resolve) => github.close(() => resolve()));
      }
    });
  }
}

describe('local stack on PGlite (no DATABASE_URL)', () => {
  localStackFlow('pglite');
});

describe('local stack on real Postgres', () => {
  reportSkip('local stack on real Postgres', 'needs a Postgres server the stack can connect to (set DATABASE_URL to run it)');
  localStackFlow('postgres');
});

describe('npm start, the README\'s Quick start command', () => {
  it('serves the stack; SIGTERM to npm stops it cleanly (exit 0, stack.json removed, no process left)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'wr-cli-npm-start-'));
    const env = cliEnv({ WEBHOOK_ROUTER_DATA_DIR: dataDir });
    const stack = await startStack(env, { npmStart: true });
    const stackPid = stack.stack.pid;
    try {
      expect(stack.stdout()).toContain('webhook-router local stack');
      expect(stack.stdout()).toContain(`http://127.0.0.1:${stack.port}${HYBRID_PATH}`);
      const ping = await runCli(['send', 'ping'], env);
      expect(ping.code, ping.stderr).toBe(0);
      expect(sent(ping).status).toBe(200);
      // npm runs the stack as its child: the signal must reach it through npm.
      expect(stackPid).not.toBe(stack.child.pid);
      expect(await stack.stop()).toEqual({ code: 0, signal: null });
      expect(readStack(dataDir)).toBeNull();
      expect(() => process.kill(stackPid, 0)).toThrow();
      expect(stack.stdout()).toMatch(/"msg":"stopping","signal":"SIGTERM"/);
    } finally {
      await stack.stop(5_000);
      try {
        process.kill(stackPid, 'SIGKILL'); // left behind if npm died without passing the signal on
      } catch {
        // Gone, as it should be.
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
