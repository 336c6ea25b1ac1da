/**
 * A real drain in a process of its own, composed as the Edge Function composes it
 * (supabase/functions/process-webhook/index.ts): configuration from the environment, a postgres.js
 * pool of 4, the Event API sender, and a `waitUntil` that keeps the drain running after its 202,
 * as EdgeRuntime.waitUntil does. Served over node:http at any path. It counts what reached it
 * (every request is one Edge invocation) and sums the drains' summaries, served at
 * `GET /_bench/drain-stats` (not an invocation).
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { sendWebResponse, toWebRequest } from '../../src/cli/http-bridge.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { createPostgresDatabase } from '../../src/shared/db/postgres.ts';
import type { DrainSummary } from '../../src/shared/drain/drain.ts';
import { createDrainKicker } from '../../src/shared/drain/kick.ts';
import { createDrainHandler } from '../../src/shared/drain/service.ts';
import { createEventApiSender } from '../../src/shared/inngest/event-api-sender.ts';
import { configuredSender } from '../../src/shared/inngest/sender.ts';
import { announceReady, startChild, type Child } from './child.ts';

/** The drains' summaries, summed. */
type Outcomes = Pick<DrainSummary, (typeof OUTCOMES)[number]>;
const OUTCOMES = ['claimed', 'completed', 'retried', 'failed', 'deferred', 'lost'] as const;

export interface DrainStats extends Outcomes {
  /** Requests that reached the drain endpoint: Edge Function invocations. */
  invocations: number;
  /** Of those, `{}` drains (kicks) and `{"jobId"}` runs. */
  drains: number;
  jobRuns: number;
  /** Drains started and not finished yet. */
  running: number;
  /** Most drains running at once. */
  maxRunning: number;
  finished: number;
  /** Drains that ended in an error (logged 'drain failed') or answered other than 200/202. */
  errors: number;
}

export interface DrainServer extends Child {
  stats(): Promise<DrainStats>;
}

const SELF = fileURLToPath(import.meta.url);

/** `env` is the drain's configuration (DATABASE_URL, PROCESS_WEBHOOK_SECRET, INNGEST_*, DRAIN_*). */
export async function startDrainServer(env: Record<string, string>): Promise<DrainServer> {
  const child = await startChild(SELF, { ...env, BENCH_DRAIN_SERVER: '1' });
  return {
    ...child,
    async stats() {
      return (await (await fetch(`${child.url}/_bench/drain-stats`)).json()) as DrainStats;
    },
  };
}

if (process.argv[1] === SELF && process.env.BENCH_DRAIN_SERVER === '1') {
  const stats: DrainStats = {
    invocations: 0, drains: 0, jobRuns: 0, running: 0, maxRunning: 0, finished: 0,
    claimed: 0, completed: 0, retried: 0, failed: 0, deferred: 0, lost: 0, errors: 0,
  };
  const config = loadConfig(process.env);
  if (config.database.kind !== 'postgres') throw new Error('the bench drain needs DATABASE_URL');
  const log = (entry: Record<string, unknown>) => {
    if (entry.msg === 'drain finished') {
      stats.running -= 1;
      stats.finished += 1;
      for (const key of OUTCOMES) stats[key] += Number(entry[key] ?? 0);
    } else if (entry.msg === 'drain failed' || entry.msg === 'drain: database unavailable') {
      stats.running -= 1;
      stats.errors += 1;
    }
  };
  let selfUrl = '';
  const handler = createDrainHandler(config, {
    db: createPostgresDatabase(config.database.url, { max: 4 }),
    sender: configuredSender(config, createEventApiSender),
    log,
    // The Edge runtime keeps a waitUntil promise running after the answer; so does this process.
    waitUntil: (work) => void work.catch(() => {}),
    // As the Edge Function does: a drain that stops at DRAIN_MAX_JOBS starts the next (an invocation).
    handOver: async () => {
      await createDrainKicker({ url: selfUrl, secret: config.drain.secret })().catch(() => {});
    },
  });
  const server = createServer(async (req, res) => {
    if (req.method === 'GET' && req.url === '/_bench/drain-stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(stats));
      return;
    }
    stats.invocations += 1;
    const { request } = toWebRequest(req, 'http://127.0.0.1');
    const body = await request.clone().text();
    if (body.includes('jobId')) stats.jobRuns += 1;
    else stats.drains += 1;
    stats.running += 1;
    stats.maxRunning = Math.max(stats.maxRunning, stats.running);
    const response = await handler(request);
    // A finished or failed drain logs (see `log`); a refused request (400, 401, 405) does not.
    if (![200, 202, 503].includes(response.status)) {
      stats.errors += 1;
      stats.running -= 1;
    }
    await sendWebResponse(res, response);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    selfUrl = `http://127.0.0.1:${port}/`;
    announceReady(port, () => new Promise<void>((resolve) => server.close(() => resolve())));
  });
}
